"""Two ClientSession additions the terminal UI needs: the author's device of a prompt (an
application header, invisible to the protocol), and a `close()` that stays quick when the hub
is gone or silent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.proxy import CuttableProxy
from tests.support.client import close_opened, open_session
from tests.support.hub import HubEndpoint
from tui_session.transport import client as client_module
from tui_session.transport.client import ClientSession
from tui_session.transport.client_events import WireMessage

CHANNEL = "session:device"


@pytest.fixture(autouse=True)
async def cleanup_sessions(hub: HubEndpoint) -> AsyncIterator[None]:
    yield
    await close_opened()


async def test_a_prompt_shows_the_device_it_was_typed_on_live_and_from_history(hub: HubEndpoint):
    laptop, _ = await open_session(hub, "alice", CHANNEL, device="laptop")
    bob, bob_events = await open_session(hub, "bob", CHANNEL, device="desktop")
    handle = await laptop.send("from the laptop", invoke=False)
    cmid = handle.input_codec_message_id
    assert laptop.prompt(cmid).device == "laptop"  # own prompt, even before its echo
    await bob_events.until(lambda: bob.prompt(cmid) is not None and bob.prompt(cmid).device)
    assert bob.prompt(cmid).device == "laptop"
    assert bob.prompt(cmid).client_id == "alice"
    # the application header rides next to the protocol's tiers, which are untouched
    wire = [e for e in bob_events.items if isinstance(e, WireMessage) and e.name == "ai-input"]
    assert wire and wire[0].headers.get("codec-message-id") == cmid
    assert "device" not in wire[0].headers
    late, _ = await open_session(hub, "carol", CHANNEL, device="tablet")
    assert late.prompt(cmid).device == "laptop"  # durable: read back from history
    [entry] = late.transcript()
    assert entry.device == "laptop"


async def test_close_is_quick_when_the_hub_is_unreachable(hub: HubEndpoint):
    proxy = CuttableProxy(hub.host, hub.port)
    await proxy.start()
    endpoint = HubEndpoint(hub.host, proxy.port, hub.key, hub.data_dir)
    realtime = endpoint.realtime("alice", disconnected_retry_timeout=60_000)
    session = await ClientSession.connect(realtime, CHANNEL, agent_url=None, device="laptop")
    changed = asyncio.Event()
    realtime.connection.on(lambda _change: changed.set())
    await proxy.stop()
    while realtime.connection.state.value == "connected":
        changed.clear()
        await asyncio.wait_for(changed.wait(), 10)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await session.close()
    took = loop.time() - started
    assert took < 0.5, f"close took {took:.1f} s"
    await endpoint.close_clients()


async def test_close_is_bounded_when_the_hub_is_silent(
    hub: HubEndpoint, monkeypatch: pytest.MonkeyPatch
):
    """Connected as far as the client knows, but nothing is acknowledged any more."""
    monkeypatch.setattr(client_module, "LEAVE_TIMEOUT_S", 0.2)
    monkeypatch.setattr(client_module, "DETACH_TIMEOUT_S", 0.2)
    session, _ = await open_session(hub, "alice", CHANNEL, device="laptop")
    hang = asyncio.Event()

    async def never(*_args, **_kwargs):
        await hang.wait()

    monkeypatch.setattr(session.channel.presence, "leave", never)
    monkeypatch.setattr(session.channel, "detach", never)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await session.close()
    took = loop.time() - started
    assert took < 1.0, f"close took {took:.1f} s"
