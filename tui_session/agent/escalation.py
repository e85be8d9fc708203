"""Escalations on the agent's side (docs/handover.md, "Escalating"): a `request_human` call in
a suspended turn, made by the model or, for "ask for a human" from a terminal, by the agent
itself; and the rules for what may continue such a turn.

What may continue an escalated turn is decided on the trigger the POST names, before any run
is built (`admit`):
- while an operator is in control, a new prompt (or edit, or regenerate) is not the agent's to
  answer: `HandledByOperator` (the service answers `202`);
- a tool result on a `request_human` call from anyone not in `agent.operators` is refused with
  `403 40331`, and one on a call that no longer waits (taken over) with `409 40933`;
  the check is on the input's hub-verified clientId, the one thing a publisher cannot forge.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from typing import Any

from tui_session.agent.tools import escalation_reason
from tui_session.protocol import Kind, Tree
from tui_session.protocol.handover import (
    REQUEST_HUMAN,
    AskedBy,
    Escalation,
    HandoverError,
    Snapshot,
)
from tui_session.transport.agent import Run, Trigger

DEFAULT_ASK = "I'd like to talk to a human."


class Refusal(Exception):
    """The POST is refused; nothing was built and nothing changes for the turn."""

    def __init__(self, code: HandoverError, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = code.http_status
        self.message = message


class HandledByOperator(Exception):
    """An operator is in control: the prompt is theirs to answer (`202`)."""

    def __init__(self, operator: str, trigger: Trigger) -> None:
        super().__init__(operator)
        self.operator = operator
        self.trigger = trigger

    def body(self) -> dict[str, Any]:
        return {
            "runId": None,
            "invocationId": None,
            "handledBy": "operator",
            "operator": self.operator,
            "message": f"operator {self.operator} is in control of this session; "
            f"{self.operator} answers",
        }


@dataclass(frozen=True)
class Answer:
    """A tool result on a `request_human` call, as the POST that names it shows it."""

    call_id: str
    by: str | None  # the hub-verified publisher
    event_id: str


def admit(
    trigger: Trigger,
    *,
    kind: str | None,
    call_id: str | None,
    snapshot: Snapshot,
    tree: Tree,
    operators: Collection[str],
) -> Answer | None:
    """Raise if the agent must not continue with this trigger; an operator's answer to an
    escalation is returned (the caller resolves the escalation with it)."""
    if trigger.run_id is None:
        holder = snapshot.in_control
        if holder is not None and not tree.runs_for_input(trigger.codec_message_id):
            raise HandledByOperator(holder, trigger)
        return None
    if kind not in (Kind.TOOL_RESULT, Kind.TOOL_RESULT_ERROR) or not call_id:
        return None
    if not is_request_human(tree, trigger.run_id, call_id):
        return None
    if trigger.client_id not in operators:
        raise Refusal(
            HandoverError.ANSWER_NOT_OPERATOR,
            f"only an operator answers a request for a human; {trigger.client_id!r} is not "
            "one (agent.operators)",
        )
    known = snapshot.escalation(call_id)
    if known is not None and not known.open and known.answer_event_id != trigger.event_id:
        raise Refusal(
            HandoverError.NOT_AN_ESCALATION,
            f"this request for a human no longer waits: it was {known.resolution} by "
            f"{known.resolved_by}",
        )
    node = tree.run(trigger.run_id)
    if known is None and node is not None and node.terminal:
        raise Refusal(HandoverError.NOT_AN_ESCALATION, f"its turn has ended ({node.status})")
    return Answer(call_id, trigger.client_id, trigger.event_id)


def is_request_human(tree: Tree, run_id: str, call_id: str) -> bool:
    return call_message(tree, run_id, call_id, name=REQUEST_HUMAN) is not None


def call_message(
    tree: Tree, run_id: str, call_id: str, *, name: str | None = None
) -> tuple[str, dict[str, Any]] | None:
    """(the codec-message-id holding the call, the call) in run `run_id`'s messages."""
    node = tree.run(run_id)
    if node is None:
        return None
    for cmid, message in node.messages():
        for item in message.get("items", []):
            if item.get("type") == "function_call" and item.get("call_id") == call_id:
                if name is None or item.get("name") == name:
                    return cmid, item
    return None


def escalation_of(
    run: Run, call: dict[str, Any], message_id: str, asked_by: AskedBy, at_ms: int
) -> Escalation:
    return Escalation(
        id=str(call.get("call_id")),
        run_id=run.run_id,
        message_id=message_id,
        user=run.owner,
        asked_by=asked_by,
        reason=escalation_reason(call.get("arguments")),
        at_ms=at_ms,
    )


def asked_by_user(call: dict[str, Any]) -> bool:
    """A call the agent made for "ask for a human" (its id says so: the model's never do)."""
    return str(call.get("call_id", "")).startswith(USER_CALL_PREFIX)


USER_CALL_PREFIX = "call_user_"


async def call_without_model(run: Run, reason: str) -> dict[str, Any]:
    """Publish a `request_human` call with `reason` in `run` (one assistant message), as the
    model would have: "ask for a human" needs no model pass. Returns the call."""
    call = {
        "type": "function_call",
        "call_id": f"{USER_CALL_PREFIX}{uuid.uuid4().hex[:20]}",
        "name": REQUEST_HUMAN,
        "arguments": json.dumps({"reason": reason.strip() or DEFAULT_ASK}),
    }
    result = await run.pipe(_call_events(call))
    if result.reason == "error":
        raise result.error or RuntimeError("the request for a human could not be published")
    return call


async def _call_events(call: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    item_id = f"fc_{call['call_id']}"
    item = {"id": item_id, **call}
    where = {"item_id": item_id, "output_index": 0}
    yield {
        "type": "response.output_item.added",
        "output_index": 0,
        "item": {**item, "arguments": "", "status": "in_progress"},
    }
    yield {"type": "response.function_call_arguments.delta", **where, "delta": call["arguments"]}
    yield {"type": "response.function_call_arguments.done", **where, "arguments": call["arguments"]}
    yield {
        "type": "response.output_item.done",
        "output_index": 0,
        "item": {**item, "status": "completed"},
    }
