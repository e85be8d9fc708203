"""ClientSession (ours, ably-python) against the npm AI Transport 0.8.0 agent on a real hub.

docs/wire.md §9 behaviours 26-32, 36, 37, 39-45 and §7.12. Every wait is on session events
with a timeout; no sleeps synchronise anything.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.client import close_opened, open_session
from tests.support.hub import HubEndpoint, free_port
from tests.support.npm import NpmAgent, node_or_skip
from tui_session.protocol import CancelFilter, ErrorCode, ProtocolError
from tui_session.transport.client import ClientSession
from tui_session.transport.client_events import (
    ActiveTurnsChanged,
    PromptAdded,
    SteerResolved,
    TurnEnded,
)
from tui_session.transport.client_model import TurnView

CHANNEL = "session:npm"


@pytest.fixture(autouse=True)
async def cleanup_sessions(hub: HubEndpoint) -> AsyncIterator[None]:
    yield
    await close_opened()


@pytest.fixture
async def agent(hub: HubEndpoint) -> AsyncIterator[NpmAgent]:
    node_or_skip()
    running = await NpmAgent.start(hub)
    yield running
    await running.stop()


async def closing(*sessions: ClientSession) -> None:
    for session in sessions:
        await session.close()


def turns(session: ClientSession) -> list[TurnView]:
    return [e for e in session.transcript() if isinstance(e, TurnView)]


def ended(session: ClientSession, run_id: str) -> bool:
    turn = session.turn(run_id)
    return bool(turn and turn.terminal)


async def test_prompt_batch_post_reconciliation_and_run_id(hub: HubEndpoint, agent: NpmAgent):
    """§9.26, 27, 29: at once, batch headers, POST body, one prompt, run id from start."""
    session, events = await open_session(hub, "alice", CHANNEL, agent_url=agent.url)
    seen_optimistic = []
    session.listen(
        lambda e: (
            isinstance(e, PromptAdded) and seen_optimistic.append(session.prompt(e.cmid).optimistic)
        )
    )
    handle = await session.send("plain hello")
    assert seen_optimistic == [True]  # folded before the publish was acknowledged
    run_id = await events.until(lambda: handle.run_id, what="run start")
    await events.until(lambda: ended(session, run_id), what="run end")

    entries = session.transcript()
    assert [e.kind for e in entries] == ["prompt", "turn"]
    prompt, turn = entries
    assert prompt.cmid == handle.input_codec_message_id and not prompt.optimistic
    assert prompt.text == "plain hello" and prompt.own and prompt.status == "started"
    assert turn.run_id == run_id and turn.status == "complete" and turn.own
    assert turn.text == "Hello world" and turn.label == "complete"
    assert [m.role for m in turn.messages] == ["assistant"]

    (wire,) = events.wire("ai-input")
    assert wire.client_id == "alice"
    assert dict(wire.headers) == {
        "role": "user",
        "codec-message-id": handle.input_codec_message_id,
        "run-client-id": "alice",
        "event-id": handle.input_event_id,
        "stream": "false",
        "discrete": "true",
    }
    assert dict(wire.codec) == {"kind": "user-message", "partType": "input_text"}
    (start,) = events.wire("ai-run-start")
    assert start.headers["input-codec-message-id"] == handle.input_codec_message_id
    assert start.headers["run-id"] == run_id == handle.started.result()

    (post,) = agent.events("post")
    assert post["body"] == {"inputEventId": handle.input_event_id, "sessionName": CHANNEL}

    # the next prompt's parent is the last visible message: the answer
    second = await session.send("plain again")
    await events.until(lambda: second.run_id and ended(session, second.run_id))
    inputs = events.wire("ai-input")
    assert inputs[-1].headers["parent"] == turn.messages[-1].cmid
    assert [e.kind for e in session.transcript()] == ["prompt", "turn", "prompt", "turn"]
    assert len(session.messages()) == 4
    await closing(session)


async def test_late_joiner_mid_stream_then_rest(hub: HubEndpoint, agent: NpmAgent):
    """§9.31: prompt and text so far right after attaching, then the rest, no duplicates."""
    alice, alice_events = await open_session(hub, "alice", CHANNEL, agent_url=agent.url)
    handle = await alice.send("slow story")
    run_id = await alice_events.until(lambda: handle.run_id)
    await alice_events.until(lambda: alice.turn(run_id).text.count(" ") >= 3, what="3 deltas")

    bob, bob_events = await open_session(hub, "bob", CHANNEL)
    entries = bob.transcript()
    assert [e.kind for e in entries] == ["prompt", "turn"]
    assert entries[0].text == "slow story" and not entries[0].own
    so_far = entries[1].text
    assert so_far and entries[1].status == "active" and entries[1].streaming
    assert bob.active_turns() == {"alice": {run_id: "active"}}  # §9.46, rebuilt on join

    await bob_events.until(lambda: ended(bob, run_id), timeout=15)
    await alice_events.until(lambda: ended(alice, run_id))
    assert bob.active_turns() == {}
    final = bob.turn(run_id)
    assert final.status == "complete" and not final.own
    assert final.text == alice.turn(run_id).text
    assert final.text.startswith(so_far)
    assert final.text == "".join(f"w{i} " for i in range(40))
    assert [e.kind for e in bob.transcript()] == ["prompt", "turn"]
    await closing(alice, bob)


@pytest.mark.parametrize("page_size", [1, 2])
async def test_completed_run_from_history_small_pages(
    hub: HubEndpoint, agent: NpmAgent, page_size: int
):
    """§9.32 / §7.7: a completed run loaded from history shows complete at page sizes 1, 2."""
    alice, events = await open_session(hub, "alice", CHANNEL, agent_url=agent.url)
    handle = await alice.send("plain hi")
    await events.until(lambda: handle.run_id and ended(alice, handle.run_id))

    bob, _ = await open_session(hub, "bob", CHANNEL, history_page_size=page_size)
    (turn,) = turns(bob)
    assert turn.status == "complete" and turn.label == "complete"
    assert turn.text == "Hello world"
    assert [e.kind for e in bob.transcript()] == ["prompt", "turn"]
    assert bob.active_turns() == {}
    assert not bob.has_older()
    await closing(alice, bob)


async def test_error_run_streams_shown_interrupted(hub: HubEndpoint, agent: NpmAgent):
    """§9.36 / §7.1: the npm agent leaves the stream open on error; we show it interrupted."""
    session, events = await open_session(hub, "alice", CHANNEL, agent_url=agent.url)
    handle = await session.send("error please")
    run_id = await events.until(lambda: handle.run_id)
    await events.until(lambda: ended(session, run_id))
    turn = session.turn(run_id)
    assert turn.status == "error" and turn.error_code == 104008
    assert turn.interrupted and not turn.streaming
    assert turn.label == "error (interrupted)"
    assert turn.text == "Partial answer"
    assert TurnEnded(run_id, "error") in events.items
    await closing(session)


async def test_load_older_exact_counts(hub: HubEndpoint, agent: NpmAgent):
    """§9.37: exact counts while history lasts; has_older false at the start."""
    alice, events = await open_session(hub, "alice", CHANNEL, agent_url=agent.url)
    for i in range(3):
        handle = await alice.send(f"plain {i}")
        await events.until(lambda h=handle: h.run_id and ended(alice, h.run_id))

    bob, _ = await open_session(hub, "bob", CHANNEL, history_page_size=2, initial_messages=1)
    assert [m["role"] for _, m in bob.messages()] == ["assistant"]
    assert bob.has_older()
    assert await bob.load_older(2) == 2
    assert [m["role"] for _, m in bob.messages()] == ["assistant", "user", "assistant"]
    assert bob.has_older()
    assert await bob.load_older(10) == 3
    assert len(bob.messages()) == 6 and not bob.has_older()
    assert [e.kind for e in bob.transcript()] == ["prompt", "turn"] * 3
    await closing(alice, bob)


async def test_cancel_own_turn_before_run_start(hub: HubEndpoint, agent: NpmAgent):
    """§9.39 / §7.3: cancel by input id, re-sent with run-id at run-start; ends cancelled."""
    session, events = await open_session(hub, "alice", CHANNEL, agent_url=agent.url)
    handle = await session.send("slow story", invoke=False)
    assert session.active_turns() == {"alice": {handle.input_codec_message_id: "pending"}}
    await session.cancel_send(handle)
    (first,) = await events.until(lambda: events.wire("ai-cancel"))
    assert first.headers["input-codec-message-id"] == handle.input_codec_message_id
    assert "run-id" not in first.headers
    assert session.prompt(handle.input_codec_message_id).cancel_requested

    # the agent attaches only now: the first cancel is in history, which 0.8.0 never routes
    assert await session.retry(handle.input_codec_message_id)
    run_id = await events.until(lambda: handle.run_id)
    second = (await events.until(lambda: events.wire("ai-cancel")[1:]))[0]
    assert second.headers["run-id"] == run_id
    assert second.headers["input-codec-message-id"] == handle.input_codec_message_id
    await events.until(lambda: ended(session, run_id))
    turn = session.turn(run_id)
    assert turn.status == "cancelled" and turn.cancel_label == "cancelled"
    assert len(turn.text.split()) < 40
    assert session.active_turns() == {}
    await closing(session)


async def test_cancel_observed_run(hub: HubEndpoint, agent: NpmAgent):
    """§9.40: an observer's cancel names the run; "cancel requested" until the end."""
    alice, alice_events = await open_session(hub, "alice", CHANNEL, agent_url=agent.url)
    bob, bob_events = await open_session(hub, "bob", CHANNEL)
    handle = await alice.send("slow story")
    run_id = await alice_events.until(lambda: handle.run_id)
    await bob_events.until(lambda: bob.turn(run_id) and bob.turn(run_id).text)
    labels = []
    bob.listen(
        lambda e: getattr(e, "run_id", None) == run_id and labels.append(bob.turn(run_id).label)
    )
    await bob.cancel(run_id)
    (cancel,) = bob_events.wire("ai-cancel")
    assert cancel.headers["run-id"] == run_id and cancel.client_id == "bob"
    await bob_events.until(lambda: ended(bob, run_id))
    assert "cancel requested" in labels
    assert bob.turn(run_id).label == "cancelled" and bob.turn(run_id).status == "cancelled"
    assert not bob.turn(run_id).own
    await closing(alice, bob)


async def test_cancel_filters_enumerate_runs(hub: HubEndpoint, agent: NpmAgent):
    """§9.41: one ai-cancel per selected run: clientId X, own (with own pending turns)."""
    alice, alice_events = await open_session(hub, "alice", CHANNEL, agent_url=agent.url)
    bob, bob_events = await open_session(hub, "bob", CHANNEL, agent_url=agent.url)
    carol, carol_events = await open_session(hub, "carol", CHANNEL)
    a = await alice.send("slow a")
    pending = await alice.send("slow pending", invoke=False)
    b = await bob.send("slow b")
    run_a = await alice_events.until(lambda: a.run_id)
    run_b = await bob_events.until(lambda: b.run_id)
    await carol_events.until(
        lambda: carol.active_turns() == {"alice": {run_a: "active"}, "bob": {run_b: "active"}}
    )
    assert alice.active_turns()["alice"] == {
        run_a: "active",
        pending.input_codec_message_id: "pending",
    }

    targets = await carol.cancel_turns(CancelFilter("client", "bob"))
    assert [t.run_id for t in targets] == [run_b]
    (cancel_b,) = await carol_events.until(lambda: carol_events.wire("ai-cancel"))
    assert cancel_b.headers["run-id"] == run_b

    before = len(alice_events.wire("ai-cancel"))
    targets = await alice.cancel_turns("own")
    assert {(t.run_id, t.input_codec_message_id) for t in targets} == {
        (run_a, a.input_codec_message_id),
        (None, pending.input_codec_message_id),
    }
    cancels = await alice_events.until(
        lambda: (
            alice_events.wire("ai-cancel")[before:][1:] and alice_events.wire("ai-cancel")[before:]
        )
    )
    assert len(cancels) == 2
    assert {c.headers.get("run-id") for c in cancels} == {run_a, None}
    await carol_events.until(lambda: ended(carol, run_a) and ended(carol, run_b), timeout=15)
    assert carol.turn(run_a).status == "cancelled" and carol.turn(run_b).status == "cancelled"
    assert carol.active_turns() == {}
    assert list(alice.active_turns()) == ["alice"]  # only the pending prompt remains
    await closing(alice, bob, carol)


async def test_steer_outcome_consumed_and_refused_after_end(hub: HubEndpoint, agent: NpmAgent):
    """§9.42 / §3.6: a run-tagged user message; outcome consumed; steering an ended run is
    refused locally."""
    session, events = await open_session(hub, "alice", CHANNEL, agent_url=agent.url)
    handle = await session.send("steer the story")
    run_id = await events.until(lambda: handle.run_id)
    await events.until(lambda: session.turn(run_id).text)
    steer = await session.steer_send(handle, "make it about mountains")
    steers = events.wire("ai-input")[1:]
    assert steers and steers[0].headers["run-id"] == run_id
    assert steers[0].headers["codec-message-id"] == steer.steer_cmid
    assert "parent" not in steers[0].headers
    await events.until(lambda: ended(session, run_id))
    assert await steer.outcome == "consumed"
    assert SteerResolved(steer.steer_cmid, run_id, "consumed") in events.items
    turn = session.turn(run_id)
    assert turn.status == "complete" and len(turn.steps) == 2
    assert [(s.text, s.state) for s in turn.steers] == [("make it about mountains", "consumed")]
    assert turn.text.endswith("Steered answer.")
    with pytest.raises(ProtocolError) as refused:
        await session.steer(run_id, "too late")
    assert refused.value.code == ErrorCode.INVALID_ARGUMENT
    await closing(session)


async def test_tool_approval_round_trip(hub: HubEndpoint, agent: NpmAgent):
    """§9.43: pending approval with name and arguments; approving resumes the run."""
    session, events = await open_session(hub, "alice", CHANNEL, agent_url=agent.url)
    handle = await session.send("tool please")
    run_id = await events.until(lambda: handle.run_id)
    await events.until(lambda: session.turn(run_id).status == "suspended")
    turn = session.turn(run_id)
    (approval,) = turn.pending_approvals
    assert (approval.call_id, approval.name) == ("call_1", "delete_files")
    assert approval.arguments == '{"path":"/tmp/x"}'
    assert turn.label == "waiting for approval"
    assert session.active_turns() == {"alice": {run_id: "waiting"}}
    resume = await session.approve(run_id, approval.assistant_cmid, "call_1", True)
    assert await resume.started == run_id
    await events.until(lambda: ended(session, run_id))
    turn = session.turn(run_id)
    assert turn.status == "complete" and not turn.pending_approvals
    states = turn.messages[0].tool_call_states
    assert states["call_1"]["approval"] == "approved"
    assert turn.text == "Done."
    wire = events.wire("ai-input")[-1]
    assert wire.headers["codec-message-id"] == approval.assistant_cmid
    assert wire.headers["run-id"] == run_id
    assert dict(wire.codec) == {
        "kind": "tool-approval-response",
        "call_id": "call_1",
        "approved": "true",
    }
    await closing(session)


async def test_failed_post_agent_not_reached_then_retry(hub: HubEndpoint, agent: NpmAgent):
    """§9.28 / §7.12: a failed POST marks "agent not reached" and leaves the active turns
    (nothing will start it); a retry makes it pending again and reaches the agent."""
    closed = f"http://127.0.0.1:{free_port()}"
    session, events = await open_session(hub, "alice", CHANNEL, agent_url=closed)
    handle = await session.send("plain hi")
    cmid = handle.input_codec_message_id
    await events.until(lambda: session.prompt(cmid).status == "agent not reached")
    assert session.prompt(cmid).post_error
    assert session.active_turns() == {}  # nothing will start it: not a pending turn
    session.agent_url = agent.url
    before = len(events.items)
    assert await session.retry(cmid)
    run_id = await events.until(lambda: handle.run_id)
    maps = [e.turns for e in events.items[before:] if isinstance(e, ActiveTurnsChanged)]
    assert maps[0] == {"alice": {cmid: "pending"}}  # pending again once retried
    await events.until(lambda: ended(session, run_id))
    assert session.prompt(cmid).status == "started"
    assert not await session.retry(cmid)  # a run is known: no second POST
    assert len(agent.events("post")) == 1
    await closing(session)


async def test_no_run_start_shows_waiting_for_agent(hub: HubEndpoint):
    session, events = await open_session(hub, "alice", CHANNEL, start_timeout=0.3)
    handle = await session.send("nobody listens")
    await events.until(
        lambda: session.prompt(handle.input_codec_message_id).status == "waiting for agent"
    )
    await closing(session)


async def test_presence_members_across_sessions(hub: HubEndpoint):
    alice, alice_events = await open_session(hub, "alice", CHANNEL, device="laptop")
    bob, _ = await open_session(hub, "bob", CHANNEL, device="phone", role="operator")
    await alice_events.until(lambda: len(alice.members) == 2, what="two members")
    members = {(m.client_id, m.kind, m.device, m.role) for m in alice.members}
    assert members == {
        ("alice", "client", "laptop", "user"),
        ("bob", "client", "phone", "operator"),
    }
    assert {(m.client_id, m.device) for m in bob.members} == {("alice", "laptop"), ("bob", "phone")}
    await bob.close()
    await alice_events.until(lambda: len(alice.members) == 1, what="bob left")
    await closing(alice)


async def test_own_and_observer_turns_same_user_two_devices(
    hub: HubEndpoint, agent: NpmAgent, tmp_path: Path
):
    """§9.45, issue 11: own = my user's, on any device (the phone owns the laptop's turn);
    each device knows whether it started it, also after a restart."""
    owned = tmp_path / "laptop.owned"
    laptop, laptop_events = await open_session(
        hub, "alice", CHANNEL, device="laptop", agent_url=agent.url, owned_inputs_path=owned
    )
    phone, phone_events = await open_session(
        hub, "alice", CHANNEL, device="phone", owned_inputs_path=tmp_path / "phone.owned"
    )
    handle = await laptop.send("plain from the laptop")
    run_id = await laptop_events.until(lambda: handle.run_id)
    await phone_events.until(lambda: ended(phone, run_id))
    await laptop_events.until(lambda: ended(laptop, run_id))
    assert laptop.turn(run_id).own and laptop.prompt(handle.input_codec_message_id).own
    assert phone.turn(run_id).own and phone.prompt(handle.input_codec_message_id).own
    assert laptop.turn(run_id).this_device and not phone.turn(run_id).this_device
    assert phone.turn(run_id).client_id == "alice" and phone.turn(run_id).device == "laptop"
    await laptop.close()

    again, _ = await open_session(hub, "alice", CHANNEL, device="laptop", owned_inputs_path=owned)
    assert again.turn(run_id).own and again.turn(run_id).this_device
    await closing(phone, again)


async def test_edit_regenerate_and_branch_navigation(hub: HubEndpoint, agent: NpmAgent):
    """§9.44: edit -> sibling prompt with fork-of; regenerate -> same-parent sibling run with
    msg-regenerate; navigation; an edit or a regenerate elsewhere moves every view (issue 11)."""
    alice, events = await open_session(hub, "alice", CHANNEL, agent_url=agent.url)
    bob, bob_events = await open_session(hub, "bob", CHANNEL)
    first = await alice.send("plain one")
    run_1 = await events.until(lambda: first.run_id)
    await events.until(lambda: ended(alice, run_1))
    await bob_events.until(lambda: ended(bob, run_1))

    edit = await alice.edit(first.input_codec_message_id, "plain two")
    assert [e.text for e in alice.transcript() if e.kind == "prompt"] == ["plain two"]
    run_2 = await events.until(lambda: edit.run_id)
    await events.until(lambda: ended(alice, run_2))
    await bob_events.until(lambda: bob.turn(run_2) and ended(bob, run_2))
    edit_wire = events.wire("ai-input")[-1]
    assert edit_wire.headers["fork-of"] == first.input_codec_message_id
    assert "parent" not in edit_wire.headers  # the first prompt had none
    prompt, turn = alice.transcript()
    assert prompt.cmid == edit.input_codec_message_id and turn.run_id == run_2
    assert (prompt.branch.index, len(prompt.branch.siblings)) == (1, 2)
    assert [e.text for e in bob.transcript()] == ["plain two", "Hello world"]  # followed

    alice.select_branch(edit.input_codec_message_id, 0)
    assert [e.text for e in alice.transcript()] == ["plain one", "Hello world"]
    alice.select_branch(edit.input_codec_message_id, 1)

    answer = alice.turn(run_2).messages[0].cmid
    regen = await alice.regenerate(answer)
    run_3 = await events.until(lambda: regen.run_id)
    await events.until(lambda: ended(alice, run_3))
    await bob_events.until(lambda: bob.turn(run_3) and ended(bob, run_3))
    (start,) = [w for w in events.wire("ai-run-start") if w.headers["run-id"] == run_3]
    assert start.headers["msg-regenerate"] == answer
    assert start.headers["parent"] == edit.input_codec_message_id
    prompt, turn = alice.transcript()
    assert turn.run_id == run_3 and (turn.branch.index, len(turn.branch.siblings)) == (1, 2)
    assert [e.run_id for e in bob.transcript() if e.kind == "turn"] == [run_3]  # rolled on


async def test_cancel_own_includes_runs_on_hidden_branches(hub: HubEndpoint, agent: NpmAgent):
    """§9.41 / §7.15: the own filter reaches an active run on a branch no longer shown."""
    session, events = await open_session(hub, "alice", CHANNEL, agent_url=agent.url)
    first = await session.send("slow one")
    run_1 = await events.until(lambda: first.run_id)
    edit = await session.edit(first.input_codec_message_id, "slow two")
    run_2 = await events.until(lambda: edit.run_id)
    await events.until(lambda: session.turn(run_1).status == "active" and session.turn(run_2))
    assert [t.run_id for t in session.runs()] == [run_2]  # run_1 is on a hidden branch
    targets = await session.cancel_turns("own")
    assert {t.run_id for t in targets} == {run_1, run_2}
    assert {w.headers["run-id"] for w in events.wire("ai-cancel")} == {run_1, run_2}
    await events.until(lambda: ended(session, run_1) and ended(session, run_2))
    assert session.turn(run_1).label == session.turn(run_2).label == "cancelled"


async def test_stalled_run_when_its_agent_dies_and_still_cancellable(
    hub: HubEndpoint, agent: NpmAgent
):
    """§9.47 / §7.14: no wire activity for the configured time -> stalled; cancel works."""
    session, events = await open_session(
        hub, "alice", CHANNEL, agent_url=agent.url, stall_after=0.5, stall_check_interval=0.05
    )
    handle = await session.send("slow story")
    run_id = await events.until(lambda: handle.run_id)
    await events.until(lambda: session.turn(run_id).text)
    assert not session.turn(run_id).stalled
    await agent.stop()  # the agent process dies mid-stream: no end will ever come
    await events.until(lambda: session.turn(run_id).stalled, what="stalled")
    turn = session.turn(run_id)
    assert turn.status == "active" and turn.label == "stalled"
    await session.cancel(run_id)
    (cancel,) = events.wire("ai-cancel")
    assert cancel.headers["run-id"] == run_id
    assert session.turn(run_id).label == "cancel requested"


async def test_reattach_without_resume_fills_the_gap(hub: HubEndpoint, agent: NpmAgent):
    """§9.38 / §7.13: a detach/attach loses continuity; the gap is read from history once."""
    alice, alice_events = await open_session(hub, "alice", CHANNEL, agent_url=agent.url)
    bob, bob_events = await open_session(hub, "bob", CHANNEL)
    await bob.channel.detach()
    handle = await alice.send("plain while bob is away")
    run_id = await alice_events.until(lambda: handle.run_id)
    await alice_events.until(lambda: ended(alice, run_id))
    assert bob.turn(run_id) is None
    await bob.channel.attach()
    await bob_events.until(
        lambda: any(getattr(e, "state", None) == "recovered" for e in bob_events.items),
        what="gap filled",
    )
    assert [e.kind for e in bob.transcript()] == ["prompt", "turn"]
    assert bob.turn(run_id).status == "complete" and bob.turn(run_id).text == "Hello world"
    assert [m for _, m in bob.messages()] == [m for _, m in alice.messages()]
