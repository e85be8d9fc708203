"""Following one session channel, for a client or an agent (docs/wire.md §3.11, §7.13).

`ChannelFollower` subscribes to everything (which attaches: subscribe first, so nothing is
missed between attach and history), hands every delivery to the caller's fold as a plain
dict, reads history backwards through one cursor, and remembers the newest serial it has
handed over either way. When the channel attaches again without RESUMED (continuity lost: the
hub could not replay what was missed), it reads history from now back to that serial (or to
an earlier floor the caller names) and hands the gap over oldest first, as live delivery
would have. Its task group runs that and whatever its owner spawns, and stops with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from tui_session.protocol import ProtocolError

from .channel_io import HistoryCursor, message_dict

log = logging.getLogger(__name__)

Message = dict[str, Any]
# "resumed" (re-attached without loss), "recovering" (reading the gap), "recovered" (the gap
# is folded) or "failed" (the gap could not be read; the error says why)
Continuity = Callable[[str, ProtocolError | None], None]


async def wait_connected(realtime: Any, timeout: float | None = None) -> None:
    """Return once the realtime connection is connected (at once if it already is)."""
    if realtime.connection.state.value != "connected":
        await asyncio.wait_for(realtime.connection.once_async("connected"), timeout)


def is_connected(realtime: Any) -> bool:
    state = getattr(realtime.connection, "state", None)
    return str(getattr(state, "value", state)) == "connected"


class TaskGroup:
    """Background tasks owned by one object: spawned, logged when they fail, stopped together."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._tasks: set[asyncio.Future[Any]] = set()

    def spawn(self, work: Awaitable[Any]) -> asyncio.Future[Any]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s task failed: %r", self.name, task.exception())

    async def close(self) -> None:
        """Cancel every task and wait for them to finish (not the one calling, if it is one)."""
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


class ChannelFollower:
    """See the module docstring. `on_message` gets each live delivery; `on_gap` the messages
    of a gap, oldest first, with the floor it was read back to (None: the whole history)."""

    def __init__(
        self,
        channel: Any,
        *,
        on_message: Callable[[Message], None],
        on_gap: Callable[[list[Message], str | None], None],
        on_continuity: Continuity | None = None,
        gap_floor: Callable[[str | None], str | None] | None = None,
        page_size: int = 100,
        name: str = "channel follower",
    ) -> None:
        self.channel = channel
        self.page_size = max(1, int(page_size))
        self.history = HistoryCursor(channel, self.page_size)
        self.tasks = TaskGroup(name)
        self.last_serial: str | None = None  # the newest serial handed to the caller
        self._on_message = on_message
        self._on_gap = on_gap
        self._on_continuity = on_continuity or (lambda _state, _error: None)
        self._gap_floor = gap_floor or (lambda last: last)
        self._attached_once = False
        self._closed = False

    async def start(self) -> None:
        """Subscribe to everything, which attaches the channel."""
        self.channel.on(self._on_channel_state)
        await self.channel.subscribe(self._deliver)
        self._attached_once = True

    async def close(self) -> None:
        """Stop delivering and stop the task group; the channel stays attached."""
        self._closed = True
        with contextlib.suppress(Exception):
            self.channel.unsubscribe(self._deliver)
            self.channel.off(self._on_channel_state)
        await self.tasks.close()

    def spawn(self, work: Awaitable[Any]) -> asyncio.Future[Any]:
        return self.tasks.spawn(work)

    async def older(self) -> list[Message] | None:
        """The next older history page, oldest first (None once history is exhausted)."""
        page = await self.history.older()
        if page:
            self._note(page)
        return page

    @property
    def exhausted(self) -> bool:
        return self.history.exhausted

    # --- live delivery and continuity --------------------------------------------------------

    def _deliver(self, message: Any) -> None:
        if self._closed:
            return
        raw = message_dict(message)
        self._note([raw])
        try:
            self._on_message(raw)
        except Exception:  # never raise into the SDK's delivery loop
            log.exception("cannot fold a message from %s", getattr(self.channel, "name", "?"))

    def _note(self, messages: list[Message]) -> None:
        for m in messages:
            serial = m.get("serial")
            if isinstance(serial, str) and (self.last_serial is None or serial > self.last_serial):
                self.last_serial = serial

    def _on_channel_state(self, change: Any) -> None:
        state = str(getattr(change.current, "value", change.current))
        if self._closed or state != "attached" or not self._attached_once:
            return
        if change.resumed:
            self._on_continuity("resumed", None)
        else:
            self.spawn(self.fill_gap())

    async def fill_gap(self) -> int:
        """Read from now back to the floor, then hand the gap over oldest first; returns how
        many messages it held."""
        self._on_continuity("recovering", None)
        floor = self._gap_floor(self.last_serial)
        cursor = HistoryCursor(self.channel, self.page_size)
        pages: list[list[Message]] = []
        try:
            while page := await cursor.older():
                pages.append(page)
                if floor is not None and any(
                    isinstance(m.get("serial"), str) and m["serial"] <= floor for m in page
                ):
                    break
        except ProtocolError as err:
            self._on_continuity("failed", err)
            return 0
        messages = [m for page in reversed(pages) for m in page]
        self._note(messages)
        self._on_gap(messages, floor)
        self._on_continuity("recovered", None)
        return len(messages)
