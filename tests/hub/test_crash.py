"""SIGKILL the hub under load, restart it on the same port and data dir: nothing acknowledged is
lost, nothing is stored twice, and the unmodified SDK client carries on by itself.

The hub runs as a real child process (`tui-session hub`). A publisher streams messages, and
appends to one message, with many publishes in flight, and the hub is SIGKILLed mid-stream. The
client is never recreated: it notices the dropped socket, reconnects once the hub is back,
resumes its connection (the hub stored the connection record and its acknowledged msgSerials),
and resends every publish that had not been acknowledged with its original msgSerial.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

from ably.types.message import Message
from websockets.exceptions import ConnectionClosed

from tests.support.hub import HubProcess, wait_state, wait_until
from tui_session.hub.auth import AuthStore
from tui_session.transport.connect import hub_realtime, hub_rest

CHANNEL = "session:crash"
N = 400  # publish calls: creates, and every APPEND_EVERY-th one an append to the head message
APPEND_EVERY = 5
IN_FLIGHT = 40  # publishes awaiting their ACK at any moment
KILL_AFTER = N // 3  # acknowledged publishes before the hub is killed


async def test_sigkill_under_load_loses_nothing_acked_and_duplicates_nothing(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "hub"
    hub = HubProcess(data_dir)
    await asyncio.to_thread(hub.start)
    try:
        await run_crash_scenario(hub, data_dir)
    finally:
        await asyncio.to_thread(hub.stop)


async def run_crash_scenario(hub: HubProcess, data_dir: Path) -> None:
    key = AuthStore(data_dir).root_key()
    # Short retry timings so the test is quick; the reconnect itself is the SDK's own doing.
    client = hub_realtime(
        "127.0.0.1",
        hub.port,
        key,
        "writer",
        realtime_request_timeout=2_000,
        disconnected_retry_timeout=200,
    )
    try:
        await wait_state(client)
        states: list[str] = []
        client.connection.on(lambda change: states.append(change.current.value))
        manager = client.connection.connection_manager
        connection_id = manager.connection_id
        channel = client.channels.get(CHANNEL)
        await channel.attach()

        head = await channel.publish("head", "head:")
        head_serial = head.serials[0]
        acked: dict[str, str] = {}  # text -> the serial its ACK carried
        appended: dict[str, str] = {}  # fragment -> the version serial its ACK carried
        window = asyncio.Semaphore(IN_FLIGHT)
        in_flight_at_kill: list[int] = []
        pending = 0

        # ably-python 3.1.4 quirk: a publish whose frame was being written when the socket died
        # raises the transport's ConnectionClosed to its caller, although the SDK keeps the frame
        # queued and resends it after the resume. Such a call is unacknowledged, nothing more.
        unacked: dict[str, BaseException] = {}

        async def publish(index: int) -> None:
            nonlocal pending
            async with window:
                pending += 1
                text = f"[f{index:04d}]" if index % APPEND_EVERY == 0 else f"m{index:04d}"
                try:
                    if index % APPEND_EVERY == 0:
                        result = await channel.append_message(
                            Message(serial=head_serial, data=text)
                        )
                        appended[text] = result.version_serial
                    else:
                        result = await channel.publish("m", text)
                        acked[text] = result.serials[0]
                except ConnectionClosed as exc:
                    unacked[text] = exc
                finally:
                    pending -= 1

        async def crash_and_restart() -> None:
            await wait_until(lambda: len(acked) + len(appended) >= KILL_AFTER, what="progress")
            in_flight_at_kill.append(pending)
            hub.kill()  # SIGKILL: no shutdown, no flush, no goodbye to the client
            await asyncio.to_thread(hub.start)  # same port, same data dir

        crasher = asyncio.create_task(crash_and_restart())
        publishers = [asyncio.create_task(publish(i)) for i in range(1, N + 1)]
        # Every publish call returns: the ones in flight at the kill were retried after resume.
        await asyncio.wait_for(asyncio.gather(crasher, *publishers), 25)

        assert in_flight_at_kill[0] > 0, "the kill landed while publishes awaited their ACK"
        assert "disconnected" in states, "the client saw the hub go away"
        await wait_state(client, "connected")
        assert states[-1] == "connected"
        assert manager.connection_id == connection_id, "the connection resumed after restart"
        assert "failed" not in states and "suspended" not in states

        history = await all_history(hub.port, key)
    finally:
        await asyncio.wait_for(client.close(), 5)

    creates = [m for m in history if m.name == "m"]
    counts = Counter(m.data for m in creates)
    duplicates = {text: n for text, n in counts.items() if n > 1}
    assert not duplicates, f"stored more than once: {duplicates}"

    # Every acknowledged publish is in history, with the serial its ACK carried.
    stored = {m.data: m.serial for m in creates}
    expected_texts = {f"m{i:04d}" for i in range(1, N + 1) if i % APPEND_EVERY}
    fragments = [f"[f{i:04d}]" for i in range(1, N + 1) if i % APPEND_EVERY == 0]
    assert set(acked) | set(appended) | set(unacked) == expected_texts | set(fragments)
    assert len(acked) + len(appended) > KILL_AFTER
    mismatched = {t: (s, stored.get(t)) for t, s in acked.items() if stored.get(t) != s}
    assert not mismatched, f"acknowledged serial differs from history: {mismatched}"
    # The unacknowledged ones were resent by the SDK itself, and stored once.
    assert set(stored) == expected_texts
    assert len(creates) == len(expected_texts)

    # History is in channel order, and that is the order of publishing: the hub applies a
    # connection's frames in msgSerial order even when the SDK resends them out of order
    # (ably-python 3.1.4 requeues frames queued during a failed reconnect ahead of older ones).
    serials = [m.serial for m in history]
    assert serials == sorted(serials)
    texts_in_channel_order = [m.data for m in creates]
    assert texts_in_channel_order == sorted(texts_in_channel_order), "publish order kept"

    # The appended message: every fragment exactly once.
    (head_message,) = [m for m in history if m.name == "head"]
    assert head_message.serial == head_serial
    assert head_message.data.startswith("head:")
    body = head_message.data.removeprefix("head:")
    assert body.replace("][", "]\n[").splitlines() == fragments, "appends applied in order"
    # Its latest version is at least as new as every acknowledged append.
    assert head_message.version.serial >= max(appended.values())
    if set(fragments) <= set(appended):
        assert head_message.version.serial == max(appended.values())


async def all_history(port: int, key: str) -> list[Any]:
    rest = hub_rest("127.0.0.1", port, key)
    try:
        page = await rest.channels.get(CHANNEL).history(direction="forwards", limit=1000)
        items = list(page.items)
        while page.has_next():
            page = await page.next()
            items.extend(page.items)
        return items
    finally:
        await rest.close()
