"""A terminal frozen (SIGSTOP) mid-turn for longer than the resume window, its network gone
meanwhile, then continued (SIGCONT): it cannot resume its connection, rebuilds what it missed
and ends with the right transcript.

The terminal runs in a child process (tests/faults/suspended_client.py) behind a proxy, on a hub
whose connectionStateTtl is one second. While it is stopped its socket is reset (as a laptop's
lid closing drops its Wi-Fi), the hub forgets the connection after the TTL, and the agent
finishes that turn and answers two more. Once continued, the terminal must show exactly what a
terminal that never stopped shows. Two ways back:

- network back at once: the resume fails (new connectionId), the channel re-attaches from its
  channelSerial and the hub replays the gap from its store (RESUMED);
- network back only after the terminal went SUSPENDED: the SDK drops the channelSerial, the
  re-attach is not RESUMED, and the ClientSession reads the gap from REST history
  ("recovering" then "recovered").
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.faults.chaos_proxy import ChaosProxy, FaultPlan
from tests.support.agent import demo_settings, running_agent
from tests.support.hub import HubEndpoint, hub_settings, wait_until
from tui_session.agent.models.demo import demo_answer
from tui_session.hub.server import start_hub
from tui_session.transport.client import ClientSession

CHANNEL = "session:suspended"
ROOT = Path(__file__).resolve().parents[2]
TTL_MS = 1_000


class Child:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def line(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), 20)
        assert raw, "the child terminal exited"
        return json.loads(raw)

    async def dump(self) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"dump\n")
        await self.proc.stdin.drain()
        return await self.line()


def transcript_of(session: ClientSession) -> list[dict[str, Any]]:
    out = []
    for item in session.transcript():
        text = "".join(m.text for m in item.messages)
        if hasattr(item, "streaming"):
            out.append({"turn": item.run_id, "status": item.status, "text": text})
        else:
            out.append({"prompt": item.cmid, "text": text})
    return out


@pytest.mark.parametrize("network_back", ["at_once", "after_suspended"])
async def test_suspended_past_the_resume_window_rebuilds_the_transcript(
    tmp_path: Path, network_back: str
) -> None:
    settings = hub_settings(
        tmp_path / "hub", connection_state_ttl_ms=TTL_MS, heartbeat_interval_s=0.2
    )
    running = await start_hub(settings)
    hub = HubEndpoint("127.0.0.1", running.port, running.hub.auth.root_key(), tmp_path / "hub")
    proxy = ChaosProxy("127.0.0.1", running.port, FaultPlan(seed=0))  # never armed: no faults
    await proxy.start()
    child: Child | None = None
    alice: ClientSession | None = None
    try:
        async with running_agent(hub, demo_settings(demo_pace=300), tmp_path / "agent") as agent:
            realtime = hub.realtime("alice")
            alice = await ClientSession.connect(
                realtime, CHANNEL, agent_url=f"http://127.0.0.1:{agent.port}", device="desk"
            )
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.faults.suspended_client",
                "127.0.0.1",
                str(proxy.port),
                hub.key,
                CHANNEL,
                "bob",
                str(TTL_MS),
                cwd=ROOT,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            child = Child(proc)
            first_connection = (await child.line())["ready"]

            first = await alice.send("before the laptop lid closes")
            await asyncio.wait_for(asyncio.shield(first.ended), 20)
            await wait_for_child(child, alice, "the child to see the first turn")

            # A turn is streaming when the terminal freezes and its network goes.
            second = await alice.send("streaming while the lid closes")
            await asyncio.wait_for(asyncio.shield(second.started), 20)
            proc.send_signal(signal.SIGSTOP)
            proxy.refusing = network_back == "after_suspended"
            assert proxy.cut() >= 1  # its WebSocket (and any REST keep-alive)
            await wait_until(
                lambda: first_connection not in running.hub.connections,
                timeout=10,
                what="the hub to forget the frozen terminal's connection (resume window over)",
            )
            await asyncio.wait_for(asyncio.shield(second.ended), 20)
            for text in ("asked while it slept", "and one more"):
                handle = await alice.send(text)
                await asyncio.wait_for(asyncio.shield(handle.ended), 20)

            proc.send_signal(signal.SIGCONT)
            if proxy.refusing:
                await wait_for_state(child, "suspended")
                proxy.refusing = False
            final = await wait_for_child(child, alice, "the continued terminal to catch up")
    finally:
        if child is not None and child.proc.returncode is None:
            child.proc.send_signal(signal.SIGCONT)
            child.proc.kill()
            await child.proc.wait()
        if alice is not None:
            await alice.close()
        await hub.close_clients()
        await proxy.stop()
        await running.stop()

    print("suspended figures:", json.dumps({"states": final["states"]}))
    if network_back == "after_suspended":
        assert {"suspended", "recovering", "recovered"} <= set(final["states"]), "history"
    else:
        assert final["states"][-1] == "resumed", "the hub replayed the gap to the re-attach"
    assert final["connectionId"] != first_connection, "a new connection: resume was impossible"
    assert "failed" not in final["states"]
    assert final["active"] == {}
    turns = [e for e in final["transcript"] if "turn" in e]
    prompts = [e["text"] for e in final["transcript"] if "prompt" in e]
    assert len(turns) == 4 and all(t["status"] == "complete" for t in turns)
    assert [t["text"] for t in turns] == [demo_answer(p) for p in prompts]


async def wait_for_state(child: Child, state: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while state not in (await child.dump())["states"]:
        if loop.time() > deadline:
            raise AssertionError(f"the child never reached {state!r}")
        await asyncio.sleep(0.05)  # poll interval of a condition driven by the network


async def wait_for_child(child: Child, alice: ClientSession, what: str) -> dict[str, Any]:
    """Ask the child for its transcript until it equals the never-stopped terminal's."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while True:
        snapshot = await child.dump()
        expected = transcript_of(alice)
        if snapshot["transcript"] == expected and not snapshot["active"]:
            return snapshot
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {snapshot} != {expected}")
        await asyncio.sleep(0.05)  # poll interval of a condition driven by the network
