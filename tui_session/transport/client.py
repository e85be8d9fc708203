"""The client side of the session protocol over a real ably-python channel (reference §3, §6).

`ClientSession` owns one decoder, one tree, one view and its paging window for a session
channel. It subscribes to everything, attaches, pages history at once (so a late joiner sees
the conversation, including a run still streaming), enters presence, and turns user intent
into channel publishes and agent invocations. The UI never calls the network: it calls the
methods below and reacts to the typed events of `client_events` (via `listen` or `events`),
reading snapshots from `transcript()`, `turn()`, `prompt()`, `active_turns()`, `members`.

The class is assembled from three parts, each in its own module:
- client.py (this): connect / close, events, history paging and gap fill, folding inbound
  messages (run correlation, §7.3 cancel re-send, steer outcomes, active turns), stalls;
- client_commands.py: send, edit, regenerate, approve, steer, cancel, cancel_turns, retry
  and the agent invocation (POST);
- client_views.py: the read-model (`client_model` snapshots) for the UI.
Handles returned by the commands are in client_handles.py, events in client_events.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp

from tui_session.protocol import (
    ErrorCode,
    H,
    InputNode,
    Name,
    ProtocolError,
    RunNode,
    RunStatus,
    Tree,
    View,
    active_turns,
    new_decoder,
    steer_outcome,
)
from tui_session.protocol.paging import Window
from tui_session.protocol.wire import RUN_LIFECYCLE

from .client_commands import ClientCommands
from .client_events import (
    ActiveTurnsChanged,
    ClientEvent,
    ConnectionChanged,
    HistoryLoaded,
    PresenceChanged,
    PromptAdded,
    PromptUpdated,
    SessionError,
    SteerResolved,
    TurnAdded,
    TurnEnded,
    TurnUpdated,
    WireMessage,
)
from .client_handles import RunHandle, SteerHandle
from .client_views import ClientViews
from .client_wire import DEVICE_HEADER, app_header, message_dict, tiers
from .history import HistoryReader
from .owned_inputs import OwnedInputs
from .presence import Member, PresenceTracker, client_presence_data

log = logging.getLogger(__name__)

Listener = Callable[[ClientEvent], Any]

CONNECT_TIMEOUT_S = 15.0
# close() must be quick even when the hub is gone or silent: a leave or detach that is not
# acknowledged within these is abandoned (the hub drops both with the connection anyway)
LEAVE_TIMEOUT_S = 1.5
DETACH_TIMEOUT_S = 1.5


class ClientSession(ClientCommands, ClientViews):
    """See the module docstring. Create with `await ClientSession.connect(...)`."""

    def __init__(
        self,
        realtime: Any,
        channel_name: str,
        client_id: str,
        *,
        agent_url: str | None,
        device: str,
        role: str,
        http: aiohttp.ClientSession | None,
        history_page_size: int,
        owned_inputs_path: Path | None,
        initial_messages: int,
        start_timeout: float,
        steer_timeout: float,
        stall_after: float,
        stall_check_interval: float,
        post_timeout: float,
        post_extra: Mapping[str, Any] | None,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self.realtime = realtime
        self.channel_name = channel_name
        self.client_id = client_id
        self.device = device
        self.role = role
        self.agent_url = agent_url
        self._http = http
        self._owns_http = http is None
        self._initial_messages = initial_messages
        self._start_timeout = start_timeout
        self._steer_timeout = steer_timeout
        self._stall_after = stall_after
        self._stall_check_interval = stall_check_interval
        self._post_timeout = post_timeout
        self._post_extra = dict(post_extra or {})
        self._channel = realtime.channels.get(channel_name)

        self.decoder = new_decoder()
        self.tree = Tree()
        self.view = View(self.tree)
        self.window = Window(self.view)
        self.owned = OwnedInputs(owned_inputs_path)
        self._history = HistoryReader(self._channel, history_page_size, self._fold_history)
        self._history_lock = asyncio.Lock()
        self.presence = PresenceTracker(self._channel, self._on_members)

        self._listeners: list[Listener] = []
        self._sends: dict[str, RunHandle] = {}  # by input event id
        self._by_input: dict[str, list[RunHandle]] = {}  # by input codec-message-id
        self._cancel_requested: set[str] = set()  # run ids this device asked to cancel
        self._cancel_pending: set[str] = set()  # own input ids cancelled before their start
        self._steers: dict[str, SteerHandle] = {}
        self._activity: dict[str, float] = {}  # run id -> loop time of its last wire
        self._run_agent: dict[str, str] = {}  # run id -> clientId that published its start
        self._devices: dict[str, str] = {}  # prompt cmid -> its author's device (client_wire)
        self._stalled: set[str] = set()
        self._ended: set[str] = set()
        self._active: dict[str, dict[str, str]] = {}
        self._last_serial: str | None = None
        self._attached_once = False
        self._folding_history = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._connected_at = self._loop.time()

    # --- lifecycle ---------------------------------------------------------------------------

    @classmethod
    async def connect(
        cls,
        realtime: Any,
        channel_name: str,
        *,
        agent_url: str | None,
        device: str,
        role: str = "user",
        http: aiohttp.ClientSession | None = None,
        history_page_size: int = 100,
        owned_inputs_path: Path | None = None,
        initial_messages: int = 50,
        start_timeout: float = 15.0,
        steer_timeout: float = 60.0,
        stall_after: float = 60.0,
        stall_check_interval: float = 1.0,
        post_timeout: float = 30.0,
        post_extra: Mapping[str, Any] | None = None,
        listener: Listener | None = None,
    ) -> ClientSession:
        """Subscribe, attach, page history, enter presence. `listener` (optional) receives
        events from the start, including the initial history load."""
        if realtime.connection.state.value != "connected":
            await asyncio.wait_for(realtime.connection.once_async("connected"), CONNECT_TIMEOUT_S)
        client_id = realtime.auth.client_id
        if not client_id and realtime.auth.token_details is not None:
            client_id = realtime.auth.token_details.client_id
        if not client_id or client_id == "*":
            raise ValueError("a client session needs a connection with a concrete clientId")
        session = cls(
            realtime,
            channel_name,
            client_id,
            agent_url=agent_url,
            device=device,
            role=role,
            http=http,
            history_page_size=history_page_size,
            owned_inputs_path=owned_inputs_path,
            initial_messages=initial_messages,
            start_timeout=start_timeout,
            steer_timeout=steer_timeout,
            stall_after=stall_after,
            stall_check_interval=stall_check_interval,
            post_timeout=post_timeout,
            post_extra=post_extra,
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
        self._channel.on(self._on_channel_state)
        await self._channel.subscribe(self._on_message)  # subscribe first, then attach
        self._attached_once = True
        await self._load_initial()
        await self.presence.start(client_presence_data(self.client_id, self.device, self.role))
        self._spawn(self._stall_ticker())

    async def close(self) -> None:
        """Leave presence, detach, stop background work. The realtime client is the caller's."""
        if self._closed:
            return
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        for handle in self._sends.values():
            if handle._timer is not None:
                handle._timer.cancel()
            for future in (handle.started, handle.ended):
                future.cancel()
        for steer in self._steers.values():
            if steer._timer is not None:
                steer._timer.cancel()
            steer.outcome.cancel()
        with contextlib.suppress(Exception):
            self._channel.unsubscribe(self._on_message)
            self._channel.off(self._on_channel_state)
            self.realtime.connection.off(self._on_connection_state)
        if self._connected():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.presence.stop(), LEAVE_TIMEOUT_S)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._channel.detach(), DETACH_TIMEOUT_S)
        else:
            # not connected: a leave or detach would only queue until a reconnect that may
            # never come, and the hub drops both with the connection anyway: skip them
            with contextlib.suppress(Exception):
                self._channel.presence.unsubscribe(self.presence._on_presence)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._owns_http and self._http is not None:
            await self._http.close()
        self._listeners.clear()

    def _connected(self) -> bool:
        state = getattr(self.realtime.connection, "state", None)
        return str(getattr(state, "value", state)) == "connected"

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

    # --- history -----------------------------------------------------------------------------

    async def load_older(self, limit: int = 10) -> int:
        """Reveal exactly `limit` older messages (fewer only when history is exhausted)."""
        async with self._history_lock:
            shown = await self._reveal(limit)
        self._emit(HistoryLoaded(shown, self.window.has_older()))
        return shown

    async def _reveal(self, limit: int) -> int:
        shown = 0
        while True:
            result = self.window.reveal(limit - shown)
            shown += result.revealed
            if result.shortfall == 0 or self.window.history_exhausted:
                return shown
            await self._history.older_page()
            self.window.history_exhausted = self._history.exhausted

    async def _load_initial(self) -> None:
        """Page at once (§7.2): the requested window, then the prompts of revealed runs."""
        async with self._history_lock:
            shown = await self._reveal(self._initial_messages)
            for _ in range(20):  # a run still going at the window's edge shows its prompt
                nodes = self.window.nodes()
                edge = nodes[0] if nodes else None
                if not isinstance(edge, RunNode) or edge.terminal or not self.window.has_older():
                    break
                shown += await self._reveal(1)
        self._emit(HistoryLoaded(shown, self.window.has_older()))

    def _fold_history(self, messages: list[dict[str, Any]]) -> None:
        # the active-turns map walks every run: rebuild it once per page, not per lifecycle
        # message, or paging a long session back costs O(runs^2) (1,000 runs: ~15 s)
        self._folding_history = True
        try:
            for m in messages:
                self._ingest(m, "history")
        finally:
            self._folding_history = False
        self.view.nodes()  # record which sibling each group shows (see _ingest)
        self._refresh_active()

    async def _fill_gap(self) -> None:
        """§7.13: after a re-attach without RESUMED, read back to the last serial we had."""
        self._emit(ConnectionChanged("recovering"))
        stop_at = self._last_serial
        open_streams = [s for run in self.tree.runs() if not run.terminal for s in run.open_streams]
        if stop_at is not None and open_streams:
            stop_at = min([stop_at, *open_streams])
        try:
            count = await self._history.fill_gap(stop_at)
        except ProtocolError as err:
            self._emit(SessionError("fill gap", err.message, int(err.code)))
            return
        self._emit(HistoryLoaded(count, self.window.has_older()))
        self._emit(ConnectionChanged("recovered"))

    # --- inbound -----------------------------------------------------------------------------

    def _on_message(self, message: Any) -> None:
        if self._closed:
            return
        try:
            self._ingest(message_dict(message), "live")
        except Exception as err:
            log.exception("cannot fold a channel message")
            self._emit(
                SessionError("fold message", str(err), int(ErrorCode.SESSION_SUBSCRIPTION_ERROR))
            )

    def _ingest(self, m: dict[str, Any], source: str) -> None:
        serial = m.get("serial")
        if isinstance(serial, str) and (self._last_serial is None or serial > self._last_serial):
            self._last_serial = serial
        transport, codec = tiers(m)
        version = (m.get("version") or {}).get("serial")
        self._emit(
            WireMessage(
                serial,
                m["action"],
                m.get("name"),
                m.get("clientId"),
                transport,
                codec,
                version,
                source,
            )
        )
        decoded = self.decoder.decode(m)
        if decoded is None:
            return
        run_id = decoded.transport.get(H.RUN_ID)
        if run_id and decoded.name != Name.CANCEL:
            self._activity[run_id] = self._loop.time()
            if decoded.name == Name.RUN_START and decoded.client_id:
                self._run_agent[run_id] = decoded.client_id
        key = run_id or decoded.transport.get(H.CODEC_MESSAGE_ID)
        existed = key in self.tree.nodes if key else True
        node = self.tree.apply(decoded)
        if node is None:
            return
        if not existed and source == "live":
            # the view remembers what it shows per sibling group only when it computes the
            # branch: do it on every new node, so an edit made elsewhere never moves it
            self.view.nodes()
        if isinstance(node, InputNode):
            device = app_header(m, DEVICE_HEADER)
            if device and node.key not in self._devices:
                self._devices[node.key] = device
            self._emit(PromptUpdated(node.key) if existed else PromptAdded(node.key))
            return
        if not isinstance(node, RunNode):
            return
        if not existed:
            self._emit(TurnAdded(node.run_id))
        if node.run_id in self._stalled:
            self._stalled.discard(node.run_id)
        self._emit(TurnUpdated(node.run_id))
        if decoded.name in RUN_LIFECYCLE:
            self._on_lifecycle(node, decoded.name, decoded.serial, decoded.transport)
        self._check_steers(node)

    def _on_lifecycle(
        self, run: RunNode, name: str, serial: str, transport: Mapping[str, str]
    ) -> None:
        input_id = transport.get(H.INPUT_CODEC_MESSAGE_ID)
        if name in (Name.RUN_START, Name.RUN_RESUME) and input_id:
            for handle in self._by_input.get(input_id, []):
                if handle.started.done() or (handle.serial and serial <= handle.serial):
                    continue
                handle._start(run.run_id)
                if handle.kind != "approval":
                    self._emit(PromptUpdated(input_id))
            if name == Name.RUN_START and input_id in self._cancel_pending:
                # §7.3: the cancel may have reached no agent; name the run now it is known
                self._cancel_pending.discard(input_id)
                self._cancel_requested.add(run.run_id)
                self._spawn(self._resend_cancel(run.run_id, input_id))
        if run.terminal and run.run_id not in self._ended:
            self._ended.add(run.run_id)
            self._stalled.discard(run.run_id)
            for handle in self._sends.values():
                if handle.run_id == run.run_id and not handle.ended.done():
                    handle.ended.set_result(str(run.status))
            self._emit(TurnEnded(run.run_id, str(run.status)))
        elif run.terminal:
            for handle in self._sends.values():
                if handle.run_id == run.run_id and not handle.ended.done():
                    handle.ended.set_result(str(run.status))
        if not self._folding_history:
            self._refresh_active()

    def _check_steers(self, run: RunNode) -> None:
        for steer in self._steers.values():
            if steer.run_id != run.run_id or steer.outcome.done():
                continue
            outcome = steer_outcome(run, steer.steer_cmid)
            if outcome is None:
                continue
            state = "consumed" if outcome.consumed else "not consumed"
            if steer._resolve(state, outcome.run_terminal_reason):
                self._emit(SteerResolved(steer.steer_cmid, run.run_id, state))

    def _awaiting(self) -> list[str]:
        return [
            h.input_codec_message_id
            for h in self._sends.values()
            if h.kind != "approval" and h.published and not h.run_id
        ]

    def _refresh_active(self) -> None:
        turns = active_turns(self.tree, self.client_id, self._awaiting())
        if turns != self._active:
            self._active = turns
            self._emit(ActiveTurnsChanged({k: dict(v) for k, v in turns.items()}))

    def _on_members(self, members: tuple[Member, ...]) -> None:
        self._emit(PresenceChanged(members))
        self._check_stalls()

    def _on_connection_state(self, change: Any) -> None:
        current = getattr(change, "current", None)
        if current is None:
            return
        reason = getattr(change, "reason", None)
        self._emit(ConnectionChanged(str(getattr(current, "value", current)), _text(reason)))

    def _on_channel_state(self, change: Any) -> None:
        if self._closed or str(getattr(change.current, "value", change.current)) != "attached":
            return
        if not self._attached_once:
            return
        if change.resumed:
            self._emit(ConnectionChanged("resumed"))
        else:
            self._spawn(self._fill_gap())

    # --- stalls (§7.14) ----------------------------------------------------------------------

    async def _stall_ticker(self) -> None:
        while not self._closed:
            await asyncio.sleep(self._stall_check_interval)
            self._check_stalls()

    def _check_stalls(self) -> None:
        now = self._loop.time()
        stalled = set()
        for run in self.tree.runs():
            if run.status != RunStatus.ACTIVE:
                continue
            last = self._activity.get(run.run_id, self._connected_at)
            agent = self._run_agent.get(run.run_id)
            gone = (
                agent is not None
                and agent in self.presence.agents_seen
                and not self.presence.agent_present(agent)
            )
            if gone or now - last > self._stall_after:
                stalled.add(run.run_id)
        changed = stalled ^ self._stalled
        self._stalled = stalled
        for run_id in sorted(changed):
            self._emit(TurnUpdated(run_id))


def _text(reason: Any) -> str | None:
    if reason is None:
        return None
    return str(getattr(reason, "message", None) or reason)


__all__ = [
    "ClientSession",
    "RunHandle",
    "SteerHandle",
]
