"""The operator desk: summaries on a desk channel, and what the desk lists. Pure.

An agent publishes one `desk.item` on the desk channel (`desk:main` by default) whenever
something in a session it serves starts or stops needing a human (docs/handover.md, "The
desk"): an escalation, an approval waiting, a turn that stalled, an operator in control, a
prompt waiting for that operator. Items are keyed by `id`; the newest serial of an id is its
state, so the fold is order-independent and live messages and history pages mix freely. An
agent re-announces its items that are still open once a day, so a desk that reads history
back to its horizon (7 days by default) never loses one.

`DeskFold.rows()` is the read model: what is pending (oldest first, with its age, after the
thresholds) and what was resolved and by whom (newest first).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from .encoder import Publish
from .handover import SCHEMA_VERSION, is_version, ms_field, text_field

DESK_ITEM = "desk.item"  # the Ably message name on the desk channel
MAX_WHY = 300


class DeskKind(StrEnum):
    ESCALATION = "escalation"  # a turn asked for a human
    APPROVAL = "approval"  # a turn waits for a tool approval
    STALL = "stall"  # a turn made no progress for a while
    CONTROL = "control"  # an operator is in control of a session
    WAITING = "waiting"  # a prompt waits for the operator in control


class DeskState(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class DeskItem:
    """One summary. `since_ms`: when the item opened; `at_ms`: when this summary was written.
    `resolution`/`resolved_by` are set on a resolved item ("answered" by "ada")."""

    id: str
    kind: DeskKind
    state: DeskState
    session: str  # the session id people type (`--session`)
    channel: str  # the channel to open
    user: str  # whose turn or session it is
    why: str
    since_ms: int
    at_ms: int
    run_id: str | None = None
    by: str | None = None  # who raised it: "model", a user, an operator
    resolution: str | None = None
    resolved_by: str | None = None
    agent: str = ""  # the publishing agent's clientId (set from the message, not the data)

    def resolved(self, resolution: str, by: str | None, at_ms: int) -> DeskItem:
        return replace(
            self, state=DeskState.RESOLVED, resolution=resolution, resolved_by=by, at_ms=at_ms
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "v": SCHEMA_VERSION,
            "id": self.id,
            "kind": str(self.kind),
            "state": str(self.state),
            "session": self.session,
            "channel": self.channel,
            "user": self.user,
            "why": self.why[:MAX_WHY],
            "since": self.since_ms,
            "at": self.at_ms,
        }
        for key in ("run_id", "by", "resolution", "resolved_by"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    def publish(self) -> Publish:
        return Publish(DESK_ITEM, self.to_json(), {})

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> DeskItem | None:
        """A `desk.item` message dict; None when it is not one this version understands."""
        data = message.get("data")
        if message.get("name") != DESK_ITEM or not isinstance(data, Mapping):
            return None
        if not is_version(data.get("v")):
            return None
        kind, state = data.get("kind"), data.get("state")
        since, at = ms_field(data.get("since")), ms_field(data.get("at"))
        ident, channel = text_field(data.get("id")), text_field(data.get("channel"))
        if kind not in _KINDS or state not in _STATES or since is None or at is None:
            return None
        if not ident or not channel:
            return None
        return cls(
            id=ident,
            kind=DeskKind(kind),
            state=DeskState(state),
            session=text_field(data.get("session")) or channel,
            channel=channel,
            user=text_field(data.get("user")),
            why=text_field(data.get("why"))[:MAX_WHY],
            since_ms=since,
            at_ms=at,
            run_id=text_field(data.get("run_id")) or None,
            by=text_field(data.get("by")) or None,
            resolution=text_field(data.get("resolution")) or None,
            resolved_by=text_field(data.get("resolved_by")) or None,
            agent=text_field(message.get("clientId")),
        )


_KINDS = frozenset(str(k) for k in DeskKind)
_STATES = frozenset(str(s) for s in DeskState)


def item_id(kind: DeskKind, channel: str, key: str) -> str:
    """Stable ids: one escalation per call, one approval per call, one stall per run, one
    control per take-over (its `since`), one waiting prompt per prompt."""
    return f"{kind}:{channel}:{key}"


@dataclass(frozen=True)
class Thresholds:
    """What the desk shows. Escalations, stalls and take-overs always show; an approval only
    once it waited `approval_after_s` (the owner usually answers within seconds), a prompt
    waiting for the operator in control once it waited `waiting_after_s`."""

    approval_after_s: float = 300.0
    waiting_after_s: float = 120.0
    resolved_kept: int = 50


@dataclass(frozen=True)
class DeskRow:
    item: DeskItem
    age_s: float  # open: how long it has waited; resolved: how long it waited
    agent_offline: bool  # open, and its agent is not on the desk channel's presence


@dataclass(frozen=True)
class DeskRows:
    pending: tuple[DeskRow, ...]  # oldest first
    resolved: tuple[DeskRow, ...]  # newest first
    below_threshold: Mapping[DeskKind, int] = field(default_factory=dict)  # open, not shown


class DeskFold:
    """Desk summaries from trusted publishers (the agents' clientIds), newest serial wins."""

    def __init__(self, authorities: Collection[str]) -> None:
        self.authorities = frozenset(authorities)
        self._items: dict[str, tuple[str, DeskItem]] = {}  # id -> (serial, item)
        self._first_since: dict[str, int] = {}

    def apply(self, message: Mapping[str, Any]) -> bool:
        serial = message.get("serial")
        if not isinstance(serial, str) or message.get("clientId") not in self.authorities:
            return False
        item = DeskItem.from_message(message)
        if item is None:
            return False
        first = self._first_since.get(item.id)
        self._first_since[item.id] = item.since_ms if first is None else min(first, item.since_ms)
        known = self._items.get(item.id)
        if known is not None and known[0] >= serial:
            return False
        self._items[item.id] = (serial, item)
        return True

    def apply_all(self, messages: Iterable[Mapping[str, Any]]) -> bool:
        return any([self.apply(m) for m in messages])

    def items(self) -> list[DeskItem]:
        return [
            replace(item, since_ms=self._first_since[ident])
            for ident, (_, item) in self._items.items()
        ]

    def rows(
        self,
        now_ms: int,
        *,
        agents_present: Collection[str] | None = None,
        thresholds: Thresholds = Thresholds(),
    ) -> DeskRows:
        """`agents_present` None: presence unknown (nothing is marked offline)."""
        pending: list[DeskRow] = []
        resolved: list[DeskRow] = []
        hidden: dict[DeskKind, int] = {}
        for item in self.items():
            if item.state == DeskState.RESOLVED:
                resolved.append(DeskRow(item, (item.at_ms - item.since_ms) / 1000, False))
                continue
            age = (now_ms - item.since_ms) / 1000
            if age < _threshold(item.kind, thresholds):
                hidden[item.kind] = hidden.get(item.kind, 0) + 1
                continue
            offline = agents_present is not None and item.agent not in agents_present
            pending.append(DeskRow(item, age, offline))
        pending.sort(key=lambda r: (r.item.since_ms, r.item.id))
        resolved.sort(key=lambda r: (-r.item.at_ms, r.item.id))
        return DeskRows(tuple(pending), tuple(resolved[: thresholds.resolved_kept]), hidden)


def _threshold(kind: DeskKind, thresholds: Thresholds) -> float:
    if kind == DeskKind.APPROVAL:
        return thresholds.approval_after_s
    if kind == DeskKind.WAITING:
        return thresholds.waiting_after_s
    return 0.0
