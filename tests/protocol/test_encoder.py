"""docs/wire.md §2.5, §2.7, §2.8, §3.5, §4.2, §7.11: what the encoder publishes."""

from __future__ import annotations

import pytest

from tui_session.protocol import (
    Append,
    ErrorCode,
    InputHeaders,
    ProtocolError,
    Publish,
    RunHeaders,
    RunReason,
    Step,
    StepReason,
    StreamEncoder,
    Update,
    cancel,
    default_step_id,
)

BASE = {"role": "assistant", "codec-message-id": "A", "run-id": "R"}
CODEC = {"kind": "output_text", "item_id": "m", "output_index": "0"}


def transport(op) -> dict:
    return op.extras["ai"]["transport"]


def test_stream_create_has_empty_data_streaming_status_and_stream_id() -> None:
    enc = StreamEncoder(BASE)
    op = enc.open("m:0", CODEC)
    assert isinstance(op, Publish) and op.data == "" and op.name == "ai-output"
    assert transport(op) == {**BASE, "stream": "true", "status": "streaming", "stream-id": "m:0"}
    assert op.extras["ai"]["codec"] == CODEC
    assert op.stream_ref


def test_every_append_repeats_the_full_transport_and_codec_tiers() -> None:
    enc = StreamEncoder(BASE)
    create = enc.open("m:0", CODEC)
    append = enc.append("m:0", "Hel")
    assert isinstance(append, Append) and append.stream_ref == create.stream_ref
    assert append.data == "Hel" and append.extras == create.extras


def test_closing_append_has_empty_data_and_status_complete() -> None:
    enc = StreamEncoder(BASE)
    enc.open("m:0", CODEC)
    close = enc.close("m:0")
    assert close.data == "" and transport(close)["status"] == "complete"
    assert close.extras["ai"]["codec"] == CODEC
    assert enc.open_streams == []


def test_cancel_appends_cancelled_on_open_streams_only() -> None:
    enc = StreamEncoder(BASE)
    enc.open("a", CODEC)
    enc.open("b", CODEC)
    enc.close("a")  # a stream that closed complete is never touched
    ops = enc.cancel_open()
    assert [transport(op)["stream-id"] for op in ops] == ["b"]
    assert all(op.data == "" and transport(op)["status"] == "cancelled" for op in ops)


def test_discrete_message_is_stream_false_without_status() -> None:
    op = StreamEncoder(BASE).discrete({"kind": "x"}, {"item": {}})
    assert transport(op) == {**BASE, "stream": "false"}


def test_append_to_unknown_stream_is_invalid_argument() -> None:
    enc = StreamEncoder(BASE)
    for call in (lambda: enc.append("nope", "x"), lambda: enc.close("nope")):
        with pytest.raises(ProtocolError) as caught:
            call()
        assert caught.value.code == ErrorCode.INVALID_ARGUMENT


def test_write_after_the_encoder_closed_is_session_closed() -> None:
    enc = StreamEncoder(BASE)
    enc.open("a", CODEC)
    assert len(enc.finish()) == 1  # streams left open are cancelled
    with pytest.raises(ProtocolError) as caught:
        enc.discrete({"kind": "x"}, "")
    assert caught.value.code == ErrorCode.SESSION_CLOSED


def test_recovery_update_carries_full_text_and_status_streaming() -> None:
    """§7.11: the recovery goes out before the closing append, still `streaming`."""
    enc = StreamEncoder(BASE)
    create = enc.open("m:0", CODEC)
    enc.append("m:0", "Hel")
    enc.append("m:0", "lo")
    update = enc.recovery("m:0")
    assert isinstance(update, Update) and update.stream_ref == create.stream_ref
    assert update.data == "Hello" and transport(update)["status"] == "streaming"
    assert transport(enc.close("m:0"))["status"] == "complete"


RUN = RunHeaders(
    run_id="R",
    invocation_id="I",
    input_codec_message_id="U",
    run_client_id="alice",
    input_client_id="alice",
    parent="U",
)


def test_run_start_headers() -> None:
    op = RUN.run_start()
    assert op.name == "ai-run-start" and op.data is None
    assert transport(op) == {
        "run-id": "R",
        "run-client-id": "alice",
        "parent": "U",
        "invocation-id": "I",
        "input-client-id": "alice",
        "input-codec-message-id": "U",
    }
    assert "codec" not in op.extras["ai"]  # lifecycle messages have no codec tier


def test_run_start_copies_fork_of_and_msg_regenerate() -> None:
    edit = RunHeaders("R", "I", "U2", "alice", parent="U2", fork_of="U1")
    assert transport(edit.run_start())["fork-of"] == "U1"
    regen = RunHeaders("R", "I", "G", "alice", parent="U", msg_regenerate="A")
    t = transport(regen.run_start())
    assert t["parent"] == "U" and t["msg-regenerate"] == "A"
    assert t["input-codec-message-id"] == "G"


def test_resume_and_suspend_carry_no_structure() -> None:
    cont = RunHeaders("R", "I2", "A", "alice", input_client_id="bob", parent="A")
    for op in (cont.run_resume(), cont.run_suspend()):
        assert set(transport(op)) == {
            "run-id",
            "run-client-id",
            "invocation-id",
            "input-client-id",
            "input-codec-message-id",
        }


def test_anonymous_trigger_omits_input_client_id_but_keeps_run_client_id() -> None:
    anon = RunHeaders("R", "I", "U", parent="U")
    t = transport(anon.run_start())
    assert "input-client-id" not in t and t["run-client-id"] == ""


def test_run_end_reason_and_error_defaults() -> None:
    assert transport(RUN.run_end())["run-reason"] == "complete"
    assert "error-code" not in transport(RUN.run_end(RunReason.CANCELLED))
    t = transport(RUN.run_end(RunReason.ERROR))
    assert t["error-code"] == "104008" and t["error-message"] == "agent reported an error"
    t = transport(RUN.run_end(RunReason.ERROR, 40003, "unable to x; y"))
    assert t["error-code"] == "40003" and t["error-message"] == "unable to x; y"


def test_step_start_and_end_headers() -> None:
    start = RUN.step_start("I-step-0", "alice")
    assert transport(start) == {
        "run-id": "R",
        "step-id": "I-step-0",
        "invocation-id": "I",
        "run-client-id": "alice",
        "input-client-id": "alice",
        "step-client-id": "alice",
    }
    end = RUN.step_end(Step("I-step-0", "alice", "s3"), StepReason.FAILED)
    assert transport(end) == {
        **transport(start),
        "step-start-serial": "s3",
        "step-reason": "failed",
    }


def test_default_step_id_counts_from_zero_per_invocation() -> None:
    assert default_step_id("I", 0) == "I-step-0"
    assert default_step_id("I", 1) == "I-step-1"


def test_output_headers_include_step_and_steer_ids() -> None:
    step = Step("I-step-1", "alice", "s7")
    headers = RUN.output_headers("A2", step, ["S"])
    assert headers == {
        "role": "assistant",
        "codec-message-id": "A2",
        "run-id": "R",
        "run-client-id": "alice",
        "parent": "U",
        "invocation-id": "I",
        "input-client-id": "alice",
        "input-codec-message-id": "U",
        "step-id": "I-step-1",
        "step-client-id": "alice",
        "step-start-serial": "s7",
        "steer-codec-message-ids": '["S"]',
    }
    assert "steer-codec-message-ids" not in RUN.output_headers("A", step)


def test_cancel_needs_a_target_and_carries_no_data() -> None:
    op = cancel("E9", input_codec_message_id="U")
    assert op.name == "ai-cancel" and op.data is None
    assert transport(op) == {"event-id": "E9", "input-codec-message-id": "U"}
    assert transport(cancel("E9", run_id="R")) == {"event-id": "E9", "run-id": "R"}
    with pytest.raises(ProtocolError) as caught:
        cancel("E9")
    assert caught.value.code == ErrorCode.INVALID_ARGUMENT


def test_fresh_input_has_no_run_id_and_batch_parts_are_discrete() -> None:
    headers = InputHeaders("U", "E", run_client_id="alice", parent="P")
    t = headers.transport(batch_part=True)
    assert t == {
        "role": "user",
        "codec-message-id": "U",
        "run-client-id": "alice",
        "parent": "P",
        "event-id": "E",
        "stream": "false",
        "discrete": "true",
    }
    assert "discrete" not in headers.transport()


def test_anonymous_client_writes_no_run_client_id() -> None:
    assert "run-client-id" not in InputHeaders("U", "E").transport()
