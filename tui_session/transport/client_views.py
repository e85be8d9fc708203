"""The read side of `ClientSession`: snapshots for the UI (reference §3.10, §6, §7.10,
§7.14). A part of `ClientSession` (see client.py), kept apart for size; nothing here does I/O.
"""

from __future__ import annotations

from typing import Any

from tui_session.protocol import (
    BranchSelection,
    InputNode,
    RunNode,
    RunStatus,
    cancel_label,
    is_own,
    steer_outcome,
)
from tui_session.protocol.wire import TERMINAL_RUN_STATUSES

from .client_events import BranchChanged
from .client_handles import RunHandle
from .client_model import (
    PromptView,
    SteerView,
    StepView,
    TurnView,
    message_views,
    pending_approvals,
    turn_label,
)
from .presence import Member


class ClientViews:
    """Mixin: the read-model half of `ClientSession` (which holds the state it reads)."""

    # --- reading: the read-model for the UI ---------------------------------------------------

    def transcript(self) -> list[PromptView | TurnView]:
        """The window along the selected branch, oldest first: prompts and turns."""
        multi = self._groups_with_siblings()
        out: list[PromptView | TurnView] = []
        for node, pairs in self.window.entries():
            branch = self._branch(node, multi)
            if isinstance(node, InputNode):
                out.append(self._prompt_view(node, pairs, branch))
            elif isinstance(node, RunNode):
                trimmed = len(pairs) < len(node.messages())
                out.append(self._turn_view(node, pairs, branch, trimmed))
        return out

    def messages(self) -> list[tuple[str, dict[str, Any]]]:
        """`getMessages()`: `(codec-message-id, OpenAIMessage)` in the window, oldest first."""
        return self.window.messages()

    def runs(self) -> list[TurnView]:
        """`runs()`: the turns in the window on the visible branch (whole, never split)."""
        return [self._turn_view(r, r.messages()) for r in self.window.runs()]

    def all_turns(self) -> list[TurnView]:
        """Every run on every branch (§7.15)."""
        return [self._turn_view(r, r.messages()) for r in self.tree.runs()]

    def turn(self, run_id: str) -> TurnView | None:
        run = self.tree.run(run_id)
        if run is None:
            return None
        # the branch as `transcript()` reports it: a UI redrawing one turn from this snapshot
        # must not lose its "branch i/n" (a regenerated run is a sibling from its start on)
        return self._turn_view(run, run.messages(), self._branch_of(run))

    def prompt(self, cmid: str) -> PromptView | None:
        node = self.tree.nodes.get(cmid)
        if not isinstance(node, InputNode):
            return None
        return self._prompt_view(node, node.messages(), self._branch_of(node))

    def handle(self, input_cmid: str) -> RunHandle | None:
        """The newest send of this process for an input id (a prompt's cmid)."""
        handles = self._by_input.get(input_cmid)
        return handles[-1] if handles else None

    def active_turns(self) -> dict[str, dict[str, str]]:
        """`{clientId: {runId or own input id: "active" | "waiting" | "pending"}}` (§6)."""
        return {k: dict(v) for k, v in self._active.items()}

    def is_own(self, run_id: str) -> bool:
        run = self.tree.run(run_id)
        return bool(run) and is_own(run, self.client_id, self.owned)

    @property
    def members(self) -> tuple[Member, ...]:
        return self.presence.members

    @property
    def channel(self) -> Any:
        """The ably channel (diagnostics and tests; the UI never needs it)."""
        return self._channel

    def has_older(self) -> bool:
        return self.window.has_older()

    def branch_selection(self, cmid: str) -> BranchSelection | None:
        return self.view.branch_selection(cmid)

    def select_branch(self, cmid: str, index: int) -> None:
        self.view.select(cmid, index)
        self._emit(BranchChanged(cmid))

    # --- read-model builders -----------------------------------------------------------------

    def _groups_with_siblings(self) -> set[tuple[str, ...]]:
        counts: dict[tuple[str, ...], int] = {}
        for node in self.tree.nodes.values():
            if node.key not in self.tree.superseded:
                group = self.tree.group_of(node)
                counts[group] = counts.get(group, 0) + 1
        return {g for g, n in counts.items() if n > 1}

    def _branch_of(self, node: Any) -> BranchSelection | None:
        """`_branch` for one node: a scan of its group (no sort) unless it has siblings."""
        group = self.tree.group_of(node)
        count = 0
        for other in self.tree.nodes.values():
            if type(other) is type(node) and other.key not in self.tree.superseded:
                if self.tree.group_of(other) == group:
                    count += 1
                    if count > 1:
                        return self.view.branch_selection(node.key)
        return None

    def _branch(
        self, node: Any, multi: set[tuple[str, ...]] | None = None
    ) -> BranchSelection | None:
        if multi is not None and self.tree.group_of(node) not in multi:
            return None
        return self.view.branch_selection(node.key)

    def _prompt_view(
        self,
        node: InputNode,
        pairs: list[tuple[str, dict[str, Any]]],
        branch: BranchSelection | None = None,
    ) -> PromptView:
        handle = self.handle(node.key)
        own = node.key in self.owned
        return PromptView(
            cmid=node.key,
            client_id=node.client_id,
            own=own,
            optimistic=node.optimistic,
            messages=message_views(pairs),
            status=handle.prompt_status
            if handle
            else ("started" if own and self.tree.runs_for_input(node.key) else None),
            post_error=handle.post_error if handle else None,
            run_id=(handle.run_id or None) if handle else None,
            cancel_requested=bool(handle and handle.cancel_requested),
            branch=branch,
            parent_not_loaded=self.tree.parent_not_loaded(node),
            device=self._devices.get(node.key) or (self.device if own else None),
        )

    def _turn_view(
        self,
        run: RunNode,
        pairs: list[tuple[str, dict[str, Any]]],
        branch: BranchSelection | None = None,
        trimmed: bool = False,
    ) -> TurnView:
        status = str(run.status)
        requested = run.run_id in self._cancel_requested
        clabel = cancel_label(run, requested)
        stalled = run.run_id in self._stalled and run.status not in TERMINAL_RUN_STATUSES
        interrupted = bool(run.interrupted_streams)
        messages = message_views(pairs)
        error = run.error
        steps = tuple(
            StepView(s.step_id, s.status, s.attempt_count, s.step_client_id)
            for s in run.steps.values()
        )
        return TurnView(
            run_id=run.run_id,
            client_id=run.client_id,
            own=is_own(run, self.client_id, self.owned),
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
            parent_not_loaded=self.tree.parent_not_loaded(run),
            trimmed=trimmed,
        )

    def _steer_views(self, run: RunNode) -> tuple[SteerView, ...]:
        out = []
        for cmid, message in run.messages():
            if message.get("role") != "user":
                continue
            own = self._steers.get(cmid)
            if own is not None and own.outcome.done():
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
            out.append(SteerView(cmid, run.run_id, text, state, reason))  # type: ignore[arg-type]
        return tuple(out)
