"""What a client remembers about its own sends and steers: plain records, no I/O.

`ClientState` keeps them in its registries and updates them while it folds; `ClientSession`
hands them out (as `RunHandle` / `SteerHandle`, which add the futures it resolves).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from .client_model import PromptStatus, SteerState

SendKind = Literal["prompt", "edit", "regenerate", "approval"]
PostState = Literal["none", "pending", "ok", "failed"]


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass(eq=False)
class Send:
    """One send (prompt, edit, regenerate or approval response) and the run it triggers.

    `run_id` is "" until the matching `ai-run-start` / `ai-run-resume` arrives (docs/wire.md
    §3.4). `post` is the agent invocation's state (§3.3, §7.12).
    """

    kind: SendKind
    input_codec_message_id: str
    input_event_id: str
    target_run_id: str | None = None  # a continuation names its run up front
    run_id: str = ""
    serial: str | None = None  # of the published input
    published: bool = False
    post: PostState = "none"
    post_error: str | None = None
    waiting_for_agent: bool = False
    cancel_requested: bool = False
    end_status: str | None = None  # the run's terminal status, once it ended
    handled_by: str | None = None  # the operator in control who answers it (a 202)

    @property
    def prompt_status(self) -> PromptStatus:
        if self.run_id:
            return "started"
        if not self.published:
            return "sending"
        if self.post == "failed":
            return "agent not reached"
        if self.handled_by:
            return "handled by operator"
        if self.waiting_for_agent:
            return "waiting for agent"
        return "sent"

    @property
    def awaiting_run(self) -> bool:
        """Published, no run known, and an agent may still start one: a "pending" turn. A
        send whose POST failed is not pending until it is retried (nothing will start it)."""
        return (
            self.kind != "approval"
            and self.published
            and not self.run_id
            and self.post != "failed"
            and not self.handled_by  # an operator answers when they choose: no spinner
        )

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}({self.kind} {self.input_codec_message_id} run={self.run_id!r})"


@dataclass(eq=False)
class Steer:
    """One steer (§3.6): "pending" until the run answers it, ends, or the wait times out."""

    steer_cmid: str
    run_id: str
    text: str
    serial: str | None = None
    state: SteerState = "pending"
    run_terminal_reason: str | None = None

    @property
    def settled(self) -> bool:
        return self.state != "pending"
