"""docs/wire.md §2.9: the recorded run, decoded live, from history, and re-encoded."""

from __future__ import annotations

import pytest

from tui_session.protocol import (
    H,
    InputHeaders,
    Publish,
    ResponsesEncoder,
    RunHeaders,
    RunReason,
    Step,
    StepReason,
    default_step_id,
    user_text,
)

from .helpers import Session, as_history, load_fixture

FIXTURE = load_fixture("recorded_run.json")
LIVE = FIXTURE["live"]
EXPECTED = FIXTURE["expected"]


def expected_messages() -> list[tuple[str, dict]]:
    return [(cmid, msg) for cmid, msg in EXPECTED["messages"]]


def assert_run_as_recorded(session: Session) -> None:
    assert session.view.messages() == expected_messages()
    runs = session.view.runs()
    assert [r.run_id for r in runs] == [EXPECTED["run"]["run_id"]]
    run = runs[0]
    assert run.status == EXPECTED["run"]["status"]
    assert run.client_id == EXPECTED["run"]["client_id"]
    assert run.parent == EXPECTED["run"]["parent"]
    steps = {
        sid: {"status": s.status, "attempts": s.attempt_count, "step_client_id": s.step_client_id}
        for sid, s in run.steps.items()
    }
    assert steps == EXPECTED["run"]["steps"]
    assert run.interrupted_streams == []


def test_recorded_run_decodes_live_to_two_messages_and_one_complete_run() -> None:
    session = Session()
    session.feed(LIVE)
    assert_run_as_recorded(session)


def test_recorded_run_decodes_expected_responses_events() -> None:
    session = Session()
    events = []
    for m in LIVE:
        decoded = session.decoder.decode(m)
        events += [e["type"] for e in decoded.events] if decoded else []
    assert events == [
        "user-message",
        "response.output_item.added",  # s04, the real item
        "response.output_item.added",  # s05, the synthesised container (collapses)
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.output_item.done",
    ]


def test_recorded_run_rebuilds_identically_from_history() -> None:
    session = Session()
    session.feed(as_history(LIVE))
    assert_run_as_recorded(session)


@pytest.mark.parametrize("page_size", [1, 2, 3, 5, 100])
def test_completed_run_from_history_is_complete_for_every_page_size(page_size: int) -> None:
    session = Session()
    session.feed_pages(as_history(LIVE), page_size)
    assert_run_as_recorded(session)


@pytest.mark.parametrize("cut", range(len(LIVE) + 1))
def test_live_and_history_overlap_decodes_once(cut: int) -> None:
    """A late joiner: history up to some point, then live deliveries overlapping it."""
    session = Session()
    session.feed(as_history(LIVE[:cut]))
    session.feed(LIVE[max(0, cut - 3) :])  # re-deliver a few already in history
    assert_run_as_recorded(session)


def test_late_joiner_first_contact_mid_stream_then_fragments() -> None:
    """§3.11: first delivery of the in-progress stream is a full update, then fragments."""
    session = Session()
    session.feed(as_history(LIVE[:5]))  # prompt, start, step, item, stream create
    first_contact = as_history(LIVE[:7])[4]  # s05 with "Hello ", action update
    assert first_contact["action"] == 1 and first_contact["data"] == "Hello "
    session.feed([first_contact, *LIVE[7:]])
    assert_run_as_recorded(session)


def test_recorded_run_is_reproduced_by_our_encoder() -> None:
    """Encoding the same events yields the same wire messages, modulo serials."""
    ops: list = []
    inputs = InputHeaders(codec_message_id="U", event_id="E", run_client_id="alice")
    ops += user_text(inputs, "Hi there")
    run = RunHeaders(
        run_id="R",
        invocation_id="I",
        input_codec_message_id="U",
        run_client_id="alice",
        input_client_id="alice",
        parent="U",
    )
    ops.append(run.run_start())
    step_id = default_step_id("I", 0)
    ops.append(run.step_start(step_id, "alice"))
    step = Step(step_id, "alice", start_serial="s03")  # the ACK serial of the step start
    encoder = ResponsesEncoder(run.output_encoder("A", step))
    for event in FIXTURE["agent_script"]:
        ops += encoder.encode(event)
    ops += encoder.finish()
    ops.append(run.step_end(step, StepReason.COMPLETE))
    ops.append(run.run_end(RunReason.COMPLETE))

    assert len(ops) == len(LIVE)
    for op, wire in zip(ops, LIVE, strict=True):
        kind = "create" if isinstance(op, Publish) else "append"
        assert kind == ("create" if wire["action"] == 0 else "append")
        if isinstance(op, Publish):
            assert op.name == wire["name"]
        assert op.extras == wire["extras"], wire["serial"]
        assert op.data == wire.get("data"), wire["serial"]
    # appends target the create of s05 through its stream ref
    refs = {op.stream_ref for op in ops if not isinstance(op, Publish)}
    assert len(refs) == 1


def test_recorded_outputs_repeat_the_full_header_set() -> None:
    outputs = [m for m in LIVE if m["name"] == "ai-output"]
    keys = {frozenset(m["extras"]["ai"]["transport"]) for m in outputs}
    base = set(next(iter(keys))) - {H.STATUS, H.STREAM_ID}
    assert all(base <= k for k in keys)
