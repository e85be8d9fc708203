"""A client's paging back through history (docs/wire.md §3.10, §3.11, §7.2).

`HistoryPager` reveals exactly the number of older messages asked for in the paging window,
reading and folding history pages while the loaded ones do not hold enough. ably-python has no
`untilAttach`: pages are read newest first from "now", and the overlap with live delivery is
absorbed by the decoder's version guards. Each page is folded oldest first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from tui_session.protocol import RunNode
from tui_session.protocol.paging import Window

INITIAL_EDGE_PAGES = 20  # how far the initial load reads back for a run at its edge


class Pages(Protocol):
    """A backward cursor over the channel's history (`follower.ChannelFollower`)."""

    @property
    def exhausted(self) -> bool: ...

    def older(self) -> Awaitable[list[dict[str, Any]] | None]: ...


class HistoryPager:
    """The session's one backward paging, shared by every view of the session."""

    def __init__(
        self, window: Window, pages: Pages, fold_page: Callable[[list[dict[str, Any]]], None]
    ) -> None:
        self.window = window
        self._pages = pages
        self._fold_page = fold_page
        self._lock = asyncio.Lock()

    async def load_older(self, limit: int) -> int:
        """Reveal exactly `limit` older messages (fewer only when history is exhausted)."""
        async with self._lock:
            return await self._reveal(limit)

    async def load_initial(self, limit: int) -> int:
        """Page at once (§7.2): the requested window, then the prompts of revealed runs: a run
        still going at the window's edge shows its prompt."""
        async with self._lock:
            shown = await self._reveal(limit)
            for _ in range(INITIAL_EDGE_PAGES):
                nodes = self.window.nodes()
                edge = nodes[0] if nodes else None
                if not isinstance(edge, RunNode) or edge.terminal or not self.window.has_older():
                    break
                shown += await self._reveal(1)
        return shown

    async def _reveal(self, limit: int) -> int:
        shown = 0
        while True:
            result = self.window.reveal(limit - shown)
            shown += result.revealed
            if result.shortfall == 0 or self.window.history_exhausted:
                return shown
            page = await self._pages.older()
            if page:
                self._fold_page(page)
            self.window.history_exhausted = self._pages.exhausted
