"""An operator's reply: an ordinary run, published by the operator's terminal. Pure.

While an operator is in control the agent answers no prompt; the operator's terminal answers
instead, through the same encoder the agent uses (`RunHeaders`, `ResponsesEncoder`), so every
device, ours or a web client on the npm SDK, shows the reply as the assistant's side of the
conversation, streamed like any answer. Every message of the run carries the application
header `operator` (`extras.headers`, which the AI Transport wire leaves to the application and
0.8.0 ignores); our clients show the reply as the operator's when its publisher is the
operator in control at that serial (`handover_fold.OperatorRun`).

The plan is three batches, because outputs need the step start's serial: `opening()`
(`ai-run-start`, `ai-step-start`), `body(step_start_serial, text)` (one assistant message:
item added, a text stream, item done), `closing(step_start_serial)` (`ai-step-end`,
`ai-run-end`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from .encoder import Operation, Publish, RunHeaders, Step, default_step_id
from .handover import OPERATOR_HEADER
from .responses import ResponsesEncoder

REPLY_PIECE = 400  # characters per append: a long reply still streams in a few appends


@dataclass(frozen=True)
class ReplyTarget:
    """What a reply answers, with the parent rules of docs/wire.md §4.2 (those of the agent)."""

    parent: str | None  # codec-message-id the run hangs under
    input_codec_message_id: str
    run_client_id: str  # the turn's owner
    input_client_id: str | None
    fork_of: str | None = None
    msg_regenerate: str | None = None

    @classmethod
    def prompt(
        cls, cmid: str, owner: str, publisher: str | None, fork_of: str | None = None
    ) -> ReplyTarget:
        """A user prompt (or an edited one) that has no answer: the reply is its turn."""
        return cls(cmid, cmid, owner, publisher, fork_of=fork_of)

    @classmethod
    def regenerate(
        cls, carrier: str, prompt: str, target: str, owner: str, publisher: str | None
    ) -> ReplyTarget:
        """A regenerate signal `carrier` (parent `prompt`, msg-regenerate `target`)."""
        return cls(prompt, carrier, owner, publisher, msg_regenerate=target)

    @classmethod
    def spontaneous(cls, tail: str | None, operator: str, message_id: str) -> ReplyTarget:
        """Nobody asked (a greeting after taking over): the run hangs under the last visible
        message and names its own message as its trigger, so it correlates with no send."""
        return cls(tail, message_id, operator, operator)


@dataclass(frozen=True)
class OperatorReply:
    operator: str
    headers: RunHeaders
    message_id: str  # the reply's assistant codec-message-id
    item_id: str
    step_id: str

    @classmethod
    def plan(
        cls,
        operator: str,
        target: ReplyTarget,
        *,
        run_id: str | None = None,
        invocation_id: str | None = None,
        message_id: str | None = None,
    ) -> OperatorReply:
        invocation = invocation_id or str(uuid.uuid4())
        headers = RunHeaders(
            run_id=run_id or str(uuid.uuid4()),
            invocation_id=invocation,
            input_codec_message_id=target.input_codec_message_id,
            run_client_id=target.run_client_id,
            input_client_id=target.input_client_id,
            parent=target.parent,
            fork_of=target.fork_of,
            msg_regenerate=target.msg_regenerate,
        )
        message = message_id or str(uuid.uuid4())
        return cls(operator, headers, message, f"msg_{message}", default_step_id(invocation, 0))

    @property
    def run_id(self) -> str:
        return self.headers.run_id

    @property
    def step_client_id(self) -> str:
        return self.headers.input_client_id or self.operator

    def opening(self) -> list[Publish]:
        ops = [
            self.headers.run_start(),
            self.headers.step_start(self.step_id, self.step_client_id),
        ]
        return [attributed(op, self.operator) for op in ops]

    def body(self, step_start_serial: str, text: str) -> list[Operation]:
        step = Step(self.step_id, self.step_client_id, step_start_serial)
        encoder = ResponsesEncoder(self.headers.output_encoder(self.message_id, step))
        ops: list[Operation] = []
        for event in message_events(self.item_id, pieces(text)):
            ops += encoder.encode(event)
        ops += encoder.finish()
        return [attributed(op, self.operator) for op in ops]

    def closing(self, step_start_serial: str) -> list[Publish]:
        step = Step(self.step_id, self.step_client_id, step_start_serial)
        ops = [self.headers.step_end(step), self.headers.run_end()]
        return [attributed(op, self.operator) for op in ops]


def attributed(op: Operation, operator: str) -> Any:
    """`op` with `extras.headers.operator` (an append replaces extras: every op carries it)."""
    headers: Mapping[str, Any] = op.extras.get("headers") or {}
    return replace(op, extras={**op.extras, "headers": {**headers, OPERATOR_HEADER: operator}})


def pieces(text: str, size: int = REPLY_PIECE) -> list[str]:
    """`text` cut into appends of at most `size` characters, at whitespace where possible."""
    out: list[str] = []
    rest = text
    while len(rest) > size:
        cut = rest.rfind(" ", 0, size) + 1 or size
        out.append(rest[:cut])
        rest = rest[cut:]
    return [*out, rest] if rest or not out else out


def message_events(item_id: str, parts: list[str], output_index: int = 0) -> list[dict[str, Any]]:
    """One assistant text message as OpenAI Responses stream events (docs/wire.md §8.3)."""
    where = {"item_id": item_id, "output_index": output_index, "content_index": 0}
    text = "".join(parts)
    return [
        {
            "type": "response.output_item.added",
            "output_index": output_index,
            "item": {
                "id": item_id,
                "type": "message",
                "role": "assistant",
                "status": "in_progress",
                "content": [],
            },
        },
        {
            "type": "response.content_part.added",
            **where,
            "part": {"type": "output_text", "text": "", "annotations": []},
        },
        *({"type": "response.output_text.delta", **where, "delta": p} for p in parts),
        {"type": "response.output_text.done", **where, "text": text},
        {
            "type": "response.output_item.done",
            "output_index": output_index,
            "item": {"id": item_id, "type": "message", "status": "completed"},
        },
    ]
