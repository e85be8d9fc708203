"""The AI Transport 0.8.0 wire: every name, header key and value, in one place (docs/wire.md §2).

A future SDK version changes names here, in a reviewed diff, not across the code base.
All header values on the wire are strings; helpers here do the string conversions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import IntEnum, StrEnum
from typing import Any


class Name(StrEnum):
    """The nine Ably message names of the transport (§2.3)."""

    INPUT = "ai-input"
    OUTPUT = "ai-output"
    CANCEL = "ai-cancel"
    RUN_START = "ai-run-start"
    RUN_RESUME = "ai-run-resume"
    RUN_SUSPEND = "ai-run-suspend"
    RUN_END = "ai-run-end"
    STEP_START = "ai-step-start"
    STEP_END = "ai-step-end"


RUN_LIFECYCLE = frozenset({Name.RUN_START, Name.RUN_RESUME, Name.RUN_SUSPEND, Name.RUN_END})
STEP_LIFECYCLE = frozenset({Name.STEP_START, Name.STEP_END})


class H:
    """Transport header keys (`extras.ai.transport`, §2.4)."""

    STREAM = "stream"
    STATUS = "status"
    STREAM_ID = "stream-id"
    DISCRETE = "discrete"
    ROLE = "role"
    CODEC_MESSAGE_ID = "codec-message-id"
    EVENT_ID = "event-id"
    RUN_ID = "run-id"
    INVOCATION_ID = "invocation-id"
    RUN_CLIENT_ID = "run-client-id"
    INPUT_CLIENT_ID = "input-client-id"
    STEP_CLIENT_ID = "step-client-id"
    INPUT_CODEC_MESSAGE_ID = "input-codec-message-id"
    PARENT = "parent"
    FORK_OF = "fork-of"
    MSG_REGENERATE = "msg-regenerate"
    SUPERSEDES = "supersedes"
    RUN_REASON = "run-reason"
    ERROR_CODE = "error-code"
    ERROR_MESSAGE = "error-message"
    STEP_ID = "step-id"
    STEP_START_SERIAL = "step-start-serial"
    STEP_REASON = "step-reason"
    STEER_CODEC_MESSAGE_IDS = "steer-codec-message-ids"


TRANSPORT_HEADERS = frozenset(v for k, v in vars(H).items() if k.isupper())


class C:
    """Codec tier keys (`extras.ai.codec`, §2.6): driver-reserved, then OpenAI fields."""

    KIND = "kind"
    PART_TYPE = "partType"
    ITEM_ID = "item_id"
    OUTPUT_INDEX = "output_index"
    CONTENT_INDEX = "content_index"
    SUMMARY_INDEX = "summary_index"
    PART = "part"
    ITEM = "item"
    CALL_ID = "call_id"
    NAME = "name"
    APPROVED = "approved"
    REASON = "reason"


class Kind(StrEnum):
    """Codec `kind` values of the OpenAI Responses codec (§2.6)."""

    # streamed outputs
    OUTPUT_TEXT = "output_text"
    REFUSAL = "refusal"
    REASONING_TEXT = "reasoning_text"
    REASONING_SUMMARY_TEXT = "reasoning_summary_text"
    FUNCTION_CALL_ARGUMENTS = "function_call_arguments"
    # discrete outputs
    OUTPUT_ITEM_ADDED = "response.output_item.added"
    OUTPUT_ITEM_DONE = "response.output_item.done"
    FUNCTION_CALL_OUTPUT = "function_call_output"
    TOOL_APPROVAL_REQUEST = "tool-approval-request"
    # inputs
    USER_MESSAGE = "user-message"
    REGENERATE = "regenerate"
    TOOL_RESULT = "tool-result"
    TOOL_RESULT_ERROR = "tool-result-error"
    TOOL_APPROVAL_RESPONSE = "tool-approval-response"


STREAMED_KINDS = frozenset(
    {
        Kind.OUTPUT_TEXT,
        Kind.REFUSAL,
        Kind.REASONING_TEXT,
        Kind.REASONING_SUMMARY_TEXT,
        Kind.FUNCTION_CALL_ARGUMENTS,
    }
)
PART_TYPE_INPUT_TEXT = "input_text"


class Role(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"


class StreamStatus(StrEnum):
    STREAMING = "streaming"
    COMPLETE = "complete"
    CANCELLED = "cancelled"


class RunReason(StrEnum):
    COMPLETE = "complete"
    CANCELLED = "cancelled"
    ERROR = "error"


class StepReason(StrEnum):
    COMPLETE = "complete"
    FAILED = "failed"
    CANCELLED = "cancelled"


class RunStatus(StrEnum):
    """Run read-model statuses (§4.2)."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    COMPLETE = "complete"
    CANCELLED = "cancelled"
    ERROR = "error"


TERMINAL_RUN_STATUSES = frozenset({RunStatus.COMPLETE, RunStatus.CANCELLED, RunStatus.ERROR})


class ErrorCode(IntEnum):
    """Error codes (§2.10). 104000-104999 is reserved for this protocol."""

    BAD_REQUEST = 40000
    INVALID_ARGUMENT = 40003
    OPERATION_CANCELLED = 40033
    INSUFFICIENT_CAPABILITY = 40160
    APPROVAL_NOT_ALLOWED = 40380  # project code: a decision by someone who may not decide
    INTERNAL_ERROR = 50000
    ENCODER_RECOVERY_FAILED = 104000
    SESSION_SUBSCRIPTION_ERROR = 104001
    CANCEL_LISTENER_ERROR = 104002
    RUN_LIFECYCLE_ERROR = 104003
    SESSION_CLOSED = 104004
    SESSION_SEND_FAILED = 104005
    CHANNEL_CONTINUITY_LOST = 104006
    CHANNEL_NOT_READY = 104007
    STREAM_ERROR = 104008
    INPUT_EVENT_NOT_FOUND = 104010
    HISTORY_FETCH_FAILED = 104011


DEFAULT_ERROR_CODE = ErrorCode.STREAM_ERROR
DEFAULT_ERROR_MESSAGE = "agent reported an error"
TOOL_NOT_APPROVED_OUTPUT = "Tool execution was not approved."


class ProtocolError(Exception):
    """A protocol-level failure with its wire error code. Messages read `unable to <op>; <why>`."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{message} ({int(code)})")
        self.code = code
        self.message = message


class Action(IntEnum):
    """Ably message actions as numbered on the realtime protocol (§8.5)."""

    CREATE = 0
    UPDATE = 1
    DELETE = 2
    META = 3
    SUMMARY = 4
    APPEND = 5


def parse_action(value: Any) -> Action:
    """Accept 0..5, `"message.append"` or `"append"`; a missing action reads as a create."""
    if value is None:
        return Action.CREATE
    if isinstance(value, int):
        return Action(value)
    text = str(value).removeprefix("message.")
    return Action[text.upper()]


# --- the envelope (§2.2) -------------------------------------------------------------------


def envelope(transport: Mapping[str, str], codec: Mapping[str, str] | None = None) -> dict:
    """Build `extras`: the transport tier always, the codec tier only when non-empty."""
    ai: dict[str, dict[str, str]] = {"transport": dict(transport)}
    if codec:
        ai["codec"] = dict(codec)
    return {"ai": ai}


def read_envelope(extras: Any) -> tuple[dict[str, str], dict[str, str]] | None:
    """Return (transport, codec) tiers, or None for a foreign message (no `extras.ai`)."""
    if not isinstance(extras, Mapping):
        return None
    ai = extras.get("ai")
    if not isinstance(ai, Mapping):
        return None
    transport = ai.get("transport")
    codec = ai.get("codec")
    return (
        dict(transport) if isinstance(transport, Mapping) else {},
        dict(codec) if isinstance(codec, Mapping) else {},
    )


def compact(values: Mapping[str, str | None]) -> dict[str, str]:
    """Drop absent values: a `?` header of §2.5 is present only when it has a value."""
    return {k: v for k, v in values.items() if v is not None}


# --- value encodings (§2.2: every header value is a string) --------------------------------


def bool_text(value: bool) -> str:
    return "true" if value else "false"


def is_true(value: str | None) -> bool:
    return value == "true"


def json_text(value: Any) -> str:
    """Numbers, arrays and objects travel as compact JSON text."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def parse_json_text(value: str | None, default: Any = None) -> Any:
    if value is None:
        return default
    try:
        return json.loads(value)
    except ValueError:
        return default


def parse_int_text(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def steer_ids_text(ids: list[str]) -> str | None:
    """`steer-codec-message-ids` is omitted when empty (§2.4)."""
    return json_text(list(ids)) if ids else None


def parse_steer_ids(value: str | None) -> list[str]:
    parsed = parse_json_text(value, [])
    return [str(v) for v in parsed] if isinstance(parsed, list) else []


# --- the HTTP invocation (§3.3) ------------------------------------------------------------


def invocation_body(
    input_event_id: str, session_name: str, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The POST body: extra application fields may be merged in; the two identifiers win."""
    return {**(extra or {}), "inputEventId": input_event_id, "sessionName": session_name}


def parse_invocation(body: Any) -> tuple[str, str]:
    """Return (inputEventId, sessionName); a body without both is a bad request (§4.1)."""
    if isinstance(body, Mapping):
        event_id, session = body.get("inputEventId"), body.get("sessionName")
        if isinstance(event_id, str) and event_id and isinstance(session, str) and session:
            return event_id, session
    raise ProtocolError(
        ErrorCode.BAD_REQUEST, "unable to parse invocation; inputEventId and sessionName required"
    )
