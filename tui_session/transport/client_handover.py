"""Human handover as one terminal sees and drives it (docs/handover.md).

Two parts, like the rest of the client:
- `HandoverTracker` (pure): `ClientState` feeds it every channel message it folds; it keeps a
  `HandoverFold` whose only authority is the agent's clientId (from the agent's `/health`), the
  presence facts this terminal observed (who is here, when each one left) and the regenerate
  signals an operator's reply may answer. It answers who is in control now (`control(now_ms)`,
  the countdown of the automatic hand-back included), which runs are operator replies, and
  what a reply answers (`reply_target`).
- `SessionHandover` (I/O, owned by `ClientSession` as `session.handover`): emits
  `HandoverChanged(view, control)` whenever either changes (a snapshot, a presence change, the
  grace running out), and carries out the commands: `ask_for_human`, `answer_escalation`,
  `take_over`, `hand_back`, `reply`. When the agent's presence says a handover is under way
  but the loaded history holds no snapshot (a long session), it pages back for the newest one
  on a cursor of its own, without touching the transcript's window.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import aiohttp

from tui_session.protocol import InputNode, Node, Publish, RunNode, Tree
from tui_session.protocol.handover import (
    ESCALATE_HEADER,
    Action,
    Escalation,
    HandoverError,
    HandoverEvent,
    PresenceFacts,
    Snapshot,
    answer_output,
    describe,
    handover_call,
    request_publish,
)
from tui_session.protocol.handover_fold import ControlView, HandoverFold, HandoverView
from tui_session.protocol.operator_reply import OperatorReply, ReplyTarget
from tui_session.protocol.wire import C, H, Kind, Name

from .channel_io import ChannelWriter, HistoryCursor
from .client_post import AgentAnswer, get_agent
from .presence import Member

DEFAULT_AGENT = "agent"  # the agent's clientId when its /health cannot be read (config default)
ASK_FOR_HUMAN = "I'd like to talk to a human."  # f6 with an empty composer
HEALTH_TIMEOUT_S = 3.0
SNAPSHOT_PAGES = 50  # history pages read back for a snapshot the agent's presence announces
E = TypeVar("E")


@dataclass(frozen=True)
class AgentInfo:
    """What a terminal trusts about the agent service it talks to, from its `/health`: the
    clientId whose `handover.state` snapshots are the truth, and who may act as an operator."""

    client_id: str = DEFAULT_AGENT
    operators: frozenset[str] = frozenset()
    desk_channel: str | None = None

    @classmethod
    def from_health(cls, body: Any) -> AgentInfo | None:
        if not isinstance(body, Mapping):
            return None
        client_id = body.get("clientId")
        if not isinstance(client_id, str) or not client_id:
            return None
        operators = body.get("operators")
        names = [o for o in operators if isinstance(o, str)] if isinstance(operators, list) else []
        desk = body.get("deskChannel")
        return cls(client_id, frozenset(names), desk if isinstance(desk, str) and desk else None)


async def fetch_agent_info(
    agent_url: str, *, http: aiohttp.ClientSession | None = None, timeout: float = HEALTH_TIMEOUT_S
) -> AgentInfo | None:
    """The agent's `/health` as `AgentInfo`; None when it cannot be read."""
    own = http is None
    session = http or aiohttp.ClientSession()
    try:
        answer = await get_agent(session, agent_url, "/health", timeout=timeout)
    finally:
        if own:
            await session.close()
    return AgentInfo.from_health(answer.body) if answer.error is None else None


# --- events and effects ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HandoverChanged:
    """Event: the handover view or who is in control (with the countdown) changed."""

    view: HandoverView
    control: ControlView


@dataclass(frozen=True)
class HandoverFolded:
    """Effect of `ClientState.fold`: the handover view changed; the session shell reads the
    wall clock and emits `HandoverChanged`."""


class HandoverRefused(Exception):
    """The agent refused a handover request or an answer (docs/handover.md, the codes)."""

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(f"{message} ({code})" if code else message)
        self.code = code
        self.message = message


# --- the pure part --------------------------------------------------------------------------------


@dataclass(frozen=True)
class HandoverLineView:
    """A handover event as a transcript line, between the prompts and turns around it."""

    serial: str
    event: HandoverEvent
    text: str  # `describe()`: who did what, with names

    kind: Literal["handover"] = "handover"

    @property
    def key(self) -> str:
        return f"handover-{self.serial}"


def place_lines(
    entries: Sequence[E],
    serial_of: Callable[[E], str | None],
    lines: Sequence[HandoverLineView],
    *,
    has_older: bool,
) -> list[E | HandoverLineView]:
    """`entries` (oldest first) with each line after the entries older than it. A line older
    than every entry is shown only when nothing older is left to load (else it belongs to
    history not loaded yet); an entry without a serial (optimistic) sorts last."""
    keyed = [((serial_of(e) or "\uffff"), 0, i, e) for i, e in enumerate(entries)]
    first = min((k for k, *_ in keyed), default=None)
    for i, line in enumerate(lines):
        if has_older and (first is None or line.serial < first):
            continue
        keyed.append((line.serial, 1, i, line))
    return [item for *_, item in sorted(keyed, key=lambda k: k[:3])]


@dataclass(frozen=True)
class RegenerateSignal:
    """A regenerate input (`carrier`) an operator in control may answer instead of the agent."""

    carrier: str
    parent: str
    target: str
    owner: str
    publisher: str | None
    serial: str


class HandoverTracker:
    """See the module docstring. Presence is observed from the first member list it is given
    (the grace of an operator who had left before runs from then)."""

    def __init__(self, agent: AgentInfo) -> None:
        self.agent = agent
        self._fold = HandoverFold({agent.client_id})
        self._view: HandoverView | None = None
        self._regenerates: dict[str, RegenerateSignal] = {}
        self._present: frozenset[str] = frozenset()
        self._left: dict[str, int] = {}
        self._observed_since = 0

    def is_operator(self, client_id: str) -> bool:
        return client_id in self.agent.operators

    def fold(self, message: Mapping[str, Any]) -> bool:
        """One channel message; whether the handover view changed."""
        if message.get("name") == Name.INPUT:
            self._note_regenerate(message)
        changed = self._fold.apply(message)
        if changed:
            self._view = None
        return changed

    def _note_regenerate(self, message: Mapping[str, Any]) -> None:
        extras = message.get("extras")
        ai = extras.get("ai") if isinstance(extras, Mapping) else None
        transport = ai.get("transport") if isinstance(ai, Mapping) else None
        codec = ai.get("codec") if isinstance(ai, Mapping) else None
        if not isinstance(transport, Mapping) or not isinstance(codec, Mapping):
            return
        if codec.get(C.KIND) != Kind.REGENERATE:
            return
        carrier, parent = transport.get(H.CODEC_MESSAGE_ID), transport.get(H.PARENT)
        target, serial = transport.get(H.MSG_REGENERATE), message.get("serial")
        if not (carrier and parent and target and isinstance(serial, str)):
            return
        owner = transport.get(H.RUN_CLIENT_ID) or message.get("clientId") or ""
        self._regenerates.setdefault(
            carrier,
            RegenerateSignal(carrier, parent, target, owner, message.get("clientId"), serial),
        )

    def view(self) -> HandoverView:
        if self._view is None:
            self._view = self._fold.view()
        return self._view

    def presence(self, present: Collection[str], now_ms: int) -> bool:
        """Who is present now (clientIds); whether anyone left or came."""
        now_present = frozenset(present)
        if not self._observed_since:
            self._observed_since = now_ms  # observation starts with the first member list
        if now_present == self._present:
            return False
        for gone in self._present - now_present:
            self._left[gone] = now_ms
        self._present = now_present
        return True

    @property
    def facts(self) -> PresenceFacts:
        return PresenceFacts(self._present, dict(self._left), self._observed_since)

    def control(self, now_ms: int) -> ControlView:
        return self.view().control(self.facts, now_ms)

    def operator_of(self, run_id: str) -> str | None:
        """The operator a run is shown as (a verified or unconfirmed reply); None for the
        agent's runs and for refused ones (shown as their publisher's)."""
        run = self.view().operator_runs.get(run_id)
        if run is None or run.verification == "refused":
            return None
        return run.operator

    def operator_runs(self) -> list[str]:
        return list(self.view().operator_runs)

    def reply_target(self, tree: Tree, branch: list[Node], operator: str) -> ReplyTarget:
        """What a reply of `operator` answers now (docs/handover.md, "Operator replies"): the
        newest input on the branch that no run answers yet, after the branch's newest run (a
        prompt, or a regenerate signal), else nothing (a spontaneous reply)."""
        newest = max((n.order_serial or "" for n in branch), default="")
        prompt: InputNode | None = None
        for node in reversed(branch):
            if isinstance(node, RunNode):
                break
            if isinstance(node, InputNode) and not node.optimistic:
                if not tree.runs_for_input(node.key):
                    prompt = node
                    break
        on_branch = {n.key for n in branch} | {
            cmid for n in branch for cmid in n.codec_message_ids()
        }
        regenerates = [
            r
            for r in self._regenerates.values()
            if r.parent in on_branch and r.serial > newest and not tree.runs_for_input(r.carrier)
        ]
        if regenerates:
            signal = max(regenerates, key=lambda r: r.serial)
            return ReplyTarget.regenerate(
                signal.carrier, signal.parent, signal.target, signal.owner, signal.publisher
            )
        if prompt is not None:
            owner = prompt.client_id or operator
            return ReplyTarget.prompt(prompt.key, owner, prompt.client_id, prompt.fork_of)
        tail = None
        for node in reversed(branch):
            ids = node.codec_message_ids()
            if ids:
                tail = ids[-1]
                break
        return ReplyTarget.spontaneous(tail, operator, str(uuid.uuid4()))


# --- the I/O part ---------------------------------------------------------------------------------

Publisher = Callable[[list[Publish]], Awaitable[list[str | None]]]
Poster = Callable[[str, dict[str, Any]], Awaitable[AgentAnswer]]


def wall_ms() -> int:
    return int(time.time() * 1000)


class SessionHandover:
    """The commands and the countdown of one `ClientSession` (it passes its collaborators)."""

    def __init__(
        self,
        *,
        client_id: str,
        channel_name: str,
        channel: Any,
        tracker: HandoverTracker,
        state: Any,  # the ClientState: tree and branch for a reply's target
        emit: Callable[[Any], None],
        publish: Publisher,
        post: Poster,
        send: Callable[..., Awaitable[Any]],
        answer_call: Callable[..., Awaitable[Any]],
        spawn: Callable[[Awaitable[Any]], Any],
        clock: Callable[[], int] = wall_ms,
    ) -> None:
        self.client_id = client_id
        self.channel_name = channel_name
        self.tracker = tracker
        self._channel = channel
        self._state = state
        self._emit = emit
        self._publish = publish
        self._post = post
        self._send = send
        self._answer_call = answer_call
        self._spawn = spawn
        self._paged_back = False
        self.clock = clock
        self._loop = asyncio.get_running_loop()
        self._lapse_timer: asyncio.TimerHandle | None = None
        self._last: tuple[HandoverView, ControlView] | None = None
        self._closed = False

    # --- reading --------------------------------------------------------------------------

    @property
    def agent(self) -> AgentInfo:
        return self.tracker.agent

    @property
    def is_operator(self) -> bool:
        """Whether the agent lists this user in `agent.operators`."""
        return self.tracker.is_operator(self.client_id)

    def view(self) -> HandoverView:
        return self.tracker.view()

    def control(self) -> ControlView:
        return self.tracker.control(self.clock())

    def snapshot(self) -> Snapshot:
        return self.tracker.view().snapshot

    def lines(self) -> list[HandoverLineView]:
        """Every handover event loaded, oldest first, as transcript lines with names."""
        view = self.view()
        return [
            HandoverLineView(serial, event, describe(event, view.snapshot))
            for serial, event in view.events
        ]

    def timeline(self, entries: Sequence[E], *, has_older: bool) -> list[E | HandoverLineView]:
        """The transcript's entries (prompts and turns) with the handover lines among them."""
        tree = self._state.tree

        def serial_of(entry: Any) -> str | None:
            node = tree.nodes.get(getattr(entry, "cmid", None) or getattr(entry, "run_id", ""))
            return node.order_serial if node is not None else None

        return place_lines(entries, serial_of, self.lines(), has_older=has_older)

    def reply_target(self) -> ReplyTarget:
        """What a reply of this terminal's user would answer now."""
        return self.tracker.reply_target(self._state.tree, self._state.view.nodes(), self.client_id)

    # --- keeping the view current ---------------------------------------------------------

    def refresh(self) -> None:
        """Emit `HandoverChanged` if the view or the control state changed, and arm the
        countdown's timer for the moment the grace runs out."""
        if self._closed:
            return
        view, control = self.view(), self.control()
        if self._last is None or self._last[0] is not view or self._last[1] != control:
            self._last = (view, control)
            self._emit(HandoverChanged(view, control))
        self._arm(control)

    def members(self, members: Iterable[Member]) -> None:
        members = list(members)
        if self.tracker.presence([m.client_id for m in members], self.clock()):
            self.refresh()
        if not self._paged_back and self._snapshot_announced(members):
            self._paged_back = True
            self._spawn(self._page_back_for_snapshot())

    def _snapshot_announced(self, members: list[Member]) -> bool:
        """The agent's presence says a handover is under way (docs/handover.md, "Restarts and
        late joiners") and no snapshot is loaded."""
        if self.view().snapshot_serial is not None:
            return False
        agent = self.agent.client_id
        return any(m.client_id == agent and m.data.get("handover") for m in members)

    async def _page_back_for_snapshot(self, page_size: int = 100) -> None:
        cursor = HistoryCursor(self._channel, page_size)
        for _ in range(SNAPSHOT_PAGES):
            page = await cursor.older()
            if not page:
                break
            for message in page:
                self.tracker.fold(message)
            if self.view().snapshot_serial is not None:
                break
        self.refresh()

    def _arm(self, control: ControlView) -> None:
        if self._lapse_timer is not None:
            self._lapse_timer.cancel()
            self._lapse_timer = None
        if control.lapses_at_ms is None or control.lapsed:
            return
        delay = max(0.0, (control.lapses_at_ms - self.clock()) / 1000) + 0.01
        self._lapse_timer = self._loop.call_later(delay, self.refresh)

    def close(self) -> None:
        self._closed = True
        if self._lapse_timer is not None:
            self._lapse_timer.cancel()
            self._lapse_timer = None

    # --- commands -------------------------------------------------------------------------

    async def ask_for_human(self, text: str = "") -> Any:
        """A prompt the agent escalates without the model (docs/handover.md, "Escalating"):
        the composer's text, or a plain request when it is empty."""
        return await self._send(text.strip() or ASK_FOR_HUMAN, headers={ESCALATE_HEADER: "user"})

    async def answer_escalation(self, escalation: Escalation, text: str) -> Any:
        """The operator's answer as the `request_human` call's output; the turn continues."""
        output = answer_output(self.client_id, text)
        return await self._answer_call(
            escalation.run_id, escalation.message_id, escalation.id, output
        )

    async def take_over(self, expect: str | None = None) -> Snapshot:
        """Ask the agent for control (`expect`: who this screen shows in control, to take
        over from another operator); the snapshot it answered, or `HandoverRefused`."""
        return await self._request("take", expect)

    async def hand_back(self, expect: str | None = None) -> Snapshot:
        """Return control to the agent (`expect`: who this screen shows in control)."""
        return await self._request("return", expect)

    async def _request(self, action: Action, expect: str | None) -> Snapshot:
        op = request_publish(action, expect=expect)
        await self._publish([op])
        answer = await self._post("/api/handover", handover_call(op.data["id"], self.channel_name))
        if answer.error is not None:
            code = answer.error_code
            if code is None and answer.status is None:
                raise HandoverRefused(None, f"agent not reached: {answer.error}")
            raise HandoverRefused(code, answer.error_message or answer.error)
        state = answer.body.get("state") if isinstance(answer.body, Mapping) else None
        snapshot = Snapshot.from_json(state)
        return snapshot if snapshot is not None else self.snapshot()

    async def reply(self, text: str) -> str:
        """An operator's reply while in control: a run streamed on the channel through the
        agent's encoder (protocol/operator_reply.py); returns its run id."""
        control = self.snapshot().control
        if control is None or control.operator != self.client_id:
            holder = control.operator if control else "the agent"
            raise HandoverRefused(
                int(HandoverError.NOT_IN_CONTROL), f"{holder} answers, not {self.client_id}"
            )
        reply = OperatorReply.plan(self.client_id, self.reply_target())
        writer = ChannelWriter(self._channel)
        run_start, step_start = reply.opening()
        await writer.publish(run_start)
        step_serial = await writer.publish(step_start)
        for op in reply.body(step_serial, text):
            await writer.submit(op)
        for op in reply.closing(step_serial):
            await writer.submit(op)
        failures = await writer.drain()
        if failures:
            raise HandoverRefused(None, f"reply not fully published: {failures[0]}")
        return reply.run_id
