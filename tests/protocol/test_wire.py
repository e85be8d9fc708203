"""docs/wire.md §2.2-§2.4, §2.6, §2.10, §3.3: the registries and value conventions."""

from __future__ import annotations

import pytest

from tui_session.protocol import wire
from tui_session.protocol.wire import (
    TRANSPORT_HEADERS,
    Action,
    ErrorCode,
    Kind,
    Name,
    ProtocolError,
    envelope,
    parse_action,
    read_envelope,
)


def test_exactly_nine_message_names() -> None:
    assert {n.value for n in Name} == {
        "ai-input",
        "ai-output",
        "ai-cancel",
        "ai-run-start",
        "ai-run-resume",
        "ai-run-suspend",
        "ai-run-end",
        "ai-step-start",
        "ai-step-end",
    }


def test_transport_header_registry_is_complete() -> None:
    assert TRANSPORT_HEADERS == {
        "stream",
        "status",
        "stream-id",
        "discrete",
        "role",
        "codec-message-id",
        "event-id",
        "run-id",
        "invocation-id",
        "run-client-id",
        "input-client-id",
        "step-client-id",
        "input-codec-message-id",
        "parent",
        "fork-of",
        "msg-regenerate",
        "supersedes",
        "run-reason",
        "error-code",
        "error-message",
        "step-id",
        "step-start-serial",
        "step-reason",
        "steer-codec-message-ids",
    }


def test_codec_kinds_of_the_openai_codec() -> None:
    assert {k.value for k in Kind} == {
        "output_text",
        "refusal",
        "reasoning_text",
        "reasoning_summary_text",
        "function_call_arguments",
        "response.output_item.added",
        "response.output_item.done",
        "function_call_output",
        "tool-approval-request",
        "user-message",
        "regenerate",
        "tool-result",
        "tool-result-error",
        "tool-approval-response",
    }


def test_error_codes_match_the_registry() -> None:
    assert {c.value for c in ErrorCode} == {
        40000,
        40003,
        40033,
        40160,
        40380,  # the project's own: a tool call decided by someone who may not (approvals.py)
        50000,
        104000,
        104001,
        104002,
        104003,
        104004,
        104005,
        104006,
        104007,
        104008,
        104010,
        104011,
    }
    assert all(104000 <= c < 105000 for c in ErrorCode if c > 100000)


def test_error_messages_read_unable_to_operation_reason() -> None:
    error = ProtocolError(ErrorCode.INVALID_ARGUMENT, "unable to append; unknown stream x")
    assert error.code == 40003 and str(error).startswith("unable to append; ")


def test_envelope_carries_codec_tier_only_when_non_empty() -> None:
    assert envelope({"run-id": "R"}) == {"ai": {"transport": {"run-id": "R"}}}
    assert envelope({"run-id": "R"}, {}) == {"ai": {"transport": {"run-id": "R"}}}
    assert envelope({"a": "1"}, {"kind": "x"})["ai"]["codec"] == {"kind": "x"}


def test_message_without_extras_ai_is_foreign() -> None:
    assert read_envelope(None) is None
    assert read_envelope({"headers": {"x": "1"}}) is None
    assert read_envelope({"ai": {"transport": {"a": "b"}}}) == ({"a": "b"}, {})


def test_all_header_values_are_strings() -> None:
    assert wire.bool_text(True) == "true" and wire.bool_text(False) == "false"
    assert wire.json_text(0) == "0"
    assert wire.json_text({"type": "output_text", "text": "", "annotations": []}) == (
        '{"type":"output_text","text":"","annotations":[]}'
    )


def test_steer_ids_are_json_array_text_and_omitted_when_empty() -> None:
    assert wire.steer_ids_text(["S"]) == '["S"]'
    assert wire.steer_ids_text([]) is None
    assert wire.parse_steer_ids('["S","T"]') == ["S", "T"]
    assert wire.parse_steer_ids("not json") == []


def test_compact_drops_absent_optional_headers() -> None:
    assert wire.compact({"parent": None, "run-id": "R", "run-client-id": ""}) == {
        "run-id": "R",
        "run-client-id": "",
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, Action.CREATE),
        (1, Action.UPDATE),
        (2, Action.DELETE),
        (5, Action.APPEND),
        ("message.append", Action.APPEND),
        ("update", Action.UPDATE),
        (None, Action.CREATE),
    ],
)
def test_actions_parse_from_numbers_and_strings(value, expected) -> None:
    assert parse_action(value) == expected


def test_invocation_body_is_exactly_two_identifiers_which_win() -> None:
    body = wire.invocation_body("E", "session:1", {"inputEventId": "x", "extra": 1})
    assert body == {"inputEventId": "E", "sessionName": "session:1", "extra": 1}
    assert wire.invocation_body("E", "s") == {"inputEventId": "E", "sessionName": "s"}


def test_invocation_without_both_identifiers_is_a_bad_request() -> None:
    assert wire.parse_invocation({"inputEventId": "E", "sessionName": "s"}) == ("E", "s")
    for body in ({}, {"inputEventId": "E"}, {"sessionName": "s"}, None, []):
        with pytest.raises(ProtocolError) as caught:
            wire.parse_invocation(body)
        assert caught.value.code == ErrorCode.BAD_REQUEST
