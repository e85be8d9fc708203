"""The agent's side of the desk channel (docs/handover.md, "The desk").

The agent enters presence there (a desk shows the items of an agent that is not present as
`agent offline`), publishes one `desk.item` whenever something starts or stops needing a human
(`open` / `resolve`), knows which operators have a desk open (`present`: an escalation pushes
only to operators with no desk and no device in the session), and re-announces every item
still open once a day, so a desk reading history back to its horizon never loses one.

On start it reads its own items back from the channel's history (to the horizon): what it left
open before a restart is still open, is resolved when it resolves, and names the sessions the
agent must serve again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from tui_session.protocol.desk import DeskFold, DeskItem, DeskKind, DeskState
from tui_session.transport.channel_io import ChannelWriter, HistoryCursor
from tui_session.transport.presence import member_from

log = logging.getLogger(__name__)

DAY_MS = 24 * 3600 * 1000
HORIZON_MS = 7 * DAY_MS  # how far back a desk reads (and the agent reads its own items)


def now_ms() -> int:
    return int(time.time() * 1000)


def due_for_reannounce(items: list[DeskItem], at_ms: int) -> list[DeskItem]:
    """Open items whose last announcement is a day old or more."""
    return [i for i in items if i.state == DeskState.OPEN and at_ms - i.at_ms >= DAY_MS]


class DeskPublisher:
    def __init__(
        self,
        realtime: Any,
        channel_name: str,
        client_id: str,
        presence_data: dict[str, Any],
        *,
        on_leave: Callable[[set[str]], None] | None = None,
    ) -> None:
        self.channel_name = channel_name
        self.channel = realtime.channels.get(channel_name)
        self.client_id = client_id
        self.presence_data = presence_data
        self.on_leave = on_leave or (lambda _left: None)
        self.fold = DeskFold({client_id})
        self.open: dict[str, DeskItem] = {}  # this agent's open items, by id
        self.members: set[str] = set()  # clientIds present on the desk
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.channel.presence.subscribe(self._on_presence)
        await self.channel.presence.enter(self.presence_data)
        await self.channel.presence.get()
        self._on_presence(None)
        await self._read_own_items()
        self._loop_task = asyncio.get_running_loop().create_task(self._reannounce_loop())

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._loop_task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.channel.presence.leave(), 5)

    def present(self, client_id: str) -> bool:
        return client_id in self.members

    def items(self, kind: DeskKind | None = None, channel: str | None = None) -> list[DeskItem]:
        """This agent's open items, of a kind and a session channel if given."""
        return [
            i
            for i in self.open.values()
            if (kind is None or i.kind == kind) and (channel is None or i.channel == channel)
        ]

    async def open_item(self, item: DeskItem) -> None:
        """Announce a new open item (nothing if that id is open already)."""
        async with self._lock:
            if item.id in self.open:
                return
            await self._publish(item)
        self._wake.set()

    async def resolve(self, item_id: str, resolution: str, by: str | None) -> None:
        """Resolve an open item (nothing if it is not open)."""
        async with self._lock:
            item = self.open.get(item_id)
            if item is not None:
                await self._publish(item.resolved(resolution, by, now_ms()))

    async def reannounce_due(self, at_ms: int) -> list[DeskItem]:
        """Publish again (same id and `since`) every open item announced a day ago or more."""
        async with self._lock:
            due = due_for_reannounce(list(self.open.values()), at_ms)
            for item in due:
                await self._publish(replace(item, at_ms=at_ms))
        return due

    # --- internals ------------------------------------------------------------------------------

    async def _publish(self, item: DeskItem) -> None:
        op = item.publish()
        try:
            serial = await ChannelWriter(self.channel).publish(op)
        except Exception as exc:  # the desk is a summary: a failure never breaks a turn
            log.warning("desk item %s not published on %s: %s", item.id, self.channel_name, exc)
            return
        message = {"name": op.name, "data": op.data, "serial": serial, "clientId": self.client_id}
        self.fold.apply(message)
        if item.state == DeskState.OPEN:
            self.open[item.id] = item
        else:
            self.open.pop(item.id, None)

    async def _read_own_items(self) -> None:
        cursor = HistoryCursor(self.channel)
        horizon = now_ms() - HORIZON_MS
        try:
            while page := await cursor.older():
                self.fold.apply_all(page)
                if any((m.get("timestamp") or horizon) < horizon for m in page):
                    break
        except Exception as exc:
            log.warning("desk history of %s not read: %s", self.channel_name, exc)
        self.open = {i.id: i for i in self.fold.items() if i.state == DeskState.OPEN}

    async def _reannounce_loop(self) -> None:
        while True:
            await self.reannounce_due(now_ms())
            next_due = min((i.at_ms + DAY_MS for i in self.open.values()), default=None)
            timeout = None if next_due is None else max(1.0, (next_due - now_ms()) / 1000)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _on_presence(self, _message: Any) -> None:
        members = {member_from(m).client_id for m in self.channel.presence.members.list()}
        left = self.members - members
        self.members = members
        if left:
            self.on_leave(left)
