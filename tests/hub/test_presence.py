"""Presence through the hub with real ably-python clients on real sockets.

Covers enter/update/leave seen by every member, `presence.get()` after SYNC, SYNC for a late
joiner, leave on CLOSE (at once), the synthesized leave after an abrupt drop (grace period, and
the `remainPresentFor` transport parameter), and presence over REST.

An abrupt drop is a client *process* killed with SIGKILL: the kernel closes its socket with no
CLOSE frame and no WebSocket close handshake, and nothing is left to reconnect and resume (an
in-process client whose socket is cut would resume at once and cancel the pending leave).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from ably import AblyRealtime

from tests.support.hub import Collector, HubEndpoint, hub_settings, wait_state, wait_until
from tui_session.hub.server import start_hub

CHANNEL = "session:presence"

# A presence member in a separate process, so the test can kill it without any goodbye.
DOOMED_CLIENT = r"""
import asyncio, sys
from tui_session.transport.connect import hub_realtime

async def main():
    host, port, key, channel, remain = sys.argv[1:6]
    options = {}
    if remain != "-":
        options["transport_params"] = {"remainPresentFor": int(remain)}
    client = hub_realtime(host, int(port), key, "doomed", **options)
    if client.connection.state.value != "connected":
        await asyncio.wait_for(client.connection.once_async("connected"), 10)
    presence_channel = client.channels.get(channel)
    await presence_channel.attach()
    await presence_channel.presence.enter({"status": "about to vanish"})
    print("entered", client.connection.connection_manager.connection_id, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def conn_id(client: Any) -> str:
    return client.connection.connection_manager.connection_id


def members(items: list[Any]) -> dict[str, Any]:
    return {m.client_id: m.data for m in items}


async def connected(hub: HubEndpoint, client_id: str, **options: Any) -> AblyRealtime:
    client = hub.realtime(client_id, **options)
    await wait_state(client)
    return client


async def custom_hub(tmp_path: Path, **settings: Any) -> AsyncIterator[HubEndpoint]:
    running = await start_hub(hub_settings(tmp_path / "hub", **settings))
    endpoint = HubEndpoint("127.0.0.1", running.port, running.hub.auth.root_key(), tmp_path / "hub")
    endpoint.running = running  # type: ignore[attr-defined]
    try:
        yield endpoint
    finally:
        await endpoint.close_clients()
        await running.stop()


@pytest.fixture
async def short_grace_hub(tmp_path: Path) -> AsyncIterator[HubEndpoint]:
    """A hub that keeps an abruptly dropped member for 1 s."""
    async for endpoint in custom_hub(tmp_path, presence_grace_s=1.0):
        yield endpoint


@pytest.fixture
async def long_grace_hub(tmp_path: Path) -> AsyncIterator[HubEndpoint]:
    """A hub whose own grace period (30 s) is far longer than any test waits."""
    async for endpoint in custom_hub(tmp_path, presence_grace_s=30.0):
        yield endpoint


class DoomedClient:
    """A presence member in a child process that the test SIGKILLs."""

    def __init__(self, hub: HubEndpoint, channel: str, remain_present_for_ms: int | None) -> None:
        self.args = [
            hub.host,
            str(hub.port),
            hub.key,
            channel,
            "-" if remain_present_for_ms is None else str(remain_present_for_ms),
        ]
        self.proc: asyncio.subprocess.Process | None = None
        self.connection_id = ""

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            DOOMED_CLIENT,
            *self.args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert self.proc.stdout is not None
        output = []
        while True:
            line = (await asyncio.wait_for(self.proc.stdout.readline(), 20)).decode()
            output.append(line)
            if not line:
                raise AssertionError(f"the doomed client exited early: {''.join(output)[-2000:]}")
            if line.startswith("entered "):
                self.connection_id = line.split()[1]
                return

    async def kill(self) -> float:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no CLOSE frame, no WebSocket close handshake
        killed_at = time.monotonic()
        await self.proc.wait()
        return killed_at

    async def ensure_dead(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


async def test_enter_update_leave_seen_by_three_clients(hub: HubEndpoint) -> None:
    alice, bob, carol = [await connected(hub, name) for name in ("alice", "bob", "carol")]
    clients = {"alice": alice, "bob": bob, "carol": carol}
    channels = {name: c.channels.get(CHANNEL) for name, c in clients.items()}
    events = {name: Collector() for name in clients}
    # Each client attaches once the ones before it have entered, so it learns of them by SYNC
    # (as PRESENT) and of the later ones live (as ENTER).
    for position, (name, channel) in enumerate(channels.items()):
        await channel.presence.subscribe(events[name].add)  # attaches implicitly
        before = await channel.presence.get()  # waits for the end of the SYNC
        assert sorted(m.client_id for m in before) == sorted(clients)[:position]
        await channel.presence.enter({"role": name, "step": 1})
    for position, name in enumerate(clients):  # everyone has seen all three members arrive
        seen = await events[name].wait_for(3)
        assert [(e.action, e.client_id) for e in seen[:3]] == [
            (1 if earlier < position else 2, other)
            for earlier, other in enumerate(["alice", "bob", "carol"])
        ]
        entered = {e.client_id: e.data for e in seen[:3]}
        assert entered["bob"] == {"role": "bob", "step": 1}

    expected = {n: {"role": n, "step": 1} for n in clients}
    for name in clients:
        assert members(await channels[name].presence.get()) == expected

    await channels["alice"].presence.update({"role": "alice", "step": 2})
    for name in clients:
        update = (await events[name].wait_for(4))[3]
        assert (update.action, update.client_id) == (4, "alice")
        assert update.data == {"role": "alice", "step": 2}
    expected["alice"] = {"role": "alice", "step": 2}
    for name in clients:
        assert members(await channels[name].presence.get()) == expected

    await channels["bob"].presence.leave()
    for name in clients:
        leave = (await events[name].wait_for(5))[4]
        assert (leave.action, leave.client_id) == (3, "bob")
        assert leave.connection_id == conn_id(bob)
    del expected["bob"]
    for name in clients:
        assert members(await channels[name].presence.get()) == expected

    # The members as the hub holds them, over REST.
    rest_members = (await hub.rest().channels.get(CHANNEL).presence.get()).items
    assert members(rest_members) == expected
    assert {m.connection_id for m in rest_members} == {conn_id(alice), conn_id(carol)}


async def test_late_joiner_gets_members_by_sync(hub: HubEndpoint) -> None:
    names = ("alice", "bob", "carol")
    for name in names:
        client = await connected(hub, name)
        channel = client.channels.get(CHANNEL)
        await channel.attach()
        await channel.presence.enter(f"{name} is here")

    # Members entered over other connections: wait until the hub holds all three, then join.
    hub_channel = hub.running.hub.channels.get(hub.running.hub.auth.app_id, CHANNEL)  # type: ignore[attr-defined]
    await wait_until(lambda: len(hub_channel.presence.members) == 3, what="three members")

    dave = await connected(hub, "dave")
    late = dave.channels.get(CHANNEL)
    await late.attach()
    found = await asyncio.wait_for(late.presence.get(), 10)
    assert late.presence.sync_complete, "get() returned after the SYNC finished"
    assert members(found) == {name: f"{name} is here" for name in names}
    assert all(m.action == 1 for m in found), "SYNC delivers members as PRESENT"


async def test_close_leaves_at_once(long_grace_hub: HubEndpoint) -> None:
    hub = long_grace_hub
    watcher = await connected(hub, "watcher")
    watching = watcher.channels.get(CHANNEL)
    leaves = Collector()
    await watching.presence.subscribe("leave", leaves.add)
    entered = Collector()
    await watching.presence.subscribe("enter", entered.add)

    quitter = await connected(hub, "quitter")
    quitting = quitter.channels.get(CHANNEL)
    await quitting.attach()
    await quitting.presence.enter("bye soon")
    await entered.wait_for(1)
    quitter_connection = conn_id(quitter)

    started = time.monotonic()
    await quitter.close()
    # The hub's grace period is 30 s: a leave within 5 s can only come from the CLOSE.
    (leave,) = await leaves.wait_for(1, timeout=5)
    assert time.monotonic() - started < 5
    assert (leave.client_id, leave.connection_id) == ("quitter", quitter_connection)
    assert leave.data == "bye soon"
    assert members(await watching.presence.get()) == {}


async def test_abrupt_drop_leaves_after_grace_period(short_grace_hub: HubEndpoint) -> None:
    hub = short_grace_hub
    watcher = await connected(hub, "watcher")
    watching = watcher.channels.get(CHANNEL)
    leaves, entered = Collector(), Collector()
    await watching.presence.subscribe("leave", leaves.add)
    await watching.presence.subscribe("enter", entered.add)
    other = await connected(hub, "other")  # a second member, present throughout
    other_channel = other.channels.get(CHANNEL)
    other_leaves = Collector()
    await other_channel.presence.subscribe("leave", other_leaves.add)
    await other_channel.presence.enter("staying")

    doomed = DoomedClient(hub, CHANNEL, remain_present_for_ms=None)
    try:
        await doomed.start()
        await entered.wait_for(2)
        assert [e.client_id for e in entered.items] == ["other", "doomed"]
        killed_at = await doomed.kill()

        # Still a member while the grace period runs (the hub has seen the socket go by now).
        hub_channel = hub.running.hub.channels.get(hub.running.hub.auth.app_id, CHANNEL)  # type: ignore[attr-defined]
        conn = hub.running.hub.connections[doomed.connection_id]  # type: ignore[attr-defined]
        await wait_until(lambda: not conn.bound, what="the hub to notice the dropped socket")
        assert "doomed" in members(await watching.presence.get())
        assert len(hub_channel.presence.members) == 2

        (leave,) = await leaves.wait_for(1, timeout=10)
        waited = time.monotonic() - killed_at
        (other_saw,) = await other_leaves.wait_for(1)
    finally:
        await doomed.ensure_dead()
    assert (other_saw.client_id, other_saw.connection_id) == ("doomed", doomed.connection_id)
    assert 0.9 <= waited < 6, f"leave after {waited:.2f}s; the grace period is 1 s"
    assert (leave.action, leave.client_id) == (3, "doomed")
    assert leave.connection_id == doomed.connection_id
    assert leave.data == {"status": "about to vanish"}
    assert leave.is_synthesized(), "a synthesized leave's id must not start with connectionId:"
    for channel in (watching, other_channel):
        assert members(await channel.presence.get()) == {"other": "staying"}
    rest_members = (await hub.rest().channels.get(CHANNEL).presence.get()).items
    assert members(rest_members) == {"other": "staying"}


async def test_remain_present_for_overrides_grace(long_grace_hub: HubEndpoint) -> None:
    hub = long_grace_hub
    watcher = await connected(hub, "watcher")
    watching = watcher.channels.get(CHANNEL)
    leaves, entered = Collector(), Collector()
    await watching.presence.subscribe("leave", leaves.add)
    await watching.presence.subscribe("enter", entered.add)

    doomed = DoomedClient(hub, CHANNEL, remain_present_for_ms=500)
    try:
        await doomed.start()
        await entered.wait_for(1)
        killed_at = await doomed.kill()
        # The hub's own grace period is 30 s; remainPresentFor=500 ms must win.
        (leave,) = await leaves.wait_for(1, timeout=8)
        waited = time.monotonic() - killed_at
    finally:
        await doomed.ensure_dead()
    assert 0.4 <= waited < 8, f"leave after {waited:.2f}s; remainPresentFor is 0.5 s"
    assert (leave.client_id, leave.connection_id) == ("doomed", doomed.connection_id)
    assert members(await watching.presence.get()) == {}


async def test_rest_presence_get(hub: HubEndpoint) -> None:
    rest_channel = hub.rest().channels.get(CHANNEL)
    assert (await rest_channel.presence.get()).items == []

    alice = await connected(hub, "alice")
    bob = await connected(hub, "bob")
    for client, data in ((alice, {"device": "laptop"}), (bob, "phone")):
        channel = client.channels.get(CHANNEL)
        await channel.attach()
        await channel.presence.enter(data)  # returns once the hub has ACKed it

    found = (await rest_channel.presence.get()).items
    assert members(found) == {"alice": {"device": "laptop"}, "bob": "phone"}
    by_client = {m.client_id: m for m in found}
    assert by_client["alice"].connection_id == conn_id(alice)
    assert by_client["bob"].connection_id == conn_id(bob)
    assert all(m.action == 1 for m in found), "REST presence lists members as PRESENT"

    assert len((await rest_channel.presence.get(limit=1)).items) == 1

    await bob.channels.get(CHANNEL).presence.leave()
    assert members((await rest_channel.presence.get()).items) == {"alice": {"device": "laptop"}}
