"""Human handover on the chat screen (docs/handover.md): the bar under the header that says who
answers (with the countdown of the automatic hand-back) and what waits for a human, and the
transcript lines that say who did what."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.widgets import Static

from tui_session.protocol.handover import (
    EventKind,
    asker_label,
    format_duration,
    operator_label,
)
from tui_session.protocol.handover_fold import ControlView, HandoverView
from tui_session.transport.client_handover import HandoverLineView

from .turn import EntryItem, widget_id

ICONS = {
    EventKind.ESCALATED: "⚑",
    EventKind.REFUSED: "⚠",
    EventKind.ANSWERED: "✓",
}


def countdown(seconds: float) -> str:
    """`1:12`: minutes and seconds left."""
    whole = max(0, int(seconds + 0.999))
    return f"{whole // 60}:{whole % 60:02d}"


def control_text(view: HandoverView, control: ControlView, me: str, now_ms: int) -> str:
    """The bar's one line; empty when the agent answers and nothing waits for a human."""
    if control.operator:
        who = operator_label(control.operator)
        if control.lapsed:
            return f"⇄ {who} left · returning to the agent…"
        if control.lapses_at_ms is not None:
            left = countdown((control.lapses_at_ms - now_ms) / 1000)
            return f"⇄ {control.operator} left · back to the agent in {left}"
        since = f" for {format_duration((now_ms - control.since_ms) / 1000)}"
        if control.since_ms is None:
            since = ""
        mine = " · you reply (f7 hands back)" if control.operator == me else ""
        return f"⇄ {who} in control{since}{mine}"
    parts = []
    waiting = view.open_escalations
    if len(waiting) == 1:
        escalation = waiting[0]
        why = f": {escalation.reason}" if escalation.reason else ""
        parts.append(f"⚑ {asker_label(escalation)} asked for a human{why}")
    elif waiting:
        parts.append(f"⚑ {len(waiting)} requests for a human waiting")
    for request in view.pending_requests:
        verb = "take over" if request.action == "take" else "hand back"
        parts.append(f"⇄ {request.by} asked to {verb}…")
    return " · ".join(parts)


class HandoverBar(Static):
    """One line under the header, shown while there is something to say; it ticks once a
    second while a countdown runs."""

    def __init__(self, clock: Callable[[], float] = time.time, **kwargs) -> None:
        super().__init__(markup=False, **kwargs)
        self.clock = clock
        self.me = ""
        self.view: HandoverView | None = None
        self.control = ControlView(None, None)

    def on_mount(self) -> None:
        self.display = False
        self.set_interval(1.0, self._tick)

    def show(self, view: HandoverView, control: ControlView) -> None:
        self.view, self.control = view, control
        self._refresh_text()

    def _tick(self) -> None:
        if self.control.operator:
            self._refresh_text()

    def _refresh_text(self) -> None:
        if self.view is None:
            return
        text = control_text(self.view, self.control, self.me, int(self.clock() * 1000))
        self.set_class(bool(self.control.operator), "-control")
        self.set_class(self.control.lapses_at_ms is not None, "-lapsing")
        self.update(text)
        self.display = bool(text)


class HandoverLine(EntryItem):
    """A handover event in the transcript: `⇄ ada (operator) took over… · 14:02`."""

    def __init__(self, view: HandoverLineView) -> None:
        super().__init__(id=widget_id("handover", view.serial), classes="entry handover-line")
        self.entry_key = view.key
        self.view = view

    def compose(self):
        yield Static(classes="handover-text", markup=False)

    def on_mount(self) -> None:
        self.show(self.view)

    def show(self, view: HandoverLineView) -> None:
        self.view = view
        icon = ICONS.get(view.event.kind, "⇄")
        at = time.strftime("%H:%M", time.localtime(view.event.at_ms / 1000))
        self.set_class(view.event.kind == EventKind.REFUSED, "-refused")
        self.query_one(".handover-text", Static).update(f"{icon} {view.text} · {at}")
