"""The read model of a `ClientState`: the snapshots a UI renders (docs/wire.md §3.10, §6,
§7.10, §7.14), with who did what (user · device) on each. Built on demand from the tree plus
what this device remembers; nothing here changes the state or does I/O."""

from __future__ import annotations

from typing import Any

from tui_session.protocol import (
    BranchSelection,
    H,
    InputNode,
    Name,
    Node,
    RunNode,
    RunStatus,
    StepInfo,
    cancel_label,
    steer_outcome,
)
from tui_session.protocol.wire import TERMINAL_RUN_STATUSES

from .client_model import (
    DecisionView,
    PromptView,
    SteerView,
    StepView,
    TurnView,
    Who,
    message_views,
    pending_approvals,
    turn_label,
)
from .client_state import ClientState


def _first_attempt(step: StepInfo) -> str:
    """Steps in wire order, however their messages were folded (history pages come newest
    first)."""
    return min(step.attempts, default="")


class ReadModel:
    """Snapshots of one `ClientState` (`ClientSession` exposes these as its own methods)."""

    def __init__(self, state: ClientState) -> None:
        self.state = state

    def transcript(self) -> list[PromptView | TurnView]:
        """The window along the selected branch, oldest first: prompts and turns."""
        multi = self._groups_with_siblings()
        out: list[PromptView | TurnView] = []
        for node, pairs in self.state.window.entries():
            branch = self._branch(node, multi)
            if isinstance(node, InputNode):
                out.append(self._prompt_view(node, pairs, branch))
            elif isinstance(node, RunNode):
                trimmed = len(pairs) < len(node.messages())
                out.append(self._turn_view(node, pairs, branch, trimmed))
        return out

    def messages(self) -> list[tuple[str, dict[str, Any]]]:
        """`getMessages()`: `(codec-message-id, OpenAIMessage)` in the window, oldest first."""
        return self.state.window.messages()

    def runs(self) -> list[TurnView]:
        """`runs()`: the turns in the window on the visible branch (whole, never split)."""
        return [self._turn_view(r, r.messages()) for r in self.state.window.runs()]

    def all_turns(self) -> list[TurnView]:
        """Every run on every branch (§7.15)."""
        return [self._turn_view(r, r.messages()) for r in self.state.tree.runs()]

    def turn(self, run_id: str) -> TurnView | None:
        run = self.state.tree.run(run_id)
        if run is None:
            return None
        # the branch as `transcript()` reports it: a UI redrawing one turn from this snapshot
        # must not lose its "branch i/n" (a regenerated run is a sibling from its start on)
        return self._turn_view(run, run.messages(), self._branch_of(run))

    def prompt(self, cmid: str) -> PromptView | None:
        node = self.state.tree.nodes.get(cmid)
        if not isinstance(node, InputNode):
            return None
        return self._prompt_view(node, node.messages(), self._branch_of(node))

    def active_turns(self) -> dict[str, dict[str, str]]:
        """`{clientId: {runId or own input id: "active" | "waiting" | "pending"}}` (§6)."""
        return {k: dict(v) for k, v in self.state.active.items()}

    def is_own(self, run_id: str) -> bool:
        run = self.state.tree.run(run_id)
        return run is not None and self.state.ownership.run(run)

    def my_active_turns(self) -> tuple[str, ...]:
        """The active turns that are mine (runs by the ownership rule, and this device's
        prompts still waiting for a run), in the order of the active-turns map."""
        mine = []
        for turns in self.state.active.values():
            for key in turns:
                if self.is_own(key) or self.state.handle(key) is not None:
                    mine.append(key)
        return tuple(mine)

    def has_older(self) -> bool:
        return self.state.window.has_older()

    def browsing(self) -> BranchSelection | None:
        """While this device deliberately shows an older branch (F4): that branch; its next
        prompt goes there (protocol/view.py)."""
        return self.state.view.browsing()

    def branch_selection(self, cmid: str) -> BranchSelection | None:
        return self.state.view.branch_selection(cmid)

    # --- builders ----------------------------------------------------------------------------

    def _groups_with_siblings(self) -> set[tuple[str, ...]]:
        tree = self.state.tree
        counts: dict[tuple[str, ...], int] = {}
        for node in tree.nodes.values():
            if node.key not in tree.superseded:
                group = tree.group_of(node)
                counts[group] = counts.get(group, 0) + 1
        return {g for g, n in counts.items() if n > 1}

    def _branch_of(self, node: Node) -> BranchSelection | None:
        """`_branch` for one node: a scan of its group (no sort) unless it has siblings."""
        tree = self.state.tree
        group = tree.group_of(node)
        count = 0
        for other in tree.nodes.values():
            if type(other) is type(node) and other.key not in tree.superseded:
                if tree.group_of(other) == group:
                    count += 1
                    if count > 1:
                        return self.state.view.branch_selection(node.key)
        return None

    def _branch(
        self, node: Node, multi: set[tuple[str, ...]] | None = None
    ) -> BranchSelection | None:
        if multi is not None and self.state.tree.group_of(node) not in multi:
            return None
        return self.state.view.branch_selection(node.key)

    def _prompt_view(
        self,
        node: InputNode,
        pairs: list[tuple[str, dict[str, Any]]],
        branch: BranchSelection | None = None,
    ) -> PromptView:
        state = self.state
        send = state.handle(node.key)
        own = state.ownership.prompt(node)
        this_device = node.key in state.owned
        if send is not None:
            status = send.prompt_status
        else:
            status = "started" if own and state.tree.runs_for_input(node.key) else None
        return PromptView(
            cmid=node.key,
            client_id=node.client_id,
            own=own,
            optimistic=node.optimistic,
            messages=message_views(pairs),
            status=status,
            post_error=send.post_error if send else None,
            run_id=(send.run_id or None) if send else None,
            cancel_requested=bool(send and send.cancel_requested),
            branch=branch,
            parent_not_loaded=state.tree.parent_not_loaded(node),
            device=state.devices.get(node.key) or (state.device if this_device else None),
            this_device=this_device,
            handled_by=send.handled_by if send else None,
        )

    def _turn_view(
        self,
        run: RunNode,
        pairs: list[tuple[str, dict[str, Any]]],
        branch: BranchSelection | None = None,
        trimmed: bool = False,
    ) -> TurnView:
        state = self.state
        status = str(run.status)
        requested = run.run_id in state.cancel_requested
        clabel = cancel_label(run, requested)
        stalled = run.run_id in state.stalled and run.status not in TERMINAL_RUN_STATUSES
        interrupted = bool(run.interrupted_streams)
        messages = message_views(pairs)
        error = run.error
        steps = tuple(
            StepView(s.step_id, s.status, s.attempt_count, s.step_client_id)
            for s in sorted(run.steps.values(), key=_first_attempt)
        )
        trigger = run.input_codec_message_id or ""
        return TurnView(
            run_id=run.run_id,
            client_id=run.owner,
            own=state.ownership.run(run),
            status=status,
            label=turn_label(status, cancel_label=clabel, stalled=stalled, interrupted=interrupted),
            messages=messages,
            steps=steps,
            input_codec_message_id=run.input_codec_message_id,
            error_code=error.code if error else None,
            error_message=error.message if error else None,
            cancel_requested=requested,
            cancel_label=clabel,
            stalled=stalled,
            streaming=bool(run.open_streams) and not run.terminal,
            interrupted=interrupted,
            pending_approvals=pending_approvals(messages)
            if run.status == RunStatus.SUSPENDED
            else (),
            steers=self._steer_views(run),
            branch=branch,
            parent_not_loaded=state.tree.parent_not_loaded(run),
            trimmed=trimmed,
            operator=state.handover.operator_of(run.run_id),
            device=state.devices.get(trigger),
            this_device=trigger in state.owned,
            cancelled_by=self._cancelled_by(run) if run.status == RunStatus.CANCELLED else None,
            deciders=run.deciders(),
            can_decide=run.may_decide(state.client_id),
            decisions=self._decisions(run),
        )

    def _cancelled_by(self, run: RunNode) -> Who | None:
        """Whose cancel ended the run: of the cancels that named it, the first by the client
        its end names (`input-client-id`: our agent names the canceller), else the first."""
        cancels = self.state.cancels
        seen = {*cancels.get(run.run_id, ()), *cancels.get(run.input_codec_message_id or "", ())}
        named = [c.by for c in sorted(seen, key=lambda c: c.serial)]
        ends = [t for n, t in run.lifecycle.values() if n == Name.RUN_END]
        ended_by = ends[0].get(H.INPUT_CLIENT_ID) if ends else None
        return next((w for w in named if w.client_id == ended_by), named[0] if named else None)

    def _decisions(self, run: RunNode) -> tuple[DecisionView, ...]:
        """Per tool call, the newest decision that counts, with who made it."""
        newest: dict[str, DecisionView] = {}
        for d in run.decisions():
            if d.counted:
                by = Who(d.client_id, self.state.decision_devices.get(d.serial))
                newest[d.call_id] = DecisionView(d.call_id, d.approved, by)
        return tuple(newest.values())

    def _steer_views(self, run: RunNode) -> tuple[SteerView, ...]:
        out = []
        senders = {e.codec_message_id: e.client_id for e in run.log if e.role == "user"}
        for cmid, message in run.messages():
            if message.get("role") != "user":
                continue
            own = self.state.steers.get(cmid)
            if own is not None and own.settled:
                state, reason = own.state, own.run_terminal_reason
            else:
                outcome = steer_outcome(run, cmid)
                state = (
                    "pending"
                    if outcome is None
                    else ("consumed" if outcome.consumed else "not consumed")
                )
                reason = outcome.run_terminal_reason if outcome else None
            text = "".join(
                p.get("text", "")
                for item in message.get("items", [])
                for p in item.get("content", [])
            )
            by = Who(senders.get(cmid), self.state.devices.get(cmid))
            out.append(SteerView(cmid, run.run_id, text, state, reason, by))  # type: ignore[arg-type]
        return tuple(out)
