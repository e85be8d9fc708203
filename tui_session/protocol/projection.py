"""The OpenAI codec's projection: decoded events folded into messages (docs/wire.md §5.3).

A node's projection is one `MessageProjection` per `codec-message-id`. `to_dict()` gives the
`OpenAIMessage` shape an npm client prints: `{role, items, toolCallStates?}`, where items are
valid `/v1/responses` input items.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .wire import TOOL_NOT_APPROVED_OUTPUT, Kind

REPLACE = "stream.replace"  # local-only event: a recovery replaced a part's text (§7.11)

# which field of a part a text stream grows
_PART_TEXT_FIELD = {"output_text": "text", "refusal": "refusal", "reasoning_text": "text"}


@dataclass
class _Item:
    fields: dict[str, Any]
    content: dict[int, dict[str, Any]] = field(default_factory=dict)  # positional part slots
    summary: dict[int, dict[str, Any]] = field(default_factory=dict)

    def materialise(self) -> dict[str, Any]:
        out = copy.deepcopy(self.fields)
        kind = out.get("type")
        if kind == "message" or (kind == "reasoning" and self.content):
            out["content"] = _prefix(self.content)
        if kind == "reasoning":
            out["summary"] = _prefix(self.summary)
        return out


def _prefix(slots: Mapping[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """A slot whose earlier siblings have not arrived yet stays hidden until they do."""
    parts = []
    while len(parts) in slots:
        parts.append(copy.deepcopy(slots[len(parts)]))
    return parts


class MessageProjection:
    """One message being folded from events, in wire order."""

    def __init__(self, role: str) -> None:
        self.role = role
        self._items: dict[str, _Item] = {}  # keyed by item id (or a synthetic key)
        self.tool_call_states: dict[str, dict[str, Any]] = {}

    @property
    def items(self) -> list[dict[str, Any]]:
        return [item.materialise() for item in self._items.values()]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "items": self.items}
        if self.tool_call_states:
            out["toolCallStates"] = copy.deepcopy(self.tool_call_states)
        return out

    def text(self) -> str:
        """Plain text of the message's `message` items, for quick rendering and tests."""
        chunks = []
        for item in self.items:
            if item.get("type") == "message":
                for part in item.get("content", []):
                    chunks.append(part.get("text") or part.get("refusal") or "")
        return "".join(chunks)

    # --- folding ---------------------------------------------------------------------------

    def apply(self, event: Mapping[str, Any]) -> None:
        handler = _HANDLERS.get(str(event.get("type")))
        if handler is not None:
            handler(self, event)

    def _item_added(self, event: Mapping[str, Any]) -> None:
        item = dict(event.get("item") or {})
        key = str(item.get("id") or f"#{len(self._items)}")
        if key in self._items:
            return  # the synthesised container and the real one collapse
        content = {i: dict(p) for i, p in enumerate(item.pop("content", None) or [])}
        summary = {i: dict(p) for i, p in enumerate(item.pop("summary", None) or [])}
        if item.get("type") == "function_call":
            item["arguments"] = item.get("arguments") or ""
        self._items[key] = _Item(item, content, summary)

    def _item(self, item_id: Any, kind: str) -> _Item:
        key = str(item_id)
        if key not in self._items:  # a delta straddling a page boundary: make its container
            self._items[key] = _Item({"id": key, "type": kind})
        return self._items[key]

    def _content_part_added(self, event: Mapping[str, Any]) -> None:
        part = dict(event.get("part") or {})
        kind = "reasoning" if part.get("type") == "reasoning_text" else "message"
        slots = self._item(event.get("item_id"), kind).content
        slots.setdefault(int(event.get("content_index", 0)), part)

    def _summary_part_added(self, event: Mapping[str, Any]) -> None:
        part = dict(event.get("part") or {"type": "summary_text", "text": ""})
        slots = self._item(event.get("item_id"), "reasoning").summary
        slots.setdefault(int(event.get("summary_index", 0)), part)

    def _text_delta(self, event: Mapping[str, Any], part_type: str, done: bool) -> None:
        text_field = _PART_TEXT_FIELD[part_type]
        kind = "reasoning" if part_type == "reasoning_text" else "message"
        slots = self._item(event.get("item_id"), kind).content
        part = slots.setdefault(int(event.get("content_index", 0)), {"type": part_type})
        if done:
            part[text_field] = event.get(text_field, part.get(text_field, ""))
        else:
            part[text_field] = part.get(text_field, "") + str(event.get("delta", ""))

    def _summary_delta(self, event: Mapping[str, Any], done: bool) -> None:
        slots = self._item(event.get("item_id"), "reasoning").summary
        part = slots.setdefault(int(event.get("summary_index", 0)), {"type": "summary_text"})
        if done:
            part["text"] = event.get("text", part.get("text", ""))
        else:
            part["text"] = part.get("text", "") + str(event.get("delta", ""))

    def _arguments(self, event: Mapping[str, Any], done: bool) -> None:
        item = self._item(event.get("item_id"), "function_call").fields
        if done:
            item["arguments"] = event.get("arguments", item.get("arguments", ""))
        else:
            item["arguments"] = item.get("arguments", "") + str(event.get("delta", ""))

    def _replace(self, event: Mapping[str, Any]) -> None:
        kind, text = event.get("kind"), str(event.get("text", ""))
        if kind == Kind.FUNCTION_CALL_ARGUMENTS:
            self._arguments({"item_id": event.get("item_id"), "arguments": text}, done=True)
        elif kind == Kind.REASONING_SUMMARY_TEXT:
            done = {
                "item_id": event.get("item_id"),
                "summary_index": event.get("index"),
                "text": text,
            }
            self._summary_delta(done, done=True)
        elif kind in _PART_TEXT_FIELD:
            done = {
                "item_id": event.get("item_id"),
                "content_index": event.get("index"),
                _PART_TEXT_FIELD[str(kind)]: text,
            }
            self._text_delta(done, str(kind), done=True)

    def _item_done(self, event: Mapping[str, Any]) -> None:
        """`output_item.done` only finalises status, logprobs and encrypted content."""
        done = event.get("item") or {}
        item = self._item(done.get("id"), str(done.get("type", "message")))
        if "status" in done:
            item.fields["status"] = done["status"]
        if "encrypted_content" in done:
            item.fields["encrypted_content"] = done["encrypted_content"]
        for index, logprobs in enumerate(done.get("logprobs") or []):
            if index in item.content:
                item.content[index]["logprobs"] = logprobs

    def _function_call_output(self, event: Mapping[str, Any]) -> None:
        item = dict(event.get("item") or {})
        self._add_output(str(item.get("call_id", "")), item.get("output", ""))

    def _add_output(self, call_id: str, output: Any) -> None:
        if not isinstance(output, str):
            output = json.dumps(output, separators=(",", ":"))
        key = f"output:{call_id}:{len(self._items)}"
        self._items[key] = _Item(
            {"type": "function_call_output", "call_id": call_id, "output": output}
        )

    def _approval_request(self, event: Mapping[str, Any]) -> None:
        state = self.tool_call_states.setdefault(str(event.get("call_id")), {})
        state.update(approval="pending", name=event.get("name"), arguments=event.get("arguments"))

    def _approval_response(self, event: Mapping[str, Any]) -> None:
        call_id = str(event.get("call_id"))
        state = self.tool_call_states.setdefault(call_id, {})
        if event.get("approved"):
            state["approval"] = "approved"
            return
        state["approval"] = "denied"
        reason = event.get("reason")
        if reason:
            state["reason"] = reason
        # a denial still answers the call, so a later model input stays valid
        self._add_output(call_id, reason or TOOL_NOT_APPROVED_OUTPUT)

    def _tool_result(self, event: Mapping[str, Any], ok: bool) -> None:
        call_id = str(event.get("call_id"))
        self._add_output(call_id, event.get("output") if ok else event.get("message", ""))
        self.tool_call_states.setdefault(call_id, {})["result"] = "ok" if ok else "failed"

    def _user_part(self, event: Mapping[str, Any]) -> None:
        """Parts of one user message merge into one `message` item, in serial order."""
        item = self._items.get("user")
        if item is None:
            item = self._items["user"] = _Item({"type": "message", "role": "user"})
        item.content[len(item.content)] = dict(event.get("part") or {})


_HANDLERS = {
    "response.output_item.added": MessageProjection._item_added,
    "response.content_part.added": MessageProjection._content_part_added,
    "response.reasoning_summary_part.added": MessageProjection._summary_part_added,
    "response.output_text.delta": lambda m, e: m._text_delta(e, "output_text", False),
    "response.output_text.done": lambda m, e: m._text_delta(e, "output_text", True),
    "response.refusal.delta": lambda m, e: m._text_delta(e, "refusal", False),
    "response.refusal.done": lambda m, e: m._text_delta(e, "refusal", True),
    "response.reasoning_text.delta": lambda m, e: m._text_delta(e, "reasoning_text", False),
    "response.reasoning_text.done": lambda m, e: m._text_delta(e, "reasoning_text", True),
    "response.reasoning_summary_text.delta": lambda m, e: m._summary_delta(e, False),
    "response.reasoning_summary_text.done": lambda m, e: m._summary_delta(e, True),
    "response.function_call_arguments.delta": lambda m, e: m._arguments(e, False),
    "response.function_call_arguments.done": lambda m, e: m._arguments(e, True),
    "response.output_item.done": MessageProjection._item_done,
    REPLACE: MessageProjection._replace,
    Kind.FUNCTION_CALL_OUTPUT: MessageProjection._function_call_output,
    Kind.TOOL_APPROVAL_REQUEST: MessageProjection._approval_request,
    Kind.TOOL_APPROVAL_RESPONSE: MessageProjection._approval_response,
    Kind.TOOL_RESULT: lambda m, e: m._tool_result(e, True),
    Kind.TOOL_RESULT_ERROR: lambda m, e: m._tool_result(e, False),
    Kind.USER_MESSAGE: MessageProjection._user_part,
}


# --- utilities on message lists (dicts as returned by `to_dict`) ----------------------------


def _all_items(messages: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [item for message in messages for item in message.get("items", [])]


def _states(messages: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    states: dict[str, dict[str, Any]] = {}
    for message in messages:
        for call_id, state in (message.get("toolCallStates") or {}).items():
            states.setdefault(call_id, {}).update(state)
    return states


def resolved_call_ids(messages: Iterable[Mapping[str, Any]]) -> set[str]:
    """Call ids that have a `function_call_output`."""
    return {
        str(item.get("call_id"))
        for item in _all_items(messages)
        if item.get("type") == "function_call_output"
    }


def _calls(messages: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [item for item in _all_items(messages) if item.get("type") == "function_call"]


def _open_calls(messages: Iterable[Mapping[str, Any]], *, approved: bool) -> list[dict[str, Any]]:
    """Function calls with no output, approved or not."""
    messages = list(messages)
    resolved, states = resolved_call_ids(messages), _states(messages)
    return [
        call
        for call in _calls(messages)
        if call.get("call_id") not in resolved
        and (states.get(str(call.get("call_id")), {}).get("approval") == "approved") == approved
    ]


def unanswered_calls(messages: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Function calls with no output that are not approved."""
    return _open_calls(messages, approved=False)


def approved_unexecuted_calls(messages: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Approved calls with no output: what a resuming agent must run."""
    return _open_calls(messages, approved=True)


def to_responses_input(messages: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Flatten every message's items into `/v1/responses` input."""
    return _all_items(messages)


def to_chat_messages(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Model context for a Chat Completions server (§5.5, the reverse direction)."""
    out: list[dict[str, Any]] = []
    for item in items:
        kind = item.get("type")
        if kind == "message":
            text = "".join(
                str(p.get("text") or p.get("refusal") or "") for p in item.get("content", [])
            )
            out.append({"role": item.get("role", "assistant"), "content": text})
        elif kind == "function_call":
            call = {
                "id": item.get("call_id"),
                "type": "function",
                "function": {"name": item.get("name"), "arguments": item.get("arguments", "")},
            }
            last = out[-1] if out else None
            if last and last["role"] == "assistant" and "tool_calls" in last:
                last["tool_calls"].append(call)
            elif last and last["role"] == "assistant" and "tool_calls" not in last:
                last["tool_calls"] = [call]
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            out.append(
                {"role": "tool", "tool_call_id": item.get("call_id"), "content": item.get("output")}
            )
        # reasoning items are dropped: most Chat Completions servers reject them
    return out
