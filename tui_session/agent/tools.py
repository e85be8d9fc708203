"""The agent's built-in tools: a JSON-schema spec usable with both OpenAI APIs, and a runner.

- `current_time`: runs at once (no approval).
- `delete_files`: needs the user's approval first, so suspend/approve is demonstrable. It is a
  **simulation**: it touches no file, and its output says so.
- `request_human`: asks a human operator to step in (docs/handover.md). It never runs here:
  its call suspends the turn like an approval does, and its output is the operator's answer,
  published by the operator's terminal as a tool result. Offered only where operators exist.

`ToolSpec.run(arguments)` takes the model's arguments (a JSON string, as models send them, or
a mapping) and returns the text handed back to the model as the `function_call_output`. Bad
arguments raise `ToolError` with a message fit for a `tool-result-error`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tui_session.protocol.handover import MAX_REASON
from tui_session.protocol.handover import REQUEST_HUMAN as REQUEST_HUMAN_NAME

__all__ = [
    "BUILTIN_TOOLS",
    "CURRENT_TIME",
    "DELETE_FILES",
    "REQUEST_HUMAN",
    "ToolError",
    "ToolSpec",
    "builtin_tools",
    "escalation_reason",
    "get_tool",
]


class ToolError(Exception):
    """A tool could not run: bad arguments or a failure, in words for the model and the user."""


Handler = Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments object
    needs_approval: bool = False
    answered_by_human: bool = False  # its output comes from an operator's tool result
    handler: Handler | None = field(default=None, compare=False, repr=False)

    @property
    def suspends_turn(self) -> bool:
        """A call to it ends the pass with the turn suspended, waiting for a person."""
        return self.needs_approval or self.answered_by_human

    def responses_tool(self) -> dict[str, Any]:
        """The tool in `/v1/responses` `tools` format."""
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
            "strict": False,
        }

    def chat_tool(self) -> dict[str, Any]:
        """The tool in `/v1/chat/completions` `tools` format."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    def run(self, arguments: str | Mapping[str, Any] | None) -> str:
        if self.handler is None:
            raise ToolError(f"tool {self.name!r} cannot run in this process")
        return self.handler(parse_arguments(self.name, arguments))


def parse_arguments(name: str, arguments: str | Mapping[str, Any] | None) -> dict[str, Any]:
    if arguments is None or arguments == "":
        return {}
    if isinstance(arguments, Mapping):
        return dict(arguments)
    try:
        parsed = json.loads(arguments)
    except ValueError:
        raise ToolError(f"arguments for {name!r} are not valid JSON: {arguments!r}") from None
    if not isinstance(parsed, dict):
        raise ToolError(f"arguments for {name!r} must be a JSON object, got {arguments!r}")
    return parsed


def _current_time(args: dict[str, Any], now: Callable[[], datetime] | None = None) -> str:
    zone_name = args.get("timezone") or "UTC"
    if not isinstance(zone_name, str):
        raise ToolError(f"timezone must be a string, got {zone_name!r}")
    try:
        zone = UTC if zone_name.upper() == "UTC" else ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolError(
            f"unknown time zone {zone_name!r} (use an IANA name such as 'Europe/London', or 'UTC')"
        ) from None
    moment = (now or (lambda: datetime.now(UTC)))().astimezone(zone)
    return f"{moment.isoformat(timespec='seconds')} ({zone_name})"


def _delete_files(args: dict[str, Any]) -> str:
    paths = args.get("paths")
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths) or not paths:
        raise ToolError("delete_files needs 'paths': a non-empty list of strings")
    listed = ", ".join(paths)
    return (
        f"Simulated: approved deletion of {len(paths)} file(s): {listed}. "
        "This is a demonstration tool; nothing was deleted."
    )


CURRENT_TIME = ToolSpec(
    name="current_time",
    description="The current date and time, in UTC or in a given IANA time zone.",
    parameters={
        "type": "object",
        "properties": {
            "timezone": {
                "type": "string",
                "description": "An IANA time zone such as 'Europe/Paris'; default UTC.",
            }
        },
        "required": [],
        "additionalProperties": False,
    },
    needs_approval=False,
    handler=_current_time,
)

DELETE_FILES = ToolSpec(
    name="delete_files",
    description=(
        "Delete files (a simulation for demonstrating approvals: nothing is deleted). "
        "Needs the user's approval before it runs."
    ),
    parameters={
        "type": "object",
        "properties": {
            "paths": {
                "type": "array",
                "items": {"type": "string"},
                "description": "The paths of the files to delete.",
            }
        },
        "required": ["paths"],
        "additionalProperties": False,
    },
    needs_approval=True,
    handler=_delete_files,
)

REQUEST_HUMAN = ToolSpec(
    name=REQUEST_HUMAN_NAME,
    description=(
        "Ask a human operator to step into this conversation. Use it when the user asks for "
        "a person, or when you cannot or must not decide alone (an exception to a policy, a "
        "complaint, anything legal, medical or about safety). The conversation waits until "
        "an operator answers (the answer is this tool's output) or takes over and replies "
        "to the user directly."
    ),
    parameters={
        "type": "object",
        "properties": {
            "reason": {
                "type": "string",
                "description": "Why a human is needed, in one sentence the operator reads first.",
            }
        },
        "required": ["reason"],
        "additionalProperties": False,
    },
    answered_by_human=True,
)

BUILTIN_TOOLS: dict[str, ToolSpec] = {
    t.name: t for t in (CURRENT_TIME, DELETE_FILES, REQUEST_HUMAN)
}


def builtin_tools(*, escalation: bool = True) -> list[ToolSpec]:
    """The built-ins; `escalation=False` leaves out `request_human` (no operators configured:
    nobody could answer it, so the model is not told it exists)."""
    return [t for t in BUILTIN_TOOLS.values() if escalation or not t.answered_by_human]


def escalation_reason(arguments: str | Mapping[str, Any] | None) -> str:
    """The operator-facing reason of a `request_human` call; a model that gave none, or bad
    JSON, still escalates (a person is better than a stuck turn)."""
    try:
        reason = parse_arguments(REQUEST_HUMAN_NAME, arguments).get("reason")
    except ToolError:
        reason = None
    text = " ".join(reason.split()) if isinstance(reason, str) else ""
    return text[:MAX_REASON] or "no reason given"


def get_tool(name: str) -> ToolSpec | None:
    return BUILTIN_TOOLS.get(name)
