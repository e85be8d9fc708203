"""The client core as a pure state machine (docs/wire.md §3, §6, §7).

`ClientState` is what one terminal knows about one session: the decoder, the tree, the branch
view and its paging window, the input ids this device published, its sends and steers, the
cancels it asked for, the active-turns map and the stall marks. Two doors change it:

- `fold(message, source, now)` takes one channel message (a plain, Ably-shaped dict, live or
  from history) and returns what changed;
- the command side (`add_prompt`, `published`, `post_finished`, `request_cancel`, ...) records
  what this device asked for, and returns the same.

What changed is a list of `client_events` (for the UI) and `Effect`s (for the I/O shell,
`ClientSession`: resolve a handle's future, publish a cancel again). Nothing here does I/O,
touches asyncio or reads a clock: time comes in as `now`; the persistence of own input ids is
whatever set-like object the caller passes as `owned`.

Two rules live in exactly one object each, so a change of either is one swap:
- whose turn is mine: `self.ownership` (`protocol.turns.UserOwnership`: my user's, on any of
  my devices);
- which branch this device shows: `self.view` (`protocol.view.View`: every device follows
  the newest move; a move made elsewhere is reported as `BranchFollowed`).

It also remembers who did what, for attribution: the device each client publish named
(client_wire's header), and the cancels seen, with their senders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from tui_session.protocol import (
    BranchMove,
    CancelFilter,
    CancelTarget,
    Decoded,
    ErrorCode,
    H,
    InputNode,
    Kind,
    Name,
    Ownership,
    ProtocolError,
    RunNode,
    RunStatus,
    Tree,
    UserOwnership,
    View,
    active_turns,
    cancel_targets,
    new_decoder,
    steer_outcome,
    user_message_seed,
)
from tui_session.protocol.paging import Window
from tui_session.protocol.wire import RUN_LIFECYCLE

from .client_events import (
    ActiveTurnsChanged,
    BranchChanged,
    BranchFollowed,
    ClientEvent,
    PromptAdded,
    PromptRemoved,
    PromptUpdated,
    SteerResolved,
    TurnAdded,
    TurnEnded,
    TurnUpdated,
    WireMessage,
)
from .client_handover import AgentInfo, HandoverFolded, HandoverTracker
from .client_model import Who
from .client_records import Send, Steer
from .client_wire import DEVICE_HEADER, app_header, tiers


@dataclass(frozen=True)
class SendStarted:
    """Effect: the run of `send` is known; resolve its handle's `started`, stop its timer."""

    send: Send
    run_id: str


@dataclass(frozen=True)
class SendEnded:
    """Effect: the run of `send` ended with `status`; resolve its handle's `ended`."""

    send: Send
    status: str


@dataclass(frozen=True)
class SteerSettled:
    """Effect: `steer` has its outcome (`steer.state`); resolve its handle, stop its timer."""

    steer: Steer


@dataclass(frozen=True)
class ResendCancel:
    """Effect (docs/wire.md §7.3): a cancel this device published by input id before the run
    started may have reached no agent: publish it again, naming the run."""

    run_id: str
    input_id: str


Effect = SendStarted | SendEnded | SteerSettled | ResendCancel | HandoverFolded
Change = ClientEvent | Effect


@dataclass(frozen=True)
class CancelSeen:
    """An `ai-cancel` on the channel: who asked, and what it named."""

    serial: str
    by: Who
    run_id: str | None
    input_id: str | None


class OwnedIds(Protocol):
    """The input ids this device published: a set, or `owned_inputs.OwnedInputs` (a file)."""

    def __contains__(self, input_id: object) -> bool: ...
    def __iter__(self) -> Iterator[str]: ...
    def add(self, input_id: str) -> None: ...


class ClientState:
    """See the module docstring."""

    def __init__(
        self,
        client_id: str,
        device: str,
        *,
        owned: OwnedIds | None = None,
        now: float = 0.0,
        stall_after: float = 60.0,
        ownership: Ownership | None = None,
        view: Callable[[Tree], View] = View,
        agent: AgentInfo | None = None,
    ) -> None:
        self.client_id = client_id
        self.device = device
        self.decoder = new_decoder()
        self.tree = Tree()
        self.view = view(self.tree)
        self.window = Window(self.view)
        self.owned: OwnedIds = owned if owned is not None else set()
        self.ownership: Ownership = ownership or UserOwnership(client_id)
        self.stall_after = stall_after
        self.started_at = now  # a run with no wire activity yet counts from here
        self.sends: dict[str, Send] = {}  # by input event id
        self.by_input: dict[str, list[Send]] = {}  # by input codec-message-id, oldest first
        self.steers: dict[str, Steer] = {}  # by steer codec-message-id
        self.cancel_requested: set[str] = set()  # run ids this device asked to cancel
        self.cancel_pending: set[str] = set()  # own input ids cancelled before their start
        self.devices: dict[str, str] = {}  # input cmid (prompt, regenerate, steer) -> device
        self.decision_devices: dict[str, str] = {}  # approval response serial -> device
        self.cancels: dict[str, list[CancelSeen]] = {}  # by the run id or input id it names
        self.stalled: set[str] = set()
        self.active: dict[str, dict[str, str]] = {}
        self._activity: dict[str, float] = {}  # run id -> `now` of its last wire message
        self._run_agent: dict[str, str] = {}  # run id -> clientId that published its start
        self._ended: set[str] = set()
        self._paging = False
        # human handover (docs/handover.md): snapshots trusted from the agent's clientId only
        self.handover = HandoverTracker(agent or AgentInfo())
        self._handover_dirty = False

    # --- folding channel messages ------------------------------------------------------------

    def fold(self, message: dict[str, Any], source: str = "live", now: float = 0.0) -> list[Change]:
        """One channel message (live or from history) into the state; what changed."""
        transport, codec = tiers(message)
        out: list[Change] = [
            WireMessage(
                message.get("serial"),
                message["action"],
                message.get("name"),
                message.get("clientId"),
                transport,
                codec,
                (message.get("version") or {}).get("serial"),
                source,
            )
        ]
        if self.handover.fold(message):
            out += self._handover_changed()
        decoded = self.decoder.decode(message)
        if decoded is None:
            return out
        self._note_sender(decoded, app_header(message, DEVICE_HEADER))
        run_id = decoded.transport.get(H.RUN_ID)
        if run_id and decoded.name != Name.CANCEL:
            self._activity[run_id] = now
            if decoded.name == Name.RUN_START and decoded.client_id:
                self._run_agent[run_id] = decoded.client_id
        key = run_id or decoded.transport.get(H.CODEC_MESSAGE_ID)
        existed = key in self.tree.nodes if key else True
        node = self.tree.apply(decoded)
        if node is None:
            return out
        move = None if existed else self.view.arrived(node, live=source == "live")
        if isinstance(node, InputNode):
            out.append(PromptUpdated(node.key) if existed else PromptAdded(node.key))
            return out + self._followed(move)
        if not isinstance(node, RunNode):
            return out
        if not existed:
            out.append(TurnAdded(node.run_id))
            out += self._followed(move)
        self.stalled.discard(node.run_id)
        out.append(TurnUpdated(node.run_id))
        if decoded.name in RUN_LIFECYCLE:
            out += self._lifecycle(node, decoded.name, decoded.serial, decoded.transport)
        out += self._settle_steers(node)
        return out

    def _note_sender(self, decoded: Decoded, device: str | None) -> None:
        """Who published a client input or cancel, for attribution (client_wire's device)."""
        t = decoded.transport
        if decoded.name == Name.CANCEL:
            run_id, input_id = t.get(H.RUN_ID), t.get(H.INPUT_CODEC_MESSAGE_ID)
            seen = CancelSeen(decoded.serial, Who(decoded.client_id, device), run_id, input_id)
            for key in (run_id, input_id):
                if key:
                    self.cancels.setdefault(key, []).append(seen)
        elif decoded.name == Name.INPUT and device:
            if decoded.codec.get("kind") == Kind.TOOL_APPROVAL_RESPONSE:
                self.decision_devices[decoded.serial] = device  # its cmid is the assistant's
            else:
                self.devices.setdefault(t.get(H.CODEC_MESSAGE_ID, ""), device)

    def _followed(self, move: BranchMove | None) -> list[Change]:
        """Another device's move that moved this view: say who (an own move says nothing)."""
        if move is None:
            return []
        node = move.node
        if isinstance(node, InputNode):
            cmid, by = node.key, node.client_id
            kind = "edited" if node.fork_of else "sent"
        else:
            assert isinstance(node, RunNode)
            cmid = node.input_codec_message_id or node.key
            by = (self.tree.regenerates.get(cmid) or (None, node.input_client_id))[1]
            kind = "regenerated"
        if cmid in self.owned:
            return []
        selection = move.selection
        who = Who(by, self.devices.get(cmid))
        count = len(selection.siblings)
        return [BranchFollowed(node.key, kind, who, selection.index, count)]  # type: ignore[arg-type]

    def fold_page(
        self, messages: list[dict[str, Any]], source: str = "history", now: float = 0.0
    ) -> list[Change]:
        """A history page, oldest first. The active-turns map walks every run: it is rebuilt
        once per page, not per lifecycle message (paging 1,000 runs back stays linear)."""
        out: list[Change] = []
        self._paging = True
        try:
            for message in messages:
                out += self.fold(message, source, now)
        finally:
            self._paging = False
        self.view.remember()
        out += self.refresh_active()
        if self._handover_dirty:
            out += self._handover_changed()
        return out

    def _handover_changed(self) -> list[Change]:
        """The handover view changed: the shell emits it (with the wall clock), and operator
        replies re-render (their attribution may have been verified). Once per page."""
        if self._paging:
            self._handover_dirty = True
            return []
        self._handover_dirty = False
        runs = [TurnUpdated(run_id) for run_id in self.handover.operator_runs()]
        return [HandoverFolded(), *runs]

    def _lifecycle(
        self, run: RunNode, name: str, serial: str, transport: Mapping[str, str]
    ) -> list[Change]:
        out: list[Change] = []
        input_id = transport.get(H.INPUT_CODEC_MESSAGE_ID)
        if name in (Name.RUN_START, Name.RUN_RESUME) and input_id:
            for send in self.by_input.get(input_id, []):
                if send.run_id or (send.serial and serial <= send.serial):
                    continue  # started already, or a run for an earlier send of this input
                out += self._start(send, run.run_id)
                if send.kind != "approval":
                    out.append(PromptUpdated(input_id))
            if name == Name.RUN_START and input_id in self.cancel_pending:
                self.cancel_pending.discard(input_id)
                self.cancel_requested.add(run.run_id)
                out.append(ResendCancel(run.run_id, input_id))
        if run.terminal:
            status = str(run.status)
            for send in self.sends.values():
                if send.run_id == run.run_id and send.end_status is None:
                    send.end_status = status
                    out.append(SendEnded(send, status))
            if run.run_id not in self._ended:
                self._ended.add(run.run_id)
                self.stalled.discard(run.run_id)
                out.append(TurnEnded(run.run_id, status))
        if not self._paging:
            out += self.refresh_active()
        return out

    def _start(self, send: Send, run_id: str) -> list[Change]:
        send.run_id = run_id
        send.waiting_for_agent = False
        return [SendStarted(send, run_id)]

    def _settle_steers(self, run: RunNode) -> list[Change]:
        out: list[Change] = []
        for steer in self.steers.values():
            if steer.run_id != run.run_id or steer.settled:
                continue
            outcome = steer_outcome(run, steer.steer_cmid)
            if outcome is None:
                continue
            steer.state = "consumed" if outcome.consumed else "not consumed"
            steer.run_terminal_reason = outcome.run_terminal_reason
            out += [SteerSettled(steer), SteerResolved(steer.steer_cmid, run.run_id, steer.state)]
        return out

    # --- derived: active turns, stalls, the gap ----------------------------------------------

    def awaiting(self) -> list[str]:
        """This device's input ids an agent may still start a run for (pending turns)."""
        return [s.input_codec_message_id for s in self.sends.values() if s.awaiting_run]

    def refresh_active(self) -> list[Change]:
        turns = active_turns(self.tree, self.client_id, self.awaiting())
        if turns == self.active:
            return []
        self.active = turns
        return [ActiveTurnsChanged({k: dict(v) for k, v in turns.items()})]

    def check_stalls(self, now: float, agent_gone: Callable[[str], bool]) -> list[Change]:
        """docs/wire.md §7.14: an active run is stalled after `stall_after` without wire
        activity, or when the agent that started it left presence."""
        stalled = set()
        for run in self.tree.runs():
            if run.status != RunStatus.ACTIVE:
                continue
            last = self._activity.get(run.run_id, self.started_at)
            agent = self._run_agent.get(run.run_id)
            if (agent is not None and agent_gone(agent)) or now - last > self.stall_after:
                stalled.add(run.run_id)
        changed = stalled ^ self.stalled
        self.stalled = stalled
        return [TurnUpdated(run_id) for run_id in sorted(changed)]

    def gap_floor(self, last_serial: str | None) -> str | None:
        """How far back a gap fill reads (docs/wire.md §7.13): to the newest serial this
        client had, and to the oldest stream still open (its missed appends are only in the
        aggregate, which history lists at the stream's own serial)."""
        open_streams = [s for run in self.tree.runs() if not run.terminal for s in run.open_streams]
        if last_serial is not None and open_streams:
            return min([last_serial, *open_streams])
        return last_serial

    # --- the command side: what this device asked for ----------------------------------------

    def tip(self) -> str | None:
        """Where a new prompt goes: after the last message on the shown branch (§3.2)."""
        messages = self.view.messages()
        return messages[-1][0] if messages else None

    def handle(self, input_cmid: str) -> Send | None:
        """The newest send of this device for an input id (a prompt's cmid)."""
        sends = self.by_input.get(input_cmid)
        return sends[-1] if sends else None

    def register(self, send: Send) -> None:
        self.sends[send.input_event_id] = send
        self.by_input.setdefault(send.input_codec_message_id, []).append(send)

    def unregister(self, send: Send) -> None:
        self.sends.pop(send.input_event_id, None)
        sends = self.by_input.get(send.input_codec_message_id, [])
        if send in sends:
            sends.remove(send)

    def add_prompt(
        self, send: Send, text: str, *, parent: str | None, fork_of: str | None
    ) -> list[Change]:
        """An own prompt (or edit), folded at once as an optimistic node (§3.4)."""
        cmid = send.input_codec_message_id
        self.register(send)
        self.owned.add(cmid)
        seed = user_message_seed([text])
        self.tree.add_optimistic(
            cmid, seed, parent=parent, fork_of=fork_of, client_id=self.client_id
        )
        self.view.remember()  # the newest move now: this view shows it at once
        out: list[Change] = [PromptAdded(cmid)]
        if fork_of:
            out.append(BranchChanged(cmid))
        return out

    def withdraw_prompt(self, send: Send, error: str) -> list[Change]:
        """The publish of an own prompt failed: it goes (§3.2)."""
        self.tree.remove_optimistic(send.input_codec_message_id)
        self.unregister(send)
        self.view.remember()
        return [PromptRemoved(send.input_codec_message_id, error)]

    def add_regenerate(self, send: Send) -> None:
        """An own regenerate: its run, the newest move when it starts, shows here (§3.8)."""
        self.register(send)
        self.owned.add(send.input_codec_message_id)

    def published(self, send: Send, serials: list[str | None]) -> list[Change]:
        """The publish of `send` was acknowledged."""
        send.published = True
        send.serial = serials[0] if serials else None
        out: list[Change] = []
        if send.kind != "approval":
            runs = self.tree.runs_for_input(send.input_codec_message_id)
            if runs:  # a start that arrived before the ACK already names this input
                out += self._start(send, runs[0].run_id)
        return out + self.refresh_active()

    def send_changed(self, send: Send) -> list[Change]:
        """What a change of a send's status updates: its prompt (or regenerate carrier), or
        its run for an approval (whose id is the assistant message's, not a prompt's)."""
        if send.kind == "approval" and send.target_run_id:
            return [TurnUpdated(send.target_run_id)]
        return [PromptUpdated(send.input_codec_message_id)]

    def start_timed_out(self, send: Send) -> list[Change]:
        """No run start within the start timeout: "waiting for agent" (§7.12); not while an
        operator in control answers it (they reply when they choose)."""
        if send.run_id or send.handled_by:
            return []
        send.waiting_for_agent = True
        return self.send_changed(send)

    def post_started(self, send: Send) -> list[Change]:
        send.post, send.post_error = "pending", None
        return self.refresh_active()

    def post_finished(
        self, send: Send, error: str | None, handled_by: str | None = None
    ) -> list[Change]:
        """The agent invocation answered (`error` None) or failed: "agent not reached", and
        the prompt is no longer a pending turn until it is retried. `handled_by`: the agent
        answered 202, the operator in control answers (docs/handover.md)."""
        send.post, send.post_error = ("ok", None) if error is None else ("failed", error)
        send.handled_by = handled_by
        return self.send_changed(send) + self.refresh_active()

    def retry(self, send: Send) -> list[Change] | None:
        """Before a re-POST; None when there is nothing to retry (a run is known, or the input
        was never published)."""
        if send.run_id or not send.published:
            return None
        send.waiting_for_agent = False
        return self.send_changed(send)

    def cancel_targets(self, selection: CancelFilter) -> list[CancelTarget]:
        """The §6 filters over every branch, with this device's pending turns."""
        return cancel_targets(self.tree, selection, self.ownership, self.awaiting())

    def request_cancel(self, run_id: str) -> list[Change]:
        self.cancel_requested.add(run_id)
        return [TurnUpdated(run_id)]

    def cancel_not_sent(self, run_id: str) -> list[Change]:
        self.cancel_requested.discard(run_id)
        return [TurnUpdated(run_id)]

    def cancel_before_start(self, send: Send) -> list[Change]:
        """A cancel by input id: named again with the run id when the run starts (§7.3)."""
        send.cancel_requested = True
        self.cancel_pending.add(send.input_codec_message_id)
        return self.send_changed(send)

    def check_steerable(self, run_id: str) -> None:
        run = self.tree.run(run_id)
        if run is not None and run.terminal:
            raise ProtocolError(ErrorCode.INVALID_ARGUMENT, "unable to steer; the run has ended")

    def add_steer(self, steer: Steer) -> None:
        self.steers[steer.steer_cmid] = steer

    def drop_steer(self, steer: Steer) -> None:
        self.steers.pop(steer.steer_cmid, None)

    def steer_published(self, steer: Steer, serial: str | None) -> list[Change]:
        steer.serial = serial
        run = self.tree.run(steer.run_id)
        return self._settle_steers(run) if run is not None else []

    def steer_timed_out(self, steer: Steer) -> list[Change]:
        if steer.settled:
            return []
        steer.state = "unknown"
        return [
            SteerSettled(steer),
            SteerResolved(steer.steer_cmid, steer.run_id, "unknown"),
            TurnUpdated(steer.run_id),
        ]

    def select_branch(self, cmid: str, index: int) -> list[Change]:
        self.view.select(cmid, index)
        return [BranchChanged(cmid)]
