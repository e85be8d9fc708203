"""Reading a session channel's history for a client (reference §3.11, §7.13).

ably-python has no `untilAttach`: pages are read newest first from "now", and the overlap
with live delivery is absorbed by the decoder's version guards (and serial de-duplication of
discrete messages). Each page is handed to `fold` oldest first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .channel_io import HistoryCursor

Fold = Callable[[list[dict[str, Any]]], None]


class HistoryReader:
    """The session's one backward cursor, shared by every view of the session."""

    def __init__(self, channel: Any, page_size: int, fold: Fold) -> None:
        self._channel = channel
        self.page_size = max(1, int(page_size))
        self._fold = fold
        self._cursor = HistoryCursor(channel, self.page_size)

    @property
    def exhausted(self) -> bool:
        return self._cursor.exhausted

    @property
    def pages_read(self) -> int:
        return self._cursor.pages_read

    async def older_page(self) -> int:
        """Read and fold the next older page; returns how many messages it held."""
        page = await self._cursor.older()
        if not page:
            return 0
        self._fold(page)
        return len(page)

    async def fill_gap(self, stop_at: str | None) -> int:
        """After a re-attach without RESUMED: read from now back to `stop_at` (a serial this
        client already had), folding every page; returns how many messages were read."""
        cursor = HistoryCursor(self._channel, self.page_size)
        total = 0
        while page := await cursor.older():
            total += len(page)
            self._fold(page)
            if stop_at is not None and any(
                isinstance(m.get("serial"), str) and m["serial"] <= stop_at for m in page
            ):
                break
        return total
