"""The agent side of the session protocol over a real ably channel (docs/wire.md §4, §7).

`AgentSession.connect()` follows the session channel (follower.py: subscribe, attach, gap
fill); one decoder and one tree serve both the live subscription and history pages
(ably-python has no `untilAttach`: the decoder's version guards absorb the overlap).
`create_run()` locates the trigger input by its event id, pages history until the run's
ancestor chain is loaded (with a deadline, §7.5), and returns a `Run` (agent_run.py), which
reaches back only through the narrow `RunHost` interface. The session routes cancels (§4.5,
§7.3, §7.6, §7.9) and steers (§4.6) to its runs, and ends runs no `Run` of this process holds
(`end_unheld_run`: one it suspended, or one a killed predecessor left open).

Project behaviour beyond 0.8.0, all wire-compatible:
- cancels published before the agent attached are found while paging and honoured (§7.3);
- after a re-attach without RESUMED the gap is read and routed as if live (§7.13);
- the default cancel policy allows the run's verified owner and configured operators (§7.9);
  the same policy decides whose steers a run takes (anyone else's are ignored and logged);
- a suspend names who may approve or deny (the owner and `approvers`, protocol/approvals.py),
  and a continuation by anyone else is refused with 40380, nothing published;
- a run ended by a cancel names the canceller as its end's `input-client-id`;
- a cancel of a run this session suspended ends it `cancelled` (§7.6);
- every message of a run carries the owner's `run-client-id` (§7.8);
- a failing source closes its streams `cancelled` and fails its step (§7.1);
- `create_run` is idempotent per trigger input (§7.12);
- the agent's handover (docs/handover.md) sees every raw message (`on_raw`: its control
  messages are not AI Transport messages), shapes the model's context (`handover`), and may
  continue a suspended run without an input of its own (`resume_suspended`: a take-over).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable, Collection
from contextlib import suppress
from typing import Any

from tui_session.protocol import (
    Decoded,
    Decoder,
    ErrorCode,
    H,
    Kind,
    Name,
    ProtocolError,
    ResponsesCodec,
    RunHeaders,
    RunNode,
    RunReason,
    Tree,
    parse_invocation,
)
from tui_session.protocol.approvals import not_a_decider
from tui_session.protocol.context import DEFAULT_CONTEXT_BUDGET, ancestor_chain
from tui_session.protocol.handover_fold import HandoverView

from .agent_run import CancelHook, PipeResult, Run, RunStep, SteerHook, publish_lifecycle
from .agent_trigger import Trigger
from .channel_io import DEFAULT_ROLLUP_S
from .follower import ChannelFollower

__all__ = [
    "AgentSession",
    "CancelHook",
    "PipeResult",
    "Run",
    "RunStep",
    "SteerHook",
    "Trigger",
    "owner_or_operator",
]

log = logging.getLogger(__name__)

EARLY_CANCELS_MAX = 200
DEFAULT_TRIGGER_DEADLINE_S = 10.0


def owner_or_operator(operators: Collection[str] | Callable[[str], bool] = ()) -> CancelHook:
    """The default cancel policy (§7.9): the cancel's hub-verified clientId is the run's
    verified owner (the publisher of its opening input), or an operator."""
    is_operator = operators if callable(operators) else frozenset(operators).__contains__

    def allow(cancel: Decoded, run: Run) -> bool:
        sender = cancel.client_id
        if not sender:
            return False
        return sender == run.owner_verified or bool(is_operator(sender))

    return allow


class AgentSession:
    """One session channel served by this agent process."""

    def __init__(
        self,
        channel: Any,
        *,
        codec: type = ResponsesCodec,
        operators: Collection[str] | Callable[[str], bool] = (),
        approvers: Collection[str] = (),
        cancel_policy: CancelHook | None = None,
        page_size: int = 100,
        rollup_window_s: float = DEFAULT_ROLLUP_S,
        context_budget: int = DEFAULT_CONTEXT_BUDGET,
        on_raw: Callable[[dict[str, Any]], None] | None = None,
        handover: Callable[[], HandoverView | None] | None = None,
    ) -> None:
        self.channel = channel
        self.channel_name: str = channel.name
        self.decoder = Decoder(codec())
        self.tree = Tree()
        self.cancel_policy = cancel_policy or owner_or_operator(operators)
        self._is_operator = operators if callable(operators) else frozenset(operators).__contains__
        self.approvers = tuple(approvers)
        self.rollup_window_s = rollup_window_s
        self.context_budget = context_budget
        self.follower = ChannelFollower(
            channel,
            on_message=self._on_live,
            on_gap=self._on_gap,
            page_size=page_size,
            name="agent session",
        )
        self._inputs: dict[str, Decoded] = {}  # event-id -> earliest part of that input
        self._runs: dict[str, Run] = {}  # open runs by run id
        self._by_input: dict[str, Run] = {}  # open runs by trigger codec-message-id
        self._by_trigger: dict[str, Run] = {}  # every run created, by trigger serial
        self._suspended: dict[str, Run] = {}  # runs this session suspended (§7.6)
        self._early: OrderedDict[str, Decoded] = OrderedDict()  # serial -> unrouted cancel
        self._history_cancels: dict[str, Decoded] = {}
        self._changed = asyncio.Event()
        self._closed = False
        self._on_raw = on_raw  # every message as it arrives (live, gap or history page)
        self._handover = handover

    # --- connecting --------------------------------------------------------------------------

    @classmethod
    async def connect(cls, realtime: Any, channel_name: str, **options: Any) -> AgentSession:
        """Subscribe to everything (which attaches); history is paged on demand."""
        session = cls(realtime.channels.get(channel_name), **options)
        try:
            await session.follower.start()
        except Exception as exc:
            raise ProtocolError(
                ErrorCode.SESSION_SUBSCRIPTION_ERROR, f"unable to attach; {exc}"
            ) from exc
        return session

    async def end(self) -> None:
        """End every open run `cancelled` (closing its open step), then detach (§4.9)."""
        if self._closed:
            return
        for run in list(self._runs.values()):
            run.mark_cancelled()
        for run in list(self._runs.values()):
            try:
                await run.end(RunReason.CANCELLED)
            except Exception as exc:
                log.error("unable to end run %s; %s", run.run_id, exc)
        await self.detach()

    async def detach(self) -> None:
        """Stop serving the channel; open runs stay open on the wire (§4.9)."""
        self._closed = True
        await self.follower.close()
        with suppress(Exception):
            await self.channel.detach()

    def run(self, run_id: str) -> Run | None:
        """An open run of this session, or a run it suspended."""
        return self._runs.get(run_id) or self._suspended.get(run_id)

    # --- inbound -----------------------------------------------------------------------------

    def _on_live(self, raw: dict[str, Any]) -> None:
        try:
            self._ingest(raw, live=True)
        except Exception:
            log.exception("unable to process inbound message (104001)")

    def _on_gap(self, messages: list[dict[str, Any]], floor: str | None) -> None:
        """§7.13: the gap after a re-attach without RESUMED may hold cancels and steers: what
        is newer than the floor is routed as if it had arrived live."""
        for raw in messages:
            newer = floor is None or str(raw.get("serial") or "") > floor
            self._ingest(raw, live=newer)

    def _ingest(self, raw: dict[str, Any], *, live: bool) -> None:
        if self._on_raw is not None:
            self._on_raw(raw)
        decoded = self.decoder.decode(raw)
        if decoded is None:
            if self._on_raw is not None:  # a message only the raw observer reads
                self._wake()
            return
        if decoded.name == Name.CANCEL:
            if live:
                self._route_cancel(decoded)
            else:
                self._history_cancels[decoded.serial] = decoded
        else:
            self.tree.apply(decoded)
            if decoded.name == Name.INPUT:
                self._index_input(decoded)
                is_steer = decoded.codec.get("kind") == Kind.USER_MESSAGE
                if live and is_steer and decoded.transport.get(H.RUN_ID):
                    self._route_steer(decoded)
        self._wake()

    def _wake(self) -> None:
        """Wake the waits of `wait_for_tree`: the channel said something new."""
        self._changed.set()
        self._changed = asyncio.Event()

    def _index_input(self, decoded: Decoded) -> None:
        event_id = decoded.transport.get(H.EVENT_ID)
        if not event_id:
            return
        known = self._inputs.get(event_id)
        if known is None or decoded.serial < known.serial:
            self._inputs[event_id] = decoded

    async def wait_for_tree(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait for a tree change (or any message `on_raw` reads) that makes `predicate`
        true; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            with suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return True

    async def page_older(self) -> bool:
        """Fold the next older history page; False once history is exhausted."""
        page = await self.follower.older()
        if page is None:
            return False
        for raw in page:
            self._ingest(raw, live=False)
        return True

    # --- creating runs (§4.1) ----------------------------------------------------------------

    async def create_run(
        self,
        invocation: dict[str, Any],
        *,
        on_cancel: CancelHook | None = None,
        on_steer: SteerHook | None = None,
        trigger_deadline_s: float = DEFAULT_TRIGGER_DEADLINE_S,
        check_trigger: Callable[[Trigger], None] | None = None,
    ) -> Run:
        """Locate the trigger and build the run. Raises ProtocolError 40000 for a bad body
        and 104010 (publishing nothing) when the trigger is not found before the deadline.
        For an input that already has a run, returns a `duplicate` run carrying its ids.
        `check_trigger` may refuse the located trigger (by raising) before anything is built."""
        if self._closed:
            raise ProtocolError(ErrorCode.SESSION_CLOSED, "unable to create run; session ended")
        event_id, session_name = parse_invocation(invocation)
        if session_name != self.channel_name:
            raise ProtocolError(
                ErrorCode.BAD_REQUEST,
                f"unable to create run; invocation names session {session_name!r}",
            )
        trigger = await self._locate(event_id, trigger_deadline_s)
        if check_trigger is not None:
            check_trigger(trigger)
        self._check_decider(trigger)
        known = self._by_trigger.get(trigger.serial)
        if known is not None:
            return self._duplicate(trigger, known.run_id, known.invocation_id)
        existing = self._existing_run(trigger)
        if existing is not None:
            return self._duplicate(trigger, *existing)
        run = self._build_run(trigger, on_cancel, on_steer)
        self._by_trigger[trigger.serial] = run
        self._register(run)
        return run

    async def _locate(self, event_id: str, deadline_s: float) -> Trigger:
        """Page until the trigger is found and its ancestor chain is loaded (§7.5)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + deadline_s
        while True:
            decoded = self._inputs.get(event_id)
            if decoded is not None and self._chain_loaded(Trigger.from_decoded(decoded)):
                return Trigger.from_decoded(decoded)
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            if not self.follower.exhausted:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self.page_older(), remaining)
            elif decoded is not None:
                return Trigger.from_decoded(decoded)  # history exhausted: a root of the channel
            else:
                await self.wait_for_tree(lambda: event_id in self._inputs, remaining)
        decoded = self._inputs.get(event_id)
        if decoded is not None:
            log.warning("trigger %s located; ancestors not fully loaded in time", event_id)
            return Trigger.from_decoded(decoded)
        raise ProtocolError(
            ErrorCode.INPUT_EVENT_NOT_FOUND,
            f"unable to locate input event {event_id}; not found within {deadline_s:g} s",
        )

    def _check_decider(self, trigger: Trigger) -> None:
        """A tool decision counts only from someone its run's suspend names (approvals.py):
        anyone else's is refused (40380) before anything is built, even for a run resumed
        meanwhile by someone who may."""
        if trigger.kind != Kind.TOOL_APPROVAL_RESPONSE or not trigger.run_id:
            return
        node = self.tree.run(trigger.run_id)
        if node is None or node.may_decide(trigger.client_id, trigger.serial):
            return
        deciders = node.deciders(trigger.serial)
        log.warning(
            "refused a decision on run %s from %r (deciders %r)",
            trigger.run_id,
            trigger.client_id,
            deciders,
        )
        raise ProtocolError(ErrorCode.APPROVAL_NOT_ALLOWED, not_a_decider(deciders))

    def _chain_start(self, trigger: Trigger) -> str | None:
        """The input the run answers, where the model's context walk begins."""
        if trigger.run_id:
            node = self.tree.run(trigger.run_id)
            return node.structural_parent if node is not None else None
        if trigger.kind == Kind.REGENERATE:
            return trigger.parent
        return trigger.codec_message_id

    def _chain_loaded(self, trigger: Trigger) -> bool:
        if trigger.run_id:
            node = self.tree.run(trigger.run_id)
            if node is None or node.start_serial is None:
                return False
        return ancestor_chain(self.tree, self._chain_start(trigger), self.context_budget).complete

    def _existing_run(self, trigger: Trigger) -> tuple[str, str] | None:
        """A run started or resumed for this input after it was published (§7.12)."""
        for node in self.tree.runs():
            for serial, (name, t) in node.lifecycle.items():
                if (
                    name in (Name.RUN_START, Name.RUN_RESUME)
                    and t.get(H.INPUT_CODEC_MESSAGE_ID) == trigger.codec_message_id
                    and serial > trigger.serial
                ):
                    return node.run_id, t.get(H.INVOCATION_ID, "")
        return None

    def _duplicate(self, trigger: Trigger, run_id: str, invocation_id: str) -> Run:
        headers = RunHeaders(run_id, invocation_id, trigger.codec_message_id)
        return Run(
            self,
            trigger,
            headers,
            owner_verified=None,
            continuation=bool(trigger.run_id),
            chain_start=None,
            duplicate=True,
        )

    def _build_run(
        self, trigger: Trigger, on_cancel: CancelHook | None, on_steer: SteerHook | None
    ) -> Run:
        """Headers by the parent rules of §4.2; the owner's `run-client-id` (§7.8)."""
        common = {
            "invocation_id": str(uuid.uuid4()),
            "input_codec_message_id": trigger.codec_message_id,
            "input_client_id": trigger.client_id or None,
        }
        if trigger.run_id:
            node = self.tree.run(trigger.run_id)
            if node is not None and node.terminal:
                raise ProtocolError(
                    ErrorCode.INVALID_ARGUMENT,
                    f"unable to continue run {trigger.run_id}; it has ended ({node.status})",
                )
            owner = node.client_id if node is not None and node.client_id is not None else None
            headers = RunHeaders(
                run_id=trigger.run_id,
                run_client_id=owner if owner is not None else (trigger.run_client_id or ""),
                parent=trigger.codec_message_id,
                **common,
            )
            owner_verified = node.input_client_id if node is not None else None
            self._suspended.pop(trigger.run_id, None)
        else:
            regenerate = trigger.kind == Kind.REGENERATE
            headers = RunHeaders(
                run_id=str(uuid.uuid4()),
                run_client_id=trigger.run_client_id or "",
                parent=trigger.parent if regenerate else trigger.codec_message_id,
                fork_of=None if regenerate else trigger.fork_of,
                msg_regenerate=trigger.msg_regenerate if regenerate else None,
                **common,
            )
            owner_verified = trigger.client_id
        return Run(
            self,
            trigger,
            headers,
            owner_verified=owner_verified,
            continuation=bool(trigger.run_id),
            chain_start=self._chain_start(trigger),
            on_cancel=on_cancel,
            on_steer=on_steer,
        )

    def resume_suspended(self, node: RunNode, *, input_codec_message_id: str, by: str) -> Run:
        """A `Run` continuing suspended run `node` with no input of its own: the agent itself
        resolves what it waited for (an operator took over). `input_codec_message_id` names
        the message the continuation answers (the call's); `by` caused it."""
        trigger = Trigger(
            event_id="",
            codec_message_id=input_codec_message_id,
            serial=max(node.lifecycle, default=""),
            client_id=by,
            kind=None,
            run_client_id=node.client_id,
            parent=input_codec_message_id,
            run_id=node.run_id,
        )
        run = self._build_run(trigger, None, None)
        self._register(run)
        return run

    def handover_view(self) -> HandoverView | None:
        """The session's handover as the agent folds it (None: no handover is watched)."""
        return self._handover() if self._handover is not None else None

    def _register(self, run: Run) -> None:
        self._runs[run.run_id] = run
        self._by_input[run.trigger.codec_message_id] = run

    # --- what a Run asks of its session (agent_run.RunHost) ----------------------------------

    def run_closed(self, run: Run) -> None:
        """`run` ended or suspended: it publishes nothing more, and routes nothing more."""
        if self._runs.get(run.run_id) is run:
            del self._runs[run.run_id]
        if self._by_input.get(run.trigger.codec_message_id) is run:
            del self._by_input[run.trigger.codec_message_id]

    def run_suspended(self, run: Run) -> None:
        """`run` published its suspend: a cancel of it now ends it (§7.6)."""
        self._suspended[run.run_id] = run

    def may_steer(self, client_id: str | None, run: Run) -> bool:
        """Steers count from the run's verified owner (any of their devices) or an operator."""
        if not client_id:
            return False
        return client_id == run.owner_verified or bool(self._is_operator(client_id))

    def deciders(self, run: Run) -> list[str]:
        """Who may approve or deny `run`'s tool calls: its verified owner (the user, on any
        of their devices), then the configured approvers (protocol/approvals.py)."""
        owner = run.owner_verified or run.owner
        return [owner, *self.approvers] if owner else list(self.approvers)

    async def honour_early_cancels(self, run: Run) -> None:
        """At the run's start: cancels that targeted it before it existed (§7.3)."""
        for cancel in self._early_cancels(run):
            await self._authorise_and_cancel(cancel, run)

    # --- runs no Run of this process holds ---------------------------------------------------

    async def find_run(self, run_id: str, max_pages: int) -> RunNode | None:
        """The run's node, paging history (at most `max_pages`) until its start is loaded."""
        node = self.tree.run(run_id)
        for _ in range(max_pages):
            if node is not None and node.start_serial is not None:
                break
            if not await self.page_older():
                break
            node = self.tree.run(run_id)
        return node

    async def end_unheld_run(
        self,
        run_id: str,
        reason: RunReason,
        *,
        owner: str,
        input_codec_message_id: str,
        by: str | None = None,
        error_code: int | None = None,
        error_message: str | None = None,
    ) -> str:
        """`ai-run-end` for a run no `Run` of this process publishes for: one this session
        suspended (§7.6), or one a killed predecessor left open (§7.14). The run keeps its
        owner (`run-client-id`, §7.8); the end gets a fresh invocation id, as any later
        invocation's messages do; `by` is the client that caused it (`input-client-id`)."""
        headers = RunHeaders(
            run_id=run_id,
            invocation_id=str(uuid.uuid4()),
            input_codec_message_id=input_codec_message_id,
            run_client_id=owner,
            input_client_id=by,
        )
        return await publish_lifecycle(
            self.channel, headers.run_end(reason, error_code, error_message)
        )

    # --- cancels (§4.5, §7.3, §7.6, §7.9) ----------------------------------------------------

    def _route_cancel(self, cancel: Decoded) -> None:
        run_id = cancel.transport.get(H.RUN_ID)
        input_id = cancel.transport.get(H.INPUT_CODEC_MESSAGE_ID)
        if not run_id and not input_id:
            return  # a cancel with no target is dropped
        run = self._runs.get(run_id) if run_id else None
        if run is None and input_id:
            run = self._by_input.get(input_id)
        if run is not None:
            self.follower.spawn(self._authorise_and_cancel(cancel, run))
        elif run_id and run_id in self._suspended:
            self.follower.spawn(self._cancel_suspended(cancel, self._suspended[run_id]))
        else:
            self._early[cancel.serial] = cancel  # its run may be created later
            while len(self._early) > EARLY_CANCELS_MAX:
                self._early.popitem(last=False)

    def _early_cancels(self, run: Run) -> list[Decoded]:
        """Buffered live cancels and cancels found in history that target `run` (§7.3)."""
        found = []
        for pool in (self._early, self._history_cancels):
            for serial, cancel in list(pool.items()):
                t = cancel.transport
                targets = t.get(H.RUN_ID) == run.run_id or (
                    t.get(H.INPUT_CODEC_MESSAGE_ID) == run.trigger.codec_message_id
                )
                if targets and serial > run.trigger.serial:
                    found.append(cancel)
                    del pool[serial]
        return found

    async def _authorise(self, cancel: Decoded, run: Run) -> bool:
        policy = run.on_cancel or self.cancel_policy
        try:
            allowed = policy(cancel, run)
            if inspect.isawaitable(allowed):
                allowed = await allowed
        except Exception as exc:
            log.error("cancel listener failed (104002): %s", exc)
            return False
        if not allowed:
            log.warning(
                "refused cancel of run %s from %r (owner %r)",
                run.run_id,
                cancel.client_id,
                run.owner_verified,
            )
        return bool(allowed)

    async def _authorise_and_cancel(self, cancel: Decoded, run: Run) -> None:
        if run.cancelled or run.status in ("complete", "cancelled", "error"):
            return
        if await self._authorise(cancel, run):
            log.info("cancel of run %s by %r accepted", run.run_id, cancel.client_id)
            run.mark_cancelled(cancel.client_id)

    async def _cancel_suspended(self, cancel: Decoded, run: Run) -> None:
        """§7.6: end a run this session suspended, as its owner, by the canceller."""
        if not await self._authorise(cancel, run):
            return
        if self._suspended.pop(run.run_id, None) is None:
            return  # resumed or already ended meanwhile
        run.cancelled = True
        await self.end_unheld_run(
            run.run_id,
            RunReason.CANCELLED,
            owner=run.owner,
            input_codec_message_id=run.headers.input_codec_message_id,
            by=cancel.client_id or None,
        )
        run.status = "cancelled"

    # --- steers (§4.6) -----------------------------------------------------------------------

    def _route_steer(self, steer: Decoded) -> None:
        """A steer reaches its run from the run's owner (any of their devices) or an
        operator; anyone else's stays on the channel, unanswered, and is logged."""
        run = self._runs.get(steer.transport.get(H.RUN_ID, ""))
        if run is None:
            return
        if not self.may_steer(steer.client_id, run):
            log.warning(
                "ignored a steer of run %s from %r (owner %r)",
                run.run_id,
                steer.client_id,
                run.owner_verified,
            )
            return
        if not run.add_steer(steer):
            return
        if run.on_steer is not None:
            try:
                result = run.on_steer(steer, run)
                if inspect.isawaitable(result):
                    self.follower.spawn(result)
            except Exception as exc:
                log.error("steer listener failed (104002): %s", exc)
