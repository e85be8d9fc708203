"""Reading a session channel's history for a client (reference §3.11, §7.13).

ably-python has no `untilAttach`: pages are read newest first from "now", and the overlap
with live delivery is absorbed by the decoder's version guards (and serial de-duplication of
discrete messages). Each page is handed to `fold` oldest first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from tui_session.protocol import ErrorCode, ProtocolError

from .client_wire import message_dict

RETRIES = 3
FIRST_BACKOFF_S = 0.1

Fold = Callable[[list[dict[str, Any]]], None]


async def _with_retries(fetch: Callable[[], Any]) -> Any:
    delay = FIRST_BACKOFF_S
    for attempt in range(RETRIES + 1):
        try:
            return await fetch()
        except asyncio.CancelledError:
            raise
        except Exception as err:
            if attempt == RETRIES:
                raise ProtocolError(
                    ErrorCode.HISTORY_FETCH_FAILED, f"unable to fetch history; {err}"
                ) from err
            await asyncio.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


class HistoryReader:
    """The session's one backward cursor, shared by every view of the session."""

    def __init__(self, channel: Any, page_size: int, fold: Fold) -> None:
        self._channel = channel
        self.page_size = max(1, int(page_size))
        self._fold = fold
        self._page: Any = None  # the last PaginatedResult read
        self.exhausted = False
        self.pages_read = 0

    async def older_page(self) -> int:
        """Read and fold the next older page; returns how many messages it held."""
        if self.exhausted:
            return 0
        if self._page is None:
            page = await _with_retries(lambda: self._channel.history(limit=self.page_size))
        else:
            page = await _with_retries(self._page.next)
        self._page = page
        self.pages_read += 1
        items = list(page.items) if page is not None else []
        if page is None or not page.has_next() or not items:
            self.exhausted = True
        self._fold([message_dict(m) for m in reversed(items)])
        return len(items)

    async def fill_gap(self, stop_at: str | None) -> int:
        """After a re-attach without RESUMED: read from now back to `stop_at` (a serial this
        client already had), folding every page; returns how many messages were read."""
        total = 0
        page = await _with_retries(lambda: self._channel.history(limit=self.page_size))
        while page is not None:
            items = list(page.items)
            total += len(items)
            self._fold([message_dict(m) for m in reversed(items)])
            reached = stop_at is not None and any(
                isinstance(m.serial, str) and m.serial <= stop_at for m in items
            )
            if reached or not items or not page.has_next():
                break
            page = await _with_retries(page.next)
        return total
