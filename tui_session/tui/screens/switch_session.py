"""The "Switch session…" dialog: asks for a session id and answers with its channel.

An id the hub would refuse is explained under the field and the dialog stays open, so the user
corrects it instead of landing in an empty room with an error code.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from tui_session import sessions


class SwitchSessionScreen(ModalScreen[str | None]):
    """Dismissed with the channel of the chosen session, or None (escape, or nothing typed)."""

    CSS_PATH = "switch_session.tcss"
    BINDINGS = [("escape", "dismiss_none", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="switch-session"):
            yield Label("Session id to open:")
            yield Input(placeholder="e.g. demo", id="session-id")
            yield Static(id="switch-error")

    def on_mount(self) -> None:
        self.query_one("#switch-error").display = False

    def on_input_submitted(self, event: Input.Submitted) -> None:
        session_id = event.value.strip()
        if not session_id:
            self.dismiss(None)
            return
        try:
            channel = sessions.channel_name(session_id)
        except sessions.InvalidName as err:
            error = self.query_one("#switch-error", Static)
            error.update(f"{str(err)[:1].upper()}{str(err)[1:]}.")
            error.display = True
            return
        self.dismiss(channel)

    def on_input_changed(self, _event: Input.Changed) -> None:
        self.query_one("#switch-error").display = False

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
