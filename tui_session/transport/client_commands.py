"""User intent -> channel publishes and agent invocations (reference §3.2-§3.8, §6, §7.3,
§7.12). A part of `ClientSession` (see client.py), kept apart for size: these methods only
publish, POST and record what this device asked for; folding what comes back is client.py's.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

import aiohttp

from tui_session.protocol import (
    CancelFilter,
    CancelTarget,
    ErrorCode,
    InputHeaders,
    InputNode,
    ProtocolError,
    Publish,
    RunNode,
    cancel,
    cancel_targets,
    invocation_body,
    regenerate,
    tool_approval_response,
    user_message_seed,
    user_text,
)

from .client_events import (
    BranchChanged,
    PromptAdded,
    PromptRemoved,
    PromptUpdated,
    SessionError,
    SteerResolved,
    TurnUpdated,
)
from .client_handles import RunHandle, SteerHandle, _new_id
from .client_wire import DEVICE_HEADER, outbound, with_app_headers

log = logging.getLogger(__name__)


class ClientCommands:
    """Mixin: the command half of `ClientSession` (which holds the state it uses)."""

    # --- sending -----------------------------------------------------------------------------

    async def send(self, text: str, *, invoke: bool = True) -> RunHandle:
        """Publish a new prompt on the current branch and wake the agent (§3.2, §3.3).

        The prompt folds at once (optimistic), is reconciled by its echo, and is POSTed in
        the background. `invoke=False` publishes without waking an agent (`retry()` does).
        """
        messages = self.view.messages()
        parent = messages[-1][0] if messages else None
        return await self._send_prompt(text, parent=parent, fork_of=None, invoke=invoke)

    async def edit(self, user_cmid: str, text: str, *, invoke: bool = True) -> RunHandle:
        """A sibling of an earlier prompt (`fork-of`); this view follows the new branch."""
        node = self.tree.nodes.get(user_cmid)
        if not isinstance(node, InputNode):
            raise ProtocolError(
                ErrorCode.INVALID_ARGUMENT, f"unable to edit; {user_cmid} is not a prompt"
            )
        return await self._send_prompt(text, parent=node.parent, fork_of=user_cmid, invoke=invoke)

    async def _send_prompt(
        self, text: str, *, parent: str | None, fork_of: str | None, invoke: bool
    ) -> RunHandle:
        self._check_open("send")
        cmid, event_id = _new_id(), _new_id()
        headers = InputHeaders(
            cmid, event_id, run_client_id=self.client_id, parent=parent, fork_of=fork_of
        )
        ops = [
            with_app_headers(op, {DEVICE_HEADER: self.device}) for op in user_text(headers, text)
        ]
        handle = self._register(RunHandle(self, "edit" if fork_of else "prompt", cmid, event_id))
        self.owned.add(cmid)
        self.tree.add_optimistic(
            cmid,
            user_message_seed([text]),
            parent=parent,
            fork_of=fork_of,
            client_id=self.client_id,
        )
        if fork_of:
            self.view.follow(cmid)
        self._emit(PromptAdded(cmid))
        if fork_of:
            self._emit(BranchChanged(cmid))
        try:
            serials = await self._publish(ops)
        except ProtocolError as err:
            self.tree.remove_optimistic(cmid)
            self._unregister(handle)
            self._emit(PromptRemoved(cmid, err.message))
            raise
        self._published(handle, serials)
        self._emit(PromptUpdated(cmid))
        if invoke:
            self._spawn(self._invoke(handle))
        return handle

    async def regenerate(self, assistant_cmid: str, *, invoke: bool = True) -> RunHandle:
        """A same-parent sibling run for an assistant message (§3.8); the view follows it."""
        self._check_open("regenerate")
        run = self.tree.node_of(assistant_cmid)
        if not isinstance(run, RunNode) or not run.structural_parent:
            raise ProtocolError(
                ErrorCode.INVALID_ARGUMENT, f"unable to regenerate; {assistant_cmid} has no prompt"
            )
        target = assistant_cmid
        first = run.codec_message_ids()[:1]
        if run.msg_regenerate and first == [assistant_cmid]:
            target = run.msg_regenerate  # all alternatives share one group
        cmid, event_id = _new_id(), _new_id()
        headers = InputHeaders(
            cmid,
            event_id,
            run_client_id=self.client_id,
            parent=run.structural_parent,
            msg_regenerate=target,
        )
        handle = self._register(RunHandle(self, "regenerate", cmid, event_id))
        self.owned.add(cmid)
        self.view.follow(cmid)
        return await self._publish_wire_only(handle, regenerate(headers), invoke)

    async def approve(
        self,
        run_id: str,
        assistant_cmid: str,
        call_id: str,
        approved: bool,
        reason: str | None = None,
        *,
        invoke: bool = True,
    ) -> RunHandle:
        """Answer a tool approval request on the assistant message, then POST (§3.7)."""
        self._check_open("approve")
        messages = self.view.messages()
        parent = messages[-1][0] if messages else None
        event_id = _new_id()
        headers = InputHeaders(
            assistant_cmid, event_id, run_client_id=self.client_id, parent=parent, run_id=run_id
        )
        op = tool_approval_response(headers, call_id, approved, reason)
        handle = self._register(
            RunHandle(self, "approval", assistant_cmid, event_id, target_run_id=run_id)
        )
        return await self._publish_wire_only(handle, op, invoke)

    async def _publish_wire_only(self, handle: RunHandle, op: Publish, invoke: bool) -> RunHandle:
        """Publish an input that folds nothing locally (regenerate, approval), then POST."""
        try:
            serials = await self._publish([op])
        except ProtocolError:
            self._unregister(handle)
            raise
        self._published(handle, serials)
        if invoke:
            self._spawn(self._invoke(handle))
        return handle

    async def steer(self, run_id: str, text: str) -> SteerHandle:
        """A run-tagged user message (§3.6); refused locally if the run has ended."""
        self._check_open("steer")
        run = self.tree.run(run_id)
        if run is not None and run.terminal:
            raise ProtocolError(ErrorCode.INVALID_ARGUMENT, "unable to steer; the run has ended")
        cmid, event_id = _new_id(), _new_id()
        headers = InputHeaders(cmid, event_id, run_client_id=self.client_id, run_id=run_id)
        steer = SteerHandle(cmid, run_id, text)
        self._steers[cmid] = steer
        try:
            serials = await self._publish(user_text(headers, text))
        except ProtocolError:
            del self._steers[cmid]
            raise
        steer.serial = serials[0] if serials else None
        steer._timer = self._loop.call_later(self._steer_timeout, self._steer_timed_out, steer)
        run = self.tree.run(run_id)
        if run is not None:
            self._check_steers(run)
        return steer

    def _steer_timed_out(self, steer: SteerHandle) -> None:
        if steer._resolve("unknown"):
            self._emit(SteerResolved(steer.steer_cmid, steer.run_id, "unknown"))
            self._emit(TurnUpdated(steer.run_id))

    # --- cancelling --------------------------------------------------------------------------

    async def cancel(self, run_id: str) -> None:
        """`ai-cancel` for one run, own or observed; the turn shows "cancel requested"."""
        self._check_open("cancel")
        self._cancel_requested.add(run_id)
        self._emit(TurnUpdated(run_id))
        run = self.tree.run(run_id)
        try:
            await self._publish_cancel(run_id, run.input_codec_message_id if run else None)
        except ProtocolError:
            self._cancel_requested.discard(run_id)
            self._emit(TurnUpdated(run_id))
            raise

    async def cancel_turns(
        self, selection: CancelFilter | Literal["own", "all"] = "own"
    ) -> list[CancelTarget]:
        """The §6 filters as one `ai-cancel` per selected run, on every branch, plus own
        pending turns (cancelled by input id, re-sent with the run id on its start)."""
        if isinstance(selection, str):
            selection = CancelFilter(selection)
        targets = cancel_targets(self.tree, selection, self.client_id, self.owned, self._awaiting())
        for target in targets:
            if target.run_id:
                await self.cancel(target.run_id)
            elif target.input_codec_message_id:
                handle = self.handle(target.input_codec_message_id)
                if handle is not None:
                    await self._cancel_send(handle)
        return targets

    async def _cancel_send(self, handle: RunHandle) -> None:
        run_id = handle.run_id or handle.target_run_id
        if run_id:
            await self.cancel(run_id)
            return
        self._check_open("cancel")
        handle.cancel_requested = True
        self._cancel_pending.add(handle.input_codec_message_id)
        self._send_changed(handle)
        await self._publish(
            [cancel(_new_id(), input_codec_message_id=handle.input_codec_message_id)]
        )

    async def _publish_cancel(self, run_id: str, input_id: str | None) -> None:
        await self._publish([cancel(_new_id(), run_id=run_id, input_codec_message_id=input_id)])

    async def _resend_cancel(self, run_id: str, input_id: str) -> None:
        try:
            await self._publish_cancel(run_id, input_id)
        except ProtocolError as err:
            self._emit(SessionError("cancel", err.message, int(err.code)))

    # --- invoking the agent (§3.3, §7.12) ----------------------------------------------------

    def _invocation(self, handle: RunHandle) -> dict[str, Any]:
        return invocation_body(handle.input_event_id, self.channel_name, self._post_extra)

    async def _invoke(self, handle: RunHandle) -> None:
        if not self.agent_url:
            return
        if self._http is None:
            self._http = aiohttp.ClientSession()
        handle.post, handle.post_error = "pending", None
        headers = {}
        token = getattr(self.realtime.auth, "token_details", None)
        if token is not None and getattr(token, "token", None):
            headers["Authorization"] = f"Bearer {token.token}"
        url = self.agent_url.rstrip("/") + "/api/chat"
        try:
            async with self._http.post(
                url,
                json=self._invocation(handle),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self._post_timeout),
            ) as response:
                body = await response.text()
                if response.status >= 300:
                    raise RuntimeError(f"HTTP {response.status}: {body[:200]}")
            handle.post = "ok"
        except asyncio.CancelledError:
            raise
        except Exception as err:
            handle.post, handle.post_error = "failed", str(err) or type(err).__name__
            log.info("agent not reached for %s: %s", handle.input_event_id, handle.post_error)
        self._send_changed(handle)

    async def retry(self, input_cmid: str) -> bool:
        """Re-POST an own prompt's invocation while no run for it is known."""
        handle = self.handle(input_cmid)
        return await self._retry(handle) if handle is not None else False

    async def _retry(self, handle: RunHandle) -> bool:
        if handle.run_id or not handle.published or self._closed:
            return False
        handle.waiting_for_agent = False
        self._arm_start_timer(handle)
        self._send_changed(handle)
        await self._invoke(handle)
        return True

    def _arm_start_timer(self, handle: RunHandle) -> None:
        if handle._timer is not None:
            handle._timer.cancel()
        handle._timer = self._loop.call_later(self._start_timeout, self._start_timed_out, handle)

    def _start_timed_out(self, handle: RunHandle) -> None:
        if handle.run_id or self._closed:
            return
        handle.waiting_for_agent = True
        self._send_changed(handle)

    # --- helpers -----------------------------------------------------------------------------

    def _send_changed(self, handle: RunHandle) -> None:
        """A send's status changed: its prompt (or regenerate carrier), or its run for an
        approval (whose id is the assistant message's, not a prompt's)."""
        if handle.kind == "approval" and handle.target_run_id:
            self._emit(TurnUpdated(handle.target_run_id))
        else:
            self._emit(PromptUpdated(handle.input_codec_message_id))

    def _register(self, handle: RunHandle) -> RunHandle:
        self._sends[handle.input_event_id] = handle
        self._by_input.setdefault(handle.input_codec_message_id, []).append(handle)
        return handle

    def _unregister(self, handle: RunHandle) -> None:
        self._sends.pop(handle.input_event_id, None)
        handles = self._by_input.get(handle.input_codec_message_id, [])
        if handle in handles:
            handles.remove(handle)
        handle.started.cancel()
        handle.ended.cancel()

    def _published(self, handle: RunHandle, serials: list[str | None]) -> None:
        handle.published = True
        handle.serial = serials[0] if serials else None
        if handle.kind != "approval":
            # a start that arrived before the ACK already names this input
            runs = self.tree.runs_for_input(handle.input_codec_message_id)
            if runs:
                handle._start(runs[0].run_id)
        if not handle.run_id:
            self._arm_start_timer(handle)
        self._refresh_active()

    async def _publish(self, ops: list[Publish]) -> list[str | None]:
        try:
            result = await self._channel.publish([outbound(op) for op in ops])
        except Exception as err:
            code = getattr(err, "code", None)
            error = (
                ErrorCode.INSUFFICIENT_CAPABILITY
                if code == 40160
                else ErrorCode.SESSION_SEND_FAILED
            )
            raise ProtocolError(error, f"unable to publish; {err}") from err
        return list(getattr(result, "serials", None) or [])

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _check_open(self, operation: str) -> None:
        if self._closed:
            raise ProtocolError(ErrorCode.SESSION_CLOSED, f"unable to {operation}; session closed")
