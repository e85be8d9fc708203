"""docs/wire.md §3.4, §3.9, §3.11 and §7 (1, 2, 7, 8, 18): the tree's rules."""

from __future__ import annotations

from tui_session.protocol import (
    InputHeaders,
    InputNode,
    RunNode,
    RunReason,
    RunStatus,
    StepReason,
    Tree,
    regenerate,
    tool_approval_response,
    user_message_seed,
)
from tui_session.protocol.responses import ResponsesEncoder

from .helpers import Script, Session, as_history, message, text_events


def converse() -> tuple[Script, Session]:
    script = Script()
    script.prompt("U1", "Hi")
    script.answer("R1", "U1", "Hello")
    return script, Session()


def test_run_less_user_input_makes_an_input_node_and_run_tagged_messages_a_run_node() -> None:
    script, session = converse()
    session.feed(script.hub.live)
    assert isinstance(session.tree.nodes["U1"], InputNode)
    assert isinstance(session.tree.nodes["R1"], RunNode)
    assert len(session.tree.nodes) == 2


def test_regenerate_signal_creates_no_node() -> None:
    script, session = converse()
    script.hub.send(regenerate(InputHeaders("G", "E9", parent="U1", msg_regenerate="A")))
    session.feed(script.hub.live)
    assert set(session.tree.nodes) == {"U1", "R1"}


def test_cancel_messages_are_not_conversation_state() -> None:
    session = Session()
    session.feed([message("s1", "ai-cancel", {"event-id": "E", "run-id": "R"})])
    assert session.tree.nodes == {}


def test_index_maps_assistant_messages_to_their_run_but_not_the_trigger_input() -> None:
    """§7.2: an input-codec-message-id never maps to the run (only the prompt does)."""
    script = Script()
    script.answer("R1", "U1", "Hello")  # the prompt U1 is not loaded
    session = Session()
    session.feed(script.hub.live)
    run = session.tree.run("R1")
    assert session.tree.node_of(run.codec_message_ids()[0]) is run
    assert session.tree.node_of("U1") is None


def test_nodes_sort_by_serial_and_unserialed_nodes_last() -> None:
    script, session = converse()
    script.prompt("U2", "More", parent="A")
    session.feed(script.hub.live)
    session.tree.add_optimistic("U3", user_message_seed(["pending"]))
    assert [n.key for n in session.tree.ordered()] == ["U1", "R1", "U2", "U3"]


def test_late_earlier_serial_refolds_to_the_in_order_projection() -> None:
    script = Script()
    run = script.run_headers("R", "U", parent="U")
    script.start(run)
    script.pipe(run, "A", text_events("m1", "Hello world", chunks=3))
    script.hub.send(run.run_end())
    in_order = Session()
    in_order.feed(script.hub.live)
    shuffled = Session()
    live = script.hub.live
    # deliver the item-added (an earlier serial) after everything else
    added = next(i for i, m in enumerate(live) if m["data"] and isinstance(m["data"], dict))
    shuffled.feed(live[:added] + live[added + 1 :] + [live[added]])
    assert shuffled.tree.run("R").messages() == in_order.tree.run("R").messages()


def test_a_replayed_delivery_is_dropped_by_the_node_log() -> None:
    script, _ = converse()
    tree = Tree()
    session = Session()
    decoded = [session.decoder.decode(m) for m in script.hub.live]
    for d in decoded + decoded:  # every delivery twice, bypassing the decoder's guard
        if d is not None:
            tree.apply(d)
    [(_, msg)] = tree.run("R1").messages()
    assert msg["items"][0]["content"][0]["text"] == "Hello"


def test_a_newer_version_of_a_discrete_message_is_not_propagated() -> None:
    session = Session()
    m = message(
        "s1",
        "ai-input",
        {"role": "user", "codec-message-id": "U", "stream": "false"},
        {"kind": "user-message", "partType": "input_text"},
        "first",
    )
    session.feed([m, {**m, "data": "edited", "action": 1, "version": {"serial": "s9"}}])
    assert session.texts() == [("U", "user", "first")]


def test_parts_of_one_user_message_merge_in_serial_order() -> None:
    script = Script()
    script.prompt("U", "a", "b", "c")
    session = Session()
    session.feed(list(reversed(script.hub.live)))
    assert session.texts() == [("U", "user", "abc")]


# --- steps ----------------------------------------------------------------------------------


def test_step_retry_shows_only_the_canonical_attempts_output() -> None:
    script = Script()
    run = script.run_headers("R", "U", parent="U")
    script.start(run)
    script.pipe(run, "A1", text_events("m1", "broken"), step_id="I-step-0")
    script.pipe(run, "A2", text_events("m2", "fixed"), step_id="I-step-0")  # retry, same id
    script.hub.send(run.run_end())
    session = Session()
    session.feed(script.hub.live)
    run_node = session.tree.run("R")
    assert [cmid for cmid, _ in run_node.messages()] == ["A2"]
    step = run_node.steps["I-step-0"]
    assert step.attempt_count == 2 and step.status == "complete"


def test_a_newly_superseding_step_start_refolds_without_the_old_attempt() -> None:
    script = Script()
    run = script.run_headers("R", "U", parent="U")
    script.start(run)
    script.pipe(run, "A1", text_events("m1", "broken"), step_id="S")
    session = Session()
    session.feed(script.hub.live)
    assert [c for c, _ in session.tree.run("R").messages()] == ["A1"]
    n = len(script.hub.live)
    script.hub.send(run.step_start("S", "alice"))
    session.feed(script.hub.live[n:])
    assert session.tree.run("R").messages() == []


def test_step_status_is_active_until_the_canonical_attempt_ends() -> None:
    script = Script()
    run = script.run_headers("R", "U", parent="U")
    script.start(run)
    script.pipe(run, "A", text_events("m", "x"), close=False)
    session = Session()
    session.feed(script.hub.live)
    [step] = session.tree.run("R").steps.values()
    assert step.status == "active" and step.step_client_id == "alice"


# --- run lifecycle --------------------------------------------------------------------------


def lifecycle(*ops_and_serials) -> RunNode:
    tree = Tree()
    session = Session()
    for serial, op in ops_and_serials:
        m = {"serial": serial, "name": op.name, "action": 0, "extras": op.extras}
        tree.apply(session.decoder.decode(m))
    return tree.run("R")


def test_run_end_records_the_terminal_status_and_error_defaults() -> None:
    run = Script().run_headers("R", "U", parent="U")
    assert lifecycle(("s1", run.run_start())).status == RunStatus.ACTIVE
    node = lifecycle(("s1", run.run_start()), ("s2", run.run_end(RunReason.ERROR)))
    assert node.status == RunStatus.ERROR
    assert (node.error.code, node.error.message) == (104008, "agent reported an error")
    missing = message("s2", "ai-run-end", {"run-id": "R"})
    session = Session()
    session.feed([missing])
    assert session.tree.run("R").status == RunStatus.COMPLETE  # missing reason reads complete


def test_end_before_start_is_kept_and_wins() -> None:
    """§7.7: order-independent status: a terminal event wins over a later-folded start."""
    run = Script().run_headers("R", "U", parent="U")
    node = lifecycle(("s9", run.run_end(RunReason.CANCELLED)), ("s1", run.run_start()))
    assert node.status == RunStatus.CANCELLED and node.parent == "U"


def test_start_never_revives_a_terminal_run() -> None:
    run = Script().run_headers("R", "U", parent="U")
    node = lifecycle(("s1", run.run_start()), ("s2", run.run_end()), ("s3", run.run_resume()))
    assert node.status == RunStatus.COMPLETE


def test_suspend_then_resume_reactivates() -> None:
    run = Script().run_headers("R", "U", parent="U")
    node = lifecycle(("s1", run.run_start()), ("s2", run.run_suspend()))
    assert node.status == RunStatus.SUSPENDED
    resumed = Script().run_headers("R", "A", parent="A")
    node = lifecycle(
        ("s1", run.run_start()), ("s2", run.run_suspend()), ("s3", resumed.run_resume())
    )
    assert node.status == RunStatus.ACTIVE


def test_a_late_suspend_from_a_replaced_invocation_is_ignored() -> None:
    first = Script().run_headers("R", "U", parent="U")
    later = Script().run_headers("R", "A", parent="A")
    object.__setattr__(later, "invocation_id", "I-later")
    node = lifecycle(
        ("s1", first.run_start()), ("s3", later.run_resume()), ("s4", first.run_suspend())
    )
    assert node.status == RunStatus.ACTIVE


def test_run_owner_is_the_run_start_client_and_never_changes() -> None:
    """§7.8: a continuation by bob stamps run-client-id bob; the owner stays alice."""
    run = Script().run_headers("R", "U", parent="U")
    bob = Script().run_headers("R", "A", client="bob", parent="A")
    node = lifecycle(("s1", run.run_start()), ("s2", bob.run_resume()))
    assert node.client_id == "alice"
    node = lifecycle(("s2", bob.run_resume()), ("s1", run.run_start()))
    assert node.client_id == "alice"


def test_run_handle_correlates_by_input_codec_message_id_of_start_or_resume() -> None:
    run = Script().run_headers("R", "U", parent="U")
    cont = Script().run_headers("R", "A", parent="A")
    node = lifecycle(("s1", run.run_start()), ("s2", cont.run_resume()))
    assert node.trigger_input_ids == {"U", "A"}


def test_streams_open_at_run_end_are_interrupted() -> None:
    """§7.1: a terminal event closes every still-open stream of the run, as interrupted."""
    script = Script()
    run = script.run_headers("R", "U", parent="U")
    script.start(run)
    events = text_events("m", "partial")[:-2]  # no `.done`: the stream stays open
    script.pipe(run, "A", events, close=False)
    session = Session()
    session.feed(script.hub.live)
    node = session.tree.run("R")
    assert node.interrupted_streams == [] and len(node.open_streams) == 1
    n = len(script.hub.live)
    script.hub.send(run.run_end(RunReason.ERROR, 104008, "model failed"))
    session.feed(script.hub.live[n:])
    assert node.interrupted_streams == node.open_streams and node.error.message == "model failed"


def test_cancelled_run_keeps_partial_text_and_closes_its_streams() -> None:
    """§2.9 cancel variant."""
    script = Script()
    script.prompt("U", "Tell me a story")
    run = script.run_headers("R", "U", parent="U")
    script.start(run)
    step_start = script.hub.send(run.step_start("I-step-0", "alice"))
    from tui_session.protocol import Step

    step = Step("I-step-0", "alice", step_start)
    encoder = ResponsesEncoder(run.output_encoder("A", step))
    for event in text_events("m", "Once upon a time ", chunks=1)[:3]:
        script.hub.send_all(encoder.encode(event))
    script.hub.send_all(encoder.finish())  # cancelled appends on open streams
    script.hub.send(run.step_end(step, StepReason.CANCELLED))
    script.hub.send(run.run_end(RunReason.CANCELLED))
    for feed in (script.hub.live, script.hub.history()):
        session = Session()
        session.feed(feed)
        node = session.tree.run("R")
        assert node.status == RunStatus.CANCELLED and node.interrupted_streams == []
        assert node.steps["I-step-0"].status == "cancelled"
        assert session.texts()[-1] == ("A", "assistant", "Once upon a time ")


# --- optimistic inputs (§3.4) -----------------------------------------------------------------


def test_optimistic_prompt_is_rebuilt_from_its_echo_without_duplicate() -> None:
    script = Script()
    session = Session()
    session.tree.add_optimistic("U", user_message_seed(["local preview"]), client_id="alice")
    assert session.texts() == [("U", "user", "local preview")]
    script.prompt("U", "Hi there")
    session.feed(script.hub.live)
    assert session.texts() == [("U", "user", "Hi there")]
    assert session.tree.nodes["U"].serial == script.hub.live[0]["serial"]


def test_failed_publish_removes_only_a_node_without_serial() -> None:
    script, session = converse()
    session.feed(script.hub.live)
    session.tree.add_optimistic("U9", user_message_seed(["x"]))
    assert session.tree.remove_optimistic("U9") is True
    assert session.tree.remove_optimistic("U1") is False
    assert "U1" in session.tree.nodes and "U9" not in session.tree.nodes


# --- steering (§3.6) ------------------------------------------------------------------------------


def test_steer_folds_into_the_run_node_without_a_branch() -> None:
    """§2.9 steer variant: prompt, pass-1 answer, the steer, pass-2 answer; two steps."""
    script = Script()
    script.prompt("U", "Write a poem")
    run = script.run_headers("R", "U", parent="U")
    script.start(run)
    script.pipe(run, "A1", text_events("m1", "Roses"), step_id="I-step-0")
    script.prompt("S", "Actually, make it about mountains", run_id="R")
    script.pipe(run, "A2", text_events("m2", "Peaks"), step_id="I-step-1", steer_ids=("S",))
    script.hub.send(run.run_end())
    session = Session()
    session.feed(script.hub.live)
    assert session.texts() == [
        ("U", "user", "Write a poem"),
        ("A1", "assistant", "Roses"),
        ("S", "user", "Actually, make it about mountains"),
        ("A2", "assistant", "Peaks"),
    ]
    node = session.tree.run("R")
    assert len(node.steps) == 2 and node.steer_ids == {"S"}
    assert set(session.tree.nodes) == {"U", "R"}


# --- tool approval (§2.9 variant, §3.7) -------------------------------------------------------


def test_tool_approval_round_trip_moves_pending_to_approved() -> None:
    script = Script()
    script.prompt("U", "Clean up")
    run = script.run_headers("R", "U", parent="U")
    script.start(run)
    fc = {
        "id": "fc_1",
        "type": "function_call",
        "call_id": "call_1",
        "name": "delete_files",
        "arguments": "",
        "status": "in_progress",
    }
    script.pipe(
        run,
        "A",
        [
            {"type": "response.output_item.added", "output_index": 0, "item": fc},
            {
                "type": "response.function_call_arguments.delta",
                "item_id": "fc_1",
                "delta": '{"n":3}',
            },
            {"type": "response.function_call_arguments.done", "item_id": "fc_1", "arguments": "{}"},
            {"type": "response.output_item.done", "item": {**fc, "status": "completed"}},
            {
                "type": "tool-approval-request",
                "call_id": "call_1",
                "name": "delete_files",
                "arguments": '{"n":3}',
            },
        ],
    )
    script.hub.send(run.run_suspend())
    session = Session()
    session.feed(script.hub.live)
    node = session.tree.run("R")
    assert node.status == RunStatus.SUSPENDED
    state = node.message("A").tool_call_states["call_1"]
    assert state == {"approval": "pending", "name": "delete_files", "arguments": '{"n":3}'}

    n = len(script.hub.live)
    headers = InputHeaders("A", "E2", run_client_id="alice", parent="A", run_id="R")
    script.hub.send(tool_approval_response(headers, "call_1", True), "alice")
    resumed = script.run_headers("R", "A", parent="A")
    script.hub.send(resumed.run_resume())
    output = {"type": "function_call_output", "call_id": "call_1", "output": "deleted 3 files"}
    script.pipe(
        resumed, "A2", [{"type": "function_call_output", "item": output}], step_id="I-step-0"
    )
    script.pipe(resumed, "A3", text_events("m9", "Done."), step_id="I-step-1")
    script.hub.send(resumed.run_end())
    session.feed(script.hub.live[n:])

    assert node.status == RunStatus.COMPLETE and len(node.steps) == 3
    assert node.message("A").tool_call_states["call_1"]["approval"] == "approved"
    assert node.message("A2").items == [output]
    assert node.structural_parent == "U"  # the self-parented continuation is no parent
    assert [c for c, _ in session.view.messages()] == ["U", "A", "A2", "A3"]


# --- late joiners (§3.11, §7.2) -----------------------------------------------------------------


def test_a_run_whose_prompt_is_not_loaded_is_a_root_of_the_window() -> None:
    script, _ = converse()
    history = as_history(script.hub.live)
    session = Session()
    session.feed(history[1:])  # everything but the prompt
    node = session.tree.run("R1")
    assert session.tree.parent_not_loaded(node)
    assert [c for c, _ in session.view.messages()] == node.codec_message_ids()
    session.feed(history[:1])  # an older page brings the prompt in
    assert [c for c, _ in session.view.messages()] == ["U1", *node.codec_message_ids()]
    assert not session.tree.parent_not_loaded(node)


def test_a_run_seen_only_through_outputs_uses_their_parent() -> None:
    script, _ = converse()
    outputs_only = [m for m in script.hub.live if m["name"] == "ai-output"]
    session = Session()
    session.feed(outputs_only + script.hub.live[:1])
    node = session.tree.run("R1")
    assert node.structural_parent == "U1" and node.status == RunStatus.ACTIVE
    assert next(c for c, _ in session.view.messages()) == "U1"


def test_supersedes_hides_the_superseded_run() -> None:
    script, session = converse()
    session.feed(script.hub.live)
    session.feed(
        [
            message(
                "s9999",
                "ai-input",
                {
                    "role": "assistant",
                    "codec-message-id": "X",
                    "supersedes": "R1",
                    "stream": "false",
                },
                {"kind": "tool-result"},
                {},
            )
        ]
    )
    assert [c for c, _ in session.view.messages()] == ["U1"]
