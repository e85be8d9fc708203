"""A terminal's (or the agent's) view of the handover state, folded from channel messages. Pure.

Feed it every message dict of the session, live and from history, in any order (it orders by
serial and drops replays). It reads four things (docs/handover.md, "On the wire"):
- `handover.state` snapshots published by an authority (the agent's clientIds): the newest
  one is the state; all of them give the timeline of events;
- `handover.request` messages not answered yet (shown as "asked to take over…");
- `ai-run-start` messages carrying the `operator` application header: operator replies,
  verified against who was in control at that serial;
- `ai-input` tool results on a known escalation's call: answers the agent has not taken yet.
Snapshots from anyone else are ignored: a participant cannot grant itself control.
"""

from __future__ import annotations

import bisect
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .handover import (
    DEFAULT,
    OPERATOR_HEADER,
    Escalation,
    EventKind,
    HandoverEvent,
    HandoverName,
    PresenceFacts,
    Request,
    Snapshot,
    lapse_deadline_ms,
    parse_request,
    text_field,
)
from .wire import C, H, Kind, Name, read_envelope

Verification = Literal["verified", "unconfirmed", "refused"]


@dataclass(frozen=True)
class OperatorRun:
    """A run published by an operator's terminal. `verified`: its publisher was in control at
    its serial; `unconfirmed`: no snapshot loaded tells; `refused`: it was not (or the header
    names someone other than the publisher) and is shown and used as an ordinary run."""

    run_id: str
    operator: str
    serial: str
    verification: Verification


@dataclass(frozen=True)
class Answer:
    """An `ai-input` tool result on an escalation's call, as published."""

    escalation: str
    by: str
    event_id: str
    serial: str
    output: Any


@dataclass(frozen=True)
class ControlView:
    """Who answers now, as a screen shows it: `lapses_at_ms` is set while the operator is
    absent (a countdown), `lapsed` once the grace is over and the agent has not yet said so."""

    operator: str | None
    since_ms: int | None
    lapses_at_ms: int | None = None
    lapsed: bool = False


@dataclass(frozen=True)
class HandoverView:
    snapshot: Snapshot
    snapshot_serial: str | None  # None: no snapshot loaded (the default state, or not paged)
    events: tuple[tuple[str, HandoverEvent], ...]  # (serial, event), oldest first
    pending_requests: tuple[Request, ...]
    answers: Mapping[str, tuple[Answer, ...]]  # escalation id -> answers not yet resolved
    operator_runs: Mapping[str, OperatorRun]

    @property
    def in_control(self) -> str | None:
        return self.snapshot.in_control

    @property
    def since_ms(self) -> int | None:
        return self.snapshot.control.since_ms if self.snapshot.control else None

    @property
    def open_escalations(self) -> tuple[Escalation, ...]:
        return self.snapshot.open

    @property
    def resolved_escalations(self) -> tuple[Escalation, ...]:
        return self.snapshot.resolved

    def control(self, presence: PresenceFacts, now_ms: int) -> ControlView:
        """The control state with the automatic hand-back applied at `now_ms`."""
        control = self.snapshot.control
        if control is None:
            return ControlView(None, None)
        deadline = lapse_deadline_ms(control, presence)
        return ControlView(
            control.operator,
            control.since_ms,
            deadline,
            deadline is not None and now_ms >= deadline,
        )

    def trusted_run(self, run_id: str) -> bool:
        """Whether a run may stand in the model's context: not a refused operator reply."""
        run = self.operator_runs.get(run_id)
        return run is None or run.verification != "refused"


@dataclass
class _Snap:
    serial: str
    snapshot: Snapshot


class HandoverFold:
    """Incremental, order-independent fold; `view()` is the current read model."""

    def __init__(self, authorities: Collection[str]) -> None:
        self.authorities = frozenset(authorities)
        self._serials: set[str] = set()
        self._snaps: list[_Snap] = []  # sorted by serial
        self._requests: dict[str, Request] = {}
        self._starts: dict[str, tuple[str, str, str]] = {}  # run -> (serial, header, publisher)
        self._answers: dict[str, Answer] = {}  # by serial

    def apply(self, message: Mapping[str, Any]) -> bool:
        """Fold one message dict; returns whether the handover view may have changed."""
        serial = message.get("serial")
        if not isinstance(serial, str) or not serial or serial in self._serials:
            return False
        changed = self._apply(serial, message)
        if changed:
            self._serials.add(serial)
        return changed

    def apply_all(self, messages: Iterable[Mapping[str, Any]]) -> bool:
        return any([self.apply(m) for m in messages])

    def _apply(self, serial: str, message: Mapping[str, Any]) -> bool:
        name = message.get("name")
        if name == HandoverName.STATE:
            if message.get("clientId") not in self.authorities:
                return False
            snapshot = Snapshot.from_json(message.get("data"))
            if snapshot is None:
                return False
            bisect.insort(self._snaps, _Snap(serial, snapshot), key=lambda s: s.serial)
            return True
        if name == HandoverName.REQUEST:
            request = parse_request(message)
            if request is None:
                return False
            self._requests.setdefault(request.id, request)
            return True
        if name == Name.RUN_START:
            operator = _app_header(message, OPERATOR_HEADER)
            tiers = read_envelope(message.get("extras"))
            run_id = tiers[0].get(H.RUN_ID) if tiers else None
            if operator is None or not run_id:
                return False
            self._starts.setdefault(run_id, (serial, operator, text_field(message.get("clientId"))))
            return True
        if name == Name.INPUT:
            return self._apply_answer(serial, message)
        return False

    def _apply_answer(self, serial: str, message: Mapping[str, Any]) -> bool:
        tiers = read_envelope(message.get("extras"))
        if tiers is None:
            return False
        transport, codec = tiers
        if codec.get(C.KIND) != Kind.TOOL_RESULT or not codec.get(C.CALL_ID):
            return False
        data = message.get("data")
        self._answers[serial] = Answer(
            escalation=codec[C.CALL_ID],
            by=text_field(message.get("clientId")),
            event_id=transport.get(H.EVENT_ID, ""),
            serial=serial,
            output=data.get("output") if isinstance(data, Mapping) else None,
        )
        return True

    # --- the read model -------------------------------------------------------------------------

    def view(self) -> HandoverView:
        latest = self._snaps[-1] if self._snaps else None
        snapshot = latest.snapshot if latest else DEFAULT
        latest_serial = latest.serial if latest else None
        return HandoverView(
            snapshot=snapshot,
            snapshot_serial=latest_serial,
            events=tuple((s.serial, s.snapshot.event) for s in self._snaps if s.snapshot.event),
            pending_requests=self._pending_requests(latest_serial),
            answers=self._pending_answers(snapshot),
            operator_runs={run: self._operator_run(run) for run in self._starts},
        )

    def _pending_requests(self, latest_serial: str | None) -> tuple[Request, ...]:
        """Requests after the newest snapshot that no snapshot answered: the agent has not
        taken them yet. An older unanswered one was never taken: it is no longer pending."""
        answered = {s.snapshot.event.request for s in self._snaps if s.snapshot.event}
        pending = [
            r
            for r in self._requests.values()
            if r.id not in answered and (latest_serial is None or r.serial > latest_serial)
        ]
        return tuple(sorted(pending, key=lambda r: r.serial))

    def _pending_answers(self, snapshot: Snapshot) -> dict[str, tuple[Answer, ...]]:
        """Answers on open escalations (taken by the agent or not yet); an answer on a
        resolved one is kept only if it is the accepted one."""
        out: dict[str, list[Answer]] = {}
        for answer in sorted(self._answers.values(), key=lambda a: a.serial):
            escalation = snapshot.escalation(answer.escalation)
            if escalation is None:
                continue
            if escalation.open or answer.event_id == escalation.answer_event_id:
                out.setdefault(answer.escalation, []).append(answer)
        return {k: tuple(v) for k, v in out.items()}

    def _operator_run(self, run_id: str) -> OperatorRun:
        serial, header, publisher = self._starts[run_id]
        if header != publisher:
            return OperatorRun(run_id, header, serial, "refused")
        known, holder = self._holder_at(serial)
        verification: Verification = (
            "unconfirmed" if not known else "verified" if holder == publisher else "refused"
        )
        return OperatorRun(run_id, publisher, serial, verification)

    def _holder_at(self, serial: str) -> tuple[bool, str | None]:
        """(known, who was in control at `serial`; None: the agent). Known from the newest
        snapshot before it, else from the oldest loaded one after it: a control change names
        the previous holder, any other event leaves control as it was."""
        keys = [s.serial for s in self._snaps]
        i = bisect.bisect_left(keys, serial)
        if i > 0:
            return True, self._snaps[i - 1].snapshot.in_control
        if i < len(self._snaps):
            after = self._snaps[i].snapshot
            if after.event is None:
                return False, None
            if after.event.kind in _CONTROL_CHANGES:
                return True, after.event.previous
            return True, after.in_control
        return False, None


_CONTROL_CHANGES = frozenset({EventKind.TOOK_OVER, EventKind.HANDED_BACK, EventKind.LAPSED})


def _app_header(message: Mapping[str, Any], name: str) -> str | None:
    extras = message.get("extras")
    headers = extras.get("headers") if isinstance(extras, Mapping) else None
    value = headers.get(name) if isinstance(headers, Mapping) else None
    return value.strip() if isinstance(value, str) and value.strip() else None
