"""The OpenAI Responses codec: Responses streaming events <-> the wire (docs/wire.md §5).

- `ResponsesEncoder` turns one pipe's Responses events into channel operations (§5.1, §5.4).
- `ResponsesCodec` is the decoder's codec: stream transitions and discrete payloads back into
  Responses events, including the containers a late joiner never saw (§5.1, last paragraph).
- Input factories build client `ai-input` publishes (§5.2).
The projection of decoded events into messages lives in `projection.py` (§5.3).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .decoder import CodecEvent
from .encoder import InputHeaders, Operation, Publish, StreamEncoder, input_publish
from .projection import (
    REPLACE,
    MessageProjection,
    approved_unexecuted_calls,
    resolved_call_ids,
    to_chat_messages,
    to_responses_input,
    unanswered_calls,
)
from .wire import (
    PART_TYPE_INPUT_TEXT,
    C,
    ErrorCode,
    Kind,
    ProtocolError,
    bool_text,
    is_true,
    json_text,
    parse_json_text,
)

__all__ = [
    "DROPPED_EVENTS",
    "MessageProjection",
    "ResponsesCodec",
    "ResponsesEncoder",
    "approved_unexecuted_calls",
    "normalise_event",
    "regenerate",
    "resolved_call_ids",
    "to_chat_messages",
    "to_responses_input",
    "tool_approval_response",
    "tool_result",
    "tool_result_error",
    "unanswered_calls",
    "unsupported_event",
    "user_message",
    "user_text",
]

# Never published: the run's outcome travels only in `ai-run-end` (§5.1).
DROPPED_EVENTS = frozenset(
    {
        "response.created",
        "response.in_progress",
        "response.queued",
        "response.completed",
        "response.incomplete",
        "response.failed",
        "error",
        "response.content_part.done",
        "response.reasoning_summary_part.done",
    }
)
_ITEM_TYPES = frozenset({"message", "reasoning", "function_call"})
_PART_KINDS = {
    "output_text": Kind.OUTPUT_TEXT,
    "refusal": Kind.REFUSAL,
    "reasoning_text": Kind.REASONING_TEXT,
}
# text delta/done event prefix -> the stream kind it grows
_TEXT_EVENTS = {
    "response.output_text": Kind.OUTPUT_TEXT,
    "response.refusal": Kind.REFUSAL,
    "response.reasoning_text": Kind.REASONING_TEXT,
}
_TEXT_EVENT_PREFIX = {kind: prefix for prefix, kind in _TEXT_EVENTS.items()}


_STREAM_EVENT_PREFIXES = frozenset(
    {*_TEXT_EVENTS, "response.reasoning_summary_text", "response.function_call_arguments"}
)


def unsupported_event(event: Mapping[str, Any]) -> str | None:
    """Why the codec cannot carry `event`, as a short key to log once per run (§5.4, §7.16).

    None for every event of §5.1 (including the ones the encoder drops silently). The key is
    the event type, with the item or part type for an unsupported item or part.
    """
    kind = str(event.get("type", ""))
    if kind in DROPPED_EVENTS or kind in (Kind.FUNCTION_CALL_OUTPUT, Kind.TOOL_APPROVAL_REQUEST):
        return None
    if kind in ("response.output_item.added", "response.output_item.done"):
        item = event.get("item")
        item_type = item.get("type") if isinstance(item, Mapping) else None
        if item_type not in _ITEM_TYPES:
            return f"{kind}:{item_type}"
        if item_type == "function_call" and kind.endswith("added") and not item.get("id"):
            return f"{kind}:function_call without id"
        return None
    if kind == "response.content_part.added":
        part = event.get("part")
        part_type = part.get("type") if isinstance(part, Mapping) else None
        return None if part_type in _PART_KINDS else f"{kind}:{part_type}"
    if kind == "response.reasoning_summary_part.added":
        return None
    prefix, _, suffix = kind.rpartition(".")
    if suffix in ("delta", "done") and prefix in _STREAM_EVENT_PREFIXES:
        return None
    return kind or "<no type>"


def normalise_event(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """Give an announced `message` item its `content: []` and a `reasoning` item its
    `summary: []` when a model server omits them: 0.8.0 receivers read their length and fail
    in `getMessages()` without them. Other events are returned unchanged."""
    if event.get("type") != "response.output_item.added":
        return event
    item = event.get("item")
    if not isinstance(item, Mapping):
        return event
    missing = {"message": "content", "reasoning": "summary"}.get(str(item.get("type")))
    if missing is None or isinstance(item.get(missing), list):
        return event
    return {**event, "item": {**item, missing: []}}


def _invalid(message: str) -> ProtocolError:
    return ProtocolError(ErrorCode.INVALID_ARGUMENT, f"unable to encode event; {message}")


def content_stream_id(item_id: str, content_index: int) -> str:
    return f"{item_id}:{content_index}"


def summary_stream_id(item_id: str, summary_index: int) -> str:
    return f"{item_id}:summary:{summary_index}"


class ResponsesEncoder:
    """Encodes the Responses events of one pipe (one assistant message) into operations."""

    def __init__(self, encoder: StreamEncoder) -> None:
        self.encoder = encoder

    def encode(self, event: Mapping[str, Any]) -> list[Operation]:
        kind = str(event.get("type", ""))
        if kind in DROPPED_EVENTS:
            return []
        if kind == "response.output_item.added":
            return [self._item_added(event)]
        if kind == "response.output_item.done":
            return [self._item_done(event)]
        if kind == "response.content_part.added":
            return [self._part_added(event)]
        if kind == "response.reasoning_summary_part.added":
            return [self._summary_added(event)]
        if kind == Kind.FUNCTION_CALL_OUTPUT:
            data = {"item": dict(event.get("item") or {})}
            return [self.encoder.discrete({C.KIND: Kind.FUNCTION_CALL_OUTPUT}, data)]
        if kind == Kind.TOOL_APPROVAL_REQUEST:
            codec = {
                C.KIND: Kind.TOOL_APPROVAL_REQUEST,
                C.CALL_ID: str(event.get("call_id", "")),
                C.NAME: str(event.get("name", "")),
            }
            return [self.encoder.discrete(codec, str(event.get("arguments", "")))]
        stream_id, done = self._stream_target(kind, event)
        if done:
            return [self.encoder.close(stream_id)]  # final text is rebuilt from fragments
        return [self.encoder.append(stream_id, str(event.get("delta", "")))]

    def finish(self) -> list[Operation]:
        """Streams the source left open get a `cancelled` append (§4.4)."""
        return list(self.encoder.finish())

    def _stream_target(self, kind: str, event: Mapping[str, Any]) -> tuple[str, bool]:
        prefix, _, suffix = kind.rpartition(".")
        if suffix not in ("delta", "done"):
            raise _invalid(f"unsupported event type {kind}")
        item_id = str(event.get("item_id", ""))
        if prefix in _TEXT_EVENTS:
            return content_stream_id(item_id, int(event.get("content_index", 0))), suffix == "done"
        if prefix == "response.reasoning_summary_text":
            return summary_stream_id(item_id, int(event.get("summary_index", 0))), suffix == "done"
        if prefix == "response.function_call_arguments":
            return item_id, suffix == "done"
        raise _invalid(f"unsupported event type {kind}")

    def _item_added(self, event: Mapping[str, Any]) -> Publish:
        item = dict(event.get("item") or {})
        item_type = item.get("type")
        if item_type not in _ITEM_TYPES:
            raise _invalid(f"unsupported item type {item_type}")
        if item_type != "function_call":
            return self.encoder.discrete({C.KIND: Kind.OUTPUT_ITEM_ADDED}, {"item": item})
        if not item.get("id"):
            raise _invalid("a function_call item needs an id")
        codec = {
            C.KIND: Kind.FUNCTION_CALL_ARGUMENTS,
            C.ITEM: json_text(item),
            C.OUTPUT_INDEX: json_text(event.get("output_index", 0)),
        }
        return self.encoder.open(str(item["id"]), codec)

    def _item_done(self, event: Mapping[str, Any]) -> Publish:
        """Reduced to `{type, id, status}` plus logprobs / encrypted content (§2.7)."""
        item = dict(event.get("item") or {})
        item_type = item.get("type")
        if item_type not in _ITEM_TYPES:
            raise _invalid(f"unsupported item type {item_type}")
        reduced = {"type": item_type, "id": item.get("id"), "status": item.get("status")}
        if item_type == "message":
            parts = item.get("content") or []
            if any(part.get("logprobs") for part in parts):
                reduced["logprobs"] = [part.get("logprobs") or [] for part in parts]
        if item_type == "reasoning" and item.get("encrypted_content") is not None:
            reduced["encrypted_content"] = item["encrypted_content"]
        return self.encoder.discrete({C.KIND: Kind.OUTPUT_ITEM_DONE}, {"item": reduced})

    def _part_added(self, event: Mapping[str, Any]) -> Publish:
        part = dict(event.get("part") or {})
        kind = _PART_KINDS.get(str(part.get("type")))
        if kind is None:
            raise _invalid(f"unsupported part type {part.get('type')}")
        item_id, index = str(event.get("item_id", "")), int(event.get("content_index", 0))
        codec = {
            C.KIND: kind,
            C.ITEM_ID: item_id,
            C.OUTPUT_INDEX: json_text(event.get("output_index", 0)),
            C.CONTENT_INDEX: json_text(index),
            C.PART: json_text(part),
        }
        return self.encoder.open(content_stream_id(item_id, index), codec)

    def _summary_added(self, event: Mapping[str, Any]) -> Publish:
        part = dict(event.get("part") or {"type": "summary_text", "text": ""})
        item_id, index = str(event.get("item_id", "")), int(event.get("summary_index", 0))
        codec = {
            C.KIND: Kind.REASONING_SUMMARY_TEXT,
            C.ITEM_ID: item_id,
            C.OUTPUT_INDEX: json_text(event.get("output_index", 0)),
            C.SUMMARY_INDEX: json_text(index),
            C.PART: json_text(part),
        }
        return self.encoder.open(summary_stream_id(item_id, index), codec)


class ResponsesCodec:
    """The decoder side of the codec (implements `decoder.CodecDecoder`)."""

    def stream_start(self, codec: Mapping[str, str]) -> list[CodecEvent]:
        kind = codec.get(C.KIND)
        output_index = _int(codec.get(C.OUTPUT_INDEX))
        if kind == Kind.FUNCTION_CALL_ARGUMENTS:
            item = parse_json_text(codec.get(C.ITEM), {})
            return [_event("response.output_item.added", output_index=output_index, item=item)]
        item_id = codec.get(C.ITEM_ID, "")
        if kind in (Kind.OUTPUT_TEXT, Kind.REFUSAL):
            container = {
                "id": item_id,
                "type": "message",
                "role": "assistant",
                "status": "in_progress",
                "content": [],
            }
        elif kind in (Kind.REASONING_TEXT, Kind.REASONING_SUMMARY_TEXT):
            container = {"id": item_id, "type": "reasoning", "summary": []}
        else:
            return []  # a kind this codec does not know decodes to nothing
        added = _event("response.output_item.added", output_index=output_index, item=container)
        part = parse_json_text(codec.get(C.PART), None) or _default_part(str(kind))
        if kind == Kind.REASONING_SUMMARY_TEXT:
            opener = _event(
                "response.reasoning_summary_part.added",
                item_id=item_id,
                output_index=output_index,
                summary_index=_int(codec.get(C.SUMMARY_INDEX)),
                part=part,
            )
        else:
            opener = _event(
                "response.content_part.added",
                item_id=item_id,
                output_index=output_index,
                content_index=_int(codec.get(C.CONTENT_INDEX)),
                part=part,
            )
        return [added, opener]

    def stream_delta(self, codec: Mapping[str, str], delta: str) -> list[CodecEvent]:
        return self._text_event(codec, "delta", delta=delta)

    def stream_end(self, codec: Mapping[str, str], text: str) -> list[CodecEvent]:
        kind = codec.get(C.KIND)
        field = {Kind.FUNCTION_CALL_ARGUMENTS: "arguments", Kind.REFUSAL: "refusal"}.get(
            kind, "text"
        )
        return self._text_event(codec, "done", **{field: text})

    def stream_replace(self, codec: Mapping[str, str], text: str) -> list[CodecEvent]:
        kind = codec.get(C.KIND)
        index = codec.get(
            C.SUMMARY_INDEX if kind == Kind.REASONING_SUMMARY_TEXT else C.CONTENT_INDEX
        )
        return [_event(REPLACE, kind=kind, item_id=_item_id(codec), index=_int(index), text=text)]

    def _text_event(self, codec: Mapping[str, str], suffix: str, **values: Any) -> list[CodecEvent]:
        kind = codec.get(C.KIND)
        base = {"item_id": _item_id(codec), "output_index": _int(codec.get(C.OUTPUT_INDEX))}
        if kind == Kind.FUNCTION_CALL_ARGUMENTS:
            return [_event(f"response.function_call_arguments.{suffix}", **base, **values)]
        if kind == Kind.REASONING_SUMMARY_TEXT:
            index = _int(codec.get(C.SUMMARY_INDEX))
            return [
                _event(
                    f"response.reasoning_summary_text.{suffix}",
                    **base,
                    summary_index=index,
                    **values,
                )
            ]
        prefix = _TEXT_EVENT_PREFIX.get(kind)  # type: ignore[arg-type]
        if prefix is None:
            return []
        index = _int(codec.get(C.CONTENT_INDEX))
        return [_event(f"{prefix}.{suffix}", **base, content_index=index, **values)]

    def discrete(self, codec: Mapping[str, str], data: Any) -> list[CodecEvent]:
        kind = codec.get(C.KIND)
        obj = data if isinstance(data, Mapping) else {}
        call_id = codec.get(C.CALL_ID, "")
        if kind in (Kind.OUTPUT_ITEM_ADDED, Kind.OUTPUT_ITEM_DONE, Kind.FUNCTION_CALL_OUTPUT):
            return [_event(str(kind), item=dict(obj.get("item") or {}))] if obj else []
        if kind == Kind.TOOL_APPROVAL_REQUEST:
            arguments = data if isinstance(data, str) else ""
            return [_event(kind, call_id=call_id, name=codec.get(C.NAME, ""), arguments=arguments)]
        if kind == Kind.USER_MESSAGE:
            part = {"type": codec.get(C.PART_TYPE, PART_TYPE_INPUT_TEXT), "text": _text(data)}
            return [_event(kind, part=part)]
        if kind == Kind.TOOL_RESULT:
            return [_event(kind, call_id=call_id, output=obj.get("output"))]
        if kind == Kind.TOOL_RESULT_ERROR:
            return [_event(kind, call_id=call_id, message=obj.get("message", ""))]
        if kind == Kind.TOOL_APPROVAL_RESPONSE:
            event = _event(kind, call_id=call_id, approved=is_true(codec.get(C.APPROVED)))
            if codec.get(C.REASON):
                event["reason"] = codec[C.REASON]
            return [event]
        return []  # regenerate and unknown kinds decode to nothing


def _event(type_: str, **fields: Any) -> CodecEvent:
    return {"type": str(type_), **fields}


def _int(value: str | None) -> int:
    parsed = parse_json_text(value, 0)
    return parsed if isinstance(parsed, int) else 0


def _text(data: Any) -> str:
    return data if isinstance(data, str) else ""


def _item_id(codec: Mapping[str, str]) -> str:
    if codec.get(C.KIND) == Kind.FUNCTION_CALL_ARGUMENTS:
        return str(parse_json_text(codec.get(C.ITEM), {}).get("id", ""))
    return codec.get(C.ITEM_ID, "")


def _default_part(kind: str) -> dict[str, Any]:
    if kind == Kind.REFUSAL:
        return {"type": "refusal", "refusal": ""}
    if kind == Kind.REASONING_SUMMARY_TEXT:
        return {"type": "summary_text", "text": ""}
    return {"type": kind, "text": ""}


# --- input factories (§5.2) -----------------------------------------------------------------


def user_message(headers: InputHeaders, message: Mapping[str, Any]) -> list[Publish]:
    """`{role: "user", items: [one message item of input_text parts]}` -> one batch."""
    items = message.get("items") or []
    if len(items) != 1 or items[0].get("type") != "message":
        raise _invalid("a user message must be exactly one message item")
    parts = items[0].get("content") or []
    texts = []
    for part in parts:
        if part.get("type") != PART_TYPE_INPUT_TEXT:
            raise _invalid(f"unsupported user part type {part.get('type')}")
        texts.append(str(part.get("text", "")))
    return user_text(headers, *texts)


def user_text(headers: InputHeaders, *texts: str) -> list[Publish]:
    """One `ai-input` per part; an empty prompt still publishes one empty part."""
    codec = {C.KIND: Kind.USER_MESSAGE, C.PART_TYPE: PART_TYPE_INPUT_TEXT}
    return [input_publish(headers, codec, text, batch_part=True) for text in (texts or ("",))]


def regenerate(headers: InputHeaders) -> Publish:
    """Wire-only signal: `parent` = the prompt, `msg-regenerate` = the message (§3.8)."""
    if not headers.parent or not headers.msg_regenerate:
        raise _invalid("a regenerate needs parent and msg-regenerate")
    return input_publish(headers, {C.KIND: Kind.REGENERATE}, "")


def tool_result(headers: InputHeaders, call_id: str, output: Any) -> Publish:
    return input_publish(
        headers, {C.KIND: Kind.TOOL_RESULT, C.CALL_ID: call_id}, {"output": output}
    )


def tool_result_error(headers: InputHeaders, call_id: str, message: str) -> Publish:
    codec = {C.KIND: Kind.TOOL_RESULT_ERROR, C.CALL_ID: call_id}
    return input_publish(headers, codec, {"message": message})


def tool_approval_response(
    headers: InputHeaders, call_id: str, approved: bool, reason: str | None = None
) -> Publish:
    codec = {
        C.KIND: Kind.TOOL_APPROVAL_RESPONSE,
        C.CALL_ID: call_id,
        C.APPROVED: bool_text(approved),
    }
    if reason:
        codec[C.REASON] = reason
    return input_publish(headers, codec, "")


def user_message_seed(texts: Sequence[str]) -> list[CodecEvent]:
    """The events an optimistic node folds before its echo: a faithful preview (§3.4)."""
    codec = ResponsesCodec()
    events: list[CodecEvent] = []
    for text in texts or ("",):
        events += codec.discrete(
            {C.KIND: Kind.USER_MESSAGE, C.PART_TYPE: PART_TYPE_INPUT_TEXT}, text
        )
    return events
