"""Chat Completions -> Responses events (docs/wire.md §5.5), and the backend that uses it.

`ChatAdapter` is pure: feed it `chat.completion.chunk` dicts, it returns the Responses events
they imply. Invariants (tested over random chunkings): every delta comes after its opener;
every opened part and item is closed exactly once; item ids are unique (across passes too:
the default ids are random); `output_index` increments by one per item.

Mapping decisions beyond §5.5:
- Reasoning ends when anything else starts (text, refusal, a tool call); reasoning after that
  opens a new reasoning item. Text and refusal are parts of one message item (switching
  between them closes one part and opens the next); a tool call ends the message, and text
  after tool calls opens a new message item. Tool calls stay open until the end.
- `finish_reason` (or `finish()` when the stream ends) closes, in order: the message's open
  part and the message, the reasoning item, the tool calls by index.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import openai

from tui_session.agent.tools import ToolSpec
from tui_session.protocol.projection import to_chat_messages

from .base import (
    HttpBackend,
    ModelError,
    log,
    map_sdk_error,
)

__all__ = ["ChatAdapter", "ChatBackend", "random_ids", "sequential_ids", "to_chat_messages"]

IdFactory = Callable[[str], str]  # prefix ("msg", "rs", "fc", "call") -> a new id


def random_ids(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def sequential_ids() -> IdFactory:
    """Deterministic ids for tests: msg_1, rs_2, fc_3, call_4, ..."""
    counter = itertools.count(1)
    return lambda prefix: f"{prefix}_{next(counter)}"


_PART_EVENT = {"output_text": "response.output_text", "refusal": "response.refusal"}
_TEXT_KEY = {"output_text": "text", "refusal": "refusal"}


@dataclass
class _Message:
    id: str
    output_index: int
    parts: list[dict[str, Any]] = field(default_factory=list)  # finished parts
    part_type: str | None = None  # the open part: "output_text" | "refusal"
    text: str = ""


@dataclass
class _Reasoning:
    id: str
    output_index: int
    text: str = ""


@dataclass
class _Call:
    id: str
    output_index: int
    call_id: str
    name: str
    arguments: str = ""


class ChatAdapter:
    """Turns the chunks of one streamed chat completion into Responses stream events."""

    def __init__(self, new_id: IdFactory = random_ids, logger: logging.Logger = log) -> None:
        self._new_id = new_id
        self._log = logger
        self._next_index = 0
        self._message: _Message | None = None
        self._reasoning: _Reasoning | None = None
        self._calls: dict[int, _Call] = {}
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self._warned_choices = False

    # -- input ---------------------------------------------------------------------------

    def feed(self, chunk: Mapping[str, Any]) -> list[dict[str, Any]]:
        error = chunk.get("error")
        if error:
            message = error.get("message") if isinstance(error, Mapping) else str(error)
            raise ModelError(f"model reported an error: {message or 'unknown error'}")
        usage = chunk.get("usage")
        if isinstance(usage, Mapping):
            self.usage = dict(usage)
        out: list[dict[str, Any]] = []
        choices = chunk.get("choices") or []  # usage-only chunks have none
        if not isinstance(choices, list):
            raise ValueError("choices is not a list")
        for choice in choices:
            if not isinstance(choice, Mapping):
                raise ValueError("a choice is not an object")
            if choice.get("index", 0) != 0:
                if not self._warned_choices:
                    self._warned_choices = True
                    self._log.info("chat stream: ignoring choices other than the first")
                continue
            delta = choice.get("delta") or {}
            if not isinstance(delta, Mapping):
                raise ValueError("delta is not an object")
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                out += self._reasoning_delta(reasoning)
            content = delta.get("content")
            if isinstance(content, str) and content:
                out += self._part_delta("output_text", content)
            refusal = delta.get("refusal")
            if isinstance(refusal, str) and refusal:
                out += self._part_delta("refusal", refusal)
            for position, call in enumerate(delta.get("tool_calls") or []):
                out += self._tool_delta(position, call)
            finish_reason = choice.get("finish_reason")
            if finish_reason:
                self.finish_reason = str(finish_reason)
                out += self.finish()
        return out

    def finish(self) -> list[dict[str, Any]]:
        """Close everything still open (the stream ended); idempotent."""
        out = self._close_message()
        out += self._close_reasoning()
        for index in sorted(self._calls):
            out += self._close_call(self._calls[index])
        self._calls.clear()
        return out

    # -- items ---------------------------------------------------------------------------

    def _take_index(self) -> int:
        index = self._next_index
        self._next_index += 1
        return index

    def _reasoning_delta(self, text: str) -> list[dict[str, Any]]:
        out = self._close_message()
        if self._reasoning is None:
            item = _Reasoning(self._new_id("rs"), self._take_index())
            self._reasoning = item
            out += [
                {
                    "type": "response.output_item.added",
                    "output_index": item.output_index,
                    "item": {"id": item.id, "type": "reasoning", "summary": []},
                },
                {
                    "type": "response.content_part.added",
                    "item_id": item.id,
                    "output_index": item.output_index,
                    "content_index": 0,
                    "part": {"type": "reasoning_text", "text": ""},
                },
            ]
        item = self._reasoning
        item.text += text
        out.append(
            {
                "type": "response.reasoning_text.delta",
                "item_id": item.id,
                "output_index": item.output_index,
                "content_index": 0,
                "delta": text,
            }
        )
        return out

    def _close_reasoning(self) -> list[dict[str, Any]]:
        item, self._reasoning = self._reasoning, None
        if item is None:
            return []
        return [
            {
                "type": "response.reasoning_text.done",
                "item_id": item.id,
                "output_index": item.output_index,
                "content_index": 0,
                "text": item.text,
            },
            {
                "type": "response.output_item.done",
                "output_index": item.output_index,
                "item": {
                    "id": item.id,
                    "type": "reasoning",
                    "summary": [],
                    "content": [{"type": "reasoning_text", "text": item.text}],
                    "status": "completed",
                },
            },
        ]

    def _part_delta(self, part_type: str, text: str) -> list[dict[str, Any]]:
        out = self._close_reasoning()
        if self._message is None:
            item = _Message(self._new_id("msg"), self._take_index())
            self._message = item
            out.append(
                {
                    "type": "response.output_item.added",
                    "output_index": item.output_index,
                    "item": {
                        "id": item.id,
                        "type": "message",
                        "role": "assistant",
                        "status": "in_progress",
                        "content": [],
                    },
                }
            )
        message = self._message
        if message.part_type != part_type:
            out += self._close_part(message)
            message.part_type = part_type
            out.append(
                {
                    "type": "response.content_part.added",
                    "item_id": message.id,
                    "output_index": message.output_index,
                    "content_index": len(message.parts),
                    "part": _part(part_type, ""),
                }
            )
        message.text += text
        out.append(
            {
                "type": f"{_PART_EVENT[part_type]}.delta",
                "item_id": message.id,
                "output_index": message.output_index,
                "content_index": len(message.parts),
                "delta": text,
            }
        )
        return out

    def _close_part(self, message: _Message) -> list[dict[str, Any]]:
        part_type = message.part_type
        if part_type is None:
            return []
        event = {
            "type": f"{_PART_EVENT[part_type]}.done",
            "item_id": message.id,
            "output_index": message.output_index,
            "content_index": len(message.parts),
            _TEXT_KEY[part_type]: message.text,
        }
        message.parts.append(_part(part_type, message.text))
        message.part_type, message.text = None, ""
        return [event]

    def _close_message(self) -> list[dict[str, Any]]:
        message, self._message = self._message, None
        if message is None:
            return []
        out = self._close_part(message)
        out.append(
            {
                "type": "response.output_item.done",
                "output_index": message.output_index,
                "item": {
                    "id": message.id,
                    "type": "message",
                    "role": "assistant",
                    "status": "completed",
                    "content": message.parts,
                },
            }
        )
        return out

    def _tool_delta(self, position: int, fragment: Any) -> list[dict[str, Any]]:
        if not isinstance(fragment, Mapping):
            raise ValueError("a tool call fragment is not an object")
        index = fragment.get("index", position)
        if not isinstance(index, int):
            raise ValueError(f"tool call index is not an integer: {index!r}")
        function = fragment.get("function") or {}
        if not isinstance(function, Mapping):
            raise ValueError("tool call function is not an object")
        out: list[dict[str, Any]] = []
        call = self._calls.get(index)
        if call is None:
            out += self._close_reasoning()
            out += self._close_message()
            call = _Call(
                id=self._new_id("fc"),
                output_index=self._take_index(),
                call_id=str(fragment.get("id") or self._new_id("call")),
                name=str(function.get("name") or ""),
            )
            self._calls[index] = call
            out.append(
                {
                    "type": "response.output_item.added",
                    "output_index": call.output_index,
                    "item": {
                        "id": call.id,
                        "type": "function_call",
                        "call_id": call.call_id,
                        "name": call.name,
                        "arguments": "",
                        "status": "in_progress",
                    },
                }
            )
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            call.arguments += arguments
            out.append(
                {
                    "type": "response.function_call_arguments.delta",
                    "item_id": call.id,
                    "output_index": call.output_index,
                    "delta": arguments,
                }
            )
        return out

    def _close_call(self, call: _Call) -> list[dict[str, Any]]:
        return [
            {
                "type": "response.function_call_arguments.done",
                "item_id": call.id,
                "output_index": call.output_index,
                "arguments": call.arguments,
                "name": call.name,
            },
            {
                "type": "response.output_item.done",
                "output_index": call.output_index,
                "item": {
                    "id": call.id,
                    "type": "function_call",
                    "call_id": call.call_id,
                    "name": call.name,
                    "arguments": call.arguments,
                    "status": "completed",
                },
            },
        ]


def _part(part_type: str, text: str) -> dict[str, Any]:
    if part_type == "output_text":
        return {"type": "output_text", "text": text, "annotations": []}
    return {"type": "refusal", "refusal": text}


_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


class ChatBackend(HttpBackend):
    """Streams `/v1/chat/completions` and yields Responses events through `ChatAdapter`.

    Like the Responses backend it brackets the answer with `response.created` and
    `response.completed` (or `response.incomplete` for `length` / `content_filter`).
    """

    def __init__(self, model: str, *, new_id: IdFactory = random_ids, **options: Any) -> None:
        super().__init__(model, **options)
        self._new_id = new_id

    async def stream(
        self, context: list[dict[str, Any]], *, tools: list[ToolSpec] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        request: dict[str, Any] = {
            "model": self.name,
            "messages": to_chat_messages(_normalise(context)),
            "stream": True,
        }
        if tools:
            request["tools"] = [tool.chat_tool() for tool in tools]
        adapter = ChatAdapter(self._new_id, self._log)
        response_id = self._new_id("resp")
        started = False
        sdk_stream: Any = None
        try:
            try:
                sdk_stream = await self._client.chat.completions.create(**request)
                async for raw in sdk_stream:
                    chunk = _chunk_dict(raw)
                    if not started:
                        started = True
                        yield _lifecycle("response.created", response_id, self.name, "in_progress")
                    for event in adapter.feed(chunk):
                        yield event
                    if adapter.finish_reason is not None:
                        break
            except (openai.OpenAIError, ValueError, TypeError) as err:
                raise map_sdk_error(err, self.endpoint, started=started) from err
            if adapter.finish_reason is None:
                if not started and "text/event-stream" not in _content_type(sdk_stream):
                    shown = _content_type(sdk_stream) or "no content type"
                    raise ModelError(
                        f"model sent malformed data (expected an event stream, got {shown})"
                    )
                raise ModelError("model stream ended without a response")
            reason = adapter.finish_reason
            if reason in _INCOMPLETE:
                self._log.info("chat stream finished with %s", reason)
                done = _lifecycle("response.incomplete", response_id, self.name, "incomplete")
                done["response"]["incomplete_details"] = {"reason": _INCOMPLETE[reason]}
            else:
                done = _lifecycle("response.completed", response_id, self.name, "completed")
            if adapter.usage:
                done["response"]["usage"] = _usage(adapter.usage)
            yield done
        finally:
            if sdk_stream is not None:
                await sdk_stream.close()


def _normalise(context: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Spell shorthand input items out for `to_chat_messages`: a message without `type`
    (`{"role", "content"}`) and string content are both valid Responses input."""
    out = []
    for item in context:
        if "type" not in item and "role" in item:
            item = {**item, "type": "message"}
        if item.get("type") == "message" and isinstance(item.get("content"), str):
            kind = "output_text" if item.get("role") == "assistant" else "input_text"
            item = {**item, "content": [{"type": kind, "text": item["content"]}]}
        out.append(item)
    return out


def _chunk_dict(raw: Any) -> dict[str, Any]:
    if isinstance(raw, Mapping):
        return dict(raw)
    to_dict = getattr(raw, "to_dict", None)
    if to_dict is None:
        raise TypeError(f"not a chunk: {raw!r}"[:200])
    data = to_dict(mode="json", exclude_none=True, warnings=False)
    if not isinstance(data, dict):
        raise ValueError(f"not a chunk object: {data!r}"[:200])
    return data


def _content_type(sdk_stream: Any) -> str:
    if sdk_stream is None:
        return ""
    return str(sdk_stream.response.headers.get("content-type", ""))


def _lifecycle(kind: str, response_id: str, model: str, status: str) -> dict[str, Any]:
    return {
        "type": kind,
        "response": {"id": response_id, "object": "response", "status": status, "model": model},
    }


def _usage(usage: Mapping[str, Any]) -> dict[str, Any]:
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    return {
        "input_tokens": prompt,
        "output_tokens": completion,
        "total_tokens": int(usage.get("total_tokens") or prompt + completion),
    }
