"""The offline demo model: deterministic, no network, plainly not an AI.

It answers with Markdown built from the last user message (a paragraph, a bulleted list, a
fenced code block), streamed as Responses events at a configurable pace (tokens per second,
0 = as fast as possible). It demonstrates tools:

- a prompt asking for a human (a person, an operator, to escalate) -> a call to
  `request_human` (the turn waits for an operator), or, where it is not offered (no operators
  configured), an answer that says nobody could answer it;
- a prompt mentioning the time -> a call to `current_time` (runs without approval);
- a prompt mentioning "delete" or "approve" -> a call to `delete_files` (needs approval);
- a context ending with a `function_call_output` -> an answer quoting that output.
After an operator's replies (marked in the context by `handover.operator_note`), its answers
quote the last one, so it is visible that the operator's turns reached the model.

Tools are called only if offered (`tools`); with `tools=None` the built-ins count as offered.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

from tui_session.agent.tools import (
    CURRENT_TIME,
    DELETE_FILES,
    REQUEST_HUMAN,
    ToolSpec,
    builtin_tools,
)
from tui_session.protocol.handover import noted_operator

from .chat_adapter import IdFactory, random_ids

DEMO_NAME = "offline-demo"
DEFAULT_PACE = 40.0  # tokens per second, roughly a hosted model's speed

_TIME = re.compile(r"\btime\b", re.IGNORECASE)
# Asking for a person, not merely mentioning one ("what makes us human?" is not a request).
_HUMAN = re.compile(
    r"\b(?:talk|speak|chat)\s+(?:to|with)\s+(?:a\s+|an\s+|the\s+)?"
    r"(?:human|person|real person|someone|operator|support)\b"
    r"|\b(?:want|need|ask for|get me)\s+(?:a\s+|an\s+)?(?:human|person|real person|operator)\b"
    r"|\bescalate\b|\bhuman,?\s+please\b",
    re.IGNORECASE,
)
_APPROVAL = re.compile(r"\b(delete|deleting|approve|approval)\b", re.IGNORECASE)
_TOKEN = re.compile(r"\s*\S+|\s+")
_PATHLIKE = re.compile(r"[\w~./-]*[\w~-][./][\w./-]*\w")


def chunk_text(text: str) -> list[str]:
    """Token-ish pieces (a word with its leading whitespace) that join back to `text`."""
    return _TOKEN.findall(text)


def last_user_text(context: list[dict[str, Any]]) -> str:
    for item in reversed(context):
        if item.get("type", "message") == "message" and item.get("role") == "user":
            return message_text(item)
    return ""


def message_text(item: Mapping[str, Any]) -> str:
    content = item.get("content")
    if isinstance(content, str):
        return content
    return "".join(
        str(part.get("text", ""))
        for part in content or []
        if isinstance(part, Mapping) and part.get("type") in ("input_text", "text", "output_text")
    )


def last_operator_reply(context: list[dict[str, Any]]) -> tuple[str, str] | None:
    """(operator, text) of the last assistant message an operator note introduces."""
    found = None
    operator = None
    for item in context:
        if item.get("type", "message") != "message":
            continue
        if item.get("role") == "system":
            operator = noted_operator(message_text(item))
        elif item.get("role") == "assistant" and operator is not None:
            found, operator = (operator, message_text(item)), None
    return found


class DemoBackend:
    """The offline demo model (see the module doc)."""

    is_demo = True

    def __init__(self, *, pace: float = DEFAULT_PACE, new_id: IdFactory = random_ids) -> None:
        if pace < 0:
            raise ValueError("pace must be >= 0 tokens per second")
        self.name = DEMO_NAME
        self.pace = pace
        self._new_id = new_id

    async def aclose(self) -> None:
        return None

    async def stream(
        self, context: list[dict[str, Any]], *, tools: list[ToolSpec] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        offered = {t.name for t in (builtin_tools() if tools is None else tools)}
        response_id = self._new_id("resp")
        writer = _Writer(self._new_id, self.pace)
        yield _lifecycle("response.created", response_id, "in_progress")
        last = context[-1] if context else {}
        if last.get("type") == "function_call_output":
            async for event in writer.message(_tool_answer(context, last)):
                yield event
        else:
            prompt = last_user_text(context)
            call = _tool_call_for(prompt, offered)
            if call is None:
                answer = demo_answer(prompt, last_operator_reply(context))
                if _HUMAN.search(prompt):
                    answer = f"{NO_OPERATORS}\n\n{answer}"
                async for event in writer.message(answer):
                    yield event
            else:
                name, arguments = call
                note = f"The offline demo model calls the built-in `{name}` tool for this prompt"
                note += _CALL_NOTES.get(name, ".")
                async for event in writer.message(note):
                    yield event
                async for event in writer.function_call(name, arguments):
                    yield event
        yield _lifecycle("response.completed", response_id, "completed")


NO_OPERATORS = (
    "You asked for a human, but this agent has no human operators configured "
    "(`agent.operators`), so nobody could answer; the offline demo model answers instead."
)
_CALL_NOTES = {
    DELETE_FILES.name: " (it needs your approval first).",
    REQUEST_HUMAN.name: ": this turn now waits until a human operator answers or takes over.",
}


def demo_answer(prompt: str, operator_reply: tuple[str, str] | None = None) -> str:
    words = re.findall(r"\w+", prompt)
    shown = " ".join(prompt.split())
    if len(shown) > 80:
        shown = shown[:77] + "..."
    longest = max(words, key=len) if words else ""
    quoted = f"“{shown}”" if shown else "an empty prompt"
    lines = [
        "This is the **offline demo model**, not a language model: no model endpoint is "
        "configured, so this reply comes from a fixed template. "
        f"You wrote {quoted}.",
        "",
        *_operator_lines(operator_reply),
        f"- Your prompt has **{len(words)}** word(s) and {len(prompt)} character(s).",
        f"- Its longest word is `{longest}`." if longest else "- It has no words.",
        "- Ask for the **time** to see a tool call, or ask to **delete** a file to see an "
        "approval request.",
        "- Set `agent.model`, `agent.base_url` and `agent.api_key` to talk to a real model.",
        "",
        "```python",
        f"prompt = {json.dumps(shown, ensure_ascii=False)}",
        "print(len(prompt.split()), 'words')",
        "```",
    ]
    return "\n".join(lines)


def _operator_lines(operator_reply: tuple[str, str] | None) -> list[str]:
    if operator_reply is None:
        return []
    operator, text = operator_reply
    shown = " ".join(text.split())
    shown = shown if len(shown) <= 120 else shown[:117] + "..."
    return [f"Earlier, {operator} (a human operator) replied: “{shown}”", ""]


def _tool_call_for(prompt: str, offered: set[str]) -> tuple[str, dict[str, Any]] | None:
    if _HUMAN.search(prompt) and REQUEST_HUMAN.name in offered:
        shown = " ".join(prompt.split())
        shown = shown if len(shown) <= 160 else shown[:157] + "..."
        return REQUEST_HUMAN.name, {"reason": f"The user asked for a human: “{shown}”"}
    if _TIME.search(prompt) and CURRENT_TIME.name in offered:
        return CURRENT_TIME.name, {"timezone": "UTC"}
    if _APPROVAL.search(prompt) and DELETE_FILES.name in offered:
        paths = _PATHLIKE.findall(prompt) or ["example.txt"]
        return DELETE_FILES.name, {"paths": paths}
    return None


def _tool_answer(context: list[dict[str, Any]], output_item: Mapping[str, Any]) -> str:
    call_id = output_item.get("call_id")
    name = next(
        (
            str(item.get("name"))
            for item in context
            if item.get("type") == "function_call" and item.get("call_id") == call_id
        ),
        "tool",
    )
    output = output_item.get("output")
    text = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)
    if name == CURRENT_TIME.name:
        lead = f"The `{name}` tool reports the current time as **{text}**."
    elif name == REQUEST_HUMAN.name:
        lead = f"A human operator answered the request for a human:\n\n> {text}"
    else:
        lead = f"The `{name}` tool returned:\n\n> {text}"
    return (
        f"{lead}\n\nThis is the offline demo model repeating the tool's output; no language "
        "model read it."
    )


def _lifecycle(kind: str, response_id: str, status: str) -> dict[str, Any]:
    return {
        "type": kind,
        "response": {"id": response_id, "object": "response", "status": status, "model": DEMO_NAME},
    }


class _Writer:
    """Emits output items with increasing output_index, pacing each token-ish delta."""

    def __init__(self, new_id: IdFactory, pace: float) -> None:
        self._new_id = new_id
        self._delay = 1.0 / pace if pace > 0 else 0.0
        self._next_index = 0

    async def _tick(self) -> None:
        await asyncio.sleep(self._delay)  # sleep(0) still lets a cancel in

    async def message(self, text: str) -> AsyncIterator[dict[str, Any]]:
        item_id, index = self._new_id("msg"), self._next_index
        self._next_index += 1
        base = {"item_id": item_id, "output_index": index, "content_index": 0}
        item = {"id": item_id, "type": "message", "role": "assistant"}
        yield {
            "type": "response.output_item.added",
            "output_index": index,
            "item": {**item, "status": "in_progress", "content": []},
        }
        yield {
            "type": "response.content_part.added",
            **base,
            "part": {"type": "output_text", "text": "", "annotations": []},
        }
        for piece in chunk_text(text):
            await self._tick()
            yield {"type": "response.output_text.delta", **base, "delta": piece}
        yield {"type": "response.output_text.done", **base, "text": text}
        part = {"type": "output_text", "text": text, "annotations": []}
        yield {
            "type": "response.output_item.done",
            "output_index": index,
            "item": {**item, "status": "completed", "content": [part]},
        }

    async def function_call(
        self, name: str, arguments: dict[str, Any]
    ) -> AsyncIterator[dict[str, Any]]:
        item_id, index = self._new_id("fc"), self._next_index
        self._next_index += 1
        call_id = self._new_id("call")
        text = json.dumps(arguments)
        item = {"id": item_id, "type": "function_call", "call_id": call_id, "name": name}
        yield {
            "type": "response.output_item.added",
            "output_index": index,
            "item": {**item, "arguments": "", "status": "in_progress"},
        }
        for piece in chunk_text(text):
            await self._tick()
            yield {
                "type": "response.function_call_arguments.delta",
                "item_id": item_id,
                "output_index": index,
                "delta": piece,
            }
        yield {
            "type": "response.function_call_arguments.done",
            "item_id": item_id,
            "output_index": index,
            "arguments": text,
            "name": name,
        }
        yield {
            "type": "response.output_item.done",
            "output_index": index,
            "item": {**item, "arguments": text, "status": "completed"},
        }
