"""One turn (run) of the agent: model passes, tools, approvals, steering, and its end.

The loop (docs/wire.md §4.6): a pass reads the model's context from the channel, streams the
model into the session through `Run.pipe`, then
- a steer that arrived mid-pass stops the model call (the upstream request is closed) and
  another pass answers it;
- tool calls the model made run here, their outputs are published, and another pass follows;
- a call to a tool that needs approval is published with its approval request in the same
  pipe (one assistant message), and the run suspends until some device answers;
- a resumed run first executes the calls that were approved.
Every exit path ends the run (§7.1, §7.14): complete, cancelled, or error with a message a
user understands.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from tui_session.agent.models import ModelBackend, ModelError
from tui_session.agent.tools import ToolError, ToolSpec
from tui_session.protocol import RunReason, approved_unexecuted_calls
from tui_session.transport.agent import Run

log = logging.getLogger(__name__)

StatusHook = Callable[[str, str], None]  # (run_id, status)


@dataclass
class Turn:
    """The agent's side of one run: what the service tracks while it is in flight."""

    run: Run
    session_name: str
    steered: asyncio.Event = field(default_factory=asyncio.Event)
    status: str = "thinking"
    stop_reason: str | None = None  # set: end the turn `cancelled`, saying why

    def stop(self, reason: str) -> None:
        """Stop the model call in flight and end the turn with a visible reason."""
        self.stop_reason = reason
        self.steered.set()


class TurnDriver:
    """Runs turns with one model backend and one tool set."""

    def __init__(self, backend: ModelBackend, tools: list[ToolSpec], on_status: StatusHook) -> None:
        self.backend = backend
        self.tools = {tool.name: tool for tool in tools}
        self.on_status = on_status

    def _status(self, turn: Turn, status: str) -> None:
        if turn.status != status:
            turn.status = status
            self.on_status(turn.run.run_id, status)

    async def drive(self, turn: Turn) -> None:
        run = turn.run
        try:
            await run.start()
            executed = await self._execute_approved(run)
            # has_input() first: it drains pending steers. Approved calls that just ran need a
            # model pass to answer with their output, even though a pipe already went out.
            more = run.has_input() or executed
            while more and not run.cancelled:
                turn.steered.clear()
                outcome = await self._model_pass(turn)
                if turn.stop_reason is not None:
                    await run.pipe(note_events(turn.stop_reason))
                    await run.end(RunReason.CANCELLED)
                    return
                if outcome == "suspend":
                    self._status(turn, "waiting for approval")
                    await run.suspend()
                    return
                if outcome in ("cancelled", "error"):
                    break
                # has_input() first: it drains the steers that arrived during the pass.
                more = run.has_input() or outcome == "tools ran"
            await run.end()
        except asyncio.CancelledError:
            await _end_quietly(run, RunReason.ERROR, "agent shutting down")
            raise
        except ModelError as exc:
            await _end_quietly(run, RunReason.ERROR, str(exc))
        except Exception as exc:
            log.exception("run %s failed", run.run_id)
            await _end_quietly(run, RunReason.ERROR, f"agent error: {exc}")
        finally:
            self._status(turn, "done")

    async def _model_pass(self, turn: Turn) -> str:
        """One model call piped into the run; what should happen next."""
        run = turn.run
        self._status(turn, "thinking")
        context = await run.model_context()
        calls: list[dict[str, Any]] = []
        failure: list[ModelError] = []

        async def events() -> AsyncIterator[dict[str, Any]]:
            stream = self.backend.stream(context, tools=list(self.tools.values()))
            async with contextlib.aclosing(stream):
                try:
                    async for event in _until(stream, turn.steered):
                        if event.get("type", "").endswith(".delta"):
                            self._status(turn, "streaming")
                        item = event.get("item") or {}
                        if (
                            event.get("type") == "response.output_item.done"
                            and item.get("type") == "function_call"
                        ):
                            calls.append(item)
                        yield event
                except ModelError as exc:
                    failure.append(exc)
                    raise
            # Approval requests go in the same pipe as their calls: one assistant message.
            for call in calls:
                tool = self.tools.get(call.get("name", ""))
                if tool is not None and tool.needs_approval and not turn.steered.is_set():
                    yield {
                        "type": "tool-approval-request",
                        "call_id": call.get("call_id"),
                        "name": call.get("name"),
                        "arguments": call.get("arguments", ""),
                    }

        result = await run.pipe(events())
        if result.reason == "cancelled":
            return "cancelled"
        if result.reason == "error":
            if failure:
                raise failure[0]
            raise ModelError(f"the model's answer could not be published: {result.error}")
        if turn.steered.is_set():
            return "steered"
        if any(self._suspends(c) for c in calls):  # an approval, or a human (request_human)
            return "suspend"
        if calls:
            await self._run_calls(run, calls)
            return "tools ran"
        return "complete"

    def _suspends(self, call: dict[str, Any]) -> bool:
        tool = self.tools.get(call.get("name", ""))
        return tool is not None and tool.suspends_turn

    async def _execute_approved(self, run: Run) -> bool:
        """On a resumed run: execute the calls some device approved (§3.7); whether any ran."""
        if not run.continuation:
            return False
        messages = await run.context_messages()
        approved = approved_unexecuted_calls(messages)
        if approved:
            await self._run_calls(run, approved)
        return bool(approved)

    async def _run_calls(self, run: Run, calls: list[dict[str, Any]]) -> None:
        outputs = []
        for call in calls:
            tool = self.tools.get(call.get("name", ""))
            try:
                if tool is None:
                    raise ToolError(f"unknown tool {call.get('name')!r}")
                output = tool.run(call.get("arguments"))
            except ToolError as exc:
                output = f"error: {exc}"
            outputs.append(
                {
                    "type": "function_call_output",
                    "item": {
                        "type": "function_call_output",
                        "call_id": call.get("call_id"),
                        "output": output,
                    },
                }
            )

        async def source() -> AsyncIterator[dict[str, Any]]:
            for output in outputs:
                yield output

        await run.pipe(source())


async def note_events(text: str) -> AsyncIterator[dict[str, Any]]:
    """A short assistant message from the agent itself (not the model), as Responses events."""
    item_id = "msg_agent_note"
    where = {"item_id": item_id, "output_index": 0, "content_index": 0}
    yield {
        "type": "response.output_item.added",
        "output_index": 0,
        "item": {"id": item_id, "type": "message", "role": "assistant", "content": []},
    }
    yield {
        "type": "response.content_part.added",
        **where,
        "part": {"type": "output_text", "text": "", "annotations": []},
    }
    yield {"type": "response.output_text.delta", **where, "delta": text}
    yield {"type": "response.output_text.done", **where, "text": text}
    yield {
        "type": "response.output_item.done",
        "output_index": 0,
        "item": {"id": item_id, "type": "message", "status": "completed"},
    }


async def _until(
    stream: AsyncIterator[dict[str, Any]], stop: asyncio.Event
) -> AsyncIterator[dict[str, Any]]:
    """The stream's events until `stop` is set: a steer ends the model call mid-answer.

    A pull still in flight when this ends (stopped, cancelled or closed) is cancelled, so the
    model's HTTP request is closed at once rather than when it next sends something.
    """
    stopper = asyncio.ensure_future(stop.wait())
    pull: asyncio.Future[dict[str, Any]] | None = None
    try:
        while not stop.is_set():
            pull = asyncio.ensure_future(anext(stream))
            done, _ = await asyncio.wait({pull, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if pull not in done:
                return
            try:
                event = pull.result()
            except StopAsyncIteration:
                return
            pull = None
            yield event
    finally:
        stopper.cancel()
        if pull is not None and not pull.done():
            pull.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration, Exception):
                await pull


async def _end_quietly(run: Run, reason: RunReason, message: str) -> None:
    try:
        await run.end(reason, error_message=message if reason == RunReason.ERROR else None)
    except Exception:
        log.exception("could not end run %s", run.run_id)
