"""docs/wire.md §5.3 and §3.7: folding events into messages, and the utility functions."""

from __future__ import annotations

from tui_session.protocol import (
    MessageProjection,
    approved_unexecuted_calls,
    resolved_call_ids,
    to_chat_messages,
    to_responses_input,
    unanswered_calls,
)

MSG = {"id": "m", "type": "message", "role": "assistant", "status": "in_progress", "content": []}


def fold(*events, role="assistant") -> MessageProjection:
    p = MessageProjection(role)
    for e in events:
        p.apply(e)
    return p


def part(i, text="", item="m"):
    return {
        "type": "response.content_part.added",
        "item_id": item,
        "content_index": i,
        "part": {"type": "output_text", "text": text, "annotations": []},
    }


def delta(i, d, item="m"):
    return {"type": "response.output_text.delta", "item_id": item, "content_index": i, "delta": d}


def test_repeated_output_item_added_for_the_same_id_is_ignored() -> None:
    p = fold(
        {"type": "response.output_item.added", "item": MSG},
        part(0),
        delta(0, "a"),
        {"type": "response.output_item.added", "item": {**MSG, "status": "x"}},
    )
    [item] = p.items
    assert item["status"] == "in_progress" and item["content"][0]["text"] == "a"


def test_a_slot_whose_earlier_siblings_are_missing_is_hidden_until_they_arrive() -> None:
    p = fold({"type": "response.output_item.added", "item": MSG}, part(1), delta(1, "second"))
    assert p.items[0]["content"] == []
    p.apply(part(0))
    p.apply(delta(0, "first"))
    assert [c["text"] for c in p.items[0]["content"]] == ["first", "second"]


def test_output_item_done_only_finalises_status_logprobs_and_encrypted_content() -> None:
    p = fold(
        {"type": "response.output_item.added", "item": MSG},
        part(0),
        delta(0, "hi"),
        {
            "type": "response.output_item.done",
            "item": {"type": "message", "id": "m", "status": "completed", "logprobs": [[1]]},
        },
    )
    [item] = p.items
    assert item["status"] == "completed" and item["content"][0]["text"] == "hi"
    assert item["content"][0]["logprobs"] == [1]
    r = fold(
        {"type": "response.output_item.added", "item": {"id": "r", "type": "reasoning"}},
        {
            "type": "response.output_item.done",
            "item": {
                "type": "reasoning",
                "id": "r",
                "status": "completed",
                "encrypted_content": "zz",
            },
        },
    )
    assert r.items[0]["encrypted_content"] == "zz" and r.items[0]["summary"] == []


def test_reasoning_summary_and_text_fold_into_the_reasoning_item() -> None:
    p = fold(
        {
            "type": "response.output_item.added",
            "item": {"id": "r", "type": "reasoning", "summary": []},
        },
        {
            "type": "response.reasoning_summary_part.added",
            "item_id": "r",
            "summary_index": 0,
            "part": {"type": "summary_text", "text": ""},
        },
        {
            "type": "response.reasoning_summary_text.delta",
            "item_id": "r",
            "summary_index": 0,
            "delta": "plan",
        },
        {
            "type": "response.content_part.added",
            "item_id": "r",
            "content_index": 0,
            "part": {"type": "reasoning_text", "text": ""},
        },
        {"type": "response.reasoning_text.delta", "item_id": "r", "content_index": 0, "delta": "t"},
    )
    [item] = p.items
    assert item["summary"] == [{"type": "summary_text", "text": "plan"}]
    assert item["content"] == [{"type": "reasoning_text", "text": "t"}]


def test_done_sets_the_accumulated_text() -> None:
    p = fold(
        part(0),
        delta(0, "x"),
        {"type": "response.output_text.done", "item_id": "m", "content_index": 0, "text": "final"},
    )
    assert p.text() == "final"


def test_function_call_arguments_accumulate() -> None:
    item = {"id": "fc", "type": "function_call", "call_id": "c1", "name": "f", "arguments": ""}
    p = fold(
        {"type": "response.output_item.added", "item": item},
        {"type": "response.function_call_arguments.delta", "item_id": "fc", "delta": '{"a"'},
        {"type": "response.function_call_arguments.delta", "item_id": "fc", "delta": ":1}"},
    )
    assert p.items[0]["arguments"] == '{"a":1}'


def test_replace_event_replaces_a_parts_text() -> None:
    p = fold(
        part(0),
        delta(0, "Helworld"),
        {
            "type": "stream.replace",
            "kind": "output_text",
            "item_id": "m",
            "index": 0,
            "text": "Hello world",
        },
    )
    assert p.text() == "Hello world"


def test_function_call_output_is_an_item_of_its_own_message() -> None:
    out = {"type": "function_call_output", "call_id": "c1", "output": "done"}
    p = fold({"type": "function_call_output", "item": out})
    assert p.items == [out]


def test_approval_request_adds_a_pending_state_and_no_item() -> None:
    p = fold({"type": "tool-approval-request", "call_id": "c1", "name": "rm", "arguments": "{}"})
    assert p.items == []
    assert p.to_dict()["toolCallStates"] == {
        "c1": {"approval": "pending", "name": "rm", "arguments": "{}"}
    }


def test_approval_approved_sets_the_state() -> None:
    p = fold(
        {"type": "tool-approval-request", "call_id": "c1", "name": "rm", "arguments": "{}"},
        {"type": "tool-approval-response", "call_id": "c1", "approved": True},
    )
    assert p.tool_call_states["c1"]["approval"] == "approved" and p.items == []


def test_denial_folds_an_output_with_the_reason_or_the_default() -> None:
    p = fold({"type": "tool-approval-response", "call_id": "c1", "approved": False})
    assert p.tool_call_states["c1"]["approval"] == "denied"
    assert p.items == [
        {
            "type": "function_call_output",
            "call_id": "c1",
            "output": "Tool execution was not approved.",
        }
    ]
    p = fold({"type": "tool-approval-response", "call_id": "c1", "approved": False, "reason": "no"})
    assert p.items[0]["output"] == "no" and p.tool_call_states["c1"]["reason"] == "no"


def test_client_tool_results_set_ok_or_failed() -> None:
    p = fold(
        {"type": "tool-result", "call_id": "c1", "output": {"n": 1}},
        {"type": "tool-result-error", "call_id": "c2", "message": "boom"},
    )
    assert [i["output"] for i in p.items] == ['{"n":1}', "boom"]
    assert p.tool_call_states == {"c1": {"result": "ok"}, "c2": {"result": "failed"}}


def test_user_parts_merge_into_one_message_item() -> None:
    p = fold(
        {"type": "user-message", "part": {"type": "input_text", "text": "a"}},
        {"type": "user-message", "part": {"type": "input_text", "text": "b"}},
        role="user",
    )
    assert p.to_dict() == {
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


def call(cid):
    return {
        "type": "function_call",
        "id": f"fc_{cid}",
        "call_id": cid,
        "name": "f",
        "arguments": "",
    }


def test_call_utilities() -> None:
    messages = [
        {
            "role": "assistant",
            "items": [call("a"), call("b"), call("c")],
            "toolCallStates": {"b": {"approval": "approved"}, "c": {"approval": "approved"}},
        },
        {
            "role": "assistant",
            "items": [{"type": "function_call_output", "call_id": "c", "output": "x"}],
        },
    ]
    assert resolved_call_ids(messages) == {"c"}
    assert [c["call_id"] for c in unanswered_calls(messages)] == ["a"]
    assert [c["call_id"] for c in approved_unexecuted_calls(messages)] == ["b"]
    assert len(to_responses_input(messages)) == 4


def test_chat_completions_reverse_mapping() -> None:
    items = [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
        {"type": "reasoning", "id": "r", "summary": []},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "ok"}],
        },
        call("c1"),
        {"type": "function_call_output", "call_id": "c1", "output": "out"},
    ]
    assert to_chat_messages(items) == [
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": "ok",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": ""}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "out"},
    ]
