"""The hub's limits, each answered with a clear Ably error, and its memory with 1,000 idle
connections.

- connections (hub.max_connections): one more WebSocket is told DISCONNECTED 40111 / 429 and
  closed; the SDK retries on its own and gets in once a slot is free;
- publish rate (hub.max_inbound_rate, advertised as maxInboundRate): a publish beyond the burst
  is NACKed 42911 / 429, the connection stays up, and publishing works again after a refill;
- message size (hub.max_message_size): REST answers 400 / 40009 (the WebSocket NACK 40009 is
  in tests/hub/test_security.py);
- turns per session (agent.max_runs_per_session): HTTP 429 / 42910, in
  tests/agent/test_service.py::test_per_session_limit_is_answered_with_429.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from ably import AblyException

from tests.support.hub import HubEndpoint, free_port, hub_settings, wait_state, wait_until
from tui_session.hub.auth import AuthStore
from tui_session.hub.server import start_hub

IDLE_CONNECTIONS = 1_000
BYTES_PER_CONNECTION_BOUND = 200 * 1024
FIGURES = os.environ.get("LIMITS_FIGURES")  # a path: write the memory figures there as JSON


@pytest.fixture
async def limited_hub(tmp_path: Path) -> AsyncIterator[HubEndpoint]:
    settings = hub_settings(tmp_path / "hub", max_connections=3, max_inbound_rate=10)
    running = await start_hub(settings)
    endpoint = HubEndpoint("127.0.0.1", running.port, running.hub.auth.root_key(), tmp_path / "hub")
    endpoint.running = running  # type: ignore[attr-defined]
    yield endpoint
    await endpoint.close_clients()
    await running.stop()


async def raw_ws(http: aiohttp.ClientSession, hub: HubEndpoint, client_id: str) -> Any:
    ws = await http.ws_connect(
        f"ws://{hub.host}:{hub.port}/", params={"v": "5", "key": hub.key, "clientId": client_id}
    )
    return ws, json.loads((await ws.receive(5)).data)


async def test_connection_limit_is_40111_and_the_sdk_gets_in_when_a_slot_frees(
    limited_hub: HubEndpoint,
) -> None:
    hub = limited_hub
    async with aiohttp.ClientSession() as http:
        held = []
        for i in range(3):
            ws, first = await raw_ws(http, hub, f"c{i}")
            assert first["action"] == 4
            held.append(ws)
        ws, refused = await raw_ws(http, hub, "one-too-many")
        assert refused["action"] == 6, "DISCONNECTED: nonfatal, the SDKs retry"
        assert (refused["error"]["code"], refused["error"]["statusCode"]) == (40111, 429)
        assert "connection limits exceeded" in refused["error"]["message"]
        assert (await ws.receive(5)).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)

        # An SDK client at the limit: disconnected with the reason, retrying by itself.
        client = hub.realtime("patient", disconnected_retry_timeout=200)
        reasons: list[Any] = []
        client.connection.on("disconnected", lambda change: reasons.append(change.reason))
        await wait_until(lambda: bool(reasons), what="the SDK to be told why")
        assert reasons[0].code == 40111
        assert client.connection.state.value != "failed"
        await held.pop().close()
        await wait_state(client, "connected")
        # The ones in keep working.
        await held[0].send_str(json.dumps({"action": 0, "id": "ping"}))
        assert json.loads((await held[0].receive(5)).data) == {"action": 0, "id": "ping"}
        for ws in held:
            await ws.close()


async def test_publish_rate_beyond_max_inbound_rate_is_nacked_42911(
    limited_hub: HubEndpoint,
) -> None:
    hub = limited_hub
    async with aiohttp.ClientSession() as http:
        ws, connected = await raw_ws(http, hub, "flooder")
        assert connected["connectionDetails"]["maxInboundRate"] == 10
        burst = 30
        for serial in range(burst):
            frame = {
                "action": 15,
                "channel": "session:flood",
                "msgSerial": serial,
                "messages": [{"name": "n", "data": str(serial)}],
            }
            await ws.send_str(json.dumps(frame))
        replies: list[dict[str, Any]] = []
        while len(replies) < burst:
            frame = json.loads((await ws.receive(5)).data)
            if frame["action"] in (1, 2):
                replies.append(frame)
        assert [r["msgSerial"] for r in replies] == list(range(burst)), "replies in order"
        acked = [r for r in replies if r["action"] == 1]
        nacked = [r for r in replies if r["action"] == 2]
        assert 10 <= len(acked) < 20, "the burst, and what refilled while it was sent"
        assert len(nacked) == burst - len(acked)
        for nack in nacked:
            assert (nack["error"]["code"], nack["error"]["statusCode"]) == (42911, 429)
            assert "rate limit" in nack["error"]["message"]
        await ws.close()

    # Through the SDK: the same refusal as an AblyException; the connection stays up and a
    # client on another connection publishes all along.
    flooder, bystander = hub.realtime("flooder"), hub.realtime("bystander")
    await wait_state(flooder)
    channel = flooder.channels.get("session:flood")
    results = await asyncio.gather(
        *(channel.publish("n", str(i)) for i in range(20)), return_exceptions=True
    )
    refusals = [r for r in results if isinstance(r, AblyException)]
    assert refusals and all((r.code, r.status_code) == (42911, 429) for r in refusals)
    assert flooder.connection.state.value == "connected"
    assert (await bystander.channels.get("session:flood").publish("calm", "1")).serials

    async def publishes_again() -> bool:
        try:
            await channel.publish("n", "after the refill")
        except AblyException as exc:
            assert exc.code == 42911
            return False
        return True

    for _ in range(40):  # the bucket refills at 10/s: poll, never a fixed sleep
        if await publishes_again():
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("publishing never recovered")
    stored = await hub.rest().channels.get("session:flood").history(limit=1000)
    assert all(m.data != "" for m in stored.items)
    assert sum(1 for m in stored.items if m.name == "n") == len(acked) + 20 - len(refusals) + 1


async def test_oversized_rest_publish_is_40009(hub: HubEndpoint) -> None:
    max_size = hub.running.hub.settings.max_message_size  # type: ignore[attr-defined]
    rest = hub.rest()
    with pytest.raises(AblyException) as refused:
        await rest.channels.get("session:big").publish("big", "x" * (max_size + 1))
    assert (refused.value.code, refused.value.status_code) == (40009, 400)
    assert (
        await rest.channels.get("session:big").publish("fits", "x" * (max_size - 10))
    ) is not None
    assert [m.name for m in (await rest.channels.get("session:big").history()).items] == ["fits"]
    await rest.close()


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux)")
async def test_hub_memory_with_1000_idle_connections(tmp_path: Path) -> None:
    """RSS of a hub child process before and after 1,000 idle WebSocket connections (each
    authenticated, CONNECTED and stored for resume). The bound is generous on purpose."""
    data_dir = tmp_path / "hub"
    port = free_port()
    empty_config = tmp_path / "none.toml"
    empty_config.touch()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tui_session.cli",
        "hub",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "TUI_SESSION_CONFIG": str(empty_config)},
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert b"tui-session hub on" in line, line
        key = AuthStore(data_dir).root_key()
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            url = f"ws://127.0.0.1:{port}/"

            async def idle(i: int) -> Any:
                ws = await http.ws_connect(url, params={"v": "5", "key": key, "clientId": f"i{i}"})
                assert json.loads((await ws.receive(10)).data)["action"] == 4
                return ws

            warm = [await idle(-i - 1) for i in range(20)]  # first connections pay one-off costs
            for ws in warm:
                await ws.close()
            before = rss_bytes(proc.pid)
            sockets: list[Any] = []
            for start in range(0, IDLE_CONNECTIONS, 100):
                sockets += await asyncio.gather(*(idle(i) for i in range(start, start + 100)))
            after = rss_bytes(proc.pid)
            per_connection = (after - before) / IDLE_CONNECTIONS
            # Still serving: one more connection answers a ping.
            probe = await idle(IDLE_CONNECTIONS)
            await probe.send_str(json.dumps({"action": 0, "id": "alive"}))
            assert json.loads((await probe.receive(10)).data) == {"action": 0, "id": "alive"}
            await asyncio.gather(*(ws.close() for ws in [*sockets, probe]))
        figures = {
            "idle_connections": IDLE_CONNECTIONS,
            "rss_before": before,
            "rss_after": after,
            "bytes_per_connection": int(per_connection),
        }
        print("memory figures:", json.dumps(figures))
        write_figures(figures)
        assert per_connection < BYTES_PER_CONNECTION_BOUND, figures
        assert proc.returncode is None, "the hub is still running"
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


def write_figures(figures: dict[str, Any]) -> None:
    if FIGURES:
        Path(FIGURES).write_text(json.dumps(figures, indent=2))
