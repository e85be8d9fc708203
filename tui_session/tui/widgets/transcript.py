"""The transcript: prompts and turns in branch order, anchored at the bottom.

It stays at the newest line while the user is at the bottom; once the user scrolls up it
does not move, and reports `UnseenChanged(True)` when something new arrives below (the
screen shows a "new messages" marker) until the user is back at the bottom.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static

from tui_session.transport.client_handover import HandoverLineView
from tui_session.transport.client_model import PromptView, TurnView

from .handover import HandoverLine
from .turn import EntryItem, PromptItem, TurnItem

Entry = PromptView | TurnView | HandoverLineView


class Transcript(VerticalScroll):
    class UnseenChanged(Message):
        def __init__(self, unseen: bool) -> None:
            super().__init__()
            self.unseen = unseen

    def __init__(self, me: str = "", device: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.me, self.device = me, device
        self.unseen = False
        self.has_older = False

    def compose(self):
        yield Static("", id="older-marker", markup=False)

    def on_mount(self) -> None:
        self.anchor()
        self.query_one("#older-marker").display = False

    @property
    def user_scrolled_away(self) -> bool:
        return self.is_anchored and self._anchor_released

    def items(self) -> list[EntryItem]:
        return [c for c in self.children if isinstance(c, EntryItem)]

    def item(self, key: str) -> EntryItem | None:
        for child in self.items():
            if child.entry_key == key:
                return child
        return None

    async def show_entries(self, entries: Sequence[Entry], has_older: bool) -> None:
        """Reconcile children with the session's transcript, keeping existing widgets."""
        self.has_older = has_older
        marker = self.query_one("#older-marker", Static)
        marker.update("▲ older messages: ctrl+o to load" if has_older else "")
        marker.display = has_older
        existing = {child.entry_key: child for child in self.items()}
        wanted = [(_key(e), e) for e in entries]
        keys = {k for k, _ in wanted}
        stale = [w for k, w in existing.items() if k not in keys]
        grew = False
        with self.app.batch_update():
            if stale:
                await self.remove_children(stale)
            previous = marker
            for key, entry in wanted:
                widget = existing.get(key)
                if widget is None:
                    widget = self._item_for(entry)
                    await self.mount(widget, after=previous)
                    grew = True
                else:
                    widget.show(entry)
                    if self.children.index(widget) != self.children.index(previous) + 1:
                        self.move_child(widget, after=previous)
                previous = widget
        if grew:
            self.content_grew()

    def _item_for(self, entry: Entry) -> EntryItem:
        if isinstance(entry, PromptView):
            return PromptItem(entry, self.me, self.device)
        if isinstance(entry, HandoverLineView):
            return HandoverLine(entry)
        return TurnItem(entry, self.me)

    def show_turn(self, view: TurnView) -> None:
        widget = self.item(view.run_id)
        if isinstance(widget, TurnItem):
            widget.show(view)
            self.content_grew()

    def show_prompt(self, view: PromptView) -> None:
        widget = self.item(view.cmid)
        if isinstance(widget, PromptItem):
            widget.show(view)

    def content_grew(self) -> None:
        if self.user_scrolled_away:
            self._set_unseen(True)

    def scroll_to_newest(self) -> None:
        self.anchor()
        self._set_unseen(False)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self.unseen and new_value >= self.max_scroll_y:
            self._set_unseen(False)

    def _set_unseen(self, unseen: bool) -> None:
        if unseen != self.unseen:
            self.unseen = unseen
            self.post_message(self.UnseenChanged(unseen))


def _key(entry: Entry) -> str:
    if isinstance(entry, HandoverLineView):
        return entry.key
    return entry.cmid if isinstance(entry, PromptView) else entry.run_id
