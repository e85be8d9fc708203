"""docs/wire.md §5.1, §5.2, §5.4: the OpenAI Responses codec onto the wire and back."""

from __future__ import annotations

import json

import pytest

from tui_session.protocol import (
    ErrorCode,
    InputHeaders,
    ProtocolError,
    Publish,
    ResponsesCodec,
    ResponsesEncoder,
    StreamEncoder,
    regenerate,
    tool_approval_response,
    tool_result,
    tool_result_error,
    user_message,
    user_text,
)
from tui_session.protocol.responses import DROPPED_EVENTS

BASE = {"role": "assistant", "codec-message-id": "A", "run-id": "R"}


def encoder() -> ResponsesEncoder:
    return ResponsesEncoder(StreamEncoder(BASE))


def tiers(op) -> tuple[dict, dict]:
    return op.extras["ai"]["transport"], op.extras["ai"].get("codec", {})


FC_ITEM = {
    "id": "fc_1",
    "type": "function_call",
    "call_id": "call_1",
    "name": "delete_files",
    "arguments": "",
    "status": "in_progress",
}


def test_message_and_reasoning_item_added_are_discrete_with_the_item() -> None:
    for item in ({"id": "m", "type": "message"}, {"id": "r", "type": "reasoning"}):
        [op] = encoder().encode({"type": "response.output_item.added", "item": item})
        t, c = tiers(op)
        assert c == {"kind": "response.output_item.added"} and op.data == {"item": item}
        assert t["stream"] == "false"


def test_function_call_item_added_opens_the_arguments_stream() -> None:
    [op] = encoder().encode(
        {"type": "response.output_item.added", "output_index": 1, "item": FC_ITEM}
    )
    t, c = tiers(op)
    assert t["stream-id"] == "fc_1" and t["status"] == "streaming" and op.data == ""
    assert c["kind"] == "function_call_arguments" and c["output_index"] == "1"
    assert json.loads(c["item"]) == FC_ITEM


def test_function_call_item_without_id_is_rejected() -> None:
    item = {**FC_ITEM, "id": None}
    with pytest.raises(ProtocolError) as caught:
        encoder().encode({"type": "response.output_item.added", "item": item})
    assert caught.value.code == ErrorCode.INVALID_ARGUMENT


def test_function_call_arguments_delta_and_done_append_and_close() -> None:
    enc = encoder()
    enc.encode({"type": "response.output_item.added", "item": FC_ITEM})
    [delta] = enc.encode(
        {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "delta": "{}"}
    )
    [done] = enc.encode(
        {"type": "response.function_call_arguments.done", "item_id": "fc_1", "arguments": "{}"}
    )
    assert delta.data == "{}" and done.data == ""  # the done's arguments are not sent
    assert tiers(done)[0]["status"] == "complete"


@pytest.mark.parametrize("part_type", ["output_text", "refusal", "reasoning_text"])
def test_content_part_added_opens_a_stream_per_part(part_type: str) -> None:
    part = {"type": part_type, "text": ""}
    event = {
        "type": "response.content_part.added",
        "item_id": "m",
        "output_index": 0,
        "content_index": 2,
        "part": part,
    }
    [op] = encoder().encode(event)
    t, c = tiers(op)
    assert t["stream-id"] == "m:2"
    assert c == {
        "kind": part_type,
        "item_id": "m",
        "output_index": "0",
        "content_index": "2",
        "part": json.dumps(part, separators=(",", ":")),
    }


@pytest.mark.parametrize("prefix", ["output_text", "refusal", "reasoning_text"])
def test_text_deltas_append_and_done_closes(prefix: str) -> None:
    enc = encoder()
    opener = {"type": "response.content_part.added", "item_id": "m", "content_index": 0}
    enc.encode({**opener, "part": {"type": prefix}})
    [delta] = enc.encode({"type": f"response.{prefix}.delta", "item_id": "m", "delta": "x"})
    [done] = enc.encode({"type": f"response.{prefix}.done", "item_id": "m", "text": "x"})
    assert delta.data == "x" and done.data == ""
    assert tiers(done)[0]["status"] == "complete"


def test_reasoning_summary_part_opens_a_summary_stream() -> None:
    enc = encoder()
    [op] = enc.encode(
        {
            "type": "response.reasoning_summary_part.added",
            "item_id": "rs",
            "summary_index": 1,
            "output_index": 0,
            "part": {"type": "summary_text", "text": ""},
        }
    )
    t, c = tiers(op)
    assert t["stream-id"] == "rs:summary:1"
    assert c["kind"] == "reasoning_summary_text" and c["summary_index"] == "1"
    [delta] = enc.encode(
        {
            "type": "response.reasoning_summary_text.delta",
            "item_id": "rs",
            "summary_index": 1,
            "delta": "think",
        }
    )
    assert delta.data == "think"


def test_output_item_done_is_reduced() -> None:
    item = {
        "id": "m",
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "Hello"}],
    }
    [op] = encoder().encode({"type": "response.output_item.done", "item": item})
    assert op.data == {"item": {"type": "message", "id": "m", "status": "completed"}}
    assert tiers(op)[1] == {"kind": "response.output_item.done"}


def test_output_item_done_keeps_logprobs_and_encrypted_content() -> None:
    item = {
        "id": "m",
        "type": "message",
        "status": "completed",
        "content": [
            {"type": "output_text", "text": "a", "logprobs": [{"t": 1}]},
            {"type": "output_text", "text": "b"},
        ],
    }
    [op] = encoder().encode({"type": "response.output_item.done", "item": item})
    assert op.data["item"]["logprobs"] == [[{"t": 1}], []]
    reasoning = {"id": "r", "type": "reasoning", "status": "completed", "encrypted_content": "xx"}
    [op] = encoder().encode({"type": "response.output_item.done", "item": reasoning})
    assert op.data["item"]["encrypted_content"] == "xx"


def test_function_call_output_and_approval_request_are_discrete() -> None:
    item = {"type": "function_call_output", "call_id": "call_1", "output": "deleted 3 files"}
    [op] = encoder().encode({"type": "function_call_output", "item": item})
    assert op.data == {"item": item} and tiers(op)[1] == {"kind": "function_call_output"}
    [op] = encoder().encode(
        {"type": "tool-approval-request", "call_id": "call_1", "name": "rm", "arguments": "{}"}
    )
    assert op.data == "{}"
    assert tiers(op)[1] == {"kind": "tool-approval-request", "call_id": "call_1", "name": "rm"}


@pytest.mark.parametrize("event_type", sorted(DROPPED_EVENTS))
def test_lifecycle_events_never_reach_the_wire(event_type: str) -> None:
    assert encoder().encode({"type": event_type}) == []


@pytest.mark.parametrize(
    "event_type",
    [
        "response.output_text.annotation.added",
        "response.audio.delta",
        "response.audio.transcript.delta",
        "response.web_search_call.in_progress",
        "response.file_search_call.searching",
        "response.code_interpreter_call.in_progress",
        "response.code_interpreter_call_code.delta",
        "response.image_generation_call.generating",
        "response.mcp_call.in_progress",
        "response.mcp_call_arguments.delta",
        "response.mcp_list_tools.in_progress",
        "response.custom_tool_call_input.delta",
    ],
)
def test_undescribed_event_types_make_the_encoder_throw(event_type: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        encoder().encode({"type": event_type, "item_id": "m", "delta": "x"})
    assert caught.value.code == ErrorCode.INVALID_ARGUMENT


def test_unsupported_item_type_is_rejected() -> None:
    for kind in ("response.output_item.added", "response.output_item.done"):
        with pytest.raises(ProtocolError):
            encoder().encode({"type": kind, "item": {"id": "w", "type": "web_search_call"}})


def test_delta_before_its_opener_is_rejected() -> None:
    with pytest.raises(ProtocolError) as caught:
        encoder().encode({"type": "response.output_text.delta", "item_id": "m", "delta": "x"})
    assert caught.value.code == ErrorCode.INVALID_ARGUMENT


# --- inputs (§5.2) --------------------------------------------------------------------------

HEADERS = InputHeaders("U", "E", run_client_id="alice")


def test_user_message_is_one_input_per_part_sharing_ids() -> None:
    msg = {
        "role": "user",
        "items": [
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "a"},
                    {"type": "input_text", "text": "b"},
                ],
            }
        ],
    }
    ops = user_message(HEADERS, msg)
    assert [op.data for op in ops] == ["a", "b"]
    for op in ops:
        t, c = tiers(op)
        assert op.name == "ai-input" and c == {"kind": "user-message", "partType": "input_text"}
        assert t["codec-message-id"] == "U" and t["event-id"] == "E" and t["discrete"] == "true"


def test_user_message_must_be_exactly_one_message_item_of_input_text() -> None:
    two = {"items": [{"type": "message", "content": []}, {"type": "message", "content": []}]}
    image = {"items": [{"type": "message", "content": [{"type": "input_image"}]}]}
    for bad in (two, image, {"items": []}):
        with pytest.raises(ProtocolError) as caught:
            user_message(HEADERS, bad)
        assert caught.value.code == ErrorCode.INVALID_ARGUMENT


def test_empty_prompt_still_publishes_one_empty_part() -> None:
    [op] = user_text(HEADERS)
    assert op.data == ""
    [op] = user_message(HEADERS, {"items": [{"type": "message", "content": []}]})
    assert op.data == ""


def test_regenerate_is_wire_only_with_parent_and_target() -> None:
    op = regenerate(InputHeaders("G", "E", parent="U", msg_regenerate="A"))
    t, c = tiers(op)
    assert c == {"kind": "regenerate"} and op.data == ""
    assert t["parent"] == "U" and t["msg-regenerate"] == "A" and "discrete" not in t
    assert "fork-of" not in t
    with pytest.raises(ProtocolError):
        regenerate(InputHeaders("G", "E"))


def test_tool_inputs_reuse_the_assistant_message_id_and_carry_run_id() -> None:
    h = InputHeaders("A", "E2", run_client_id="alice", parent="A", run_id="R")
    ok, err = tool_result(h, "c1", {"n": 3}), tool_result_error(h, "c1", "boom")
    yes, no = tool_approval_response(h, "c1", True), tool_approval_response(h, "c1", False, "no")
    assert ok.data == {"output": {"n": 3}} and tiers(ok)[1] == {
        "kind": "tool-result",
        "call_id": "c1",
    }
    assert err.data == {"message": "boom"} and tiers(err)[1]["kind"] == "tool-result-error"
    assert yes.data == "" and tiers(yes)[1] == {
        "kind": "tool-approval-response",
        "call_id": "c1",
        "approved": "true",
    }
    assert tiers(no)[1]["approved"] == "false" and tiers(no)[1]["reason"] == "no"
    for op in (ok, err, yes, no):
        t = tiers(op)[0]
        assert t["codec-message-id"] == "A" and t["run-id"] == "R" and t["stream"] == "false"
        assert isinstance(op, Publish)


# --- decode side --------------------------------------------------------------------------------

CODEC = ResponsesCodec()


def test_stream_create_synthesises_the_container_then_the_opener() -> None:
    events = CODEC.stream_start(
        {
            "kind": "reasoning_summary_text",
            "item_id": "rs",
            "output_index": "1",
            "summary_index": "0",
        }
    )
    assert [e["type"] for e in events] == [
        "response.output_item.added",
        "response.reasoning_summary_part.added",
    ]
    assert events[0]["item"] == {"id": "rs", "type": "reasoning", "summary": []}
    assert events[1]["part"] == {"type": "summary_text", "text": ""}


def test_function_call_stream_rebuilds_the_announced_item() -> None:
    codec = {"kind": "function_call_arguments", "item": json.dumps(FC_ITEM), "output_index": "0"}
    [added] = CODEC.stream_start(codec)
    assert added["item"] == FC_ITEM
    [done] = CODEC.stream_end(codec, '{"a":1}')
    assert done == {
        "type": "response.function_call_arguments.done",
        "item_id": "fc_1",
        "output_index": 0,
        "arguments": '{"a":1}',
    }


def test_refusal_done_carries_the_refusal_field() -> None:
    [done] = CODEC.stream_end({"kind": "refusal", "item_id": "m", "content_index": "0"}, "no")
    assert done["type"] == "response.refusal.done" and done["refusal"] == "no"


def test_unknown_codec_kinds_and_regenerate_decode_to_nothing() -> None:
    assert CODEC.discrete({"kind": "regenerate"}, "") == []
    assert CODEC.discrete({"kind": "vercel-text"}, "x") == []
    assert CODEC.stream_start({"kind": "text-delta"}) == []


def test_input_kinds_decode() -> None:
    assert CODEC.discrete(
        {"kind": "tool-approval-response", "call_id": "c", "approved": "false", "reason": "r"}, ""
    ) == [{"type": "tool-approval-response", "call_id": "c", "approved": False, "reason": "r"}]
    assert (
        CODEC.discrete({"kind": "tool-result", "call_id": "c"}, {"output": "x"})[0]["output"] == "x"
    )
    [part] = CODEC.discrete({"kind": "user-message", "partType": "input_text"}, "hi")
    assert part["part"] == {"type": "input_text", "text": "hi"}
