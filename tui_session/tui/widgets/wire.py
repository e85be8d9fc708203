"""The wire pane: the session channel's raw deliveries, live (serial, action, name,
clientId, headers), for when something looks wrong."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import RichLog

from tui_session.tui.messages import WireRow

MAX_LINES = 2000


class WirePane(RichLog):
    def __init__(self, **kwargs) -> None:
        super().__init__(max_lines=MAX_LINES, wrap=True, markup=False, **kwargs)
        self.rows: list[WireRow] = []
        self.border_title = "wire"

    def add_rows(self, rows: Sequence[WireRow]) -> None:
        self.rows.extend(rows)
        del self.rows[:-MAX_LINES]
        for row in rows:
            self.write(format_row(row))


def format_row(row: WireRow) -> Text:
    text = Text()
    text.append(row.serial or "-", style="dim")
    text.append(f" {row.action:<6}", style="bold")
    text.append(f" {row.name or '-'}")
    text.append(f" {row.client_id or '-'}", style="italic")
    if row.source != "live":
        text.append(f" [{row.source}]", style="dim")
    if row.headers:
        headers = " ".join(f"{k}={v}" for k, v in sorted(row.headers.items()))
        text.append(f"\n  {headers}", style="dim")
    return text
