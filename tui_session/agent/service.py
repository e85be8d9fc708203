"""The agent service: HTTP routes, the sessions it serves, presence, and its turns' lifecycle.

- `POST /api/chat` `{inputEventId, sessionName}` (the invocation of docs/wire.md §3.3):
  checks the caller (`callers.py`: its Ably token, and that the input is its own), locates
  the input on the channel, answers with the run's ids, and runs the turn in a task
  (`turns.TurnDriver`).
- `GET /api/token?clientId=`: TokenDetails whose token is an Ably JWT signed with the app key,
  bound to that clientId, limited to session channels, for this machine's terminals and
  `agent.auth_secret` holders.
- `POST /api/handover` `{requestId, sessionName}`: an operator's take over or hand back, read
  from the channel and decided by `handover_service.py` (docs/handover.md).
- `GET /health`: version, model, counts, and what a client needs for the handover (the
  agent's clientId, whose snapshots to trust; the operators).
The service enters presence on each session it serves (kind `agent`, with its status), ends
its turns on shutdown, and on start ends, with `error`, the turns a killed predecessor left
open (`ledger.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tui_session import __version__, sessions
from tui_session.agent.callers import Caller, CallerCheck
from tui_session.agent.escalation import HandledByOperator, Refusal
from tui_session.agent.handover_service import HandoverService
from tui_session.agent.ledger import RunLedger
from tui_session.agent.models import ModelBackend
from tui_session.agent.notifier import PushNotifier
from tui_session.agent.orphans import end_open_run
from tui_session.agent.tools import ToolSpec
from tui_session.agent.turns import Turn, TurnDriver
from tui_session.config import AgentSettings
from tui_session.credentials.errors import AuthError
from tui_session.protocol import ErrorCode, ProtocolError, RunReason, parse_invocation
from tui_session.protocol.handover import parse_handover_call
from tui_session.transport.agent import AgentSession
from tui_session.transport.follower import wait_connected

log = logging.getLogger(__name__)

CLIENT_CAPABILITY = {sessions.ALL_CHANNELS: ["publish", "subscribe", "presence", "history"]}
DESK_OPS = ["subscribe", "presence", "history"]  # an operator reads the desk, is seen there


def token_capability(client_id: str, settings: AgentSettings) -> dict[str, list[str]]:
    """What `/api/token` grants: every session channel; an operator also the desk channel
    (docs/handover.md, "Who may"). Publishing on the desk stays the agent's."""
    if client_id in parse_ids(settings.operators):
        return {**CLIENT_CAPABILITY, settings.desk_channel: DESK_OPS}
    return CLIENT_CAPABILITY


def parse_ids(text: str) -> set[str]:
    """A comma-separated setting of clientIds."""
    return {part.strip() for part in text.split(",") if part.strip()}


TOO_MANY_RUNS = 42910  # HTTP 429, an Ably-style code for "rate limit"
PRESENCE_DEBOUNCE_S = 0.2
HTTP_STATUS = {ErrorCode.INPUT_EVENT_NOT_FOUND: 404, ErrorCode.APPROVAL_NOT_ALLOWED: 403}

TokenIssuer = Callable[[str], dict[str, Any]]  # clientId -> TokenDetails with an Ably JWT


@dataclass
class ServedSession:
    """A session channel this service is attached to."""

    name: str
    agent: AgentSession
    turns: dict[str, Turn] = field(default_factory=dict)
    waiting: set[str] = field(default_factory=set)  # runs suspended for an approval
    last_presence: dict[str, Any] = field(default_factory=dict)
    watchers: int = 0  # user devices present
    unwatched_timer: asyncio.TimerHandle | None = None

    def status(self) -> str:
        states = {turn.status for turn in self.turns.values()}
        for status in ("streaming", "thinking"):
            if status in states:
                return status
        return "waiting for approval" if self.waiting else "idle"


class AgentService:
    def __init__(
        self,
        settings: AgentSettings,
        realtime: Any,
        backend: ModelBackend,
        tools: list[ToolSpec],
        *,
        ledger: RunLedger,
        handover_ledger: RunLedger,
        notifier: PushNotifier,
        callers: CallerCheck,
        token_issuer: TokenIssuer | None = None,
    ) -> None:
        self.settings = settings
        self.realtime = realtime
        self.backend = backend
        self.ledger = ledger
        self.callers = callers
        self.token_issuer = token_issuer
        self.driver = TurnDriver(backend, tools, self._on_turn_status)
        self.sessions: dict[str, ServedSession] = {}
        self._session_locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._presence_dirty: set[str] = set()
        self._presence_task: asyncio.Task[None] | None = None
        self.operators = parse_ids(settings.operators)
        self.approvers = [a.strip() for a in settings.approvers.split(",") if a.strip()]
        self.token_client_ids = {
            c.strip() for c in settings.token_client_ids.split(",") if c.strip()
        }
        self.started_at = time.time()
        self.handover = HandoverService(
            settings,
            realtime,
            operators=self.operators,
            tools=tools,
            ledger=handover_ledger,
            notifier=notifier,
            serve=self._session,
            answer_prompt=self._answer_prompt,
            presence_changed=self._presence_changed,
            forget_run=self._forget_run,
        )

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, then end the turns a killed predecessor left open (§7.14)."""
        await wait_connected(self.realtime, 15)
        await self.handover.start()  # the desk first: it says which sessions have a state
        for session_name, run_ids in self.ledger.open_runs().items():
            try:
                served = await self._session(session_name)
                for run_id in run_ids:
                    await end_open_run(served.agent, run_id, "agent restarted")
                    self.ledger.forget(session_name, run_id)
            except Exception:
                log.exception("could not end orphaned runs of %s", session_name)

    async def stop(self, reason: str = "agent shutting down") -> None:
        """End every turn in flight with `error` (reason), leave presence, close."""
        for served in list(self.sessions.values()):
            for turn in list(served.turns.values()):
                with contextlib.suppress(Exception):
                    await turn.run.end(RunReason.ERROR, error_message=reason)
                self.ledger.forget(served.name, turn.run.run_id)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._presence_task is not None:
            self._presence_task.cancel()
        await self.handover.stop()
        for served in list(self.sessions.values()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(served.agent.channel.presence.leave(), 5)
            with contextlib.suppress(Exception):
                await served.agent.detach()
        await self.backend.aclose()

    def application(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024)
        app.router.add_post("/api/chat", self.handle_chat)
        app.router.add_post("/api/handover", self.handle_handover)
        app.router.add_get("/api/token", self.handle_token)
        app.router.add_get("/health", self.handle_health)
        return app

    # ---- HTTP ------------------------------------------------------------------------------

    def _caller(self, request: web.Request) -> Caller:
        return self.callers.identify(request.headers, request.remote)

    async def handle_chat(self, request: web.Request) -> web.Response:
        try:
            caller = self._caller(request)
        except AuthError as exc:
            return _refused(exc)
        try:
            body = json.loads(await request.read() or b"null")
            parse_invocation(body)
        except (ValueError, ProtocolError) as exc:
            return _error(400, 40000, f"bad invocation body: {_reason(exc)}")
        session_name = body["sessionName"]
        try:
            await self.callers.authorise_prompt(caller, session_name)
        except AuthError as exc:
            return _refused(exc)
        served = await self._served_or_error(session_name)
        if isinstance(served, web.Response):
            return served
        if len(served.turns) >= self.settings.max_runs_per_session:
            return _error(
                429,
                TOO_MANY_RUNS,
                f"session {session_name!r} already has {len(served.turns)} turns running "
                f"(the limit is {self.settings.max_runs_per_session}); wait for one to end "
                "or cancel one",
            )
        try:
            run = await served.agent.create_run(
                body,
                on_steer=self._on_steer,
                trigger_deadline_s=self.settings.trigger_deadline_s,
                check_trigger=lambda trigger: self._admit(caller, session_name, trigger),
            )
        except AuthError as exc:
            return _refused(exc)
        except HandledByOperator as handled:  # docs/handover.md: the operator answers
            await self.handover.prompt_held(served, handled.trigger)
            return web.json_response(handled.body(), status=202)
        except Refusal as refusal:
            return _error(refusal.status, int(refusal.code), refusal.message)
        except ProtocolError as exc:
            status = HTTP_STATUS.get(exc.code, 400)
            return _error(status, int(exc.code), str(exc))
        if run.duplicate:  # this input already has a run (§7.12): answer with it
            return web.json_response(run.ids())
        await self._begin(served, run)
        return web.json_response(run.ids())

    async def _begin(self, served: ServedSession, run: Any) -> None:
        turn = Turn(run, served.name)
        served.turns[run.run_id] = turn
        served.waiting.discard(run.run_id)  # a continuation: the approval came
        self.ledger.record(served.name, run.run_id)
        await self.handover.prepare(served, turn)
        self.handover.turn_started(served, turn)
        self._spawn(self._drive(served, turn))

    async def _answer_prompt(self, served: ServedSession, event_id: str) -> None:
        """Answer a prompt as if it had just been POSTed (after an operator handed back)."""
        body = {"inputEventId": event_id, "sessionName": served.name}
        run = await served.agent.create_run(
            body, on_steer=self._on_steer, trigger_deadline_s=self.settings.trigger_deadline_s
        )
        if not run.duplicate:
            await self._begin(served, run)

    async def handle_handover(self, request: web.Request) -> web.Response:
        """`POST /api/handover {requestId, sessionName}`: the operator's `handover.request`
        was published first; the agent reads it from the channel (docs/handover.md)."""
        try:
            caller = self._caller(request)
        except AuthError as exc:
            return _refused(exc)
        try:
            request_id, session_name = parse_handover_call(
                json.loads(await request.read() or b"null")
            )
        except ValueError as exc:
            return _error(400, 40000, f"bad handover body: {exc}")
        try:
            await self.callers.authorise_prompt(caller, session_name)
            served = await self._served_or_error(session_name)
            if isinstance(served, web.Response):
                return served
            # the caller must be the request's publisher (whose clientId the hub verified)
            status, answer = await self.handover.handle_request(
                served, request_id, lambda by: self.callers.check_author(caller, by)
            )
        except AuthError as exc:
            return _refused(exc)
        return web.json_response(answer, status=status)

    def _admit(self, caller: Caller, session_name: str, trigger: Any) -> None:
        """The trigger a POST names: the caller's own (callers.py), and the agent's to answer
        (not while an operator is in control; an escalation's answer only from an operator)."""
        self.callers.check_author(caller, trigger.client_id)
        self.handover.admit(session_name, trigger)

    async def handle_token(self, request: web.Request) -> web.Response:
        """TokenDetails carrying an Ably JWT for `clientId` (what an SDK's authUrl accepts)."""
        try:
            self.callers.authorise_token_request(self._caller(request))
        except AuthError as exc:
            return _refused(exc)
        client_id = request.query.get("clientId", "").strip()
        if not client_id or client_id == "*":
            return _error(400, 40000, "clientId is required (and may not be '*')")
        if self.token_client_ids and client_id not in self.token_client_ids:
            return _error(403, 40160, f"no tokens are issued for clientId {client_id!r}")
        if client_id == self.settings.client_id:  # its snapshots are the ones folds trust
            return _error(403, 40160, f"{client_id!r} is the agent's own clientId")
        if self.token_issuer is None:
            return _error(501, 40000, "this agent service issues no tokens")
        return web.json_response(self.token_issuer(client_id))

    async def handle_health(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {
                "status": "ok",
                "version": __version__,
                "model": self.backend.name,
                "demo": self.backend.is_demo,
                "sessions": len(self.sessions),
                "runs": sum(len(s.turns) for s in self.sessions.values()),
                "uptime_s": round(time.time() - self.started_at, 1),
                **self.handover.health(),  # clientId: how it shows in presence, once it joins
            }
        )

    # ---- sessions --------------------------------------------------------------------------

    async def _served_or_error(self, name: str) -> ServedSession | web.Response:
        try:
            return await self._session(name)
        except ProtocolError as exc:
            # The channel refused the attach (a name it does not accept, no capability): the
            # caller's mistake, answered with the channel's own error, not a 500.
            cause = exc.__cause__
            code, status = getattr(cause, "code", None), getattr(cause, "status_code", None)
            if not (isinstance(code, int) and isinstance(status, int) and 400 <= status < 500):
                raise
            return _error(status, code, f"cannot serve session {name!r}: {_reason(exc)}")

    async def serve_session(self, name: str) -> None:
        """Attach to a session and be present in it before any turn is asked for."""
        await self._session(name)

    async def _session(self, name: str) -> ServedSession:
        """The served session for a channel: attach and enter presence the first time."""
        served = self.sessions.get(name)
        if served is not None:
            return served
        lock = self._session_locks.setdefault(name, asyncio.Lock())
        async with lock:
            served = self.sessions.get(name)
            if served is not None:
                return served
            watch = self.handover.watch_for(name)
            agent = await AgentSession.connect(
                self.realtime,
                name,
                operators=self.operators,
                approvers=self.approvers,
                rollup_window_s=self.settings.append_window_ms / 1000,
                on_raw=watch.observe,
                handover=watch.view,
            )
            served = ServedSession(name, agent)
            await self.handover.attached(served)  # first: presence then tells its state
            await agent.channel.presence.enter(self._presence_data(name, "idle"))
            await agent.channel.presence.subscribe(lambda _m: self._on_presence(served))
            self.sessions[name] = served
            self._on_presence(served)
            self._presence_changed(name)
            return served

    def _presence_data(self, name: str, base_status: str) -> dict[str, Any]:
        return {
            "kind": "agent",
            "role": "agent",
            "name": self.settings.name,
            "model": self.backend.name,
            "demo": self.backend.is_demo,
            "status": self.handover.status(name, base_status),
            "handover": self.handover.presence_field(name),
        }

    def _on_turn_status(self, _run_id: str, _status: str) -> None:
        for name in self.sessions:
            self._presence_changed(name)

    def _presence_changed(self, name: str) -> None:
        self._presence_dirty.add(name)
        if self._presence_task is None or self._presence_task.done():
            self._presence_task = asyncio.get_running_loop().create_task(self._flush_presence())

    async def _flush_presence(self) -> None:
        """Publish changed agent statuses, at most every PRESENCE_DEBOUNCE_S."""
        while self._presence_dirty:
            await asyncio.sleep(PRESENCE_DEBOUNCE_S)
            dirty, self._presence_dirty = self._presence_dirty, set()
            for name in dirty:
                served = self.sessions.get(name)
                data = self._presence_data(name, served.status()) if served else None
                if served is None or data == served.last_presence:
                    continue
                served.last_presence = data or {}
                with contextlib.suppress(Exception):
                    await served.agent.channel.presence.update(data)

    def _on_presence(self, served: ServedSession) -> None:
        """Presence-aware cost control: with when_unwatched = stop, a session nobody watches
        has its turns cancelled after the grace time."""
        if self.settings.when_unwatched != "stop":
            return
        self._spawn(self._count_watchers(served))

    async def _count_watchers(self, served: ServedSession) -> None:
        members = await served.agent.channel.presence.get()
        served.watchers = sum(1 for m in members if _is_user_device(m.data))
        loop = asyncio.get_running_loop()
        if served.watchers:
            if served.unwatched_timer is not None:
                served.unwatched_timer.cancel()
                served.unwatched_timer = None
        elif served.unwatched_timer is None:
            served.unwatched_timer = loop.call_later(
                self.settings.unwatched_grace_s, self._stop_unwatched, served
            )

    def _stop_unwatched(self, served: ServedSession) -> None:
        served.unwatched_timer = None
        if served.watchers:
            return
        reason = (
            f"Stopped: nobody has watched this session for {self.settings.unwatched_grace_s:g} s "
            "(agent.when_unwatched = stop)."
        )
        for turn in list(served.turns.values()):
            turn.stop(reason)

    # ---- turns -----------------------------------------------------------------------------

    async def _drive(self, served: ServedSession, turn: Turn) -> None:
        try:
            await self.driver.drive(turn)
        finally:
            served.turns.pop(turn.run.run_id, None)
            if turn.run.status == "suspended":
                served.waiting.add(turn.run.run_id)
                await self.handover.turn_suspended(served, turn)
            else:
                self._forget_run(served.name, turn.run.run_id)
                await self.handover.turn_ended(served, turn)
            self._on_turn_status(turn.run.run_id, "done")

    def _forget_run(self, name: str, run_id: str) -> None:
        """A run ended (here, or on the channel: a cancel of a suspended one, a take-over)."""
        served = self.sessions.get(name)
        if served is not None:
            served.waiting.discard(run_id)
        self.ledger.forget(name, run_id)

    def _on_steer(self, _steer: Any, run: Any) -> None:
        """A steer arrived: stop the model call in flight; the next pass answers the steer."""
        for served in self.sessions.values():
            turn = served.turns.get(run.run_id)
            if turn is not None:
                turn.steered.set()

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _is_user_device(data: Any) -> bool:
    return isinstance(data, dict) and data.get("kind") == "client"


def _reason(exc: Exception) -> str:
    return exc.args[-1] if isinstance(exc, ProtocolError) and exc.args else str(exc)


def _refused(exc: AuthError) -> web.Response:
    response = _error(exc.status, exc.code, exc.message)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="tui-session agent"'
    return response


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "statusCode": status, "message": message}}, status=status
    )
