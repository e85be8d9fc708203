"""The agent service's side of the human handover (docs/handover.md, "Part 2 checklist" 1).

The agent is the one writer of each session's `handover.state` (one lock per session
serialises every decision: two operators pressing f7 at once get one take-over and one
`40930`), the one publisher of desk items, and the one sender of pushes. This module:
- escalates suspended turns whose calls include `request_human` (a snapshot, a desk item,
  pushes to the operators away), and turns asked for a human from a terminal;
- decides `POST /api/handover` (`handle_request`): take over or hand back, or a refusal, each
  published as a snapshot; then does what a take-over means (escalated turns end with the
  take-over as their call's output, running turns stop, approval-suspended turns end) or a
  hand-back means (the newest prompt nobody answered is answered);
- while an operator is in control: `admit` turns prompts away (`202`), each is a desk
  `waiting` item until the operator's reply answers it;
- hands back by itself when the operator has been absent for the grace period (a timer per
  session on `lapse_deadline_ms`, from presence as observed);
- resolves escalations, approvals and stalls when their turns move or end (from the channel,
  so an end by a cancel, a restart or an error counts alike);
- offers pushes when a turn ends or waits and its user has no device present, and again when
  their last device leaves while it still waits;
- remembers sessions with a handover state (`agent-handover.json`) and, after a restart,
  serves them again and every session with an open desk item, paging back to the newest own
  snapshot: nothing but the at-most-once memory of pushes lives only in memory.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from tui_session import sessions
from tui_session.agent import pushes
from tui_session.agent.desk_publisher import DeskPublisher
from tui_session.agent.escalation import (
    admit,
    asked_by_user,
    call_message,
    escalation_of,
    is_request_human,
)
from tui_session.agent.ledger import RunLedger
from tui_session.agent.notifier import Push, PushNotifier
from tui_session.agent.orphans import MAX_PAGES
from tui_session.agent.session_watch import SessionWatch
from tui_session.agent.stall_watch import StallWatch
from tui_session.agent.tools import ToolSpec
from tui_session.agent.turns import Turn, note_events
from tui_session.config import AgentSettings
from tui_session.protocol import Kind, RunReason, RunStatus, Tree, unanswered_calls
from tui_session.protocol.desk import DeskItem, DeskKind, DeskState, item_id
from tui_session.protocol.handover import (
    DEFAULT,
    Escalation,
    EventKind,
    HandoverError,
    HandoverEvent,
    Request,
    Resolution,
    Snapshot,
    escalate,
    hand_back,
    lapse,
    lapse_deadline_ms,
    operator_label,
    resolve,
    state_publish,
    take_over,
    takeover_output,
)
from tui_session.protocol.handover_context import keep_accepted
from tui_session.transport.agent import AgentSession, Trigger
from tui_session.transport.channel_io import ChannelWriter
from tui_session.transport.presence import member_from

log = logging.getLogger(__name__)

SNAPSHOT = "snapshot"  # ledger key: a snapshot of this session exists (page back for it)
ATTENTION = "attention"  # ledger key: its state is not the default (serve it after a restart)
_APPROVAL_RESOLUTION = {True: "approved", False: "denied"}
_SNAPSHOT_KINDS = frozenset({DeskKind.ESCALATION, DeskKind.CONTROL, DeskKind.WAITING})


def now_ms() -> int:
    return int(time.time() * 1000)


class Served(Protocol):
    """What this module needs of a session the service serves (`service.ServedSession`)."""

    name: str
    agent: AgentSession
    turns: dict[str, Turn]
    waiting: set[str]


@dataclass
class _Session:
    watch: SessionWatch
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    served: Served | None = None
    lapse_timer: asyncio.TimerHandle | None = None


class HandoverService:
    def __init__(
        self,
        settings: AgentSettings,
        realtime: Any,
        *,
        operators: Collection[str],
        tools: Iterable[ToolSpec],
        ledger: RunLedger,
        notifier: PushNotifier,
        serve: Callable[[str], Awaitable[Served]],
        answer_prompt: Callable[[Served, str], Awaitable[None]],
        presence_changed: Callable[[str], None],
        forget_run: Callable[[str, str], None],
    ) -> None:
        self.settings = settings
        self.client_id = settings.client_id
        self.operators = frozenset(operators)
        self.tools = {t.name: t for t in tools}
        self.ledger = ledger
        self.notifier = notifier
        self.serve = serve
        self.answer_prompt = answer_prompt
        self.presence_changed = presence_changed
        self.forget_run = forget_run
        self.desk = DeskPublisher(
            realtime,
            settings.desk_channel,
            settings.client_id,
            {"kind": "agent", "role": "agent", "name": settings.name},
            on_leave=self._left_desk,
        )
        self.stalls = StallWatch(settings.stall_after_s, self._stalled, self._recovered)
        self._sessions: dict[str, _Session] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Enter the desk, read back its open items, and serve again every session with a
        handover state or an open item (`attached` restores each one's state and timers)."""
        await self.desk.start()
        names = {n for n, keys in self.ledger.open_runs().items() if ATTENTION in keys}
        names |= {i.channel for i in self.desk.open.values()}
        for name in sorted(names):
            try:
                await self.serve(name)
            except Exception:
                log.exception("could not serve %s again after a restart", name)

    async def stop(self) -> None:
        for state in self._sessions.values():
            if state.lapse_timer is not None:
                state.lapse_timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.desk.stop()
        await self.notifier.aclose()

    def health(self) -> dict[str, Any]:
        """What a client needs (`GET /health`): whose snapshots to trust, who may act."""
        return {
            "clientId": self.client_id,
            "operators": sorted(self.operators),
            "deskChannel": self.settings.desk_channel,
            "operatorGraceS": self.settings.operator_grace_s,
        }

    # ---- sessions ----------------------------------------------------------------------------

    def watch_for(self, name: str) -> SessionWatch:
        """The watch of session `name`, made before the service attaches (it must see every
        message from the first)."""
        state = self._sessions.get(name)
        if state is None:
            state = self._sessions[name] = _Session(SessionWatch(name, self.client_id, self))
        return state.watch

    async def attached(self, served: Served) -> None:
        """The service attached (and enters presence next, with the state this restores): read
        presence, page back to the newest snapshot if one exists (the ledger or the desk says
        so), settle what ended meanwhile, restore the lapse timer."""
        state = self._state(served.name)
        state.served = served
        state.watch.observed_since_ms = now_ms()
        channel = served.agent.channel
        await channel.presence.subscribe(lambda _m: self._presence_event(served))
        await channel.presence.get()
        self._presence_event(served)
        known = SNAPSHOT in self.ledger.open_runs().get(served.name, [])
        if known or any(i.kind in _SNAPSHOT_KINDS for i in self.desk.items(channel=served.name)):
            while state.watch.view().snapshot_serial is None:
                if not await served.agent.page_older():
                    break
        for escalation in state.watch.view().snapshot.open:
            node = await served.agent.find_run(escalation.run_id, MAX_PAGES)
            if node is not None and node.terminal:
                self.run_ended(served.name, node.run_id, str(node.status), None)
        self._schedule_lapse(state)

    def snapshot(self, name: str) -> Snapshot:
        state = self._sessions.get(name)
        return state.watch.view().snapshot if state else DEFAULT

    def status(self, name: str, base: str) -> str:
        """The agent's presence status in session `name`, given its turns' (`base`)."""
        snapshot = self.snapshot(name)
        if snapshot.in_control:
            return f"operator {snapshot.in_control} in control"
        if snapshot.open and base in ("idle", "waiting for approval"):
            return "waiting for a human"
        return base

    def presence_field(self, name: str) -> dict[str, Any] | None:
        """Presence `handover`: null while the agent answers and nothing waits for a human."""
        snapshot = self.snapshot(name)
        if snapshot.control is None and not snapshot.open:
            return None
        control = snapshot.control
        return {
            "in_control": control.operator if control else None,
            "since": control.since_ms if control else None,
            "grace_s": control.grace_s if control else self.settings.operator_grace_s,
            "open_escalations": len(snapshot.open),
        }

    # ---- turns -------------------------------------------------------------------------------

    def admit(self, name: str, trigger: Trigger) -> None:
        """`check_trigger` of `create_run`: raise `HandledByOperator` (202) or `Refusal`."""
        state = self._state(name)
        assert state.served is not None
        facts = state.watch.inputs.get(trigger.event_id)
        admit(
            trigger,
            kind=facts.kind if facts else None,
            call_id=facts.call_id if facts else None,
            snapshot=state.watch.view().snapshot,
            tree=state.served.agent.tree,
            operators=self.operators,
        )

    async def prompt_held(self, served: Served, trigger: Trigger) -> None:
        """A prompt arrived while an operator is in control: a desk `waiting` item."""
        facts = self._state(served.name).watch.inputs.get(trigger.event_id)
        await self.desk.open_item(
            self._item(
                DeskKind.WAITING,
                served.name,
                trigger.codec_message_id,
                user=trigger.client_id or "",
                why=prompt_text(served.agent.tree, trigger.codec_message_id),
                since_ms=facts.timestamp_ms if facts and facts.timestamp_ms else now_ms(),
                by=trigger.client_id,
            )
        )

    async def prepare(self, served: Served, turn: Turn) -> None:
        """Before a turn is driven: an operator's answer resolves its escalation, a decision
        resolves its approval item, a prompt sent with "ask for a human" escalates."""
        run = turn.run
        facts = self._state(served.name).watch.inputs.get(run.trigger.event_id)
        if facts is None:
            return
        tree = served.agent.tree
        if not run.continuation:
            if facts.escalate and self.operators:
                turn.asked_for_human = prompt_text(tree, facts.codec_message_id)
            return
        if facts.kind in (Kind.TOOL_RESULT, Kind.TOOL_RESULT_ERROR) and facts.call_id:
            if is_request_human(tree, run.run_id, facts.call_id):
                await self._answered(served, run.run_id, facts.call_id, facts)
        elif facts.kind == Kind.TOOL_APPROVAL_RESPONSE and facts.call_id:
            resolution = _APPROVAL_RESOLUTION[bool(facts.approved)]
            key = item_id(DeskKind.APPROVAL, served.name, facts.call_id)
            await self.desk.resolve(key, resolution, facts.client_id)

    def turn_started(self, served: Served, turn: Turn) -> None:
        self.stalls.watch(served.name, turn)
        operator = self.snapshot(served.name).in_control
        if operator is not None:  # admitted just before a take-over: it stops like the others
            turn.stop(_stopped(operator))

    async def turn_suspended(self, served: Served, turn: Turn) -> None:
        """Suspended: each `request_human` call escalates, each approval waits on the desk."""
        self.stalls.forget(turn)
        try:
            for call in turn.waiting_calls:
                tool = self.tools.get(str(call.get("name")))
                if tool is not None and tool.answered_by_human:
                    asked_by = "user" if turn.asked_for_human is not None else "model"
                    await self._escalate(served, turn.run.run_id, call, asked_by)
                elif tool is not None and tool.needs_approval:
                    await self._approval_waits(served, turn, call)
        except Exception:  # the turn is suspended on the wire whatever the desk says
            log.exception("could not announce the suspension of run %s", turn.run.run_id)

    async def turn_ended(self, served: Served, turn: Turn) -> None:
        run = turn.run
        if self.stalls.forget(turn):
            key = item_id(DeskKind.STALL, served.name, run.run_id)
            await self.desk.resolve(key, run.status, self.client_id)
        watch = self._state(served.name).watch
        error = str(run.error) if run.error else None
        push = pushes.ended(run.owner, served.name, run.run_id, run.status, error)
        self._offer(push, watch.present(run.owner))

    # ---- listener of the session watches (any message that ends a run or answers a prompt) --

    def run_ended(self, session: str, run_id: str, reason: str, by: str | None) -> None:
        self.forget_run(session, run_id)
        self._spawn(self._settle_ended(session, run_id, reason, by))

    def operator_replied(self, session: str, operator: str, input_cmid: str) -> None:
        self._spawn(self._reply_answers(session, operator, input_cmid))

    # ---- take over and hand back --------------------------------------------------------------

    async def handle_request(
        self,
        served: Served,
        request_id: str,
        check_publisher: Callable[[str], None] = lambda _by: None,
    ) -> tuple[int, dict[str, Any]]:
        """`POST /api/handover`: (HTTP status, body). `check_publisher` may refuse a caller
        who is not the request's publisher (by raising)."""
        state = self._state(served.name)
        request = await self._locate_request(served, request_id)
        if request is None:
            why = f"handover request {request_id} not found within {self._deadline_s():g} s"
            return _error(HandoverError.REQUEST_NOT_FOUND, why)
        check_publisher(request.by)
        async with state.lock:
            view = state.watch.view()
            answered = [e for _, e in view.events if e.request == request_id]
            if answered:  # a retried POST: the same answer
                return _answer(answered[-1], view.snapshot)
            current = view.snapshot
            began = _control_began(view.events, current)
            if request.action == "take":
                new = take_over(
                    current,
                    request,
                    operators=self.operators,
                    grace_s=self.settings.operator_grace_s,
                    now_ms=now_ms(),
                )
            else:
                new = hand_back(current, request, operators=self.operators, now_ms=now_ms())
            await self._publish(served, new)
        assert new.event is not None
        if new.event.kind == EventKind.TOOK_OVER:
            await self._took_over(served, current, new)
        elif new.event.kind == EventKind.HANDED_BACK:
            await self._control_returned(served, current, new, began)
        return _answer(new.event, new)

    async def _took_over(self, served: Served, before: Snapshot, after: Snapshot) -> None:
        event, control = after.event, after.control
        assert event is not None and control is not None
        operator = control.operator
        if event.previous != operator:
            if before.control is not None:
                old = item_id(DeskKind.CONTROL, served.name, str(before.control.since_ms))
                await self.desk.resolve(old, "taken-over", operator)
            await self.desk.open_item(
                self._item(
                    DeskKind.CONTROL,
                    served.name,
                    str(control.since_ms),
                    user=operator,
                    why=f"{operator_label(operator)} is in control",
                    since_ms=control.since_ms,
                    by=operator,
                )
            )
        for escalation in before.open:
            key = item_id(DeskKind.ESCALATION, served.name, escalation.id)
            await self.desk.resolve(key, Resolution.TAKEN_OVER, operator)
        note = _stopped(operator)
        for turn in list(served.turns.values()):
            turn.stop(note)
        escalated = {e.run_id: e for e in before.open}
        for run_id in sorted(set(self._suspended_runs(served)) | set(escalated)):
            if run_id in escalated:
                await self._end_taken_over(served, escalated[run_id], operator)
            else:
                await self._end_suspended(served, run_id, operator, note)
        self._schedule_lapse(self._state(served.name))

    async def _control_returned(
        self, served: Served, before: Snapshot, after: Snapshot, began: str | None
    ) -> None:
        """Handed back or lapsed: the desk items close, the newest unanswered prompt (after
        control began) is answered as if it had just been POSTed."""
        assert after.event is not None and before.control is not None
        resolution = "lapsed" if after.event.kind == EventKind.LAPSED else "handed-back"
        by = after.event.by
        key = item_id(DeskKind.CONTROL, served.name, str(before.control.since_ms))
        await self.desk.resolve(key, resolution, by)
        for item in self.desk.items(DeskKind.WAITING, served.name):
            await self.desk.resolve(item.id, resolution, by)
        self._schedule_lapse(self._state(served.name))
        prompt = self._newest_unanswered(served, began, before.control.since_ms)
        if prompt is not None:
            await self.answer_prompt(served, prompt)

    def _newest_unanswered(self, served: Served, began: str | None, since_ms: int) -> str | None:
        prompts = [
            p
            for p in self._state(served.name).watch.prompts.values()
            if (p.serial > began if began else p.timestamp_ms >= since_ms)
        ]
        if not prompts:
            return None
        newest = max(prompts, key=lambda p: p.serial)
        if served.agent.tree.runs_for_input(newest.codec_message_id):
            return None
        return newest.event_id

    async def _locate_request(self, served: Served, request_id: str) -> Request | None:
        """Page history until the request is found; then wait for it live (deadline)."""
        watch = self._state(served.name).watch
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._deadline_s()
        while request_id not in watch.requests:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            if not served.agent.follower.exhausted:
                try:
                    await asyncio.wait_for(served.agent.page_older(), remaining)
                except TimeoutError:
                    return None
            else:
                await served.agent.wait_for_tree(lambda: request_id in watch.requests, remaining)
        return watch.requests[request_id]

    def _suspended_runs(self, served: Served) -> list[str]:
        """Runs of the session waiting for someone: known to this process, on the desk, or
        suspended in the loaded tree."""
        runs = set(served.waiting) | {e.run_id for e in self.snapshot(served.name).open}
        runs |= {i.run_id for i in self.desk.items(DeskKind.APPROVAL, served.name) if i.run_id}
        runs |= {r.run_id for r in served.agent.tree.runs() if r.status == RunStatus.SUSPENDED}
        return sorted(runs)

    async def _end_taken_over(self, served: Served, escalation: Escalation, operator: str) -> None:
        """An escalated turn ends `complete`: its calls get outputs (the take-over's for the
        request for a human), and a note says who answers now. No model pass."""
        await served.agent.find_run(escalation.run_id, MAX_PAGES)
        outputs = [
            _output_event(
                call,
                takeover_output(operator)
                if call.get("call_id") == escalation.id
                else f"Not run: {operator_label(operator)} took over this session.",
            )
            for call in await self._open_calls(served, escalation.run_id)
        ]
        note = f"{operator} took over and answers from here."
        await self._continue_and_end(
            served, escalation.run_id, escalation.message_id, operator, outputs, note, "complete"
        )

    async def _end_suspended(self, served: Served, run_id: str, operator: str, note: str) -> None:
        node = served.agent.tree.run(run_id)
        trigger = node.input_codec_message_id if node is not None else None
        await self._continue_and_end(served, run_id, trigger, operator, [], note, "cancelled")

    async def _continue_and_end(
        self,
        served: Served,
        run_id: str,
        input_cmid: str | None,
        by: str,
        outputs: list[dict[str, Any]],
        note: str,
        reason: str,
    ) -> None:
        node = await served.agent.find_run(run_id, MAX_PAGES)
        if node is None or node.status != RunStatus.SUSPENDED:
            return
        cmid = input_cmid or node.input_codec_message_id or ""
        run = served.agent.resume_suspended(node, input_codec_message_id=cmid, by=by)
        try:
            await run.start()
            if outputs:
                await run.pipe(_aiter(outputs))
            await run.pipe(note_events(note))
            await run.end(RunReason(reason))
        except Exception:
            log.exception("could not end run %s after a take-over", run_id)
            await run.end(RunReason.ERROR, error_message="agent error while taking over")

    async def _open_calls(self, served: Served, run_id: str) -> list[dict[str, Any]]:
        node = served.agent.tree.run(run_id)
        if node is None:
            return []
        messages = [m for _, m in node.messages()]
        return unanswered_calls(keep_accepted(messages, self._state(served.name).watch.view()))

    # ---- the automatic hand-back ---------------------------------------------------------------

    def _schedule_lapse(self, state: _Session) -> None:
        if state.lapse_timer is not None:
            state.lapse_timer.cancel()
            state.lapse_timer = None
        control = state.watch.view().snapshot.control
        deadline = lapse_deadline_ms(control, state.watch.presence_facts())
        if deadline is None or state.served is None:
            return
        served = state.served
        delay = max(0.0, (deadline - now_ms()) / 1000)
        state.lapse_timer = asyncio.get_running_loop().call_later(
            delay, lambda: self._spawn(self._lapse(served))
        )

    async def _lapse(self, served: Served) -> None:
        state = self._state(served.name)
        async with state.lock:
            view = state.watch.view()
            current = view.snapshot
            new = lapse(current, state.watch.presence_facts(), now_ms())
            if new is not None:
                began = _control_began(view.events, current)
                await self._publish(served, new)
        if new is None:
            self._schedule_lapse(state)  # the operator came back, or the clock ran early
            return
        await self._control_returned(served, current, new, began)

    def _presence_event(self, served: Served) -> None:
        state = self._state(served.name)
        members = [member_from(m) for m in served.agent.channel.presence.members.list()]
        left = state.watch.update_presence(members, now_ms())
        self._schedule_lapse(state)
        for client_id in left:
            self._reoffer(served.name, client_id)

    # ---- escalations and approvals -------------------------------------------------------------

    async def _escalate(self, served: Served, run_id: str, call: dict[str, Any], asked_by: str):
        agent = served.agent
        call_id = str(call.get("call_id"))
        await agent.wait_for_tree(lambda: call_message(agent.tree, run_id, call_id) is not None, 5)
        found = call_message(agent.tree, run_id, call_id)
        run = agent.run(run_id)
        if found is None or run is None:
            log.warning("escalated call %s of run %s not found", call_id, run_id)
            return
        escalation = escalation_of(run, call, found[0], asked_by, now_ms())  # type: ignore[arg-type]
        state = self._state(served.name)
        async with state.lock:
            new = escalate(state.watch.view().snapshot, escalation)
            if new is not None:
                await self._publish(served, new)
            holder = new.in_control if new is not None else None
            if new is not None and holder is not None:  # suspended as an operator took over
                taken = resolve(
                    new, escalation.id, Resolution.TAKEN_OVER, by=holder, now_ms=now_ms()
                )
                await self._publish(served, taken)  # type: ignore[arg-type]
        if new is None:
            return
        if holder is not None:
            await self._end_taken_over(served, escalation, holder)
            return
        await self.desk.open_item(
            self._item(
                DeskKind.ESCALATION,
                served.name,
                escalation.id,
                user=escalation.user,
                why=escalation.reason,
                since_ms=escalation.at_ms,
                run_id=run_id,
                by=escalation.user if asked_by == "user" else "model",
            )
        )
        self._push_escalation(served.name, escalation)

    async def _answered(self, served: Served, run_id: str, call_id: str, facts: Any) -> None:
        """An operator's answer (admitted): the escalation resolves with it."""
        state = self._state(served.name)
        if state.watch.view().snapshot.escalation(call_id) is None:  # answered before announced
            found = call_message(served.agent.tree, run_id, call_id)
            if found is not None:
                asked_by = "user" if asked_by_user(found[1]) else "model"
                await self._escalate(served, run_id, found[1], asked_by)
        async with state.lock:
            new = resolve(
                state.watch.view().snapshot,
                call_id,
                Resolution.ANSWERED,
                by=facts.client_id or "",
                now_ms=now_ms(),
                answer_event_id=facts.event_id,
            )
            if new is not None:
                await self._publish(served, new)
        key = item_id(DeskKind.ESCALATION, served.name, call_id)
        await self.desk.resolve(key, Resolution.ANSWERED, facts.client_id)

    async def _approval_waits(self, served: Served, turn: Turn, call: dict[str, Any]) -> None:
        run = turn.run
        name = str(call.get("name"))
        await self.desk.open_item(
            self._item(
                DeskKind.APPROVAL,
                served.name,
                str(call.get("call_id")),
                user=run.owner,
                why=f"{name}{_WAITS_FOR_APPROVAL}",
                since_ms=now_ms(),
                run_id=run.run_id,
                by="model",
            )
        )
        present = self._state(served.name).watch.present(run.owner)
        self._offer(pushes.approval(run.owner, served.name, run.run_id, name), present)

    async def _settle_ended(self, session: str, run_id: str, reason: str, by: str | None) -> None:
        """A run ended: what still waited on it stops waiting (withdrawn if cancelled)."""
        state = self._sessions.get(session)
        if state is None or state.served is None:
            return
        withdrawn = reason == RunReason.CANCELLED
        resolution = Resolution.WITHDRAWN if withdrawn else Resolution.ENDED
        for escalation in state.watch.view().snapshot.open:
            if escalation.run_id != run_id:
                continue
            who = (by or escalation.user) if withdrawn else self.client_id
            async with state.lock:
                new = resolve(
                    state.watch.view().snapshot, escalation.id, resolution, by=who, now_ms=now_ms()
                )
                if new is not None:
                    await self._publish(state.served, new)
            key = item_id(DeskKind.ESCALATION, session, escalation.id)
            await self.desk.resolve(key, resolution, who)
        for item in self.desk.items(DeskKind.APPROVAL, session):
            if item.run_id == run_id:
                await self.desk.resolve(item.id, resolution, by if withdrawn else self.client_id)

    async def _reply_answers(self, session: str, operator: str, input_cmid: str) -> None:
        """An operator's verified reply answers its prompt and every older one waiting."""
        state = self._sessions.get(session)
        if state is None or state.watch.view().snapshot.in_control != operator:
            return
        answered = state.watch.prompts.get(input_cmid)
        for item in self.desk.items(DeskKind.WAITING, session):
            prompt = state.watch.prompts.get(item.id.rsplit(":", 1)[-1])
            if answered is None or (prompt is not None and prompt.serial <= answered.serial):
                await self.desk.resolve(item.id, "answered", operator)

    # ---- stalls --------------------------------------------------------------------------------

    def _stalled(self, session: str, turn: Turn) -> None:
        idle = self.settings.stall_after_s
        item = self._item(
            DeskKind.STALL,
            session,
            turn.run.run_id,
            user=turn.run.owner,
            why=f"no progress for {idle:g} s ({turn.status})",
            since_ms=now_ms(),
            run_id=turn.run.run_id,
            by=self.client_id,
        )
        self._spawn(self.desk.open_item(item))

    def _recovered(self, session: str, turn: Turn) -> None:
        key = item_id(DeskKind.STALL, session, turn.run.run_id)
        self._spawn(self.desk.resolve(key, "recovered", self.client_id))

    # ---- pushes --------------------------------------------------------------------------------

    def _offer(self, push: Push, present: bool) -> None:
        self.notifier.offer(push, user_present=present)

    def _push_escalation(self, session: str, escalation: Escalation) -> None:
        watch = self._state(session).watch
        for operator in sorted(self.operators):
            away = not self.desk.present(operator) and not watch.present(operator)
            self._offer(pushes.escalation(operator, session, escalation), not away)

    def _reoffer(self, session: str, client_id: str) -> None:
        """`client_id`'s last device left `session`: what still waits for them is pushed."""
        for item in self.desk.items(DeskKind.APPROVAL, session):
            if item.user == client_id and item.run_id:
                push = pushes.approval(client_id, session, item.run_id, _tool_of(item))
                self._offer(push, False)
        if client_id in self.operators:
            self._left_desk({client_id})

    def _left_desk(self, left: set[str]) -> None:
        for operator in left & self.operators:
            if self.desk.present(operator):
                continue
            for name, state in self._sessions.items():
                if state.watch.present(operator):
                    continue
                for escalation in state.watch.view().snapshot.open:
                    self._offer(pushes.escalation(operator, name, escalation), False)

    # ---- helpers -------------------------------------------------------------------------------

    def _state(self, name: str) -> _Session:
        self.watch_for(name)
        return self._sessions[name]

    def _deadline_s(self) -> float:
        return self.settings.trigger_deadline_s

    async def _publish(self, served: Served, snapshot: Snapshot) -> None:
        """Publish a snapshot (the caller holds the session's lock) and fold it at once."""
        op = state_publish(snapshot)
        serial = await ChannelWriter(served.agent.channel).publish(op)
        self._state(served.name).watch.observe(
            {"name": op.name, "data": op.data, "serial": serial, "clientId": self.client_id}
        )
        self.ledger.record(served.name, SNAPSHOT)
        if snapshot.control is not None or snapshot.open:
            self.ledger.record(served.name, ATTENTION)
        else:
            self.ledger.forget(served.name, ATTENTION)
        self.presence_changed(served.name)

    def _item(
        self,
        kind: DeskKind,
        channel: str,
        key: str,
        *,
        user: str,
        why: str,
        since_ms: int,
        run_id: str | None = None,
        by: str | None = None,
    ) -> DeskItem:
        return DeskItem(
            id=item_id(kind, channel, key),
            kind=kind,
            state=DeskState.OPEN,
            session=sessions.display_name(channel),
            channel=channel,
            user=user,
            why=why,
            since_ms=since_ms,
            at_ms=now_ms(),
            run_id=run_id,
            by=by,
        )

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("handover task failed: %r", task.exception())


# ---- helpers -------------------------------------------------------------------------------------


def prompt_text(tree: Tree, cmid: str) -> str:
    """The text of a prompt (an input node), as the desk and a user's escalation quote it."""
    node = tree.node_of(cmid)
    if node is None:
        return ""
    return " ".join(
        " ".join(str(part.get("text", "")) for part in item.get("content", []))
        for _, message in node.messages()
        for item in message.get("items", [])
        if item.get("type") == "message"
    ).strip()


def _control_began(events: Iterable[tuple[str, HandoverEvent]], current: Snapshot) -> str | None:
    """The serial of the snapshot where the agent last gave control away (None: not loaded)."""
    if current.control is None:
        return None
    began = None
    for serial, event in events:
        if event.kind == EventKind.TOOK_OVER and event.previous is None:
            began = serial
    return began


_WAITS_FOR_APPROVAL = " waits for approval"


def _tool_of(item: DeskItem) -> str:
    """The tool an approval item names (its `why` is "<tool> waits for approval")."""
    return item.why.removesuffix(_WAITS_FOR_APPROVAL)


def _stopped(operator: str) -> str:
    return f"Stopped: {operator_label(operator)} took over this session."


def _answer(event: HandoverEvent, snapshot: Snapshot) -> tuple[int, dict[str, Any]]:
    if event.kind == EventKind.REFUSED and event.code is not None:
        status, body = _error(HandoverError(event.code), event.message or "refused")
        return status, {**body, "state": snapshot.to_json()}
    return 200, {"state": snapshot.to_json()}


def _error(code: HandoverError, message: str) -> tuple[int, dict[str, Any]]:
    status = code.http_status
    return status, {"error": {"code": int(code), "statusCode": status, "message": message}}


def _output_event(call: dict[str, Any], output: str) -> dict[str, Any]:
    item = {"type": "function_call_output", "call_id": call.get("call_id"), "output": output}
    return {"type": "function_call_output", "item": item}


async def _aiter(events: list[dict[str, Any]]) -> Any:
    for event in events:
        yield event
