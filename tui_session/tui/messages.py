"""The facts the controller tells the screen, as small Textual messages.

Every message is named for what happened on the session; the screen routes each to the
widget that shows it. They carry read-model snapshots (`PromptView`, `TurnView`, ...) read
from the `ClientSession` at the moment of posting, never live objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from textual.message import Message

from tui_session.protocol.handover_fold import ControlView, HandoverView
from tui_session.transport.client_model import PromptView, TurnView
from tui_session.transport.presence import Member
from tui_session.transport.service_health import AgentHealth


@dataclass
class SessionOpened(Message):
    """The session is connected, attached and its first history page is folded."""

    channel_name: str
    client_id: str
    device: str


@dataclass
class SessionOpenFailed(Message):
    channel_name: str
    error: str


@dataclass
class TranscriptChanged(Message):
    """Prompts or turns appeared, vanished or moved (new turn, history page, branch)."""

    entries: Sequence[PromptView | TurnView]
    has_older: bool


@dataclass
class TurnChanged(Message):
    """One turn's output, status or labels changed (deltas batched per turn)."""

    view: TurnView


@dataclass
class PromptChanged(Message):
    view: PromptView


@dataclass
class TurnFinished(Message):
    """A turn reached complete, cancelled or error."""

    view: TurnView


@dataclass
class ActiveTurnsChanged(Message):
    """`{client_id: {run_id or own input id: state}}`, which of them are mine (my user's, on
    any device), and the strip's name for each ("you", "you · laptop", "bob")."""

    turns: Mapping[str, Mapping[str, str]]
    mine: tuple[str, ...]
    names: Mapping[str, str] = field(default_factory=dict)


@dataclass
class BranchLineChanged(Message):
    """Who moved this device to another branch ("ada · laptop edited: now on branch 2/2"),
    or that it browses an older branch on purpose; None: nothing to say."""

    text: str | None


@dataclass
class MembersChanged(Message):
    members: tuple[Member, ...]


@dataclass
class ConnectionStateChanged(Message):
    """connected, disconnected, suspended, failed, closed, resumed, recovering, recovered."""

    state: str
    reason: str | None = None


@dataclass
class WireEventsArrived(Message):
    rows: Sequence[WireRow] = field(default_factory=tuple)


@dataclass(frozen=True)
class WireRow:
    serial: str | None
    action: str
    name: str | None
    client_id: str | None
    headers: Mapping[str, str]
    source: str


@dataclass
class SteerResolved(Message):
    run_id: str
    outcome: str


@dataclass
class Notice(Message):
    """Something the user should read once (an error, a confirmation prompt)."""

    text: str
    severity: str = "information"


@dataclass
class AgentHealthRead(Message):
    """The agent service's /health was read (it answered with its model, or it did not)."""

    health: AgentHealth


@dataclass
class HandoverChanged(Message):
    """Who answers the session, what waits for a human, or the countdown changed
    (docs/handover.md)."""

    view: HandoverView
    control_view: ControlView  # (Message.control is textual's: the sending widget)
