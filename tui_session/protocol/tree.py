"""The conversation tree: decoded messages folded into input nodes and run nodes
(docs/wire.md §3.9).

- Routing: anything with `run-id` goes to that run's node; a run-less user message makes an
  input node; a regenerate signal makes none (its run appears with `ai-run-start`).
- Each node keeps a wire log (decoded events grouped by serial, with the highest version
  absorbed) and refolds its projection from empty when an earlier serial arrives late.
- Runs derive status order-independently from their lifecycle messages (§7.7), and fold only
  the canonical attempt of each step (the latest `ai-step-start` per `step-id`).
- Visibility walks parent links; which sibling of a group shows is the caller's choice
  (`view.View`), so several views can share one tree.
- A tool approval decision folds only when its publisher may decide (approvals.py): the
  deciders the newest suspend before it names.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .approvals import APPROVERS_HEADER, Approvers, may_decide, parse_approvers
from .decoder import CodecEvent, Decoded
from .projection import MessageProjection
from .wire import (
    DEFAULT_ERROR_CODE,
    DEFAULT_ERROR_MESSAGE,
    TERMINAL_RUN_STATUSES,
    C,
    H,
    Kind,
    Name,
    Role,
    RunReason,
    RunStatus,
    StepReason,
    StreamStatus,
    parse_int_text,
    parse_steer_ids,
)

GroupKey = tuple[str, ...]


@dataclass
class LogEntry:
    """Everything decoded for one wire serial (a stream accumulates several deliveries)."""

    serial: str
    version: str
    codec_message_id: str
    role: str
    streamed: bool
    events: list[CodecEvent] = field(default_factory=list)
    stream_status: StreamStatus | None = None
    step_id: str | None = None
    step_start_serial: str | None = None
    steer_ids: list[str] = field(default_factory=list)
    client_id: str | None = None  # the hub-verified publisher
    kind: str | None = None  # the codec kind of an input (a prompt, a decision, ...)


@dataclass
class Node:
    """Common to input and run nodes: a wire log and the projection folded from it."""

    key: str
    seq: int  # insertion order, the tie-break for nodes without a serial
    parent: str | None = None
    fork_of: str | None = None
    log: list[LogEntry] = field(default_factory=list)  # sorted by serial
    _messages: dict[str, MessageProjection] = field(default_factory=dict)

    @property
    def order_serial(self) -> str | None:
        raise NotImplementedError

    def sort_key(self) -> tuple[int, str, int]:
        serial = self.order_serial
        return (0, serial, self.seq) if serial else (1, "", self.seq)

    def messages(self) -> list[tuple[str, dict[str, Any]]]:
        """`(codec-message-id, OpenAIMessage)` pairs, in serial order of first appearance."""
        return [(cmid, m.to_dict()) for cmid, m in self._messages.items()]

    def message(self, cmid: str) -> MessageProjection | None:
        return self._messages.get(cmid)

    def codec_message_ids(self) -> list[str]:
        return list(self._messages)

    def _entry(self, serial: str) -> LogEntry | None:
        i = bisect.bisect_left([e.serial for e in self.log], serial)
        return self.log[i] if i < len(self.log) and self.log[i].serial == serial else None

    def absorb(self, decoded: Decoded) -> bool:
        """Add one delivery to the log; returns whether the projection may have changed."""
        entry = self._entry(decoded.serial)
        if entry is not None:
            if not entry.streamed:
                return False  # replay, or an edit of a discrete message: not propagated
            if decoded.version and entry.version and decoded.version <= entry.version:
                return False  # replay
            entry.version = decoded.version or entry.version
            entry.stream_status = decoded.stream_status
            entry.events.extend(decoded.events)
            # a stream's deltas commute with later entries' events: no refold needed
            self._fold_events(entry, decoded.events)
            return True
        entry = _entry_from(decoded)
        late = bool(self.log) and entry.serial < self.log[-1].serial
        bisect.insort(self.log, entry, key=lambda e: e.serial)
        if late:
            self.refold()
        else:
            self._fold_events(entry, entry.events)
        return True

    def refold(self) -> None:
        """Rebuild the projection from empty, in serial order."""
        self._messages = {}
        for entry in self.log:
            self._fold_events(entry, entry.events)

    def _fold_events(self, entry: LogEntry, events: Iterable[CodecEvent]) -> None:
        if not self._folds(entry):
            return
        events = list(events)
        if not events and entry.codec_message_id in self._messages:
            return
        message = self._messages.get(entry.codec_message_id)
        if message is None:
            message = self._messages[entry.codec_message_id] = MessageProjection(entry.role)
        if entry.role == Role.ASSISTANT:
            message.role = Role.ASSISTANT  # an approval response (role user) amends it
        for event in events:
            message.apply(event)

    def _folds(self, entry: LogEntry) -> bool:
        return True


def _entry_from(decoded: Decoded) -> LogEntry:
    t = decoded.transport
    return LogEntry(
        serial=decoded.serial,
        version=decoded.version,
        codec_message_id=t.get(H.CODEC_MESSAGE_ID, ""),
        role=t.get(H.ROLE, Role.ASSISTANT),
        streamed=decoded.streamed,
        events=list(decoded.events),
        stream_status=decoded.stream_status,
        step_id=t.get(H.STEP_ID),
        step_start_serial=t.get(H.STEP_START_SERIAL),
        steer_ids=parse_steer_ids(t.get(H.STEER_CODEC_MESSAGE_IDS)),
        client_id=decoded.client_id,
        kind=decoded.codec.get(C.KIND),
    )


@dataclass
class InputNode(Node):
    """A user prompt (run-less user message), keyed by its `codec-message-id`."""

    serial: str | None = None  # None while optimistic
    client_id: str | None = None
    seed: list[CodecEvent] | None = None  # optimistic preview, discarded on the echo

    @property
    def order_serial(self) -> str | None:
        return self.serial

    @property
    def optimistic(self) -> bool:
        return self.serial is None

    def absorb(self, decoded: Decoded) -> bool:
        if self.seed is not None:  # the echo: rebuild from the wire alone
            self.seed = None
            self._messages = {}
        if self.serial is None or decoded.serial < self.serial:
            self.serial = decoded.serial
        self.client_id = self.client_id or decoded.client_id
        return super().absorb(decoded)

    def refold(self) -> None:
        super().refold()
        if self.seed is not None and not self.log:
            message = self._messages[self.key] = MessageProjection(Role.USER)
            for event in self.seed:
                message.apply(event)


@dataclass
class StepAttempt:
    start_serial: str
    step_client_id: str | None = None
    reason: StepReason | None = None  # None while the attempt is open


@dataclass
class StepInfo:
    """Step read-model: status is `active` until the canonical attempt's `ai-step-end`."""

    step_id: str
    attempts: dict[str, StepAttempt] = field(default_factory=dict)  # by start serial

    @property
    def canonical(self) -> StepAttempt | None:
        return self.attempts[max(self.attempts)] if self.attempts else None

    @property
    def status(self) -> str:
        canonical = self.canonical
        return str(canonical.reason) if canonical and canonical.reason else "active"

    @property
    def attempt_count(self) -> int:
        return len(self.attempts)

    @property
    def step_client_id(self) -> str | None:
        canonical = self.canonical
        return canonical.step_client_id if canonical else None


@dataclass
class RunError:
    code: int
    message: str


@dataclass(frozen=True)
class Decision:
    """A tool approval response on a run: who answered which call, and whether it counts
    (its publisher may decide, approvals.py)."""

    serial: str
    client_id: str | None
    call_id: str
    approved: bool
    counted: bool


@dataclass
class RunNode(Node):
    """One run (a turn): lifecycle, steps, and the projection of its outputs and inputs."""

    client_id: str | None = None  # the owner: `run-client-id` of `ai-run-start`
    input_client_id: str | None = None
    invocation_id: str | None = None
    input_codec_message_id: str | None = None  # of the opening trigger
    msg_regenerate: str | None = None
    start_serial: str | None = None
    end_serial: str | None = None
    first_serial: str | None = None
    lifecycle: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    steps: dict[str, StepInfo] = field(default_factory=dict)
    trigger_input_ids: set[str] = field(default_factory=set)  # from start and resumes
    approvers: dict[str, Approvers] = field(default_factory=dict)  # by suspend serial
    _parent_hints: dict[str, str] = field(default_factory=dict)  # output serial -> parent

    @property
    def run_id(self) -> str:
        return self.key

    @property
    def order_serial(self) -> str | None:
        return self.start_serial or self.first_serial

    # --- lifecycle -------------------------------------------------------------------------

    def absorb_lifecycle(self, decoded: Decoded) -> bool:
        if decoded.serial in self.lifecycle:
            return False
        t = dict(decoded.transport)
        self.lifecycle[decoded.serial] = (decoded.name, t)
        if decoded.name == Name.RUN_START:
            self.start_serial = decoded.serial
            self.client_id = t.get(H.RUN_CLIENT_ID, self.client_id)  # ownership never moves
            self.parent = t.get(H.PARENT)
            self.fork_of = t.get(H.FORK_OF)
            self.msg_regenerate = t.get(H.MSG_REGENERATE)
            self.invocation_id = t.get(H.INVOCATION_ID)
            self.input_client_id = t.get(H.INPUT_CLIENT_ID)
            self.input_codec_message_id = t.get(H.INPUT_CODEC_MESSAGE_ID)
        if decoded.name in (Name.RUN_START, Name.RUN_RESUME) and t.get(H.INPUT_CODEC_MESSAGE_ID):
            self.trigger_input_ids.add(t[H.INPUT_CODEC_MESSAGE_ID])
        if decoded.name == Name.RUN_END:
            self.end_serial = min(self.end_serial or decoded.serial, decoded.serial)
        if decoded.name == Name.RUN_SUSPEND:
            self.approvers[decoded.serial] = parse_approvers(decoded.headers.get(APPROVERS_HEADER))
            if any(e.kind == Kind.TOOL_APPROVAL_RESPONSE for e in self.log):
                self.refold()  # decisions folded before this suspend was known
        return True

    def _ordered_lifecycle(self, *names: str) -> list[tuple[str, dict[str, str]]]:
        return [(s, t) for s, (n, t) in sorted(self.lifecycle.items()) if n in names]

    @property
    def status(self) -> RunStatus:
        """Order-independent: a terminal event wins; a resume only reactivates a suspension."""
        ends = self._ordered_lifecycle(Name.RUN_END)
        if ends:
            reason = ends[0][1].get(H.RUN_REASON, RunReason.COMPLETE)
            return (
                RunStatus(reason)
                if reason in RunStatus.__members__.values()
                else RunStatus.COMPLETE
            )
        opens = self._ordered_lifecycle(Name.RUN_START, Name.RUN_RESUME)
        last_open = opens[-1] if opens else None
        for serial, t in reversed(self._ordered_lifecycle(Name.RUN_SUSPEND)):
            if last_open is None:
                return RunStatus.SUSPENDED
            same_invocation = t.get(H.INVOCATION_ID) == last_open[1].get(H.INVOCATION_ID)
            # a late suspend from a replaced invocation is ignored
            if serial > last_open[0] and same_invocation:
                return RunStatus.SUSPENDED
        return RunStatus.ACTIVE

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_RUN_STATUSES

    @property
    def error(self) -> RunError | None:
        ends = self._ordered_lifecycle(Name.RUN_END)
        if not ends or ends[0][1].get(H.RUN_REASON) != RunReason.ERROR:
            return None
        t = ends[0][1]
        return RunError(
            parse_int_text(t.get(H.ERROR_CODE), DEFAULT_ERROR_CODE),
            t.get(H.ERROR_MESSAGE) or DEFAULT_ERROR_MESSAGE,
        )

    # --- steps -----------------------------------------------------------------------------

    def absorb_step(self, decoded: Decoded) -> bool:
        """Returns True when a new superseding attempt requires a refold."""
        t = decoded.transport
        step_id = t.get(H.STEP_ID)
        if not step_id:
            return False
        info = self.steps.setdefault(step_id, StepInfo(step_id))
        previous = info.canonical
        start = decoded.serial if decoded.name == Name.STEP_START else t.get(H.STEP_START_SERIAL)
        if not start:
            return False
        attempt = info.attempts.setdefault(start, StepAttempt(start))
        attempt.step_client_id = t.get(H.STEP_CLIENT_ID, attempt.step_client_id)
        if decoded.name == Name.STEP_END:
            reason = t.get(H.STEP_REASON, StepReason.COMPLETE)
            known = reason in StepReason.__members__.values()
            attempt.reason = StepReason(reason) if known else StepReason.COMPLETE
        return previous is not None and info.canonical is not previous

    def _folds(self, entry: LogEntry) -> bool:
        """Output of a non-canonical step attempt is not folded, nor a decision by someone
        who may not decide."""
        if entry.kind == Kind.TOOL_APPROVAL_RESPONSE:
            return self.may_decide(entry.client_id, entry.serial)
        if not entry.step_id or not entry.step_start_serial:
            return True
        info = self.steps.get(entry.step_id)
        return info is None or not info.attempts or entry.step_start_serial >= max(info.attempts)

    def note_output(self, decoded: Decoded) -> None:
        t = decoded.transport
        if self.client_id is None:
            self.client_id = t.get(H.RUN_CLIENT_ID)
        self.invocation_id = self.invocation_id or t.get(H.INVOCATION_ID)
        if t.get(H.ROLE) == Role.ASSISTANT and t.get(H.PARENT):
            # outputs carry the input the run answers; used until the start is loaded
            self._parent_hints.setdefault(decoded.serial, t[H.PARENT])
        if self.start_serial is None and t.get(H.ROLE) == Role.ASSISTANT:
            self.fork_of = self.fork_of or t.get(H.FORK_OF)
            self.msg_regenerate = self.msg_regenerate or t.get(H.MSG_REGENERATE)
        if decoded.stream_status is not None or t.get(H.STEP_START_SERIAL):
            self.absorb_step(decoded)

    @property
    def structural_parent(self) -> str | None:
        if self.start_serial:
            return self.parent
        # the earliest output belongs to the opening invocation; later continuation outputs
        # name the run's own message, which the tree never treats as the run's parent
        return self._parent_hints[min(self._parent_hints)] if self._parent_hints else None

    # --- approvals (approvals.py) ------------------------------------------------------------

    def deciders(self, before: str | None = None) -> Approvers:
        """Who may decide, as named by the newest suspend (before `before`, if given)."""
        serials = [s for s in self.approvers if before is None or s < before]
        return self.approvers[max(serials)] if serials else None

    def may_decide(self, client_id: str | None, before: str | None = None) -> bool:
        return may_decide(self.deciders(before), client_id)

    def decisions(self) -> list[Decision]:
        """Every approval response on this run, in serial order, counted or not."""
        out = []
        for entry in self.log:
            if entry.kind != Kind.TOOL_APPROVAL_RESPONSE:
                continue
            counted = self.may_decide(entry.client_id, entry.serial)
            for event in entry.events:
                out.append(
                    Decision(
                        entry.serial,
                        entry.client_id,
                        str(event.get("call_id")),
                        bool(event.get("approved")),
                        counted,
                    )
                )
        return out

    @property
    def owner(self) -> str | None:
        """The run's verified owner: the hub-verified publisher of its opening input, as the
        agent stamped it (`input-client-id` of `ai-run-start`), else `run-client-id`."""
        return self.input_client_id or self.client_id

    # --- read-model ------------------------------------------------------------------------

    @property
    def steer_ids(self) -> set[str]:
        """Union of `steer-codec-message-ids` over the run's outputs (§3.6)."""
        return {sid for entry in self.log for sid in entry.steer_ids}

    @property
    def interrupted_streams(self) -> list[str]:
        """Streams still open when the run ended: shown as interrupted, not streaming (§7.1)."""
        if not self.terminal:
            return []
        return [
            e.serial for e in self.log if e.streamed and e.stream_status == StreamStatus.STREAMING
        ]

    @property
    def open_streams(self) -> list[str]:
        return [
            e.serial for e in self.log if e.streamed and e.stream_status == StreamStatus.STREAMING
        ]


class Tree:
    """Materialises the channel: `apply()` every decoded message, live or from history."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.index: dict[str, str] = {}  # codec-message-id -> node key
        self.superseded: set[str] = set()
        # regenerate signals (they make no node): carrier cmid -> (serial, publisher)
        self.regenerates: dict[str, tuple[str, str | None]] = {}
        self._triggered: dict[str, set[str]] = {}  # input cmid -> keys of runs it started
        self._seq = itertools.count()

    # --- folding ---------------------------------------------------------------------------

    def apply(self, decoded: Decoded) -> Node | None:
        """Fold one decoded message; returns the node that changed, if any."""
        t = decoded.transport
        if t.get(H.SUPERSEDES):
            self.superseded.add(t[H.SUPERSEDES])
        if decoded.name == Name.CANCEL:
            return None  # cancels are requests to the agent, not conversation state
        run_id = t.get(H.RUN_ID)
        if run_id:
            return self._apply_to_run(run_id, decoded)
        kind = decoded.codec.get(C.KIND)
        if decoded.name == Name.INPUT and kind == Kind.USER_MESSAGE:
            return self._apply_to_input(decoded)
        if decoded.name == Name.INPUT and kind == Kind.REGENERATE and t.get(H.CODEC_MESSAGE_ID):
            self.regenerates.setdefault(t[H.CODEC_MESSAGE_ID], (decoded.serial, decoded.client_id))
        return None  # a regenerate signal, or nothing the tree keeps

    def _apply_to_input(self, decoded: Decoded) -> Node | None:
        cmid = decoded.transport.get(H.CODEC_MESSAGE_ID)
        if not cmid:
            return None
        node = self.nodes.get(cmid)
        if node is None:
            node = self.nodes[cmid] = InputNode(cmid, next(self._seq))
            self.index[cmid] = cmid
        if not isinstance(node, InputNode):
            return None
        node.parent = node.parent or decoded.transport.get(H.PARENT)
        node.fork_of = node.fork_of or decoded.transport.get(H.FORK_OF)
        return node if node.absorb(decoded) else None

    def _apply_to_run(self, run_id: str, decoded: Decoded) -> Node | None:
        node = self.nodes.get(run_id)
        if node is None:
            node = self.nodes[run_id] = RunNode(run_id, next(self._seq))
        if not isinstance(node, RunNode):
            return None
        if node.first_serial is None or decoded.serial < node.first_serial:
            node.first_serial = decoded.serial
        if decoded.name in (Name.RUN_START, Name.RUN_RESUME, Name.RUN_SUSPEND, Name.RUN_END):
            if not node.absorb_lifecycle(decoded):
                return None
            for input_id in node.trigger_input_ids:
                self._triggered.setdefault(input_id, set()).add(node.key)
            return node
        if decoded.name in (Name.STEP_START, Name.STEP_END):
            if decoded.serial in node.lifecycle:
                return None
            node.lifecycle[decoded.serial] = (decoded.name, dict(decoded.transport))
            if node.absorb_step(decoded):
                node.refold()  # a superseding attempt hides the earlier attempt's output
            return node
        cmid = decoded.transport.get(H.CODEC_MESSAGE_ID)
        if not cmid:
            return None
        node.note_output(decoded)
        self.index.setdefault(cmid, run_id)  # outputs, steers and continuations map to the run
        return node if node.absorb(decoded) else None

    # --- optimistic inputs (§3.4) ----------------------------------------------------------

    def add_optimistic(
        self,
        cmid: str,
        seed: Sequence[CodecEvent],
        *,
        parent: str | None = None,
        fork_of: str | None = None,
        client_id: str | None = None,
    ) -> InputNode:
        """Fold a just-sent prompt at once; it has no serial, so it sorts last."""
        node = InputNode(cmid, next(self._seq), parent, fork_of, client_id=client_id)
        node.seed = list(seed)
        node.refold()
        self.nodes[cmid] = node
        self.index[cmid] = cmid
        return node

    def remove_optimistic(self, cmid: str) -> bool:
        """A failed publish removes the node, but only if it never got a serial."""
        node = self.nodes.get(cmid)
        if isinstance(node, InputNode) and node.optimistic:
            del self.nodes[cmid]
            self.index.pop(cmid, None)
            return True
        return False

    # --- lookups ---------------------------------------------------------------------------

    def node_of(self, cmid: str) -> Node | None:
        key = self.index.get(cmid)
        return self.nodes.get(key) if key else None

    def run(self, run_id: str) -> RunNode | None:
        node = self.nodes.get(run_id)
        return node if isinstance(node, RunNode) else None

    def runs(self) -> list[RunNode]:
        """Every run on every branch, in order."""
        return [n for n in self.ordered() if isinstance(n, RunNode)]

    def runs_for_input(self, input_cmid: str) -> list[RunNode]:
        """Correlate a send with its run: start/resume whose input id is the send's (§3.4)."""
        runs = [self.nodes[k] for k in self._triggered.get(input_cmid, ())]
        return sorted((r for r in runs if isinstance(r, RunNode)), key=Node.sort_key)

    def ordered(self) -> list[Node]:
        return sorted(self.nodes.values(), key=Node.sort_key)

    def parent_key(self, node: Node) -> str | None:
        """The loaded node a node hangs under; None makes it a root of the loaded window."""
        parent = node.structural_parent if isinstance(node, RunNode) else node.parent
        key = self.index.get(parent) if parent else None
        return None if key == node.key else key

    def parent_not_loaded(self, node: Node) -> bool:
        """A node whose parent is outside the loaded history ("earlier messages not loaded")."""
        parent = node.structural_parent if isinstance(node, RunNode) else node.parent
        return bool(parent) and parent not in self.index

    # --- sibling groups (§3.9) -------------------------------------------------------------

    def group_of(self, node: Node) -> GroupKey:
        """Edit group: same parent, linked by fork-of. Regenerate group: runs of one input."""
        if isinstance(node, RunNode):
            parent = node.structural_parent
            return ("runs", parent) if parent else ("run", node.key)
        root, seen = node.key, {node.key}
        while True:
            target = self.nodes.get(root)
            fork_of = target.fork_of if target else None
            if not fork_of or fork_of in seen:
                break
            seen.add(fork_of)
            root = fork_of
        return ("inputs", node.parent or "", root)

    def group_members(self, group: GroupKey) -> list[Node]:
        return [
            n for n in self.ordered() if n.key not in self.superseded and self.group_of(n) == group
        ]

    # --- visibility ------------------------------------------------------------------------

    def visible(self, select: Callable[[GroupKey, list[Node]], str | None]) -> list[Node]:
        """Nodes on the selected branch, in order. `select` names a group's shown member."""
        groups: dict[GroupKey, list[Node]] = {}
        for node in self.ordered():
            if node.key not in self.superseded:  # superseded runs are never visible
                groups.setdefault(self.group_of(node), []).append(node)
        chosen = {group: select(group, members) for group, members in groups.items()}
        memo: dict[str, bool] = {}

        def shown(node: Node, trail: set[str]) -> bool:
            if node.key in memo:
                return memo[node.key]
            ok = chosen.get(self.group_of(node)) == node.key
            parent = self.parent_key(node)
            if ok and parent is not None and parent not in trail:  # cycles guarded
                ok = shown(self.nodes[parent], trail | {node.key})
            memo[node.key] = ok
            return ok

        return [n for n in self.ordered() if shown(n, set())]


def newest(group: GroupKey, members: list[Node]) -> str | None:
    """The default member of a group: the newest (§3.10)."""
    return members[-1].key if members else None
