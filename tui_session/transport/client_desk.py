"""The operator desk as a terminal reads it (docs/handover.md, "The desk").

`DeskFeed` follows the desk channel the agent names in its `/health` (`agent.desk_channel`):
it subscribes, reads history back to a horizon (7 days: agents re-announce open items daily,
so nothing still open is older), folds every `desk.item` into a `DeskFold` that trusts only the
agent's clientId, and enters the desk's presence as an operator (an agent pushes an escalation
only to operators present neither here nor in the session). It tells its listeners
`DeskChanged` when the rows may have changed (an item, or the agents present); `rows()` is the
read model.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tui_session.protocol.desk import DeskFold, DeskRows, Thresholds

from .client_handover import AgentInfo, wall_ms
from .follower import ChannelFollower, is_connected, wait_connected
from .presence import Member, PresenceTracker, client_presence_data

log = logging.getLogger(__name__)

HORIZON_S = 7 * 24 * 3600.0
CONNECT_TIMEOUT_S = 15.0
LEAVE_TIMEOUT_S = 1.5


@dataclass(frozen=True)
class DeskChanged:
    """Event: an item changed, history was read, or the agents present changed."""


class DeskFeed:
    """See the module docstring. Create with `await DeskFeed.connect(...)`."""

    def __init__(
        self,
        realtime: Any,
        channel_name: str,
        client_id: str,
        *,
        device: str,
        agent: AgentInfo,
        horizon_s: float = HORIZON_S,
        page_size: int = 100,
        clock: Callable[[], int] = wall_ms,
    ) -> None:
        self.realtime = realtime
        self.channel_name = channel_name
        self.client_id = client_id
        self.device = device
        self.agent = agent
        self.horizon_s = horizon_s
        self.clock = clock
        self.fold = DeskFold({agent.client_id})
        self._channel = realtime.channels.get(channel_name)
        self._follower = ChannelFollower(
            self._channel,
            on_message=self._on_message,
            on_gap=lambda messages, _floor: self._fold_all(messages),
            page_size=page_size,
            name="desk",
        )
        self.presence = PresenceTracker(self._channel, self._on_members)
        self._listeners: list[Callable[[Any], None]] = []
        self.history_read = False
        self._closed = False

    @classmethod
    async def connect(
        cls,
        realtime: Any,
        channel_name: str,
        *,
        device: str,
        agent: AgentInfo,
        listener: Callable[[Any], None] | None = None,
        **options: Any,
    ) -> DeskFeed:
        await wait_connected(realtime, CONNECT_TIMEOUT_S)
        client_id = realtime.auth.client_id
        if not client_id and realtime.auth.token_details is not None:
            client_id = realtime.auth.token_details.client_id
        if not client_id or client_id == "*":
            raise ValueError("the desk needs a connection with a concrete clientId")
        feed = cls(realtime, channel_name, client_id, device=device, agent=agent, **options)
        if listener is not None:
            feed.listen(listener)
        try:
            await feed._start()
        except BaseException:
            await feed.close()
            raise
        return feed

    async def _start(self) -> None:
        await self._follower.start()
        await self._read_history()
        await self.presence.start(client_presence_data(self.client_id, self.device, "operator"))

    async def _read_history(self) -> None:
        """Back to the horizon (or the channel's start), newest page first."""
        horizon_ms = self.clock() - int(self.horizon_s * 1000)
        while (page := await self._follower.older()) is not None:
            self._fold_all(page)
            stamps = [m.get("timestamp") for m in page if isinstance(m.get("timestamp"), int)]
            if stamps and min(stamps) < horizon_ms:
                break
        self.history_read = True
        self._emit()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._follower.close()
        if is_connected(self.realtime):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.presence.stop(), LEAVE_TIMEOUT_S)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._channel.detach(), LEAVE_TIMEOUT_S)
        else:
            with contextlib.suppress(Exception):
                self.presence.unsubscribe()
        self._listeners.clear()

    # --- events -------------------------------------------------------------------------------

    def listen(self, callback: Callable[[Any], None]) -> Callable[[], None]:
        self._listeners.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(callback)

        return unsubscribe

    def _emit(self) -> None:
        for callback in list(self._listeners):
            try:
                callback(DeskChanged())
            except Exception:
                log.exception("desk listener failed")

    def _on_message(self, message: dict[str, Any]) -> None:
        if self.fold.apply(message):
            self._emit()

    def _fold_all(self, messages: list[dict[str, Any]]) -> None:
        if self.fold.apply_all(messages):
            self._emit()

    def _on_members(self, _members: tuple[Member, ...]) -> None:
        self._emit()

    # --- reading ------------------------------------------------------------------------------

    def agents_present(self) -> frozenset[str]:
        return frozenset(m.client_id for m in self.presence.members if m.kind == "agent")

    def rows(self, thresholds: Thresholds | None = None, now_ms: int | None = None) -> DeskRows:
        return self.fold.rows(
            self.clock() if now_ms is None else now_ms,
            agents_present=self.agents_present(),
            thresholds=thresholds or Thresholds(),
        )
