"""`ClientSession`: the I/O shell around a `ClientState` (docs/wire.md §3, §6, §7).

The session connects a `ClientState` (client_state.py, the pure fold) to a real ably channel:
it follows the channel (follower.py: subscribe, attach, gap fill), pages history
(history.py), enters presence, publishes what the user asks for, wakes the agent
(client_post.py) and runs the timers (start and steer timeouts, stall checks). Everything the
fold or a command returns is applied here: events go to the listeners (`listen`, `events`),
effects resolve handles' futures and publish cancels again. The UI never calls the network: it
calls the methods below and reads snapshots (`transcript()`, `turn()`, `prompt()`,
`active_turns()`, `members`, from client_read.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import aiohttp

from tui_session.protocol import (
    BranchSelection,
    CancelFilter,
    CancelTarget,
    ErrorCode,
    InputHeaders,
    InputNode,
    ProtocolError,
    Publish,
    RunNode,
    cancel,
    invocation_body,
    not_a_decider,
    regenerate,
    tool_approval_response,
    tool_result,
    user_text,
)

from .channel_io import outbound
from .client_events import (
    ClientEvent,
    ConnectionChanged,
    HistoryLoaded,
    PresenceChanged,
    PromptUpdated,
    SessionError,
)
from .client_handles import RunHandle, SteerHandle
from .client_handover import AgentInfo, HandoverFolded, SessionHandover, fetch_agent_info
from .client_model import PromptView, TurnView
from .client_post import AgentAnswer, post_agent
from .client_read import ReadModel
from .client_records import Send, SendKind, new_id
from .client_state import (
    Change,
    ClientState,
    ResendCancel,
    SendEnded,
    SendStarted,
    SteerSettled,
)
from .client_wire import DEVICE_HEADER, with_app_headers
from .follower import ChannelFollower, is_connected, wait_connected
from .history import HistoryPager
from .message_size import ensure_fits
from .owned_inputs import OwnedInputs
from .presence import Member, PresenceTracker, client_presence_data

log = logging.getLogger(__name__)

Listener = Callable[[ClientEvent], Any]

CONNECT_TIMEOUT_S = 15.0
# close() must be quick even when the hub is gone or silent: a leave or detach that is not
# acknowledged within these is abandoned (the hub drops both with the connection anyway)
LEAVE_TIMEOUT_S = 1.5
DETACH_TIMEOUT_S = 1.5


@dataclass(frozen=True)
class ClientOptions:
    """How a `ClientSession` behaves; `connect()` takes these as keyword arguments."""

    role: str = "user"  # announced in presence: "user" or "operator"
    http: aiohttp.ClientSession | None = None  # for the POSTs; made (and closed) if None
    history_page_size: int = 100
    owned_inputs_path: Path | None = None  # where this device's input ids persist
    initial_messages: int = 50  # what the window shows on join
    start_timeout: float = 15.0  # no run start after a POST: "waiting for agent"
    steer_timeout: float = 60.0  # no answer to a steer: "unknown"
    stall_after: float = 60.0  # an active run without wire activity: "stalled"
    stall_check_interval: float = 1.0
    post_timeout: float = 30.0
    post_extra: Mapping[str, Any] | None = None  # extra fields of the POST body
    # the agent's clientId (whose handover snapshots are trusted) and operators; None: read
    # from the agent's /health at connect (docs/handover.md)
    agent: AgentInfo | None = None


class ClientSession:
    """See the module docstring. Create with `await ClientSession.connect(...)`."""

    def __init__(
        self,
        realtime: Any,
        channel_name: str,
        client_id: str,
        *,
        agent_url: str | None,
        device: str,
        options: ClientOptions,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self.realtime = realtime
        self.channel_name = channel_name
        self.client_id = client_id
        self.device = device
        self.role = options.role
        self.agent_url = agent_url
        self.options = options
        self._http = options.http
        self._owns_http = options.http is None
        self._post_extra = dict(options.post_extra or {})
        self._channel = realtime.channels.get(channel_name)

        self.state = ClientState(
            client_id,
            device,
            owned=OwnedInputs(options.owned_inputs_path),
            now=self._loop.time(),
            stall_after=options.stall_after,
            agent=options.agent,
        )
        self.read = ReadModel(self.state)
        self._follower = ChannelFollower(
            self._channel,
            on_message=self._on_message,
            on_gap=self._on_gap,
            on_continuity=self._on_continuity,
            gap_floor=self.state.gap_floor,
            page_size=options.history_page_size,
            name="client session",
        )
        self._history = HistoryPager(self.state.window, self._follower, self._fold_page)
        self.presence = PresenceTracker(self._channel, self._on_members)
        self._listeners: list[Listener] = []
        self._start_timers: dict[str, asyncio.TimerHandle] = {}  # by send event id
        self._steer_timers: dict[str, asyncio.TimerHandle] = {}  # by steer cmid
        self._closed = False
        self.handover = SessionHandover(  # docs/handover.md: the view, the countdown, commands
            client_id=client_id,
            channel_name=channel_name,
            channel=self._channel,
            tracker=self.state.handover,
            state=self.state,
            emit=self._emit,
            publish=self._publish,
            post=self._post_agent,
            send=self.send,
            answer_call=self.answer_call,
            spawn=self._follower.spawn,
        )

    # --- lifecycle ---------------------------------------------------------------------------

    @classmethod
    async def connect(
        cls,
        realtime: Any,
        channel_name: str,
        *,
        agent_url: str | None,
        device: str,
        listener: Listener | None = None,
        **options: Any,
    ) -> ClientSession:
        """Subscribe, attach, page history, enter presence. `options` are `ClientOptions`
        fields. `listener` (optional) receives events from the start, including the initial
        history load."""
        settings = ClientOptions(**options)
        if settings.agent is None and agent_url:
            agent = await fetch_agent_info(agent_url, http=settings.http)
            settings = replace(settings, agent=agent or AgentInfo())
        await wait_connected(realtime, CONNECT_TIMEOUT_S)
        client_id = realtime.auth.client_id
        if not client_id and realtime.auth.token_details is not None:
            client_id = realtime.auth.token_details.client_id
        if not client_id or client_id == "*":
            raise ValueError("a client session needs a connection with a concrete clientId")
        session = cls(
            realtime, channel_name, client_id, agent_url=agent_url, device=device, options=settings
        )
        if listener is not None:
            session.listen(listener)
        try:
            await session._start()
        except BaseException:
            await session.close()
            raise
        return session

    async def _start(self) -> None:
        self.realtime.connection.on(self._on_connection_state)
        await self._follower.start()  # subscribe first, then attach
        shown = await self._history.load_initial(self.options.initial_messages)
        self._emit(HistoryLoaded(shown, self.read.has_older()))
        await self.presence.start(client_presence_data(self.client_id, self.device, self.role))
        self._follower.spawn(self._stall_ticker())

    async def close(self) -> None:
        """Leave presence, detach, stop background work. The realtime client is the caller's."""
        if self._closed:
            return
        self._closed = True
        self.handover.close()
        for timer in [*self._start_timers.values(), *self._steer_timers.values()]:
            timer.cancel()
        for send in self.state.sends.values():
            if isinstance(send, RunHandle):
                send.started.cancel()
                send.ended.cancel()
        for steer in self.state.steers.values():
            if isinstance(steer, SteerHandle):
                steer.outcome.cancel()
        with contextlib.suppress(Exception):
            self.realtime.connection.off(self._on_connection_state)
        await self._follower.close()
        if is_connected(self.realtime):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.presence.stop(), LEAVE_TIMEOUT_S)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._channel.detach(), DETACH_TIMEOUT_S)
        else:
            # not connected: a leave or detach would only queue until a reconnect that may
            # never come, and the hub drops both with the connection anyway: skip them
            with contextlib.suppress(Exception):
                self.presence.unsubscribe()
        if self._owns_http and self._http is not None:
            await self._http.close()
        self._listeners.clear()

    # --- events ------------------------------------------------------------------------------

    def listen(self, callback: Listener) -> Callable[[], None]:
        """Deliver every event to `callback` (on the event loop); returns an unsubscribe."""
        self._listeners.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(callback)

        return unsubscribe

    async def events(self) -> AsyncIterator[ClientEvent]:
        """The same events as an async iterator (unbounded queue; stop by breaking out)."""
        queue: asyncio.Queue[ClientEvent] = asyncio.Queue()
        unsubscribe = self.listen(queue.put_nowait)
        try:
            while True:
                yield await queue.get()
        finally:
            unsubscribe()

    def _emit(self, event: ClientEvent) -> None:
        for callback in list(self._listeners):
            try:
                callback(event)
            except Exception:
                log.exception("client event listener failed on %r", event)

    def _apply(self, changes: list[Change]) -> None:
        """Perform the effects of a fold or a command, and deliver its events, in order."""
        for change in changes:
            match change:
                case SendStarted(send=send, run_id=run_id):
                    timer = self._start_timers.pop(send.input_event_id, None)
                    if timer is not None:
                        timer.cancel()
                    if isinstance(send, RunHandle) and not send.started.done():
                        send.started.set_result(run_id)
                case SendEnded(send=send, status=status):
                    if isinstance(send, RunHandle) and not send.ended.done():
                        send.ended.set_result(status)
                case SteerSettled(steer=steer):
                    timer = self._steer_timers.pop(steer.steer_cmid, None)
                    if timer is not None:
                        timer.cancel()
                    if isinstance(steer, SteerHandle) and not steer.outcome.done():
                        steer.outcome.set_result(steer.state)
                case ResendCancel(run_id=run_id, input_id=input_id):
                    self._follower.spawn(self._resend_cancel(run_id, input_id))
                case HandoverFolded():
                    self.handover.refresh()
                case _:
                    self._emit(change)

    # --- inbound -----------------------------------------------------------------------------

    def _on_message(self, message: dict[str, Any]) -> None:
        try:
            self._apply(self.state.fold(message, "live", self._loop.time()))
        except Exception as err:
            log.exception("cannot fold a channel message")
            self._emit(
                SessionError("fold message", str(err), int(ErrorCode.SESSION_SUBSCRIPTION_ERROR))
            )

    def _fold_page(self, messages: list[dict[str, Any]]) -> None:
        self._apply(self.state.fold_page(messages, "history", self._loop.time()))

    def _on_gap(self, messages: list[dict[str, Any]], _floor: str | None) -> None:
        self._fold_page(messages)
        self._emit(HistoryLoaded(len(messages), self.read.has_older()))

    def _on_continuity(self, state: str, error: ProtocolError | None) -> None:
        if error is not None:
            self._emit(SessionError("fill gap", error.message, int(error.code)))
        else:
            self._emit(ConnectionChanged(state))

    def _on_members(self, members: tuple[Member, ...]) -> None:
        self._emit(PresenceChanged(members))
        self.handover.members(members)
        self._check_stalls()

    def _on_connection_state(self, change: Any) -> None:
        current = getattr(change, "current", None)
        if current is None:
            return
        reason = getattr(change, "reason", None)
        self._emit(ConnectionChanged(str(getattr(current, "value", current)), _text(reason)))

    async def _stall_ticker(self) -> None:
        while not self._closed:
            await asyncio.sleep(self.options.stall_check_interval)
            self._check_stalls()

    def _check_stalls(self) -> None:
        presence = self.presence

        def gone(agent: str) -> bool:
            return agent in presence.agents_seen and not presence.agent_present(agent)

        self._apply(self.state.check_stalls(self._loop.time(), gone))

    # --- history -----------------------------------------------------------------------------

    async def load_older(self, limit: int = 10) -> int:
        """Reveal exactly `limit` older messages (fewer only when history is exhausted)."""
        shown = await self._history.load_older(limit)
        self._emit(HistoryLoaded(shown, self.read.has_older()))
        return shown

    # --- sending (§3.2 to §3.8) --------------------------------------------------------------

    async def send(
        self, text: str, *, invoke: bool = True, headers: Mapping[str, str] | None = None
    ) -> RunHandle:
        """Publish a new prompt on the current branch and wake the agent (§3.2, §3.3).

        The prompt folds at once (optimistic), is reconciled by its echo, and is POSTed in
        the background. `invoke=False` publishes without waking an agent (`retry()` does).
        `headers`: application headers (`extras.headers`), e.g. "ask for a human".
        """
        return await self._send_prompt(
            text, parent=self.state.tip(), fork_of=None, invoke=invoke, headers=headers
        )

    async def edit(self, user_cmid: str, text: str, *, invoke: bool = True) -> RunHandle:
        """A sibling of an earlier prompt (`fork-of`); this view follows the new branch."""
        node = self.state.tree.nodes.get(user_cmid)
        if not isinstance(node, InputNode):
            raise ProtocolError(
                ErrorCode.INVALID_ARGUMENT, f"unable to edit; {user_cmid} is not a prompt"
            )
        return await self._send_prompt(text, parent=node.parent, fork_of=user_cmid, invoke=invoke)

    async def _send_prompt(
        self,
        text: str,
        *,
        parent: str | None,
        fork_of: str | None,
        invoke: bool,
        headers: Mapping[str, str] | None = None,
    ) -> RunHandle:
        self._check_open("send")
        handle = self._handle("edit" if fork_of else "prompt", new_id())
        wire_headers = InputHeaders(
            handle.input_codec_message_id,
            handle.input_event_id,
            run_client_id=self.client_id,
            parent=parent,
            fork_of=fork_of,
        )
        ops = user_text(wire_headers, text)
        if headers:  # application headers of the caller's (an operator's reply, ...)
            ops = [with_app_headers(op, dict(headers)) for op in ops]
        ensure_fits(self.realtime, self._named(ops), text)
        self._apply(self.state.add_prompt(handle, text, parent=parent, fork_of=fork_of))
        try:
            serials = await self._publish(ops)
        except ProtocolError as err:
            self._drop(handle)
            self._apply(self.state.withdraw_prompt(handle, err.message))
            raise
        self._published(handle, serials)
        self._emit(PromptUpdated(handle.input_codec_message_id))
        if invoke:
            self._follower.spawn(self._invoke(handle))
        return handle

    async def regenerate(self, assistant_cmid: str, *, invoke: bool = True) -> RunHandle:
        """A same-parent sibling run for an assistant message (§3.8); the view follows it."""
        self._check_open("regenerate")
        run = self.state.tree.node_of(assistant_cmid)
        if not isinstance(run, RunNode) or not run.structural_parent:
            raise ProtocolError(
                ErrorCode.INVALID_ARGUMENT, f"unable to regenerate; {assistant_cmid} has no prompt"
            )
        target = assistant_cmid
        if run.msg_regenerate and run.codec_message_ids()[:1] == [assistant_cmid]:
            target = run.msg_regenerate  # all alternatives share one group
        handle = self._handle("regenerate", new_id())
        headers = InputHeaders(
            handle.input_codec_message_id,
            handle.input_event_id,
            run_client_id=self.client_id,
            parent=run.structural_parent,
            msg_regenerate=target,
        )
        self.state.add_regenerate(handle)
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
        """Answer a tool approval request on the assistant message, then POST (§3.7).
        Refused here, publishing nothing, when the run's agent named deciders and this
        client is not one of them (protocol/approvals.py; the agent refuses it too)."""
        self._check_open("approve")
        run = self.state.tree.run(run_id)
        if run is not None and not run.may_decide(self.client_id):
            raise ProtocolError(ErrorCode.APPROVAL_NOT_ALLOWED, not_a_decider(run.deciders()))
        handle, headers = self._continuation(run_id, assistant_cmid)
        op = tool_approval_response(headers, call_id, approved, reason)
        return await self._publish_wire_only(handle, op, invoke)

    async def answer_call(
        self, run_id: str, assistant_cmid: str, call_id: str, output: Any, *, invoke: bool = True
    ) -> RunHandle:
        """A person's output for a call the turn waits on (an operator answering
        `request_human`, docs/handover.md), then POST: a continuation, tracked as an approval
        is (its run is known up front)."""
        self._check_open("answer")
        handle, headers = self._continuation(run_id, assistant_cmid)
        return await self._publish_wire_only(handle, tool_result(headers, call_id, output), invoke)

    def _continuation(self, run_id: str, assistant_cmid: str) -> tuple[RunHandle, InputHeaders]:
        """A send that continues a suspended run on its assistant message (§3.7)."""
        handle = self._handle("approval", assistant_cmid, target_run_id=run_id)
        headers = InputHeaders(
            assistant_cmid,
            handle.input_event_id,
            run_client_id=self.client_id,
            parent=self.state.tip(),
            run_id=run_id,
        )
        self.state.register(handle)
        return handle, headers

    async def _publish_wire_only(self, handle: RunHandle, op: Publish, invoke: bool) -> RunHandle:
        """Publish an input that folds nothing locally (regenerate, approval), then POST."""
        try:
            serials = await self._publish([op])
        except ProtocolError:
            self._drop(handle)
            self.state.unregister(handle)
            raise
        self._published(handle, serials)
        if invoke:
            self._follower.spawn(self._invoke(handle))
        return handle

    def _handle(self, kind: SendKind, cmid: str, target_run_id: str | None = None) -> RunHandle:
        return RunHandle(kind, cmid, new_id(), target_run_id=target_run_id)

    def _published(self, handle: RunHandle, serials: list[str | None]) -> None:
        self._apply(self.state.published(handle, serials))
        if not handle.run_id:
            self._arm_start_timer(handle)

    def _drop(self, handle: RunHandle) -> None:
        handle.started.cancel()
        handle.ended.cancel()

    # --- steering (§3.6) ---------------------------------------------------------------------

    async def steer(self, run_id: str, text: str) -> SteerHandle:
        """A run-tagged user message (§3.6); refused locally if the run has ended."""
        self._check_open("steer")
        self.state.check_steerable(run_id)
        steer = SteerHandle(new_id(), run_id, text)
        headers = InputHeaders(
            steer.steer_cmid, new_id(), run_client_id=self.client_id, run_id=run_id
        )
        ensure_fits(self.realtime, self._named(user_text(headers, text)), text)
        self.state.add_steer(steer)
        try:
            serials = await self._publish(user_text(headers, text))
        except ProtocolError:
            self.state.drop_steer(steer)
            raise
        self._steer_timers[steer.steer_cmid] = self._loop.call_later(
            self.options.steer_timeout, self._steer_timed_out, steer
        )
        self._apply(self.state.steer_published(steer, serials[0] if serials else None))
        return steer

    async def steer_send(self, handle: Send, text: str) -> SteerHandle:
        """Steer the run a send triggers, waiting for its start if it has not started."""
        run_id = handle.run_id or handle.target_run_id
        if not run_id and isinstance(handle, RunHandle):
            run_id = await asyncio.shield(handle.started)
        if not run_id:
            raise ProtocolError(ErrorCode.INVALID_ARGUMENT, "unable to steer; no run yet")
        return await self.steer(run_id, text)

    def _steer_timed_out(self, steer: SteerHandle) -> None:
        self._steer_timers.pop(steer.steer_cmid, None)
        self._apply(self.state.steer_timed_out(steer))

    # --- cancelling (§3.5, §6, §7.3) ---------------------------------------------------------

    async def cancel(self, run_id: str) -> None:
        """`ai-cancel` for one run, own or observed; the turn shows "cancel requested"."""
        self._check_open("cancel")
        self._apply(self.state.request_cancel(run_id))
        run = self.state.tree.run(run_id)
        try:
            await self._publish_cancel(run_id, run.input_codec_message_id if run else None)
        except ProtocolError:
            self._apply(self.state.cancel_not_sent(run_id))
            raise

    async def cancel_turns(
        self, selection: CancelFilter | Literal["own", "all"] = "own"
    ) -> list[CancelTarget]:
        """The §6 filters as one `ai-cancel` per selected run, on every branch, plus own
        pending turns (cancelled by input id, re-sent with the run id on its start)."""
        if isinstance(selection, str):
            selection = CancelFilter(selection)
        targets = self.state.cancel_targets(selection)
        for target in targets:
            if target.run_id:
                await self.cancel(target.run_id)
            elif target.input_codec_message_id:
                send = self.state.handle(target.input_codec_message_id)
                if send is not None:
                    await self.cancel_send(send)
        return targets

    async def cancel_send(self, handle: Send) -> None:
        """Cancel what a send triggers: its run, or, before the run is known, by input id."""
        run_id = handle.run_id or handle.target_run_id
        if run_id:
            await self.cancel(run_id)
            return
        self._check_open("cancel")
        self._apply(self.state.cancel_before_start(handle))
        await self._publish(
            [cancel(new_id(), input_codec_message_id=handle.input_codec_message_id)]
        )

    async def _publish_cancel(self, run_id: str, input_id: str | None) -> None:
        await self._publish([cancel(new_id(), run_id=run_id, input_codec_message_id=input_id)])

    async def _resend_cancel(self, run_id: str, input_id: str) -> None:
        try:
            await self._publish_cancel(run_id, input_id)
        except ProtocolError as err:
            self._emit(SessionError("cancel", err.message, int(err.code)))

    # --- waking the agent (§3.3, §7.12) ------------------------------------------------------

    def invocation(self, handle: Send) -> dict[str, Any]:
        """The POST body of a send: exactly `{inputEventId, sessionName}` plus extras."""
        return invocation_body(handle.input_event_id, self.channel_name, self._post_extra)

    async def _invoke(self, handle: Send) -> None:
        if not self.agent_url:
            return
        self._apply(self.state.post_started(handle))
        answer = await self._post_agent("/api/chat", self.invocation(handle))
        if answer.error is not None:
            log.info("agent not reached for %s: %s", handle.input_event_id, answer.error)
        self._apply(self.state.post_finished(handle, answer.error, answer.handled_by_operator))

    async def _post_agent(self, path: str, body: dict[str, Any]) -> AgentAnswer:
        """POST to the agent service with this connection's token (issue 13's checks)."""
        if not self.agent_url:
            return AgentAnswer(None, None, "no agent service configured (client.agent_url)")
        if self._http is None:
            self._http = aiohttp.ClientSession()
        token = getattr(self.realtime.auth, "token_details", None)
        return await post_agent(
            self._http,
            self.agent_url,
            path,
            {**self._post_extra, **body},
            token=getattr(token, "token", None),
            timeout=self.options.post_timeout,
        )

    async def retry(self, input_cmid: str) -> bool:
        """Re-POST an own prompt's invocation while no run for it is known (§7.12)."""
        send = self.state.handle(input_cmid)
        if send is None or self._closed:
            return False
        changes = self.state.retry(send)
        if changes is None:
            return False
        self._arm_start_timer(send)
        self._apply(changes)
        await self._invoke(send)
        return True

    def _arm_start_timer(self, send: Send) -> None:
        old = self._start_timers.pop(send.input_event_id, None)
        if old is not None:
            old.cancel()
        self._start_timers[send.input_event_id] = self._loop.call_later(
            self.options.start_timeout, self._start_timed_out, send
        )

    def _start_timed_out(self, send: Send) -> None:
        self._start_timers.pop(send.input_event_id, None)
        if not self._closed:
            self._apply(self.state.start_timed_out(send))

    # --- publishing --------------------------------------------------------------------------

    def _named(self, ops: list[Publish]) -> list[Publish]:
        """Every publish of this client names its device (client_wire), for attribution."""
        return [with_app_headers(op, {DEVICE_HEADER: self.device}) for op in ops]

    async def _publish(self, ops: list[Publish]) -> list[str | None]:
        try:
            result = await self._channel.publish([outbound(op) for op in self._named(ops)])
        except Exception as err:
            code = getattr(err, "code", None)
            error = (
                ErrorCode.INSUFFICIENT_CAPABILITY
                if code == 40160
                else ErrorCode.SESSION_SEND_FAILED
            )
            raise ProtocolError(error, f"unable to publish; {err}") from err
        return list(getattr(result, "serials", None) or [])

    def _check_open(self, operation: str) -> None:
        if self._closed:
            raise ProtocolError(ErrorCode.SESSION_CLOSED, f"unable to {operation}; session closed")

    # --- reading: the read model (client_read.py) --------------------------------------------

    def transcript(self) -> list[PromptView | TurnView]:
        """The window along the selected branch, oldest first: prompts and turns."""
        return self.read.transcript()

    def messages(self) -> list[tuple[str, dict[str, Any]]]:
        """`getMessages()`: `(codec-message-id, OpenAIMessage)` in the window, oldest first."""
        return self.read.messages()

    def runs(self) -> list[TurnView]:
        """`runs()`: the turns in the window on the visible branch."""
        return self.read.runs()

    def all_turns(self) -> list[TurnView]:
        """Every run on every branch (§7.15)."""
        return self.read.all_turns()

    def turn(self, run_id: str) -> TurnView | None:
        return self.read.turn(run_id)

    def prompt(self, cmid: str) -> PromptView | None:
        return self.read.prompt(cmid)

    def handle(self, input_cmid: str) -> Send | None:
        """The newest send of this device for an input id (a prompt's cmid)."""
        return self.state.handle(input_cmid)

    def active_turns(self) -> dict[str, dict[str, str]]:
        """`{clientId: {runId or own input id: "active" | "waiting" | "pending"}}` (§6)."""
        return self.read.active_turns()

    def is_own(self, run_id: str) -> bool:
        return self.read.is_own(run_id)

    def my_active_turns(self) -> tuple[str, ...]:
        """The active turns that are mine (what Esc cancels and ctrl+r steers)."""
        return self.read.my_active_turns()

    def has_older(self) -> bool:
        return self.read.has_older()

    def browsing(self) -> BranchSelection | None:
        """The older branch this device deliberately shows (F4), if it does."""
        return self.read.browsing()

    def branch_selection(self, cmid: str) -> BranchSelection | None:
        return self.read.branch_selection(cmid)

    def select_branch(self, cmid: str, index: int) -> None:
        self._apply(self.state.select_branch(cmid, index))

    @property
    def members(self) -> tuple[Member, ...]:
        return self.presence.members

    @property
    def channel(self) -> Any:
        """The ably channel (diagnostics and tests; the UI never needs it)."""
        return self._channel


def _text(reason: Any) -> str | None:
    if reason is None:
        return None
    return str(getattr(reason, "message", None) or reason)


__all__ = ["ClientOptions", "ClientSession", "RunHandle", "SteerHandle"]
