"""`ChannelFollower` on a stand-in channel that serves a recorded history (no sockets): the
gap after a re-attach without RESUMED is read back to the floor and handed over oldest first;
a resumed re-attach reads nothing. The real hub is exercised by
`test_client_npm.py::test_reattach_without_resume_fills_the_gap` and `test_agent_gap.py`."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from ably.types.message import Message

from tui_session.protocol import ErrorCode, ProtocolError
from tui_session.transport.follower import ChannelFollower, TaskGroup

from .channel_logs import load


def ably(m: dict[str, Any]) -> Message:
    return Message(
        name=m["name"],
        data=m.get("data"),
        client_id=m.get("clientId"),
        extras=m.get("extras"),
        serial=m["serial"],
        action=m["action"],
        version=SimpleNamespace(serial=m["version"]["serial"]),
    )


class Page:
    def __init__(self, channel: StandIn, offset: int) -> None:
        self.channel, self.offset = channel, offset
        newest_first = channel.stored[::-1]
        self.items = newest_first[offset : offset + channel.limit]

    def has_next(self) -> bool:
        return self.offset + self.channel.limit < len(self.channel.stored)

    async def next(self) -> Page:
        self.channel.pages_served += 1
        return Page(self.channel, self.offset + self.channel.limit)


class StandIn:
    """What the follower uses of an ably channel: state listeners, subscribe, history."""

    name = "session:stand-in"

    def __init__(self, history: list[dict[str, Any]]) -> None:
        self.stored = [ably(m) for m in history]
        self.limit = 100
        self.pages_served = 0
        self.listeners: list[Any] = []
        self.subscriber: Any = None
        self.fail = False

    def on(self, listener: Any) -> None:
        self.listeners.append(listener)

    def off(self, listener: Any) -> None:
        self.listeners.remove(listener)

    async def subscribe(self, listener: Any) -> None:
        self.subscriber = listener

    def unsubscribe(self, listener: Any) -> None:
        self.subscriber = None

    async def history(self, direction: str, limit: int) -> Page:
        if self.fail:
            raise RuntimeError("history unavailable")
        self.limit = limit
        self.pages_served += 1
        return Page(self, 0)

    def attached(self, resumed: bool) -> None:
        change = SimpleNamespace(current=SimpleNamespace(value="attached"), resumed=resumed)
        for listener in list(self.listeners):
            listener(change)


class Follow:
    def __init__(
        self, history: list[dict[str, Any]], page_size: int = 3, gap_floor: Any = None
    ) -> None:
        self.channel = StandIn(history)
        self.live: list[dict[str, Any]] = []
        self.gaps: list[tuple[list[str], str | None]] = []
        self.continuity: list[tuple[str, int | None]] = []
        self.done = asyncio.Event()
        self.follower = ChannelFollower(
            self.channel,
            on_message=self.live.append,
            on_gap=lambda messages, floor: self.gaps.append(
                ([m["serial"] for m in messages], floor)
            ),
            on_continuity=self.on_continuity,
            gap_floor=gap_floor,
            page_size=page_size,
        )

    def on_continuity(self, state: str, error: ProtocolError | None) -> None:
        self.continuity.append((state, int(error.code) if error else None))
        if state in ("recovered", "failed"):
            self.done.set()


async def test_the_gap_is_read_back_to_the_last_serial_and_handed_over_oldest_first() -> None:
    history = load("plain")["history"]
    follow = Follow(history)
    await follow.follower.start()
    seen = history[9]
    follow.channel.subscriber(ably(seen))  # one live delivery: the last serial had
    assert follow.follower.last_serial == seen["serial"]
    follow.channel.attached(resumed=False)
    await asyncio.wait_for(follow.done.wait(), 5)
    ((serials, floor),) = follow.gaps
    assert floor == seen["serial"]
    assert serials == sorted(serials) and serials[-1] == history[-1]["serial"]
    assert serials[0] <= floor < serials[1 + serials.index(floor)]  # stopped at the floor page
    assert len(serials) < len(history)  # not the whole history
    assert follow.continuity == [("recovering", None), ("recovered", None)]
    assert follow.follower.last_serial == history[-1]["serial"]
    await follow.follower.close()


async def test_a_resumed_attach_reads_nothing_and_a_floor_from_the_owner_reads_further() -> None:
    history = load("plain")["history"]
    floor = history[2]["serial"]
    follow = Follow(history, gap_floor=lambda last: min(last, floor))  # e.g. an open stream
    await follow.follower.start()
    follow.channel.subscriber(ably(history[9]))
    follow.channel.attached(resumed=True)
    assert follow.continuity == [("resumed", None)] and follow.channel.pages_served == 0
    follow.channel.attached(resumed=False)
    await asyncio.wait_for(follow.done.wait(), 5)
    ((serials, used),) = follow.gaps
    assert used == floor and serials[0] <= floor
    await follow.follower.close()


async def test_a_gap_that_cannot_be_read_is_reported_not_raised() -> None:
    follow = Follow(load("plain")["history"])
    await follow.follower.start()
    follow.channel.fail = True
    follow.channel.attached(resumed=False)
    await asyncio.wait_for(follow.done.wait(), 10)
    assert follow.continuity[-1] == ("failed", int(ErrorCode.HISTORY_FETCH_FAILED))
    assert follow.gaps == []
    await follow.follower.close()


async def test_the_task_group_stops_its_tasks_but_not_the_one_closing_it() -> None:
    group = TaskGroup("test")
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    async def closes_its_own_group() -> str:
        await group.close()
        return "closed"

    sleeper = group.spawn(forever())
    await started.wait()
    assert await asyncio.wait_for(group.spawn(closes_its_own_group()), 5) == "closed"
    assert sleeper.cancelled()
