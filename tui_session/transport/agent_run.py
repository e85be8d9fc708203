"""One run of the agent: lifecycle, steps, piping Responses events, steering (docs/wire.md
§4.2 to §4.7).

Created by `AgentSession.create_run` (agent.py), which routes cancels and steers to it. A run
reaches back to its session only through `RunHost`: the tree and channel it shares, the
session's settings, and four calls (early cancels, closed, suspended, wait for the tree).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import Any, Protocol

from tui_session.protocol import (
    Decoded,
    ErrorCode,
    ProtocolError,
    ResponsesEncoder,
    RunHeaders,
    RunReason,
    Step,
    StepReason,
    Tree,
    default_step_id,
)
from tui_session.protocol.approvals import with_approvers
from tui_session.protocol.context import context_input, context_messages
from tui_session.protocol.handover_fold import HandoverView
from tui_session.protocol.responses import normalise_event, unsupported_event
from tui_session.protocol.wire import Role

from .agent_trigger import Trigger
from .channel_io import ChannelWriter

log = logging.getLogger("tui_session.transport.agent")

CancelHook = Callable[[Decoded, "Run"], Any]  # -> bool or Awaitable[bool]
SteerHook = Callable[[Decoded, "Run"], Any]
ECHO_WAIT_S = 2.0


class RunHost(Protocol):
    """What a `Run` needs from the session serving it (`agent.AgentSession`)."""

    tree: Tree  # the session's conversation, shared by its runs
    channel: Any
    rollup_window_s: float
    context_budget: int

    async def honour_early_cancels(self, run: Run) -> None:
        """At the run's start: honour cancels that targeted it before it existed."""
        ...

    def run_closed(self, run: Run) -> None:
        """The run ended or suspended: route nothing more to it."""
        ...

    def run_suspended(self, run: Run) -> None:
        """The run's suspend is published: a cancel of it now ends it."""
        ...

    def deciders(self, run: Run) -> list[str]:
        """Who may approve or deny the run's tool calls, named on its suspend."""
        ...

    def may_steer(self, client_id: str | None, run: Run) -> bool:
        """Whether a steer from `client_id` counts for the run."""
        ...

    async def wait_for_tree(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until the tree makes `predicate` true; False on timeout."""
        ...

    def handover_view(self) -> HandoverView | None:
        """What the model reads of the session's handover (docs/handover.md), if watched."""
        ...


async def publish_lifecycle(channel: Any, op: Any) -> str:
    """Publish a lifecycle or step message and wait for its ACK (104003 on failure)."""
    try:
        return await ChannelWriter(channel).publish(op)
    except ProtocolError:
        raise
    except Exception as exc:
        raise ProtocolError(
            ErrorCode.RUN_LIFECYCLE_ERROR, f"unable to publish {op.name}; {exc}"
        ) from exc


@dataclass(frozen=True)
class PipeResult:
    """How a pipe ended: `complete`, `cancelled` or `error` (with the exception)."""

    reason: str
    error: BaseException | None = None


_STEP_REASON = {
    RunReason.COMPLETE: StepReason.COMPLETE,
    RunReason.CANCELLED: StepReason.CANCELLED,
    RunReason.ERROR: StepReason.FAILED,
}


class RunStep:
    """One step attempt: `ai-step-start`, outputs stamped with its serial, `ai-step-end`.

    `pipe()` and `send()` each publish one assistant message (a fresh codec-message-id).
    """

    def __init__(self, run: Run, step_id: str, step_client_id: str) -> None:
        self.run = run
        self.step_id = step_id
        self.step_client_id = step_client_id
        self.step: Step | None = None
        self.reason: StepReason | None = None
        self.failed = False

    @property
    def open(self) -> bool:
        return self.step is not None and self.reason is None

    async def start(self) -> None:
        if self.step is not None:
            return
        self.run._check_writable("start step")
        op = self.run.headers.step_start(self.step_id, self.step_client_id)
        serial = await self.run._lifecycle(op)
        self.step = Step(self.step_id, self.step_client_id, serial)
        self.run._open_step = self

    async def end(self, reason: StepReason | str | None = None) -> None:
        if self.step is None or self.reason is not None:
            return
        if reason is None:
            reason = (
                StepReason.CANCELLED
                if self.run.cancelled
                else StepReason.FAILED
                if self.failed
                else StepReason.COMPLETE
            )
        self.reason = StepReason(reason)
        if self.run._open_step is self:
            self.run._open_step = None
        self.run._last_step = self
        await self.run._lifecycle(self.run.headers.step_end(self.step, self.reason))

    async def send(self, events: dict[str, Any] | Iterable[dict[str, Any]]) -> None:
        """Publish discrete events (or a complete stream) as one assistant message."""
        batch = [events] if isinstance(events, dict) else list(events)

        async def source() -> AsyncIterator[dict[str, Any]]:
            for event in batch:
                yield event

        result = await self.pipe(source())
        if result.reason == RunReason.ERROR and result.error is not None:
            raise result.error

    async def pipe(self, events: AsyncIterable[dict[str, Any]]) -> PipeResult:
        await self.start()
        return await self.run._pipe_into(self, events, lazy=False)


class Run:
    """A run opened (or continued) by this agent for one invocation."""

    def __init__(
        self,
        session: RunHost,
        trigger: Trigger,
        headers: RunHeaders,
        *,
        owner_verified: str | None,
        continuation: bool,
        chain_start: str | None,
        on_cancel: CancelHook | None = None,
        on_steer: SteerHook | None = None,
        duplicate: bool = False,
    ) -> None:
        self.session = session
        self.trigger = trigger
        self.headers = headers
        self.owner_verified = owner_verified
        self.continuation = continuation
        self.chain_start = chain_start
        self.on_cancel = on_cancel
        self.on_steer = on_steer
        self.duplicate = duplicate
        self.abort = asyncio.Event()
        self.cancelled = False
        self.cancelled_by: str | None = None  # the verified sender of the honoured cancel
        self.status = "created"
        self.error: BaseException | None = None  # the last pipe failure
        self.steps: list[RunStep] = []
        self._open_step: RunStep | None = None
        self._last_step: RunStep | None = None
        self._step_n = 0
        self._started = False
        self._closed = False  # ended or suspended: this run object publishes nothing more
        self._lock = asyncio.Lock()
        self._first_pass = True
        self._known_steers: set[str] = set()
        self._pending_steers: list[str] = []
        self._stamp: list[str] = []  # drained steers, stamped on the next message
        self._dropped_types: set[str] = set()
        self._published: dict[str, str] = {}  # output serial -> latest version we sent

    # --- identity ----------------------------------------------------------------------------

    @property
    def run_id(self) -> str:
        return self.headers.run_id

    @property
    def invocation_id(self) -> str:
        return self.headers.invocation_id

    @property
    def owner(self) -> str:
        """The run's `run-client-id` (the owner's, also on continuations, §7.8)."""
        return self.headers.run_client_id

    def ids(self) -> dict[str, str]:
        """What the service answers the POST with (the existing run's ids for a duplicate)."""
        return {"runId": self.run_id, "invocationId": self.invocation_id}

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """`ai-run-start` (fresh) or `ai-run-resume` (continuation); honours buffered cancels."""
        if self.duplicate:
            raise ProtocolError(
                ErrorCode.INVALID_ARGUMENT,
                f"unable to start run; input already has run {self.run_id}",
            )
        if self._started:
            return
        if self._closed:
            raise ProtocolError(ErrorCode.OPERATION_CANCELLED, "unable to start run; run ended")
        self._started = True
        self._seed_steers()
        op = self.headers.run_resume() if self.continuation else self.headers.run_start()
        await self._lifecycle(op)
        self.status = "active"
        await self.session.honour_early_cancels(self)

    async def suspend(self) -> None:
        """`ai-run-suspend`: terminal for this invocation; a later one may resume the run."""
        if self.duplicate or self._closed:
            return
        if self._open_step is not None:
            raise ProtocolError(ErrorCode.INVALID_ARGUMENT, "unable to suspend; a step is open")
        if self.cancelled:
            await self.end(RunReason.CANCELLED)
            return
        async with self._lock:
            if self._closed:
                return
            self._closed = True
            self.session.run_closed(self)
            op = with_approvers(self.headers.run_suspend(), self.session.deciders(self))
            await self._lifecycle(op)
            self.status = "suspended"
            self.session.run_suspended(self)

    async def end(
        self,
        reason: RunReason | str | None = None,
        error_code: int | None = None,
        error_message: str | None = None,
    ) -> None:
        """`ai-run-end`; idempotent. Closes an open step first. Without a reason: `cancelled`
        if the run was cancelled, `error` if a pipe failed, else `complete`."""
        if self.duplicate or self._closed:
            return
        if reason == RunReason.CANCELLED or (reason is None and self.cancelled):
            self.mark_cancelled()  # stop a pipe in flight before waiting for it
        async with self._lock:
            if self._closed:
                return
            self._closed = True
            self.session.run_closed(self)
            if reason is None:
                reason = (
                    RunReason.CANCELLED
                    if self.cancelled
                    else RunReason.ERROR
                    if self.error is not None
                    else RunReason.COMPLETE
                )
            reason = RunReason(reason)
            if reason == RunReason.ERROR and self.error is not None:
                error_code = error_code or _error_code(self.error)
                error_message = error_message or _error_message(self.error)
            self.abort.set()
            if not self._started:
                self.status = str(reason)
                return  # created but never started: nothing was published
            try:
                if self._open_step is not None:
                    with suppress(Exception):
                        await self._open_step.end(_STEP_REASON[reason])
                headers = self.headers
                if reason == RunReason.CANCELLED and self.cancelled_by:
                    # the end names whose cancel it was (the canceller's verified clientId)
                    headers = replace(headers, input_client_id=self.cancelled_by)
                op = headers.run_end(reason, error_code, error_message)
                await self._lifecycle(op)
            finally:
                self.status = str(reason)

    def mark_cancelled(self, by: str | None = None) -> None:
        """Stop the run: a pipe in flight ends at its next event (the session calls this for
        an authorised cancel, naming its sender)."""
        if not self.cancelled:
            self.cancelled_by = by
        self.cancelled = True
        self.abort.set()

    # --- steering (§4.6) ---------------------------------------------------------------------

    def has_input(self) -> bool:
        """True for the trigger until the first pass, then whenever steers are pending;
        drains them: the next message is stamped with their ids."""
        if self.cancelled or self._closed:
            return False
        if self._pending_steers:
            self._stamp += self._pending_steers
            self._pending_steers = []
            return True
        return self._first_pass

    def _seed_steers(self) -> None:
        """Steers that folded before the run opened (e.g. from history on a resume)."""
        node = self.session.tree.run(self.run_id)
        if node is None:
            return
        answered = node.steer_ids
        senders = {e.codec_message_id: e.client_id for e in node.log if e.role == Role.USER}
        for cmid, message in node.messages():
            if message.get("role") == Role.USER and cmid not in answered:
                if not self.session.may_steer(senders.get(cmid), self):
                    continue
                if cmid not in self._known_steers:
                    self._known_steers.add(cmid)
                    self._pending_steers.append(cmid)

    def add_steer(self, decoded: Decoded) -> bool:
        """A steer the session routed here (§4.6); False if known already or run closed."""
        cmid = decoded.transport.get("codec-message-id", "")
        if not cmid or cmid in self._known_steers or self._closed:
            return False
        self._known_steers.add(cmid)
        self._pending_steers.append(cmid)
        return True

    # --- model context (§4.7) ----------------------------------------------------------------

    async def context_messages(self) -> list[dict[str, Any]]:
        """The OpenAI messages the model sees for the next pass."""
        await self._await_echoes()
        return context_messages(self.session.tree, **self._context_args())

    async def model_context(self) -> list[dict[str, Any]]:
        """The next pass's `/v1/responses` input items."""
        await self._await_echoes()
        return context_input(self.session.tree, **self._context_args())

    def _context_args(self) -> dict[str, Any]:
        return {
            "start": self.chain_start,
            "run_id": self.run_id,
            "regenerates": self.headers.msg_regenerate,
            "budget": self.session.context_budget,
            "handover": self.session.handover_view(),
            "steer_by": lambda client_id: self.session.may_steer(client_id, self),
        }

    async def _await_echoes(self) -> None:
        """Our own outputs fold into the tree through the subscription: wait for them."""
        tree = self.session.tree

        def folded() -> bool:
            node = tree.run(self.run_id)
            if node is None:
                return not self._published
            versions = {e.serial: e.version for e in node.log}
            return all(
                serial in versions and versions[serial] >= version
                for serial, version in self._published.items()
            )

        if not await self.session.wait_for_tree(folded, ECHO_WAIT_S):
            log.warning("run %s: own outputs not echoed within %.1f s", self.run_id, ECHO_WAIT_S)

    # --- steps and pipes ---------------------------------------------------------------------

    def step(self, step_id: str | None = None, step_client_id: str | None = None) -> RunStep:
        """An explicit step. Right after a `failed` step, the default id retries that step."""
        self._check_writable("create step")
        if self._open_step is not None:
            raise ProtocolError(ErrorCode.INVALID_ARGUMENT, "unable to create step; one is open")
        last = self._last_step
        if step_id is None:
            if last is not None and last.reason == StepReason.FAILED:
                step_id = last.step_id
            else:
                step_id = default_step_id(self.invocation_id, self._step_n)
                self._step_n += 1
        if step_client_id is None:
            step_client_id = last.step_client_id if last else (self.headers.input_client_id or "")
        step = RunStep(self, step_id, step_client_id)
        self.steps.append(step)
        return step

    async def pipe(self, events: AsyncIterable[dict[str, Any]]) -> PipeResult:
        """One implicit step and one assistant message; the step opens with the first event."""
        self._check_writable("pipe")
        step = self.step()
        return await self._pipe_into(step, events, lazy=True)

    async def _pipe_into(
        self, step: RunStep, events: AsyncIterable[dict[str, Any]], *, lazy: bool
    ) -> PipeResult:
        async with self._lock:
            self._check_writable("pipe")
            self._first_pass = False
            stamp, self._stamp = self._stamp, []
            return await _Pipe(self, step, stamp, lazy).execute(events)

    def _check_writable(self, operation: str) -> None:
        if self.duplicate:
            raise ProtocolError(ErrorCode.INVALID_ARGUMENT, f"unable to {operation}; duplicate")
        if not self._started:
            raise ProtocolError(ErrorCode.INVALID_ARGUMENT, f"unable to {operation}; not started")
        if self._closed:
            raise ProtocolError(ErrorCode.SESSION_CLOSED, f"unable to {operation}; run ended")

    async def _lifecycle(self, op: Any) -> str:
        """Publish a lifecycle or step message and wait for its ACK (104003 on failure)."""
        return await publish_lifecycle(self.session.channel, op)

    def _drop(self, key: str) -> None:
        if key not in self._dropped_types:
            self._dropped_types.add(key)
            log.warning("run %s: dropped unsupported model event %s", self.run_id, key)


class _Pipe:
    """The body of one pipe: pull events racing the abort, encode, publish, close."""

    def __init__(self, run: Run, step: RunStep, stamp: list[str], lazy: bool) -> None:
        self.run = run
        self.step = step
        self.stamp = stamp
        self.lazy = lazy
        self.writer = ChannelWriter(run.session.channel, window_s=run.session.rollup_window_s)
        self.encoder: ResponsesEncoder | None = None
        self.codec_message_id = str(uuid.uuid4())

    async def _ensure_encoder(self) -> ResponsesEncoder:
        if self.encoder is None:
            await self.step.start()
            assert self.step.step is not None
            stream = self.run.headers.output_encoder(
                self.codec_message_id, self.step.step, self.stamp
            )
            self.encoder = ResponsesEncoder(stream)
        return self.encoder

    async def execute(self, events: AsyncIterable[dict[str, Any]]) -> PipeResult:
        run = self.run
        iterator = aiter(events)
        reason: str = RunReason.COMPLETE
        error: BaseException | None = None
        interrupted: BaseException | None = None
        try:
            while True:
                got, event = await _next_or_abort(iterator, run.abort)
                if not got:
                    reason = RunReason.CANCELLED if run.abort.is_set() else RunReason.COMPLETE
                    break
                encoder = await self._ensure_encoder()
                why = unsupported_event(event)
                if why is not None:
                    run._drop(why)
                    continue
                try:
                    ops = encoder.encode(normalise_event(event))
                except ProtocolError as exc:
                    run._drop(f"{event.get('type')} ({exc.message})")
                    continue
                for op in ops:
                    await self.writer.submit(op)
        except asyncio.CancelledError as exc:  # the task running the pipe was cancelled
            reason, interrupted = RunReason.CANCELLED, exc
            run.mark_cancelled()
        except Exception as exc:
            reason, error = RunReason.ERROR, exc
        if reason != RunReason.COMPLETE:
            await _close_source(iterator)
        reason, error = await self._close(reason, error)
        if interrupted is not None:
            raise interrupted
        return PipeResult(reason, error)

    async def _close(self, reason: str, error: BaseException | None) -> tuple[str, Any]:
        """Every still-open stream gets a `cancelled` append, whatever the path (§7.1)."""
        if self.encoder is not None:
            try:
                for op in self.encoder.finish():
                    await self.writer.submit(op)
            except Exception as exc:
                log.error("run %s: closing streams failed: %s", self.run.run_id, exc)
                error = error or exc
            failures = await self.writer.drain()
            if failures and reason == RunReason.COMPLETE:
                reason, error = RunReason.ERROR, failures[0]
            for serial, version in self.writer.published.items():
                self.run._published[serial] = max(version, self.run._published.get(serial, ""))
        if reason == RunReason.ERROR:
            self.step.failed = True
            self.run.error = error
            log.warning("run %s: pipe failed: %r", self.run.run_id, error)
        if self.lazy and self.step.open:
            with suppress(Exception):
                await self.step.end(_STEP_REASON[RunReason(reason)])
        return reason, error


async def _next_or_abort(iterator: AsyncIterator[Any], abort: asyncio.Event) -> tuple[bool, Any]:
    """The next event, or (False, None) when the source ends or the run is aborted."""
    if abort.is_set():
        return False, None
    pull = asyncio.ensure_future(anext(iterator))
    stop = asyncio.ensure_future(abort.wait())
    try:
        done, _ = await asyncio.wait({pull, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        if not pull.done():
            pull.cancel()
            with suppress(BaseException):
                await pull
    if pull in done and not pull.cancelled():
        try:
            return True, pull.result()
        except StopAsyncIteration:
            return False, None
    return False, None


async def _close_source(iterator: AsyncIterator[Any]) -> None:
    close = getattr(iterator, "aclose", None)
    if close is not None:
        with suppress(BaseException):
            result = close()
            if inspect.isawaitable(result):
                await result


def _error_code(error: BaseException) -> int:
    if isinstance(error, ProtocolError):
        return int(error.code)
    return int(ErrorCode.STREAM_ERROR)


def _error_message(error: BaseException) -> str:
    if isinstance(error, ProtocolError):
        return error.message
    return f"unable to stream output; {error}" if str(error) else "unable to stream output"
