"""Human handover on the session channel: escalations, take over, hand back. Pure.

The design is in docs/handover.md; this module is its vocabulary and its rules:
- two message names outside the AI Transport wire (no `extras.ai`, so a 0.8.0 peer's decoder
  drops them and its tree never sees them): `handover.request` (an operator's terminal asks
  to take over or hand back) and `handover.state` (the agent's answer: the whole handover
  state of the session after one event, so the newest one alone is the truth);
- the agent's decisions as functions from the current state to the next snapshot
  (`take_over`, `hand_back`, `escalate`, `resolve`, `lapse`), with the refusals' codes;
- the automatic hand-back rule (`lapse_deadline_ms`): an operator absent from the session's
  presence for longer than the grace period loses control, computed the same way by the
  agent (which acts on it) and by terminals (which show the countdown);
- the texts every surface shows for an event (`describe`).
Times are Ably-style epoch milliseconds; the caller passes the clock.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from enum import IntEnum, StrEnum
from typing import Any, Literal

from .encoder import Publish

SCHEMA_VERSION = 1
RESOLVED_KEPT = 20  # resolved escalations a snapshot carries, newest last
MAX_REASON = 500  # characters of a reason kept on the wire
REQUEST_HUMAN = "request_human"  # the built-in tool whose call is an escalation
# Application headers (`extras.headers`: the AI Transport wire leaves them to the application,
# and 0.8.0 ignores them): on every message of an operator's reply run, the operator; on a
# prompt sent with "ask for a human", "user" (the agent then escalates without the model).
OPERATOR_HEADER = "operator"
ESCALATE_HEADER = "escalate"


class HandoverName(StrEnum):
    """Ably message names on the session channel (never `ai-*`: those belong to the SDK)."""

    REQUEST = "handover.request"
    STATE = "handover.state"


class EventKind(StrEnum):
    ESCALATED = "escalated"
    ANSWERED = "answered"
    WITHDRAWN = "withdrawn"
    ENDED = "ended"
    TOOK_OVER = "took-over"
    HANDED_BACK = "handed-back"
    LAPSED = "lapsed"
    REFUSED = "refused"


class Resolution(StrEnum):
    """How an escalation stopped waiting."""

    ANSWERED = "answered"  # an operator's tool result; the turn continues with it
    TAKEN_OVER = "taken-over"  # an operator took over the session
    WITHDRAWN = "withdrawn"  # the turn was cancelled (by its owner or an operator)
    ENDED = "ended"  # the turn ended otherwise (agent restarted, error)


_RESOLUTION_EVENT = {
    Resolution.ANSWERED: EventKind.ANSWERED,
    Resolution.TAKEN_OVER: EventKind.TOOK_OVER,
    Resolution.WITHDRAWN: EventKind.WITHDRAWN,
    Resolution.ENDED: EventKind.ENDED,
}


class HandoverError(IntEnum):
    """Refusal codes (Ably style: HTTP status x 100 + n), in `handover.state` and HTTP."""

    NOT_OPERATOR = 40330  # the requester is not in agent.operators
    ANSWER_NOT_OPERATOR = 40331  # only operators answer an escalation
    REQUEST_NOT_FOUND = 40430  # the request a POST names is not on the channel
    ALREADY_IN_CONTROL = 40930  # someone else is in control (take over from them explicitly)
    NOT_IN_CONTROL = 40931  # hand back while the agent already answers
    CONTROL_CHANGED = 40932  # the request expected another controller (a stale screen)
    NOT_AN_ESCALATION = 40933  # an answer for a call that is not an open escalation

    @property
    def http_status(self) -> int:
        return int(self) // 100


Action = Literal["take", "return"]
ACTIONS: tuple[str, ...] = ("take", "return")
AskedBy = Literal["model", "user"]


# --- values -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Escalation:
    """One request for a human: a `request_human` call in a suspended turn."""

    id: str  # the call_id: one escalation per call
    run_id: str
    message_id: str  # codec-message-id holding the call; the operator's answer amends it
    user: str  # the turn's owner
    asked_by: str  # "model" (the model called the tool) or "user" (asked from a terminal)
    reason: str
    at_ms: int
    resolution: Resolution | None = None
    resolved_by: str | None = None
    resolved_at_ms: int | None = None
    answer_event_id: str | None = None  # the accepted tool result's event-id (answered only)

    @property
    def open(self) -> bool:
        return self.resolution is None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "run_id": self.run_id,
            "message_id": self.message_id,
            "user": self.user,
            "asked_by": self.asked_by,
            "reason": self.reason,
            "at": self.at_ms,
        }
        if self.resolution is not None:
            out["resolution"] = str(self.resolution)
            out["resolved_by"] = self.resolved_by
            out["resolved_at"] = self.resolved_at_ms
        if self.answer_event_id:
            out["answer_event_id"] = self.answer_event_id
        return out

    @classmethod
    def from_json(cls, obj: Any) -> Escalation | None:
        if not isinstance(obj, Mapping):
            return None
        ident, run_id = text_field(obj.get("id")), text_field(obj.get("run_id"))
        at = ms_field(obj.get("at"))
        if not ident or not run_id or at is None:
            return None
        resolution = obj.get("resolution")
        return cls(
            id=ident,
            run_id=run_id,
            message_id=text_field(obj.get("message_id")),
            user=text_field(obj.get("user")),
            asked_by=text_field(obj.get("asked_by")) or "model",
            reason=text_field(obj.get("reason"))[:MAX_REASON],
            at_ms=at,
            resolution=Resolution(resolution) if resolution in _RESOLUTIONS else None,
            resolved_by=text_field(obj.get("resolved_by")) or None,
            resolved_at_ms=ms_field(obj.get("resolved_at")),
            answer_event_id=text_field(obj.get("answer_event_id")) or None,
        )


_RESOLUTIONS = frozenset(str(r) for r in Resolution)


@dataclass(frozen=True)
class Control:
    """An operator in control of the session: the agent answers no prompt meanwhile."""

    operator: str
    since_ms: int
    grace_s: float  # absent from presence this long: control returns to the agent

    def to_json(self) -> dict[str, Any]:
        return {"operator": self.operator, "since": self.since_ms, "grace_s": self.grace_s}

    @classmethod
    def from_json(cls, obj: Any) -> Control | None:
        if not isinstance(obj, Mapping):
            return None
        operator, since = text_field(obj.get("operator")), ms_field(obj.get("since"))
        grace = obj.get("grace_s")
        if not operator or since is None or not isinstance(grace, int | float) or grace < 0:
            return None
        return cls(operator, since, float(grace))


@dataclass(frozen=True)
class HandoverEvent:
    """What happened at one snapshot. `by` is the actor; `previous` the operator who had
    control before (a forced take-over, a hand-back by another operator, a lapse)."""

    kind: EventKind
    by: str
    at_ms: int
    request: str | None = None  # the request this answers (take-over, hand-back, refusal)
    escalation: str | None = None
    previous: str | None = None
    code: int | None = None  # refusals
    message: str | None = None  # refusals: the reason in words

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": str(self.kind), "by": self.by, "at": self.at_ms}
        for key in ("request", "escalation", "previous", "code", "message"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    @classmethod
    def from_json(cls, obj: Any) -> HandoverEvent | None:
        if not isinstance(obj, Mapping) or obj.get("kind") not in _EVENT_KINDS:
            return None
        at = ms_field(obj.get("at"))
        if at is None:
            return None
        code = obj.get("code")
        return cls(
            kind=EventKind(obj["kind"]),
            by=text_field(obj.get("by")),
            at_ms=at,
            request=text_field(obj.get("request")) or None,
            escalation=text_field(obj.get("escalation")) or None,
            previous=text_field(obj.get("previous")) or None,
            code=code if isinstance(code, int) and not isinstance(code, bool) else None,
            message=text_field(obj.get("message")) or None,
        )


_EVENT_KINDS = frozenset(str(k) for k in EventKind)


@dataclass(frozen=True)
class Snapshot:
    """The whole handover state of a session after `event` (the payload of `handover.state`)."""

    control: Control | None = None
    open: tuple[Escalation, ...] = ()
    resolved: tuple[Escalation, ...] = ()  # the newest RESOLVED_KEPT, oldest first
    event: HandoverEvent | None = None  # None: the default state, nothing ever happened

    @property
    def in_control(self) -> str | None:
        return self.control.operator if self.control else None

    def escalation(self, ident: str) -> Escalation | None:
        return next((e for e in (*self.open, *self.resolved) if e.id == ident), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "v": SCHEMA_VERSION,
            "control": self.control.to_json() if self.control else None,
            "open": [e.to_json() for e in self.open],
            "resolved": [e.to_json() for e in self.resolved],
            "event": self.event.to_json() if self.event else None,
        }

    @classmethod
    def from_json(cls, obj: Any) -> Snapshot | None:
        """None for data that is not a snapshot this version understands."""
        if not isinstance(obj, Mapping) or not is_version(obj.get("v")):
            return None
        escalations = [
            Escalation.from_json(e) for e in _list(obj.get("open")) + _list(obj.get("resolved"))
        ]
        valid = [e for e in escalations if e is not None]
        return cls(
            control=Control.from_json(obj.get("control")),
            open=tuple(e for e in valid if e.open),
            resolved=tuple(e for e in valid if not e.open)[-RESOLVED_KEPT:],
            event=HandoverEvent.from_json(obj.get("event")),
        )


DEFAULT = Snapshot()


@dataclass(frozen=True)
class Request:
    """A `handover.request`: `by` is the hub-verified clientId of its publisher."""

    id: str
    action: Action
    by: str
    at_ms: int
    expect: str | None = None  # the controller the requester saw (None: the agent)
    reason: str = ""
    serial: str = ""


# --- encoders (what a terminal and the agent publish) -----------------------------------------


def request_publish(
    action: Action, *, expect: str | None = None, reason: str = "", request_id: str | None = None
) -> Publish:
    """`handover.request` from an operator's terminal; it then POSTs `/api/handover`
    `{requestId, sessionName}` to wake the agent, as a prompt wakes it with `/api/chat`."""
    if action not in ACTIONS:
        raise ValueError(f"handover action must be one of {ACTIONS}, got {action!r}")
    data: dict[str, Any] = {"v": SCHEMA_VERSION, "id": request_id or str(uuid.uuid4())}
    data["action"] = action
    if expect:
        data["expect"] = expect
    if reason.strip():
        data["reason"] = reason.strip()[:MAX_REASON]
    return Publish(HandoverName.REQUEST, data, {})


def state_publish(snapshot: Snapshot) -> Publish:
    """`handover.state`, published by the agent only."""
    return Publish(HandoverName.STATE, snapshot.to_json(), {})


def parse_request(message: Mapping[str, Any]) -> Request | None:
    """A `handover.request` message dict as a Request (None if malformed or anonymous)."""
    if message.get("name") != HandoverName.REQUEST:
        return None
    data, by = message.get("data"), message.get("clientId")
    if not isinstance(data, Mapping) or not isinstance(by, str) or not by:
        return None
    ident, action = text_field(data.get("id")), data.get("action")
    if not ident or action not in ACTIONS:
        return None
    return Request(
        id=ident,
        action=action,
        by=by,
        at_ms=ms_field(message.get("timestamp")) or 0,
        expect=text_field(data.get("expect")) or None,
        reason=text_field(data.get("reason"))[:MAX_REASON],
        serial=text_field(message.get("serial")),
    )


# --- the agent's decisions ----------------------------------------------------------------------


def take_over(
    current: Snapshot,
    request: Request,
    *,
    operators: Collection[str],
    grace_s: float,
    now_ms: int,
) -> Snapshot:
    """The snapshot answering a take-over request: control moves to the requester, every open
    escalation is resolved by it; or a refusal that changes nothing."""
    refusal = _check_operator(request, operators)
    holder = current.in_control
    if refusal is None and holder is not None and holder != request.by:
        if request.expect != holder:
            refusal = (
                HandoverError.ALREADY_IN_CONTROL,
                f"{holder} is already in control; take over from {holder} explicitly",
            )
    if refusal is not None:
        return _refused(current, request, now_ms, *refusal)
    # Taken twice (a retry of the same request, or a second press): same control, answered.
    control = current.control if holder == request.by else Control(request.by, now_ms, grace_s)
    resolved = tuple(_resolved(e, Resolution.TAKEN_OVER, request.by, now_ms) for e in current.open)
    event = HandoverEvent(
        EventKind.TOOK_OVER, request.by, now_ms, request=request.id, previous=holder
    )
    return Snapshot(control, (), _keep(current.resolved + resolved), event)


def hand_back(
    current: Snapshot, request: Request, *, operators: Collection[str], now_ms: int
) -> Snapshot:
    """Control returns to the agent: any operator may hand back (a supervisor can end a
    take-over someone forgot); `expect` guards against a screen that is out of date."""
    refusal = _check_operator(request, operators)
    holder = current.in_control
    if refusal is None and holder is None:
        refusal = (HandoverError.NOT_IN_CONTROL, "nobody is in control: the agent answers")
    if refusal is None and request.expect is not None and request.expect != holder:
        refusal = (HandoverError.CONTROL_CHANGED, f"control changed: {holder} is in control now")
    if refusal is not None:
        return _refused(current, request, now_ms, *refusal)
    event = HandoverEvent(
        EventKind.HANDED_BACK, request.by, now_ms, request=request.id, previous=holder
    )
    return replace(current, control=None, event=event)


def escalate(current: Snapshot, escalation: Escalation) -> Snapshot | None:
    """A new open escalation (its turn has just suspended); None when that call is already
    known (a retried suspension: nothing to publish)."""
    if current.escalation(escalation.id) is not None:
        return None
    actor = escalation.user if escalation.asked_by == "user" else "model"
    event = HandoverEvent(EventKind.ESCALATED, actor, escalation.at_ms, escalation=escalation.id)
    return replace(current, open=(*current.open, escalation), event=event)


def resolve(
    current: Snapshot,
    escalation_id: str,
    resolution: Resolution,
    *,
    by: str,
    now_ms: int,
    answer_event_id: str | None = None,
) -> Snapshot | None:
    """The escalation stops waiting; None when it is not open (nothing to publish)."""
    target = next((e for e in current.open if e.id == escalation_id), None)
    if target is None:
        return None
    done = _resolved(target, resolution, by, now_ms, answer_event_id)
    event = HandoverEvent(_RESOLUTION_EVENT[resolution], by, now_ms, escalation=escalation_id)
    return replace(
        current,
        open=tuple(e for e in current.open if e.id != escalation_id),
        resolved=_keep((*current.resolved, done)),
        event=event,
    )


def lapse(current: Snapshot, presence: PresenceFacts, now_ms: int) -> Snapshot | None:
    """Control back to the agent once the operator's absence outlasted the grace period;
    None while it has not (or nobody is in control)."""
    deadline = lapse_deadline_ms(current.control, presence)
    if current.control is None or deadline is None or now_ms < deadline:
        return None
    operator = current.control.operator
    event = HandoverEvent(EventKind.LAPSED, operator, now_ms, previous=operator)
    return replace(current, control=None, event=event)


def _check_operator(request: Request, operators: Collection[str]) -> tuple[int, str] | None:
    if request.by in operators:
        return None
    if not operators:
        return (HandoverError.NOT_OPERATOR, "no operators are configured (agent.operators)")
    return (HandoverError.NOT_OPERATOR, f"{request.by} is not an operator (agent.operators)")


def _refused(current: Snapshot, request: Request, now_ms: int, code: int, why: str) -> Snapshot:
    event = HandoverEvent(
        EventKind.REFUSED, request.by, now_ms, request=request.id, code=int(code), message=why
    )
    return replace(current, event=event)


def _resolved(
    escalation: Escalation,
    resolution: Resolution,
    by: str,
    now_ms: int,
    answer_event_id: str | None = None,
) -> Escalation:
    return replace(
        escalation,
        resolution=resolution,
        resolved_by=by,
        resolved_at_ms=now_ms,
        answer_event_id=answer_event_id,
    )


def _keep(resolved: tuple[Escalation, ...]) -> tuple[Escalation, ...]:
    return resolved[-RESOLVED_KEPT:]


# --- the automatic hand-back --------------------------------------------------------------------


@dataclass(frozen=True)
class PresenceFacts:
    """What an observer knows of the session's presence.

    `present`: clientIds with at least one member now. `left_at_ms`: when a clientId's last
    member left, as the observer saw it. `observed_since_ms`: when the observer began to watch
    (after a restart it cannot know when someone left before; the grace runs from then).
    """

    present: frozenset[str] = frozenset()
    left_at_ms: Mapping[str, int] = field(default_factory=dict)
    observed_since_ms: int = 0


def lapse_deadline_ms(control: Control | None, presence: PresenceFacts) -> int | None:
    """When control returns to the agent; None while the operator is present (or nobody is in
    control). The absence counts from the later of: the operator's last leave as observed (or
    the start of observation), and the take-over itself."""
    if control is None or control.operator in presence.present:
        return None
    left = presence.left_at_ms.get(control.operator, presence.observed_since_ms)
    return max(left, control.since_ms) + round(control.grace_s * 1000)


# --- words ---------------------------------------------------------------------------------------


def operator_label(name: str) -> str:
    return f"{name} (operator)"


def asker_label(escalation: Escalation) -> str:
    return escalation.user if escalation.asked_by == "user" else "the assistant"


def describe(event: HandoverEvent, snapshot: Snapshot | None = None) -> str:
    """One line for a transcript, a desk row or a push; `snapshot` names the escalation."""
    escalation = snapshot.escalation(event.escalation) if snapshot and event.escalation else None
    why = f": {escalation.reason}" if escalation and escalation.reason else ""
    match event.kind:
        case EventKind.ESCALATED:
            who = asker_label(escalation) if escalation else event.by
            return f"{who} asked for a human{why}"
        case EventKind.ANSWERED:
            return f"{operator_label(event.by)} answered the request for a human"
        case EventKind.WITHDRAWN:
            return f"{event.by} withdrew the request for a human"
        case EventKind.ENDED:
            return "the request for a human ended with its turn"
        case EventKind.TOOK_OVER:
            took_from = event.previous and event.previous != event.by
            tail = f" from {event.previous}" if took_from else ""
            return f"{operator_label(event.by)} took over{tail}; the agent stops answering"
        case EventKind.HANDED_BACK:
            if event.previous and event.previous != event.by:
                return f"{event.by} handed control back to the agent (from {event.previous})"
            return f"{event.by} handed control back to the agent"
        case EventKind.LAPSED:
            return f"control returned to the agent: {event.by} left the session"
        case EventKind.REFUSED:
            return f"{event.by} was refused: {event.message or 'not allowed'}"
    return str(event.kind)  # pragma: no cover - every kind is matched above


def format_duration(seconds: float) -> str:
    """`45 s`, `2 min`, `1 h 5 min`, `3 d 2 h`: how long something has waited."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    minutes = s // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


# --- what the operator's answer says to the model ------------------------------------------------


def answer_output(operator: str, text: str) -> str:
    """The `request_human` call's output when an operator answers it (the model reads it)."""
    return f"Answer from {operator}, a human operator: {text.strip()}"


def takeover_output(operator: str) -> str:
    """The call's output when an operator takes over instead of answering."""
    return (
        f"{operator}, a human operator, took over the conversation and answers the user "
        "directly from here."
    )


def operator_note(operator: str) -> dict[str, Any]:
    """A system message put before each verified operator reply in the model's context, so
    the model knows a person said it (and does not take it for its own words)."""
    text = (
        f"The next assistant message was written by {operator}, a human operator who was "
        "in control of this conversation, not by you."
    )
    item = {"type": "message", "role": "system", "content": [{"type": "input_text", "text": text}]}
    return {"role": "system", "items": [item]}


_NOTE = re.compile(r"^The next assistant message was written by (.+?), a human operator ")


def noted_operator(text: str) -> str | None:
    """The operator an `operator_note` names (None for any other text)."""
    match = _NOTE.match(text)
    return match.group(1) if match else None


# --- helpers -------------------------------------------------------------------------------------


def is_version(value: Any) -> bool:
    """The schema version field (`True` is not `1`)."""
    return type(value) is int and value == SCHEMA_VERSION


def text_field(value: Any) -> str:
    """A JSON field that must be a string (anything else reads as empty)."""
    return value if isinstance(value, str) else ""


def ms_field(value: Any) -> int | None:
    """A JSON field that must be epoch milliseconds (a number, not a boolean)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
