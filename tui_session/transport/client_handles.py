"""What a send returns: `RunHandle` (a prompt, edit, regenerate or approval and its run) and
`SteerHandle` (a steer and its outcome). Both are live read-models owned by a
`ClientSession`; their futures resolve on the session's event loop."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any, Literal

from .client_model import PromptStatus, TurnView

if TYPE_CHECKING:
    from .client import ClientSession

SendKind = Literal["prompt", "edit", "regenerate", "approval"]


def _new_id() -> str:
    return str(uuid.uuid4())


class RunHandle:
    """One send (prompt, edit, regenerate or approval response) and the run it triggers.

    `run_id` is "" until the matching `ai-run-start` / `ai-run-resume` arrives (§3.4);
    `started` resolves with the run id then, `ended` with the run's terminal status.
    """

    def __init__(
        self,
        session: ClientSession,
        kind: SendKind,
        cmid: str,
        event_id: str,
        *,
        target_run_id: str | None = None,
    ) -> None:
        loop = asyncio.get_running_loop()
        self._session = session
        self.kind: SendKind = kind
        self.input_codec_message_id = cmid
        self.input_event_id = event_id
        self.target_run_id = target_run_id  # a continuation names its run up front
        self.started: asyncio.Future[str] = loop.create_future()
        self.ended: asyncio.Future[str] = loop.create_future()
        self.serial: str | None = None  # of the published input
        self.published = False
        self.post: Literal["none", "pending", "ok", "failed"] = "none"
        self.post_error: str | None = None
        self.waiting_for_agent = False
        self.cancel_requested = False
        self._run_id: str | None = None
        self._timer: asyncio.TimerHandle | None = None

    @property
    def run_id(self) -> str:
        return self._run_id or ""

    @property
    def prompt_status(self) -> PromptStatus:
        if self._run_id:
            return "started"
        if not self.published:
            return "sending"
        if self.post == "failed":
            return "agent not reached"
        if self.waiting_for_agent:
            return "waiting for agent"
        return "sent"

    @property
    def turn(self) -> TurnView | None:
        return self._session.turn(self._run_id) if self._run_id else None

    def invocation(self) -> dict[str, Any]:
        """The POST body: exactly `{inputEventId, sessionName}` plus configured extras."""
        return self._session._invocation(self)

    async def cancel(self) -> None:
        await self._session._cancel_send(self)

    async def steer(self, text: str) -> SteerHandle:
        """Steer this send's run; waits for the run id if the run has not started (§3.6)."""
        run_id = self._run_id or self.target_run_id or await asyncio.shield(self.started)
        return await self._session.steer(run_id, text)

    async def retry(self) -> bool:
        """Re-POST the same body, only while no run for this input is known (§7.12)."""
        return await self._session._retry(self)

    def _start(self, run_id: str) -> None:
        self._run_id = run_id
        self.waiting_for_agent = False
        if self._timer is not None:
            self._timer.cancel()
        if not self.started.done():
            self.started.set_result(run_id)

    def __repr__(self) -> str:
        return f"RunHandle({self.kind} {self.input_codec_message_id} run={self.run_id!r})"


class SteerHandle:
    """One steer: `outcome` resolves "consumed", "not consumed" or "unknown" (timeout)."""

    def __init__(self, steer_cmid: str, run_id: str, text: str) -> None:
        self.steer_cmid = steer_cmid
        self.run_id = run_id
        self.text = text
        self.serial: str | None = None
        self.run_terminal_reason: str | None = None
        self.outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._timer: asyncio.TimerHandle | None = None

    @property
    def state(self) -> str:
        return self.outcome.result() if self.outcome.done() else "pending"

    def _resolve(self, state: str, reason: str | None = None) -> bool:
        if self.outcome.done():
            return False
        self.run_terminal_reason = reason
        self.outcome.set_result(state)
        if self._timer is not None:
            self._timer.cancel()
        return True
