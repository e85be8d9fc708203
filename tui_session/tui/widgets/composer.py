"""The composer: a multi-line input. Enter sends; ctrl+j adds a new line in every terminal,
shift+enter and alt+enter where the terminal reports them apart from enter (tui/keyboard.py);
the placeholder names the ones this terminal has. Up / down at the first / last line recall
earlier prompts."""

from __future__ import annotations

from textual import events
from textual.message import Message
from textual.widgets import TextArea

NEWLINE_KEYS = {"shift+enter", "ctrl+j", "alt+enter"}


READ_ONLY_HINT = "read-only invite: you can watch, not prompt, cancel or approve"


def placeholder(kitty_keyboard: bool, read_only: bool = False) -> str:
    """The hint for this terminal: shift+enter only where it is not a bare enter (alt+enter
    also works wherever the terminal sends ESC for alt, which the app cannot ask); a
    read-only device is told what it cannot do before it tries."""
    if read_only:
        return READ_ONLY_HINT
    newline = "shift+enter or ctrl+j" if kitty_keyboard else "ctrl+j"
    return f"Message · Enter sends · {newline}: new line"


class Composer(TextArea):
    class Submitted(Message):
        def __init__(self, composer: Composer, text: str) -> None:
            super().__init__()
            self.composer = composer
            self.text = text

    def __init__(self, *, kitty_keyboard: bool = False, read_only: bool = False, **kwargs) -> None:
        kwargs.setdefault("placeholder", placeholder(kitty_keyboard, read_only))
        super().__init__(soft_wrap=True, show_line_numbers=False, **kwargs)
        self.sent_history: list[str] = []
        self._recall: int | None = None
        self._draft = ""
        self.editing: str | None = None  # the prompt being edited, if any

    def remember(self, text: str) -> None:
        if text and (not self.sent_history or self.sent_history[-1] != text):
            self.sent_history.append(text)
        self._recall = None

    def set_draft(self, text: str) -> None:
        self.text = text
        self.move_cursor(self.document.end)

    async def _on_key(self, event: events.Key) -> None:
        key = event.key
        if key == "enter":
            event.stop()
            event.prevent_default()
            self.post_message(self.Submitted(self, self.text))
            return
        if key in NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            self.insert("\n")
            return
        if key.startswith("alt+"):  # never typed: alt chords are bindings or nothing
            event.prevent_default()
            return
        if key == "up" and self.cursor_location[0] == 0 and self._step(-1):
            event.stop()
            event.prevent_default()
            return
        if key == "down" and self.cursor_location[0] == self.document.line_count - 1:
            if self._step(1):
                event.stop()
                event.prevent_default()
                return
        await super()._on_key(event)

    def _step(self, direction: int) -> bool:
        if not self.sent_history:
            return False
        if self._recall is None:
            if direction > 0:
                return False
            self._draft = self.text
            index = len(self.sent_history) - 1
        else:
            index = self._recall + direction
        if index < 0:
            return True
        if index >= len(self.sent_history):
            self._recall = None
            self.set_draft(self._draft)
            return True
        self._recall = index
        self.set_draft(self.sent_history[index])
        return True
