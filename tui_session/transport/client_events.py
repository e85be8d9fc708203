"""What a `ClientSession` tells the UI: small frozen facts, cheap to make and to drop.

Each event names what happened, not what to draw; the UI reads the current state from the
session (`transcript()`, `turn()`, `active_turns()`, ...) when it decides to redraw, and
coalesces as it likes. Events are delivered on the session's event loop, in order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from .client_model import Who
from .presence import Member


@dataclass(frozen=True)
class HistoryLoaded:
    """A history page was revealed (`load_older`, the initial load, or a gap fill)."""

    revealed: int
    has_older: bool


@dataclass(frozen=True)
class PromptAdded:
    """A user prompt (input node) appeared: an own optimistic one or one from the channel."""

    cmid: str


@dataclass(frozen=True)
class PromptUpdated:
    """A prompt's content or this device's status for it changed (echo, POST, started...)."""

    cmid: str


@dataclass(frozen=True)
class PromptRemoved:
    """An own prompt was withdrawn because its publish failed."""

    cmid: str
    error: str


@dataclass(frozen=True)
class TurnAdded:
    """A run (turn) appeared in the tree, on any branch."""

    run_id: str


@dataclass(frozen=True)
class TurnUpdated:
    """A turn's output, status, steps, labels (cancel requested, stalled) changed."""

    run_id: str


@dataclass(frozen=True)
class TurnEnded:
    """A turn reached a terminal status: complete, cancelled or error."""

    run_id: str
    status: str


@dataclass(frozen=True)
class ActiveTurnsChanged:
    """`{client_id: {run_id or own input id: "active" | "waiting" | "pending"}}`."""

    turns: Mapping[str, Mapping[str, str]]


@dataclass(frozen=True)
class BranchChanged:
    """The selected sibling of a group changed (select, own edit or regenerate)."""

    cmid: str


@dataclass(frozen=True)
class BranchFollowed:
    """Another device's move (an edit, a regenerate, or a prompt sent on another branch)
    moved this view to its branch (protocol/view.py): who, and where it shows now."""

    cmid: str  # the move: the prompt's id, or the regenerated run's id
    kind: Literal["edited", "regenerated", "sent"]
    by: Who
    index: int  # the branch now shown in the topmost group that changed, from 0
    count: int


@dataclass(frozen=True)
class SteerResolved:
    """A steer's outcome: "consumed", "not consumed" or "unknown" (timed out)."""

    steer_cmid: str
    run_id: str
    outcome: str


@dataclass(frozen=True)
class PresenceChanged:
    members: tuple[Member, ...]


@dataclass(frozen=True)
class ConnectionChanged:
    """Connection states (connected, disconnected, suspended, closed, failed) and channel
    continuity: "resumed" (re-attached without loss), "recovering" (re-attached without
    RESUMED; the gap is being read from history), "recovered" (the gap is filled)."""

    state: str
    reason: str | None = None


@dataclass(frozen=True)
class WireMessage:
    """One raw channel delivery (for a wire pane). `source` is "live" or "history"."""

    serial: str | None
    action: int
    name: str | None
    client_id: str | None
    headers: Mapping[str, str] = field(default_factory=dict)
    codec: Mapping[str, str] = field(default_factory=dict)
    version: str | None = None
    source: str = "live"


@dataclass(frozen=True)
class SessionError:
    """A background operation failed (history page, POST bookkeeping, a listener)."""

    operation: str
    message: str
    code: int | None = None


ClientEvent = (
    HistoryLoaded
    | PromptAdded
    | PromptUpdated
    | PromptRemoved
    | TurnAdded
    | TurnUpdated
    | TurnEnded
    | ActiveTurnsChanged
    | BranchChanged
    | BranchFollowed
    | SteerResolved
    | PresenceChanged
    | ConnectionChanged
    | WireMessage
    | SessionError
)

__all__ = [
    "ActiveTurnsChanged",
    "BranchChanged",
    "BranchFollowed",
    "ClientEvent",
    "ConnectionChanged",
    "HistoryLoaded",
    "PresenceChanged",
    "PromptAdded",
    "PromptRemoved",
    "PromptUpdated",
    "SessionError",
    "SteerResolved",
    "TurnAdded",
    "TurnEnded",
    "TurnUpdated",
    "WireMessage",
]
