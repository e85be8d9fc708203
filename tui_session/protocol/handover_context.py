"""What the model reads of a handover (docs/handover.md, "Escalating" and "The agent while an
operator is in control"). Pure.

`context.context_messages(..., handover=view)` applies it to the conversation it builds:
- a run the fold refuses (an operator header its publisher may not claim, or a publisher who
  was not in control) is left out: forged words never reach the model;
- each verified operator reply is preceded by `handover.operator_note(operator)`, so the model
  neither takes the words for its own nor imitates them;
- an escalation's `request_human` call keeps only the output the agent accepted: the answer it
  took (`answer_event_id`), or the take-over's. Any other tool result on that call (one from
  someone who is not an operator, already on the channel) is dropped, so every call keeps at
  most one output and an open escalation none.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .handover import Escalation, Resolution, operator_note, takeover_output
from .handover_fold import HandoverView
from .tree import Node, RunNode

Message = dict[str, Any]
_KEEP_NONE = ""  # an open escalation: no output stands yet


def run_preamble(view: HandoverView | None, node: Node) -> list[Message] | None:
    """The messages to put before `node` in the context; None: leave the node out."""
    if view is None or not isinstance(node, RunNode):
        return []
    run = view.operator_runs.get(node.run_id)
    if run is None:
        return []
    if run.verification == "refused":
        return None
    return [operator_note(run.operator)] if run.verification == "verified" else []


def accepted_outputs(view: HandoverView) -> dict[str, str]:
    """Call id -> the one output an escalation's call keeps ("": none yet). Calls whose
    accepted output is not known (its answer is outside the loaded history) are not listed,
    and keep what the channel has."""
    out: dict[str, str] = {}
    for escalation in (*view.snapshot.open, *view.snapshot.resolved):
        accepted = _accepted(view, escalation)
        if accepted is not None:
            out[escalation.id] = accepted
    return out


def _accepted(view: HandoverView, escalation: Escalation) -> str | None:
    if escalation.open:
        return _KEEP_NONE
    if escalation.resolution == Resolution.TAKEN_OVER:
        return takeover_output(escalation.resolved_by or "")
    if escalation.resolution == Resolution.ANSWERED:
        for answer in view.answers.get(escalation.id, ()):
            if answer.event_id == escalation.answer_event_id:
                return output_text(answer.output)
    return None  # withdrawn or ended: its run is not in any context (it did not complete)


def output_text(output: Any) -> str:
    """A tool result's output as the projection stores it (text, or compact JSON)."""
    return output if isinstance(output, str) else json.dumps(output, separators=(",", ":"))


def keep_accepted(messages: list[Message], view: HandoverView | None) -> list[Message]:
    """`messages` with each escalation's call answered by its accepted output only."""
    if view is None:
        return messages
    accepted = accepted_outputs(view)
    if not accepted:
        return messages
    kept: set[str] = set()
    out: list[Message] = []
    for message in messages:
        items = [item for item in message.get("items", []) if _keeps(item, accepted, kept)]
        out.append({**message, "items": items})
    return out


def _keeps(item: Mapping[str, Any], accepted: Mapping[str, str], kept: set[str]) -> bool:
    call_id = item.get("call_id")
    if item.get("type") != "function_call_output" or call_id not in accepted:
        return True
    if call_id in kept or not accepted[call_id] or item.get("output") != accepted[call_id]:
        return False
    kept.add(call_id)
    return True
