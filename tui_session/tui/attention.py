"""When this terminal tells its user that something needs them, and what its title says
(docs/handover.md, "Notifications in the terminal"). No textual: the chat screen hands it what
it is shown and writes the bytes it returns through the app's `TerminalOutput`.

| event | who is notified |
|---|---|
| my turn ended (complete, cancelled, error), on any of my devices | me |
| an approval waits in my turn | me |
| an operator took over, handed back, or control returned by itself | everyone but the actor |
| a new request for a human | operators |
| a prompt while I am in control | the operator in control |

Each at most once per (turn, state), only while the terminal is unfocused (`TerminalNotifier`).
What was already there when the session opened (history) never notifies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from tui_session.protocol.handover import EventKind
from tui_session.sessions import display_name
from tui_session.transport.client_handover import HandoverLineView
from tui_session.transport.client_model import PromptView, TurnView

from .terminal_notify import TerminalNotifier

CONTROL_EVENTS = frozenset({EventKind.TOOK_OVER, EventKind.HANDED_BACK, EventKind.LAPSED})
T = TypeVar("T")


def title_state(
    *, waiting_for_me: bool, in_control: str | None, escalated: bool, busy: bool
) -> str:
    """The state in the terminal's title, most pressing first."""
    if waiting_for_me:
        return "waiting for you"
    if in_control:
        return f"{in_control} in control"
    if escalated:
        return "waiting for a human"
    return "streaming" if busy else ""


class Arrivals:
    """What arrived since the last look; the first look (history) is all seen, none new."""

    def __init__(self) -> None:
        self._seen: set[str] | None = None

    def new(self, items: Iterable[T], *, key: Callable[[T], str]) -> list[T]:
        first, self._seen = self._seen is None, self._seen or set()
        fresh = [item for item in items if key(item) not in self._seen]
        self._seen.update(key(item) for item in fresh)
        return [] if first else fresh


class Attention:
    def __init__(self, notifier: TerminalNotifier, channel_name: str, me: str) -> None:
        self.notifier = notifier
        self.session = display_name(channel_name)
        self.me = me
        self._events = Arrivals()
        self._prompts = Arrivals()

    def _notify(self, key: str, state: str, body: str, *, focused: bool) -> str:
        return self.notifier.notify(key, state, self.session, body, focused=focused)

    def turn_ended(self, view: TurnView, *, focused: bool) -> str:
        if not view.own:
            return ""
        return self._notify(
            view.run_id, view.status, f"your turn ended ({view.status})", focused=focused
        )

    def turn_changed(self, view: TurnView, *, focused: bool) -> str:
        """An approval waiting in my turn."""
        if not view.own or not view.pending_approvals:
            return ""
        request = view.pending_approvals[0]
        body = f"{request.name or 'a tool call'} waits for your approval"
        return self._notify(view.run_id, "approval", body, focused=focused)

    def handover(self, lines: Sequence[HandoverLineView], *, operator: bool, focused: bool) -> str:
        """New handover events: control changes for everyone but the actor, new requests for
        a human for operators."""
        out = ""
        for line in self._events.new(lines, key=lambda line: line.serial):
            kind = line.event.kind
            if kind in CONTROL_EVENTS and line.event.by != self.me:
                out += self._notify(line.key, str(kind), line.text, focused=focused)
            elif kind == EventKind.ESCALATED and operator:
                out += self._notify(line.key, str(kind), line.text, focused=focused)
        return out

    def prompts(self, entries: Iterable[object], *, replying: bool, focused: bool) -> str:
        """Prompts of others that arrived while this user is in control (they answer them)."""
        prompts = [e for e in entries if isinstance(e, PromptView) and not e.own]
        out = ""
        for prompt in self._prompts.new(prompts, key=lambda prompt: prompt.cmid):
            if replying:
                body = f"{prompt.client_id or 'someone'} asks: {prompt.text}"
                out += self._notify(prompt.cmid, "prompt", body, focused=focused)
        return out

    def title(self, state: str) -> str:
        return self.notifier.title(self.session, state)
