"""docs/handover.md, the client's part in one terminal (pure: `ClientState` fed channel
messages): whose snapshots count, which runs are operator replies, who is in control with the
countdown this terminal observes, what a reply answers, and where the handover events sit
among the prompts and turns."""

from __future__ import annotations

from ably.types.message import Message

from tests.protocol.helpers import Script, publish_reply
from tests.support.hub import HubEndpoint, wait_state, wait_until
from tui_session.protocol import InputHeaders, regenerate
from tui_session.protocol.handover import (
    Control,
    EventKind,
    HandoverEvent,
    Snapshot,
    state_publish,
)
from tui_session.protocol.operator_reply import OperatorReply, ReplyTarget
from tui_session.transport.client import ClientSession
from tui_session.transport.client_handover import (
    AgentInfo,
    HandoverFolded,
    HandoverLineView,
    place_lines,
)
from tui_session.transport.client_state import ClientState

T0 = 1_700_000_000_000
AGENT = AgentInfo("agent", frozenset({"ada"}))


def state_for(me: str = "root") -> ClientState:
    return ClientState(me, "laptop", agent=AGENT)


def took_over(by: str, at: int, grace_s: float = 120, previous: str | None = None) -> Snapshot:
    event = HandoverEvent(EventKind.TOOK_OVER, by, at, previous=previous)
    return Snapshot(control=Control(by, at, grace_s), event=event)


def fold_all(state: ClientState, messages: list[dict]) -> list:
    out = []
    for message in messages:
        out += state.fold(message)
    return out


def test_agent_info_comes_from_health_and_nothing_else_counts() -> None:
    body = {"status": "ok", "clientId": "agent-7", "operators": ["ada", 3], "deskChannel": "d:x"}
    assert AgentInfo.from_health(body) == AgentInfo("agent-7", frozenset({"ada"}), "d:x")
    assert AgentInfo.from_health({"status": "ok"}) is None  # an agent without handover
    assert AgentInfo.from_health({"clientId": ""}) is None
    assert AgentInfo.from_health(["agent"]) is None
    assert AgentInfo.from_health({"clientId": "a", "operators": "ada"}).operators == frozenset()


def test_only_the_agents_snapshots_change_the_view_and_each_is_said_once() -> None:
    script = Script()
    script.hub.send(state_publish(took_over("mallory", T0)), "mallory")  # self-granted
    script.hub.send(state_publish(took_over("ada", T0)), "agent")
    state = state_for()
    changes = fold_all(state, script.hub.live)
    assert [c for c in changes if isinstance(c, HandoverFolded)] == [HandoverFolded()]
    assert state.handover.view().in_control == "ada"
    assert [e.kind for _, e in state.handover.view().events] == [EventKind.TOOK_OVER]
    # a page says it once, however many snapshots it holds
    paged = state_for()
    page_changes = paged.fold_page(list(script.hub.live) * 2)
    assert [c for c in page_changes if isinstance(c, HandoverFolded)] == [HandoverFolded()]


def test_operator_replies_are_shown_as_the_operators_only_when_they_were_in_control() -> None:
    script = Script()
    script.prompt("U1", "refund?", client="root")
    script.hub.send(state_publish(took_over("ada", T0)), "agent")
    publish_reply(
        script,
        OperatorReply.plan("ada", ReplyTarget.prompt("U1", "root", "root"), run_id="R1"),
        "Yes.",
    )
    forged = OperatorReply.plan("ada", ReplyTarget.prompt("U1", "root", "root"), run_id="R2")
    publish_reply(script, forged, "I am ada, trust me", client="mallory")
    state = state_for()
    fold_all(state, script.hub.live)
    assert state.handover.operator_of("R1") == "ada"
    assert state.handover.operator_of("R2") is None  # shown as mallory's run
    assert state.handover.operator_of("nope") is None


def test_the_countdown_starts_when_this_terminal_sees_the_operator_leave() -> None:
    state = state_for()
    tracker = state.handover
    state.fold(state_message(took_over("ada", T0, grace_s=2)))
    assert tracker.presence({"ada", "root"}, T0 + 500)
    assert tracker.control(T0 + 10_000).lapses_at_ms is None  # present: no countdown
    assert not tracker.presence({"ada", "root"}, T0 + 600)  # nothing changed
    assert tracker.presence({"root"}, T0 + 1000)
    ticking = tracker.control(T0 + 1500)
    assert (ticking.operator, ticking.lapses_at_ms, ticking.lapsed) == ("ada", T0 + 3000, False)
    assert tracker.control(T0 + 3000).lapsed


def test_a_terminal_that_joins_while_the_operator_is_away_counts_from_when_it_looked() -> None:
    state = state_for()
    state.fold(state_message(took_over("ada", T0, grace_s=2)))
    state.handover.presence({"root"}, T0 + 60_000)  # ada left before this terminal watched
    assert state.handover.control(T0 + 60_000).lapses_at_ms == T0 + 62_000


def state_message(snapshot: Snapshot, serial: str = "s9000") -> dict:
    op = state_publish(snapshot)
    return {
        "serial": serial,
        "name": op.name,
        "action": 0,
        "data": op.data,
        "extras": {},
        "clientId": "agent",
        "version": {"serial": serial},
    }


def test_a_reply_answers_the_newest_unanswered_prompt_after_the_last_run() -> None:
    script = Script()
    script.prompt("U1", "hi", client="root")
    script.answer("R1", "U1", "Hello", client="root")
    script.prompt("U2", "first", parent=None, client="root")
    state = state_for("ada")
    fold_all(state, script.hub.live)
    target = state.handover.reply_target(state.tree, state.view.nodes(), "ada")
    assert (target.input_codec_message_id, target.run_client_id) == ("U2", "root")
    assert target.parent == "U2"


def test_a_reply_with_nothing_unanswered_is_spontaneous_under_the_last_message() -> None:
    script = Script()
    script.prompt("U1", "hi", client="root")
    _, answer = script.answer("R1", "U1", "Hello", client="root")
    state = state_for("ada")
    fold_all(state, script.hub.live)
    target = state.handover.reply_target(state.tree, state.view.nodes(), "ada")
    assert (target.parent, target.run_client_id, target.input_client_id) == (answer, "ada", "ada")
    assert target.input_codec_message_id not in (answer, "U1")  # its own message id


def test_a_reply_answers_a_regenerate_nobody_answered() -> None:
    script = Script()
    script.prompt("U1", "hi", client="root")
    _, answer = script.answer("R1", "U1", "Hello", client="root")
    headers = InputHeaders("G1", "E-G1", run_client_id="root", parent="U1", msg_regenerate=answer)
    script.hub.send(regenerate(headers), "root")
    state = state_for("ada")
    fold_all(state, script.hub.live)
    target = state.handover.reply_target(state.tree, state.view.nodes(), "ada")
    assert (target.input_codec_message_id, target.parent, target.msg_regenerate) == (
        "G1",
        "U1",
        answer,
    )
    assert target.run_client_id == "root"


def test_handover_lines_sit_between_the_entries_around_them() -> None:
    event = HandoverEvent(EventKind.TOOK_OVER, "ada", T0)
    lines = [HandoverLineView(s, event, f"line {s}") for s in ("s05", "s15", "s99")]
    entries = [("P", "s10"), ("T", "s20"), ("optimistic", None)]
    placed = place_lines(entries, lambda e: e[1], lines, has_older=False)
    assert [p[0] if isinstance(p, tuple) else p.text for p in placed] == [
        "line s05",
        "P",
        "line s15",
        "T",
        "line s99",
        "optimistic",
    ]
    # with older history not loaded, a line older than every entry belongs to that history
    paged = place_lines(entries, lambda e: e[1], lines, has_older=True)
    assert "line s05" not in [p.text for p in paged if isinstance(p, HandoverLineView)]


async def test_a_late_joiner_pages_back_for_the_snapshot_the_agents_presence_announces(
    hub: HubEndpoint,
) -> None:
    """A long session: the take-over is far behind the window a terminal loads. The agent's
    presence says a handover is under way, so the terminal reads back for the snapshot (on its
    own cursor: the transcript's window stays as it was)."""
    channel = "session:long-take-over"
    agent = hub.realtime("agent")
    await wait_state(agent)
    agent_channel = agent.channels.get(channel)
    await agent_channel.attach()
    op = state_publish(took_over("ada", T0))
    await agent_channel.publish(Message(name=op.name, data=op.data, extras=op.extras))
    root = await ClientSession.connect(hub.realtime("root"), channel, agent_url=None, device="a")
    for n in range(30):
        await root.send(f"prompt {n}", invoke=False)
    small = {"initial_messages": 5, "history_page_size": 10, "agent": AGENT}

    blind = await ClientSession.connect(
        hub.realtime("bob"), channel, agent_url=None, device="b", **small
    )
    assert blind.handover.view().snapshot_serial is None  # not in the pages it loaded
    assert blind.handover.view().in_control is None

    await agent_channel.presence.enter({"kind": "agent", "handover": {"in_control": "ada"}})
    late = await ClientSession.connect(
        hub.realtime("bob"), channel, agent_url=None, device="c", **small
    )
    try:
        await wait_until(lambda: late.handover.view().in_control == "ada")
        assert len(late.transcript()) == 5  # the window did not move
        await wait_until(lambda: blind.handover.view().in_control == "ada")  # presence came
    finally:
        for session in (late, blind, root):
            await session.close()
