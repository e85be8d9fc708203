"""docs/handover.md: the handover messages, the agent's decisions and the automatic hand-back."""

from __future__ import annotations

import pytest

from tui_session.protocol.decoder import Decoder
from tui_session.protocol.handover import (
    DEFAULT,
    RESOLVED_KEPT,
    Control,
    Escalation,
    EventKind,
    HandoverError,
    HandoverName,
    PresenceFacts,
    Request,
    Resolution,
    Snapshot,
    answer_output,
    describe,
    escalate,
    format_duration,
    hand_back,
    lapse,
    lapse_deadline_ms,
    noted_operator,
    operator_note,
    parse_request,
    request_publish,
    resolve,
    state_publish,
    take_over,
    takeover_output,
)
from tui_session.protocol.responses import ResponsesCodec

OPERATORS = {"ada", "bob"}
T0 = 1_700_000_000_000


def request(action: str = "take", by: str = "ada", expect: str | None = None, n: int = 1):
    return Request(f"req{n}", action, by, T0, expect=expect)  # type: ignore[arg-type]


def escalation(ident: str = "call_1", asked_by: str = "model") -> Escalation:
    return Escalation(ident, "R1", "A1", "root", asked_by, "refund over the limit", T0)


def controlled(by: str = "ada", since: int = T0, grace_s: float = 120) -> Snapshot:
    return Snapshot(control=Control(by, since, grace_s))


# --- the messages ------------------------------------------------------------------------------


def test_control_messages_are_foreign_to_the_ai_transport_decoder() -> None:
    """No `extras.ai`: our decoder (like 0.8.0's) returns nothing for them."""
    decoder = Decoder(ResponsesCodec())
    for op in (request_publish("take"), state_publish(escalate(DEFAULT, escalation()))):
        assert decoder.decode({"serial": "s1", "name": op.name, "data": op.data}) is None
        assert "ai" not in op.extras


def test_request_publish_and_parse_round_trip_with_the_verified_publisher() -> None:
    op = request_publish("take", expect="bob", reason="  customer asked  ", request_id="r-1")
    assert op.name == HandoverName.REQUEST
    assert op.data == {
        "v": 1,
        "id": "r-1",
        "action": "take",
        "expect": "bob",
        "reason": ("customer asked"),
    }
    parsed = parse_request(
        {"name": op.name, "data": op.data, "clientId": "ada", "serial": "s9", "timestamp": T0}
    )
    assert parsed == Request(
        "r-1", "take", "ada", T0, expect="bob", reason="customer asked", serial="s9"
    )


def test_request_publish_refuses_an_unknown_action() -> None:
    with pytest.raises(ValueError, match="handover action must be one of"):
        request_publish("grab")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "message",
    [
        {"name": "handover.request", "data": {"id": "r", "action": "take"}},  # anonymous
        {"name": "handover.request", "data": {"id": "r", "action": "steal"}, "clientId": "a"},
        {"name": "handover.request", "data": {"action": "take"}, "clientId": "a"},
        {"name": "handover.request", "data": "take", "clientId": "a"},
        {"name": "ai-input", "data": {"id": "r", "action": "take"}, "clientId": "a"},
    ],
)
def test_malformed_requests_parse_to_nothing(message: dict) -> None:
    assert parse_request(message) is None


def test_snapshot_json_round_trip() -> None:
    snap = take_over(
        escalate(DEFAULT, escalation()), request(), operators=OPERATORS, grace_s=90, now_ms=T0 + 5
    )
    assert Snapshot.from_json(state_publish(snap).data) == snap
    assert snap.to_json()["v"] == 1


@pytest.mark.parametrize(
    "data",
    [None, "x", {"v": 2}, {"v": True}, {}],
)
def test_data_that_is_not_a_version_1_snapshot_is_refused(data: object) -> None:
    assert Snapshot.from_json(data) is None


def test_malformed_parts_of_a_snapshot_are_dropped_not_fatal() -> None:
    data = {
        "v": 1,
        "control": {"operator": "ada", "since": "yesterday", "grace_s": 60},
        "open": [{"id": "c1", "run_id": "R", "at": T0}, {"id": "", "run_id": "R", "at": T0}],
        "resolved": "nope",
        "event": {"kind": "exploded", "at": T0},
    }
    snap = Snapshot.from_json(data)
    assert snap is not None
    assert snap.control is None
    assert [e.id for e in snap.open] == ["c1"]
    assert snap.event is None


# --- escalations ---------------------------------------------------------------------------------


def test_escalate_opens_once_and_names_who_asked() -> None:
    snap = escalate(DEFAULT, escalation())
    assert [e.id for e in snap.open] == ["call_1"]
    assert snap.event.kind == EventKind.ESCALATED and snap.event.by == "model"
    assert escalate(snap, escalation()) is None  # the same call twice: nothing to publish
    by_user = escalate(DEFAULT, escalation("call_2", asked_by="user"))
    assert by_user.event.by == "root"
    assert describe(by_user.event, by_user) == "root asked for a human: refund over the limit"
    assert describe(snap.event, snap) == "the assistant asked for a human: refund over the limit"


@pytest.mark.parametrize(
    ("resolution", "kind", "line"),
    [
        (
            Resolution.ANSWERED,
            EventKind.ANSWERED,
            "ada (operator) answered the request for a human",
        ),
        (Resolution.WITHDRAWN, EventKind.WITHDRAWN, "ada withdrew the request for a human"),
        (Resolution.ENDED, EventKind.ENDED, "the request for a human ended with its turn"),
    ],
)
def test_resolve_moves_an_escalation_to_resolved_with_who_and_when(resolution, kind, line) -> None:
    snap = resolve(
        escalate(DEFAULT, escalation()),
        "call_1",
        resolution,
        by="ada",
        now_ms=T0 + 60_000,
        answer_event_id="E7" if resolution == Resolution.ANSWERED else None,
    )
    assert snap is not None and snap.open == ()
    done = snap.resolved[-1]
    assert (done.resolution, done.resolved_by, done.resolved_at_ms) == (
        resolution,
        "ada",
        T0 + 60_000,
    )
    assert snap.event.kind == kind and snap.event.escalation == "call_1"
    assert describe(snap.event, snap) == line


def test_resolving_what_is_not_open_publishes_nothing() -> None:
    assert resolve(DEFAULT, "call_1", Resolution.ANSWERED, by="ada", now_ms=T0) is None
    done = resolve(escalate(DEFAULT, escalation()), "call_1", Resolution.ENDED, by="x", now_ms=T0)
    assert done is not None
    assert resolve(done, "call_1", Resolution.ANSWERED, by="ada", now_ms=T0) is None


def test_resolved_escalations_are_bounded_newest_kept() -> None:
    snap = DEFAULT
    for i in range(RESOLVED_KEPT + 5):
        snap = escalate(snap, escalation(f"c{i}"))
        snap = resolve(snap, f"c{i}", Resolution.ANSWERED, by="ada", now_ms=T0 + i)  # type: ignore[assignment]
    assert len(snap.resolved) == RESOLVED_KEPT
    assert snap.resolved[-1].id == f"c{RESOLVED_KEPT + 4}"
    assert snap.resolved[0].id == "c5"


# --- take over and hand back ---------------------------------------------------------------------


def test_an_operator_takes_over_and_every_open_escalation_resolves_by_take_over() -> None:
    pending = escalate(escalate(DEFAULT, escalation("c1")), escalation("c2"))
    snap = take_over(pending, request(), operators=OPERATORS, grace_s=120, now_ms=T0 + 1000)
    assert snap.control == Control("ada", T0 + 1000, 120)
    assert snap.open == ()
    assert [(e.id, e.resolution, e.resolved_by) for e in snap.resolved] == [
        ("c1", Resolution.TAKEN_OVER, "ada"),
        ("c2", Resolution.TAKEN_OVER, "ada"),
    ]
    assert snap.event.kind == EventKind.TOOK_OVER and snap.event.request == "req1"
    assert snap.event.previous is None
    assert describe(snap.event) == "ada (operator) took over; the agent stops answering"


def test_a_non_operator_is_refused_with_its_code_and_nothing_changes() -> None:
    pending = escalate(DEFAULT, escalation())
    snap = take_over(pending, request(by="mallory"), operators=OPERATORS, grace_s=1, now_ms=T0)
    assert snap.control is None and snap.open == pending.open
    assert snap.event.kind == EventKind.REFUSED
    assert snap.event.code == HandoverError.NOT_OPERATOR == 40330
    assert HandoverError.NOT_OPERATOR.http_status == 403
    assert snap.event.message == "mallory is not an operator (agent.operators)"
    assert snap.event.request == "req1"
    assert (
        describe(snap.event) == "mallory was refused: mallory is not an operator (agent.operators)"
    )


def test_with_no_operators_configured_the_refusal_says_how_to_configure() -> None:
    snap = take_over(DEFAULT, request(), operators=set(), grace_s=1, now_ms=T0)
    assert snap.event.message == "no operators are configured (agent.operators)"


def test_a_second_operator_is_refused_unless_it_takes_over_from_the_holder_explicitly() -> None:
    held = take_over(DEFAULT, request(), operators=OPERATORS, grace_s=60, now_ms=T0)
    refused = take_over(
        held, request(by="bob", n=2), operators=OPERATORS, grace_s=60, now_ms=T0 + 1
    )
    assert refused.control == held.control
    assert refused.event.code == HandoverError.ALREADY_IN_CONTROL
    assert refused.event.message == "ada is already in control; take over from ada explicitly"
    forced = take_over(
        held, request(by="bob", expect="ada", n=3), operators=OPERATORS, grace_s=60, now_ms=T0 + 2
    )
    assert forced.control == Control("bob", T0 + 2, 60)
    assert forced.event.previous == "ada"
    assert describe(forced.event) == "bob (operator) took over from ada; the agent stops answering"


def test_taking_over_twice_keeps_the_original_since() -> None:
    held = take_over(DEFAULT, request(), operators=OPERATORS, grace_s=60, now_ms=T0)
    again = take_over(held, request(n=2), operators=OPERATORS, grace_s=60, now_ms=T0 + 500)
    assert again.control == held.control
    assert again.event.kind == EventKind.TOOK_OVER and again.event.request == "req2"


def test_hand_back_by_the_holder_or_another_operator() -> None:
    held = take_over(DEFAULT, request(), operators=OPERATORS, grace_s=60, now_ms=T0)
    back = hand_back(held, request("return", n=2), operators=OPERATORS, now_ms=T0 + 9)
    assert back.control is None
    assert back.event.kind == EventKind.HANDED_BACK and back.event.previous == "ada"
    assert describe(back.event) == "ada handed control back to the agent"
    by_bob = hand_back(held, request("return", "bob", "ada", 3), operators=OPERATORS, now_ms=T0)
    assert by_bob.control is None
    assert describe(by_bob.event) == "bob handed control back to the agent (from ada)"


@pytest.mark.parametrize(
    ("state", "req", "code"),
    [
        ("agent", ("return", "ada", None), HandoverError.NOT_IN_CONTROL),
        ("ada", ("return", "mallory", None), HandoverError.NOT_OPERATOR),
        ("ada", ("return", "bob", "carol"), HandoverError.CONTROL_CHANGED),
    ],
)
def test_hand_back_refusals(state: str, req: tuple, code: HandoverError) -> None:
    current = DEFAULT if state == "agent" else controlled(state)
    snap = hand_back(current, request(*req), operators=OPERATORS, now_ms=T0)
    assert snap.control == current.control
    assert snap.event.kind == EventKind.REFUSED and snap.event.code == code


# --- the automatic hand-back ---------------------------------------------------------------------


def test_no_deadline_while_the_operator_is_present_or_nobody_is_in_control() -> None:
    assert lapse_deadline_ms(None, PresenceFacts()) is None
    control = Control("ada", T0, 120)
    assert lapse_deadline_ms(control, PresenceFacts(frozenset({"ada", "root"}))) is None


def test_the_grace_runs_from_the_observed_leave() -> None:
    control = Control("ada", T0, 120)
    facts = PresenceFacts(frozenset({"root"}), {"ada": T0 + 30_000}, observed_since_ms=T0)
    assert lapse_deadline_ms(control, facts) == T0 + 30_000 + 120_000


def test_after_a_restart_the_grace_runs_from_when_the_observer_started_watching() -> None:
    control = Control("ada", T0, 120)
    facts = PresenceFacts(frozenset(), {}, observed_since_ms=T0 + 3_600_000)
    assert lapse_deadline_ms(control, facts) == T0 + 3_600_000 + 120_000


def test_a_leave_before_the_take_over_counts_from_the_take_over() -> None:
    control = Control("ada", T0, 60)
    facts = PresenceFacts(frozenset(), {"ada": T0 - 999_999}, observed_since_ms=0)
    assert lapse_deadline_ms(control, facts) == T0 + 60_000


def test_lapse_hands_back_visibly_once_the_grace_is_over() -> None:
    held = controlled("ada", T0, 120)
    facts = PresenceFacts(frozenset({"root"}), {"ada": T0 + 10_000}, observed_since_ms=T0)
    assert lapse(held, facts, T0 + 129_999) is None
    back = lapse(held, facts, T0 + 130_000)
    assert back is not None and back.control is None
    assert back.event.kind == EventKind.LAPSED
    assert (back.event.by, back.event.previous, back.event.at_ms) == ("ada", "ada", T0 + 130_000)
    assert describe(back.event) == "control returned to the agent: ada left the session"
    assert lapse(DEFAULT, facts, T0 + 10**9) is None
    assert lapse(held, PresenceFacts(frozenset({"ada"})), T0 + 10**9) is None


# --- words ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (59.9, "59 s"),
        (60, "1 min"),
        (3599, "59 min"),
        (3600, "1 h"),
        (3900, "1 h 5 min"),
        (86_400, "1 d"),
        (93_600, "1 d 2 h"),
        (-5, "0 s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_what_the_model_reads_when_a_human_answers_or_takes_over() -> None:
    assert answer_output("ada", "  Refund approved, ref 42. ") == (
        "Answer from ada, a human operator: Refund approved, ref 42."
    )
    assert takeover_output("ada") == (
        "ada, a human operator, took over the conversation and answers the user directly from here."
    )


def test_operator_note_is_a_system_message_that_names_the_operator() -> None:
    note = operator_note("ada lovelace")
    [item] = note["items"]
    assert note["role"] == item["role"] == "system"
    text = item["content"][0]["text"]
    assert text.startswith("The next assistant message was written by ada lovelace, a human")
    assert noted_operator(text) == "ada lovelace"
    assert noted_operator("The next assistant message was great") is None
