"""The project's turn vocabulary on the tree (docs/protocol.md, "Mine = my user's"; docs/wire.md
§6): own and observer turns (the ownership rule), the active-turns map, cancel filters, steer
outcomes and cancel labels. Pure functions of the tree plus what this device remembers (its
clientId and the input ids it published)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal, Protocol

from .tree import InputNode, RunNode, Tree
from .wire import RunStatus

TurnState = Literal["active", "waiting", "pending"]


class Ownership(Protocol):
    """The one rule for "mine": every own / observer decision of a client asks this object
    (turn and prompt snapshots, the "own" cancel filter, the turns Esc and ctrl+r act on)."""

    @property
    def client_id(self) -> str: ...

    def run(self, run: RunNode) -> bool:
        """Whether this turn is mine."""
        ...

    def prompt(self, node: InputNode) -> bool:
        """Whether this prompt is mine."""
        ...


@dataclass(frozen=True)
class UserOwnership:
    """Mine = my user's, on any of my devices: a run whose verified owner (`RunNode.owner`,
    the hub-verified publisher of its opening input) is my clientId, a prompt whose
    hub-verified publisher is my clientId. Which device a turn came from is a label
    (client_wire's device header), not a rule: the hub verifies clientIds, not devices."""

    client_id: str

    def run(self, run: RunNode) -> bool:
        return run.owner == self.client_id

    def prompt(self, node: InputNode) -> bool:
        return node.client_id == self.client_id


def active_turns(
    tree: Tree, client_id: str | None = None, awaiting: Collection[str] = ()
) -> dict[str, dict[str, TurnState]]:
    """`{clientId: {runId or input id: state}}` over every branch (§6, §7.15).

    `awaiting` are this device's input ids still waiting for a run: those with no known run
    are listed as pending under this device's clientId.
    """
    turns: dict[str, dict[str, TurnState]] = {}
    for run in tree.runs():
        status = run.status
        if status in (RunStatus.ACTIVE, RunStatus.SUSPENDED):
            state: TurnState = "waiting" if status == RunStatus.SUSPENDED else "active"
            turns.setdefault(run.client_id or "", {})[run.run_id] = state
    if client_id is not None:
        for input_id in awaiting:
            if not tree.runs_for_input(input_id):
                turns.setdefault(client_id, {})[input_id] = "pending"
    return turns


@dataclass(frozen=True)
class CancelTarget:
    """One `ai-cancel`: names `run-id` when known, the input id when known."""

    run_id: str | None
    input_codec_message_id: str | None


@dataclass(frozen=True)
class CancelFilter:
    kind: Literal["own", "client", "all"]
    client_id: str | None = None  # for kind "client"


def cancel_targets(
    tree: Tree,
    selection: CancelFilter,
    mine: Ownership,
    awaiting: Collection[str] = (),
) -> list[CancelTarget]:
    """Client-side enumeration of a cancel filter; each selected run gets its own cancel.
    `awaiting` are this device's input ids still waiting for a run (cancelled by input id)."""
    client_id = mine.client_id
    targets = []
    for run in tree.runs():
        if run.status not in (RunStatus.ACTIVE, RunStatus.SUSPENDED):
            continue
        own = mine.run(run)
        chosen = (
            selection.kind == "all"
            or (selection.kind == "own" and own)
            or (selection.kind == "client" and run.client_id == selection.client_id)
        )
        if chosen:
            targets.append(CancelTarget(run.run_id, run.input_codec_message_id))
    if selection.kind == "all" or (
        selection.kind in ("own", "client")
        and (selection.kind == "own" or selection.client_id == client_id)
    ):
        for input_id in awaiting:
            if not tree.runs_for_input(input_id):
                targets.append(CancelTarget(None, input_id))  # re-sent with run-id later
    return targets


@dataclass(frozen=True)
class SteerOutcome:
    consumed: bool
    run_terminal_reason: str


def steer_outcome(run: RunNode, steer_cmid: str) -> SteerOutcome | None:
    """At the run's end every steer resolves; at a suspension only consumed ones do (§3.6)."""
    consumed = steer_cmid in run.steer_ids
    status = run.status
    if run.terminal:
        return SteerOutcome(consumed, str(status))
    if status == RunStatus.SUSPENDED and consumed:
        return SteerOutcome(True, str(status))
    return None


def cancel_label(run: RunNode, requested: bool) -> str | None:
    """What a turn shows after this device asked to cancel it (§7.10)."""
    if not requested:
        return None
    if run.status == RunStatus.CANCELLED:
        return "cancelled"
    if run.status == RunStatus.COMPLETE:
        return "completed (cancel not applied)"
    if run.terminal:
        return str(run.status)
    return "cancel requested"
