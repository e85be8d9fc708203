"""docs/handover.md "What every terminal folds": the handover view from channel messages."""

from __future__ import annotations

import random

from tui_session.protocol import InputHeaders, tool_result
from tui_session.protocol.handover import (
    DEFAULT,
    Control,
    Escalation,
    EventKind,
    PresenceFacts,
    Resolution,
    Snapshot,
    escalate,
    hand_back,
    parse_request,
    request_publish,
    resolve,
    state_publish,
    take_over,
)
from tui_session.protocol.handover_fold import HandoverFold
from tui_session.protocol.operator_reply import OperatorReply, ReplyTarget

from .helpers import FakeHub, Script

T0 = 1_700_000_000_000
OPERATORS = {"ada", "bob"}


class Channel:
    """A FakeHub plus what the agent would decide: publishes requests and snapshots."""

    def __init__(self) -> None:
        self.script = Script()
        self.hub: FakeHub = self.script.hub
        self.state = DEFAULT
        self.now = T0

    def tick(self, ms: int = 1000) -> int:
        self.now += ms
        return self.now

    def publish_state(self, snapshot) -> str:
        self.state = snapshot
        return self.hub.send(state_publish(snapshot), "agent")

    def ask(self, action: str, by: str, expect: str | None = None) -> str:
        op = request_publish(action, expect=expect)  # type: ignore[arg-type]
        serial = self.hub.send(op, by)
        self.hub.live[-1]["timestamp"] = self.tick()
        return serial

    def decide(self) -> None:
        """The agent answers the newest request."""
        req = parse_request(self.hub.live[-1])
        assert req is not None
        decide = take_over if req.action == "take" else hand_back
        kwargs = {"grace_s": 120} if req.action == "take" else {}
        self.publish_state(
            decide(self.state, req, operators=OPERATORS, now_ms=self.tick(), **kwargs)
        )

    def escalate(self, call: str = "call_1") -> None:
        esc = Escalation(call, "R1", "A1", "root", "model", "wants a refund", self.tick())
        self.publish_state(escalate(self.state, esc))


def fold(messages, authorities=("agent",)) -> HandoverFold:
    f = HandoverFold(authorities)
    f.apply_all(messages)
    return f


def test_no_message_is_the_default_state() -> None:
    view = HandoverFold({"agent"}).view()
    assert view.in_control is None and view.snapshot_serial is None
    assert view.events == () and view.pending_requests == () and view.operator_runs == {}


def test_the_newest_snapshot_is_the_state_and_all_snapshots_are_the_timeline() -> None:
    ch = Channel()
    ch.escalate()
    ch.ask("take", "ada")
    ch.decide()
    view = fold(ch.hub.live).view()
    assert view.in_control == "ada"
    assert view.since_ms == ch.state.control.since_ms
    assert view.open_escalations == ()
    [done] = view.resolved_escalations
    assert (done.resolution, done.resolved_by) == (Resolution.TAKEN_OVER, "ada")
    assert [e.kind for _, e in view.events] == [EventKind.ESCALATED, EventKind.TOOK_OVER]
    assert view.pending_requests == ()


def test_history_pages_in_any_order_fold_to_the_same_view() -> None:
    ch = Channel()
    ch.escalate("c1")
    ch.ask("take", "ada")
    ch.decide()
    ch.ask("return", "ada")
    ch.decide()
    ch.escalate("c2")
    in_order = fold(ch.hub.live).view()
    shuffled = list(ch.hub.history())
    random.Random(7).shuffle(shuffled)
    assert fold(shuffled).view() == in_order
    assert in_order.in_control is None and [e.id for e in in_order.open_escalations] == ["c2"]


def test_a_replay_changes_nothing() -> None:
    ch = Channel()
    ch.escalate()
    f = fold(ch.hub.live)
    assert f.apply(ch.hub.live[0]) is False


def test_snapshots_from_anyone_but_an_authority_are_ignored() -> None:
    """bob cannot grant himself control by publishing a snapshot."""
    ch = Channel()
    forged = take_over(
        DEFAULT,
        parse_request(
            {"name": "handover.request", "data": {"id": "x", "action": "take"}, "clientId": "bob"}
        ),
        operators={"bob"},
        grace_s=1,
        now_ms=T0,
    )
    ch.hub.send(state_publish(forged), "bob")
    view = fold(ch.hub.live).view()
    assert view.in_control is None and view.snapshot_serial is None
    assert fold(ch.hub.live, authorities=("agent", "bob")).view().in_control == "bob"


def test_a_request_is_pending_until_the_agent_answers_it() -> None:
    ch = Channel()
    ch.escalate()
    ch.ask("take", "ada", expect=None)
    pending = fold(ch.hub.live).view().pending_requests
    assert [(r.by, r.action) for r in pending] == [("ada", "take")]
    ch.decide()
    assert fold(ch.hub.live).view().pending_requests == ()


def test_a_request_the_agent_never_took_is_not_pending_forever() -> None:
    """An unanswered request older than the newest snapshot was lost (the agent was down)."""
    ch = Channel()
    ch.ask("take", "ada")
    ch.escalate()
    assert fold(ch.hub.live).view().pending_requests == ()


def test_a_refusal_answers_the_request_and_changes_nothing() -> None:
    ch = Channel()
    ch.ask("take", "mallory")
    ch.decide()
    view = fold(ch.hub.live).view()
    assert view.in_control is None and view.pending_requests == ()
    [(_, event)] = view.events
    assert (event.kind, event.by, event.code) == (EventKind.REFUSED, "mallory", 40330)


# --- operator replies ----------------------------------------------------------------------------


def reply(ch: Channel, run_id: str, header: str, publisher: str) -> None:
    ch.script.prompt(f"U{run_id}", "question", client="root")
    plan = OperatorReply.plan(
        header, ReplyTarget.prompt(f"U{run_id}", "root", "root"), run_id=run_id
    )
    opening = plan.opening()
    ch.hub.send(opening[0], publisher)
    step = ch.hub.send(opening[1], publisher)
    ch.hub.send_all(plan.body(step, "answer"), publisher)
    ch.hub.send_all(plan.closing(step), publisher)


def test_operator_replies_are_verified_against_who_was_in_control_at_their_serial() -> None:
    ch = Channel()
    reply(ch, "R0", "ada", "ada")  # before any take-over: ada was not in control
    ch.ask("take", "ada")
    ch.decide()
    reply(ch, "R1", "ada", "ada")  # in control: verified
    reply(ch, "R2", "bob", "bob")  # bob is an operator, but not the one in control
    reply(ch, "R3", "ada", "bob")  # the header names someone else than the publisher
    ch.ask("return", "ada")
    ch.decide()
    reply(ch, "R4", "ada", "ada")  # after the hand-back
    view = fold(ch.hub.live).view()
    verdicts = {run: r.verification for run, r in view.operator_runs.items()}
    assert verdicts == {
        "R0": "refused",
        "R1": "verified",
        "R2": "refused",
        "R3": "refused",
        "R4": "refused",
    }
    assert view.trusted_run("R1") and not view.trusted_run("R3")
    assert view.trusted_run("an agent run")  # runs without the header are not judged here


def test_a_window_that_starts_inside_the_take_over_still_verifies_the_reply() -> None:
    ch = Channel()
    ch.ask("take", "ada")
    ch.decide()
    cut = len(ch.hub.live)
    reply(ch, "R1", "ada", "ada")
    reply(ch, "R2", "bob", "bob")
    ch.ask("return", "ada")
    ch.decide()
    view = fold(ch.hub.live[cut:]).view()  # the take-over itself is not loaded
    assert view.operator_runs["R1"].verification == "verified"
    assert view.operator_runs["R2"].verification == "refused"
    no_snapshot = fold(ch.hub.live[cut : cut + 12]).view()  # neither end loaded
    assert no_snapshot.operator_runs["R1"].verification == "unconfirmed"


# --- answers on escalations ----------------------------------------------------------------------


def answer(ch: Channel, call: str, by: str, event_id: str) -> None:
    headers = InputHeaders("A1", event_id, run_client_id=by, parent="A1", run_id="R1")
    ch.hub.send(tool_result(headers, call, f"answer from {by}"), by)


def test_answers_show_until_the_agent_resolves_and_then_only_the_accepted_one() -> None:
    ch = Channel()
    ch.escalate("call_1")
    answer(ch, "call_1", "mallory", "E1")
    answer(ch, "call_1", "ada", "E2")
    answer(ch, "call_9", "ada", "E3")  # not an escalation's call
    view = fold(ch.hub.live).view()
    assert [(a.by, a.output) for a in view.answers["call_1"]] == [
        ("mallory", "answer from mallory"),
        ("ada", "answer from ada"),
    ]
    assert "call_9" not in view.answers
    done = resolve(
        ch.state, "call_1", Resolution.ANSWERED, by="ada", now_ms=ch.tick(), answer_event_id="E2"
    )
    ch.publish_state(done)
    view = fold(ch.hub.live).view()
    assert [a.by for a in view.answers["call_1"]] == ["ada"]
    assert view.resolved_escalations[0].answer_event_id == "E2"


# --- control with the automatic hand-back --------------------------------------------------------


def test_control_view_counts_down_while_the_operator_is_away() -> None:
    ch = Channel()
    ch.ask("take", "ada")
    ch.decide()
    view = fold(ch.hub.live).view()
    since = view.since_ms
    here = view.control(PresenceFacts(frozenset({"ada"})), since + 10**7)
    assert (here.operator, here.lapses_at_ms, here.lapsed) == ("ada", None, False)
    away = PresenceFacts(frozenset({"root"}), {"ada": since + 1000}, observed_since_ms=since)
    ticking = view.control(away, since + 60_000)
    assert (ticking.lapses_at_ms, ticking.lapsed) == (since + 121_000, False)
    assert view.control(away, since + 121_000).lapsed
    assert fold([]).view().control(away, since).operator is None


def test_the_snapshot_carries_the_agents_grace_so_terminals_count_the_same() -> None:
    ch = Channel()
    ch.publish_state(Snapshot(control=Control("ada", T0, 45)))
    assert fold(ch.hub.live).view().snapshot.control.grace_s == 45
