"""The one bridge between a `ClientSession` and the Textual screen.

Inbound: the session's events (delivered on the app's event loop) become Textual messages
posted to one target. Turn deltas are coalesced: a turn that changed is re-read from the
session at most once per `batch_s` (50 ms by default), so several concurrent streams cost a
few Markdown appends per second each, not one per token.

Outbound: user intent (send, steer, cancel, approve, ...) becomes `ClientSession` calls.
No widget calls the network; every action goes through here. Failures come back as
`Notice` messages, never as exceptions in the UI.

"Mine" is the session's rule (my user's turns, on any of my devices): Esc, ctrl+r, ctrl+t
and ctrl+n act on `mine`, wherever the turn was started. The branch line says who moved this
device to another branch, or that it browses an older one on purpose.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from textual.message import Message

from tui_session.protocol import ProtocolError
from tui_session.transport import client_events as ev
from tui_session.transport.client import ClientSession
from tui_session.transport.client_handover import HandoverRefused
from tui_session.transport.client_model import PendingApproval, PromptView, TurnView

from . import labels
from . import messages as m

log = logging.getLogger(__name__)

WIRE_ACTIONS = {0: "create", 1: "update", 2: "delete", 3: "meta", 4: "summary", 5: "append"}
Post = Callable[[Message], Any]


class SessionController:
    """Owns nothing but the bridge; the session's lifetime belongs to whoever opened it."""

    def __init__(self, session: ClientSession, post: Post, *, batch_s: float = 0.05) -> None:
        self.session = session
        self._post = post
        self._batch_s = batch_s
        self._loop = asyncio.get_running_loop()
        self._unsubscribe: Callable[[], None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._structure = False
        self._turns: set[str] = set()
        self._prompts: set[str] = set()
        self._ended: list[str] = []
        self._wire: list[m.WireRow] = []
        self.active: dict[str, dict[str, str]] = {}
        self.mine: tuple[str, ...] = ()
        self._followed: str | None = None  # who moved this view, until this device acts
        self._branch_line: str | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._unsubscribe = self.session.listen(self._on_event)
        self._structure = True
        self._post(m.MembersChanged(self.session.members))
        self._on_active(self.session.active_turns())
        self.flush()

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    @property
    def client_id(self) -> str:
        return self.session.client_id

    # --- inbound -----------------------------------------------------------------------------

    def _on_event(self, event: ev.ClientEvent) -> None:
        match event:
            case ev.TurnUpdated(run_id=run_id) | ev.SteerResolved(run_id=run_id):
                self._turns.add(run_id)
                if isinstance(event, ev.SteerResolved):
                    self._post(m.SteerResolved(run_id, event.outcome))
            case ev.TurnEnded(run_id=run_id):
                self._turns.add(run_id)
                self._ended.append(run_id)
            case ev.BranchFollowed():
                self._structure = True
                self._followed = labels.followed(event)
            case ev.PromptUpdated(cmid=cmid):
                self._prompts.add(cmid)
            case ev.PromptRemoved(error=error):
                self._structure = True
                self._post(m.Notice(f"Prompt not sent: {error}", "error"))
            case ev.PromptAdded(cmid=cmid):
                self._structure = True
                if self.session.handle(cmid) is not None:
                    self._followed = None  # this device went on: the move is old news
            case ev.TurnAdded() | ev.HistoryLoaded() | ev.BranchChanged():
                self._structure = True
            case ev.ActiveTurnsChanged(turns=turns):
                self._on_active(turns)
                return
            case ev.PresenceChanged(members=members):
                self._post(m.MembersChanged(members))
                return
            case ev.ConnectionChanged(state=state, reason=reason):
                self._post(m.ConnectionStateChanged(state, reason))
                return
            case ev.WireMessage():
                self._wire.append(
                    m.WireRow(
                        event.serial,
                        WIRE_ACTIONS.get(event.action, str(event.action)),
                        event.name,
                        event.client_id,
                        dict(event.headers),
                        event.source,
                    )
                )
            case ev.SessionError(operation=operation, message=message):
                self._post(m.Notice(f"{operation}: {message}", "error"))
                return
        self._schedule()

    def _on_active(self, turns: Any) -> None:
        self.active = {k: dict(v) for k, v in turns.items()}
        self.mine = self.session.my_active_turns()
        me = self.session.client_id
        names = {
            key: labels.active_label(self.session.turn(key), client_id, me)
            for client_id, runs in self.active.items()
            for key in runs
        }
        self._post(m.ActiveTurnsChanged(self.active, self.mine, names))

    def _schedule(self) -> None:
        if self._timer is None:
            self._timer = self._loop.call_later(self._batch_s, self.flush)

    def flush(self) -> None:
        """Post what changed since the last flush (also callable directly by tests)."""
        self._timer = None
        if self._wire:
            rows, self._wire = self._wire, []
            self._post(m.WireEventsArrived(rows))
        if self._structure:
            self._structure = False
            self._turns.clear()
            self._prompts.clear()
            entries = self.session.transcript()
            self._post(m.TranscriptChanged(entries, self.session.has_older()))
            self._post_branch_line()
        else:
            for run_id in sorted(self._turns):
                view = self.session.turn(run_id)
                if view is not None:
                    self._post(m.TurnChanged(view))
            for cmid in sorted(self._prompts):
                prompt = self.session.prompt(cmid)
                if prompt is not None:
                    self._post(m.PromptChanged(prompt))
            self._turns.clear()
            self._prompts.clear()
        ended, self._ended = self._ended, []
        for run_id in ended:
            view = self.session.turn(run_id)
            if view is not None:
                self._post(m.TurnFinished(view))
                if view.cancel_requested and view.status != "cancelled":
                    self._post(m.Notice(labels.cancel_not_applied(view), "warning"))

    def _post_branch_line(self) -> None:
        """Browsing an older branch on purpose, else who moved this view, else nothing."""
        browsing = self.session.browsing()
        line = labels.browsing(browsing) if browsing is not None else self._followed
        if line != self._branch_line:
            self._branch_line = line
            self._post(m.BranchLineChanged(line))

    # --- reading state for bindings ----------------------------------------------------------

    def pending_approval(self) -> tuple[TurnView, PendingApproval] | None:
        """The newest turn (on any branch) waiting for a tool approval, with its request
        (`view.can_decide`: whether this user may approve or deny it)."""
        for view in reversed(self.session.all_turns()):
            if view.pending_approvals:
                return view, view.pending_approvals[0]
        return None

    def last_own_prompt(self) -> PromptView | None:
        for entry in reversed(self.session.transcript()):
            if isinstance(entry, PromptView) and entry.own:
                return entry
        return None

    def last_answer(self) -> TurnView | None:
        for entry in reversed(self.session.transcript()):
            if isinstance(entry, TurnView) and entry.terminal and _assistant_cmid(entry):
                return entry
        return None

    def branch_point(self) -> tuple[str, int, int] | None:
        """The newest entry with siblings: (cmid, index, total)."""
        for entry in reversed(self.session.transcript()):
            branch = entry.branch
            if branch is not None and len(branch.siblings) > 1:
                key = entry.cmid if isinstance(entry, PromptView) else entry.run_id
                return key, branch.index, len(branch.siblings)
        return None

    def cancellable_turns(self) -> list[TurnView]:
        out = []
        for client_runs in self.active.values():
            for run_id in client_runs:
                view = self.session.turn(run_id)
                if view is not None and not view.terminal:
                    out.append(view)
        return out

    # --- outbound: user intent ---------------------------------------------------------------

    async def send(self, text: str) -> bool:
        return await self._do("send", self.session.send(text))

    async def steer(self, text: str) -> bool:
        run_ids = [k for k in self.mine if self.session.turn(k) is not None]
        if not run_ids:
            handle = self.session.handle(self.mine[0]) if self.mine else None
            if handle is None:
                self._post(m.Notice("No turn of yours to steer.", "warning"))
                return False
            return await self._do("steer", self.session.steer_send(handle, text))
        return await self._do("steer", self.session.steer(run_ids[-1], text))

    async def cancel_mine(self) -> bool:
        return await self._do("cancel", self.session.cancel_turns("own"))

    async def cancel_all(self) -> bool:
        return await self._do("cancel all", self.session.cancel_turns("all"))

    async def cancel_turn(self, run_id: str) -> bool:
        return await self._do("cancel", self.session.cancel(run_id))

    async def cancel_and_send(self, text: str) -> bool:
        if not await self.cancel_mine():
            return False
        return await self.send(text)

    async def load_older(self, limit: int = 10) -> bool:
        return await self._do("load older", self.session.load_older(limit))

    async def answer_approval(self, approved: bool) -> bool:
        pending = self.pending_approval()
        if pending is None:
            self._post(m.Notice("No tool call is waiting for approval.", "warning"))
            return False
        view, request = pending
        if not view.can_decide:
            self._post(m.Notice(labels.not_yours_to_decide(view, request), "warning"))
            return False
        return await self._do(
            "approve" if approved else "deny",
            self.session.approve(view.run_id, request.assistant_cmid, request.call_id, approved),
        )

    async def edit(self, prompt_cmid: str, text: str) -> bool:
        return await self._do("edit", self.session.edit(prompt_cmid, text))

    async def regenerate_last(self) -> bool:
        answer = self.last_answer()
        cmid = _assistant_cmid(answer) if answer else None
        if not cmid:
            self._post(m.Notice("No finished answer to regenerate.", "warning"))
            return False
        return await self._do("regenerate", self.session.regenerate(cmid))

    def switch_branch(self) -> bool:
        point = self.branch_point()
        if point is None:
            return False
        cmid, index, total = point
        self._followed = None
        self.session.select_branch(cmid, (index + 1) % total)
        return True

    async def retry(self, cmid: str) -> bool:
        return await self._do("retry", self.session.retry(cmid))

    async def _do(self, what: str, call: Awaitable[Any]) -> bool:
        return await attempt(self._post, what, call)


async def attempt(post: Post, what: str, call: Awaitable[Any]) -> bool:
    """Await one intent; a failure becomes a `Notice` (with the agent's code when it gave
    one), never an exception in the UI. Whether it succeeded."""
    try:
        await call
    except (ProtocolError, HandoverRefused) as err:
        code = f" ({err.code})" if isinstance(err, HandoverRefused) and err.code else ""
        post(m.Notice(f"Unable to {what}: {err.message}{code}", "error"))
        return False
    except Exception as err:  # the network: report, never crash the UI
        log.exception("%s failed", what)
        post(m.Notice(f"Unable to {what}: {err}", "error"))
        return False
    return True


def _assistant_cmid(view: TurnView) -> str | None:
    for message in view.messages:
        if message.role == "assistant":
            return message.cmid
    return None
