"""The read-model a UI renders: prompts and turns as frozen snapshots (reference §6, §7).

`ClientSession.transcript()` returns these in branch order; `turn()` / `prompt()` return one.
They are built on demand from the tree plus what this device remembers (own inputs, cancel
requests, prompt status, steers, stall marks); nothing here touches the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tui_session.protocol import BranchSelection

PromptStatus = Literal[
    "sending",  # optimistic, publish not acknowledged yet
    "sent",  # published; the agent was (or is being) woken
    "agent not reached",  # the POST failed: retry() offered (§7.12)
    "waiting for agent",  # no ai-run-start within the configured time: retry() offered
    "handled by operator",  # the agent answered 202: an operator in control replies
    "started",  # the run for this input is known
]
SteerState = Literal["pending", "consumed", "not consumed", "unknown"]


@dataclass(frozen=True)
class Who:
    """Who did something: the hub-verified clientId, and the device its publisher named
    (client_wire's device header; None when it named none, e.g. an npm SDK client)."""

    client_id: str | None
    device: str | None = None


@dataclass(frozen=True)
class DecisionView:
    """The decision that counts for a tool call (approvals: the newest by someone who may
    decide)."""

    call_id: str
    approved: bool
    by: Who


@dataclass(frozen=True)
class MessageView:
    """One `OpenAIMessage` (`{role, items, toolCallStates?}`) with its codec-message-id."""

    cmid: str
    role: str
    message: Mapping[str, Any]

    @property
    def text(self) -> str:
        """Plain text of the message's `message` items."""
        chunks = []
        for item in self.message.get("items", []):
            if item.get("type") == "message":
                for part in item.get("content", []):
                    chunks.append(part.get("text") or part.get("refusal") or "")
        return "".join(chunks)

    @property
    def tool_call_states(self) -> Mapping[str, Mapping[str, Any]]:
        return self.message.get("toolCallStates", {})


@dataclass(frozen=True)
class StepView:
    step_id: str
    status: str  # active, complete, failed, cancelled
    attempts: int
    step_client_id: str | None


@dataclass(frozen=True)
class PendingApproval:
    """A gated tool call waiting for approve / deny (§3.7)."""

    assistant_cmid: str
    call_id: str
    name: str | None
    arguments: str | None


@dataclass(frozen=True)
class SteerView:
    steer_cmid: str
    run_id: str
    text: str
    state: SteerState
    run_terminal_reason: str | None = None
    by: Who | None = None  # who steered


@dataclass(frozen=True)
class PromptView:
    """A user prompt (input node). `status` is this device's status for an own prompt."""

    cmid: str
    client_id: str | None
    own: bool
    optimistic: bool
    messages: tuple[MessageView, ...]
    status: PromptStatus | None = None
    post_error: str | None = None
    run_id: str | None = None
    cancel_requested: bool = False
    branch: BranchSelection | None = None
    parent_not_loaded: bool = False
    device: str | None = None  # the author's device, when its publisher said (client_wire)
    handled_by: str | None = None  # the operator in control who answers it (docs/handover.md)
    this_device: bool = False  # published by this very device (own is per user)

    kind: Literal["prompt"] = "prompt"

    @property
    def text(self) -> str:
        return "".join(m.text for m in self.messages)


@dataclass(frozen=True)
class TurnView:
    """A run. `status` is the wire status (active, suspended, complete, cancelled, error);
    `label` is what a turn widget shows (e.g. "cancel requested", "stalled",
    "completed (cancel not applied)", "interrupted")."""

    run_id: str
    client_id: str | None
    own: bool
    status: str
    label: str
    messages: tuple[MessageView, ...]
    steps: tuple[StepView, ...]
    input_codec_message_id: str | None
    error_code: int | None = None
    error_message: str | None = None
    cancel_requested: bool = False
    cancel_label: str | None = None
    stalled: bool = False
    streaming: bool = False  # a stream of the run is still open
    interrupted: bool = False  # the run ended with streams still open (§7.1)
    pending_approvals: tuple[PendingApproval, ...] = ()
    steers: tuple[SteerView, ...] = ()
    branch: BranchSelection | None = None
    parent_not_loaded: bool = False
    trimmed: bool = False  # older messages of this run are outside the window
    operator: str | None = None  # an operator's reply (verified or unconfirmed), docs/handover.md
    device: str | None = None  # the device its opening input came from (a prompt, a regenerate)
    this_device: bool = False  # opened by this very device (own is per user)
    cancelled_by: Who | None = None  # whose cancel ended it (status cancelled)
    deciders: tuple[str, ...] | None = None  # who may approve or deny (None: anyone)
    can_decide: bool = True  # this client may approve or deny its pending calls
    decisions: tuple[DecisionView, ...] = ()  # the decisions that count, per call

    kind: Literal["turn"] = "turn"

    @property
    def text(self) -> str:
        return "".join(m.text for m in self.messages if m.role == "assistant")

    @property
    def terminal(self) -> bool:
        return self.status in ("complete", "cancelled", "error")


def message_views(pairs: list[tuple[str, dict[str, Any]]]) -> tuple[MessageView, ...]:
    return tuple(MessageView(cmid, str(msg.get("role", "")), msg) for cmid, msg in pairs)


def pending_approvals(messages: tuple[MessageView, ...]) -> tuple[PendingApproval, ...]:
    out = []
    for m in messages:
        for call_id, state in m.tool_call_states.items():
            if state.get("approval") == "pending":
                out.append(
                    PendingApproval(m.cmid, call_id, state.get("name"), state.get("arguments"))
                )
    return tuple(out)


def turn_label(
    status: str,
    *,
    cancel_label: str | None,
    stalled: bool,
    interrupted: bool,
) -> str:
    """One short label for a turn widget, most specific first."""
    if cancel_label and cancel_label != str(status):
        return cancel_label
    if status in ("active", "suspended") and stalled:
        return "stalled"
    if status == "suspended":
        return "waiting for approval"
    if status == "active":
        return "streaming"
    if interrupted:
        return f"{status} (interrupted)"
    return status
