"""The bridge between a session's handover (`session.handover`, docs/handover.md) and the chat
screen, beside `SessionController` (which bridges the conversation).

Inbound: `HandoverChanged` events become `messages.HandoverChanged`. Outbound: the handover
intents (ask for a human, answer, take over, hand back, reply) become `SessionHandover`
commands; refusals and failures come back as `Notice` messages with the agent's code, never as
exceptions in the UI (`controller.attempt`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from textual.message import Message

from tui_session.protocol.handover import Escalation, operator_label
from tui_session.protocol.handover_fold import ControlView, HandoverView
from tui_session.transport.client import ClientSession
from tui_session.transport.client_handover import HandoverChanged, HandoverLineView

from . import messages as m
from .controller import attempt


class HandoverController:
    def __init__(self, session: ClientSession, post: Callable[[Message], Any]) -> None:
        self.session = session
        self.handover = session.handover
        self._post = post
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        self._unsubscribe = self.session.listen(self._on_event)
        self._post(m.HandoverChanged(self.handover.view(), self.handover.control()))

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _on_event(self, event: Any) -> None:
        if isinstance(event, HandoverChanged):
            self._post(m.HandoverChanged(event.view, event.control))

    # --- reading state for bindings -----------------------------------------------------------

    @property
    def me(self) -> str:
        return self.session.client_id

    @property
    def acts_as_operator(self) -> bool:
        """Operator keys are offered to the users the agent lists in `agent.operators`, and to
        a terminal opened as an operator (the desk, `chat --operator`): the agent decides, and
        refuses a non-operator with 40330."""
        return self.handover.is_operator or self.session.role == "operator"

    @property
    def escalation_offered(self) -> bool:
        """ "Ask for a human" makes sense where someone can answer: the agent has operators."""
        return bool(self.handover.agent.operators)

    def view(self) -> HandoverView:
        return self.handover.view()

    def lines(self) -> list[HandoverLineView]:
        return self.handover.lines()

    def timeline(self, entries: Sequence[Any], *, has_older: bool) -> list[Any]:
        """The transcript's entries with the handover lines among them."""
        return self.handover.timeline(entries, has_older=has_older)

    def control(self) -> ControlView:
        return self.handover.control()

    def in_control(self) -> str | None:
        """Who answers instead of the agent, as this screen shows it (None: the agent)."""
        control = self.control()
        return None if control.lapsed else control.operator

    def replying(self) -> bool:
        """This user is in control: the composer sends replies, not prompts."""
        return self.in_control() == self.me

    def open_escalation(self) -> Escalation | None:
        """The oldest request for a human still waiting."""
        waiting = self.view().open_escalations
        return waiting[0] if waiting else None

    def reply_placeholder(self) -> str:
        target = self.handover.reply_target()
        me = operator_label(self.me)
        if target.run_client_id != self.me:
            return f"Reply to {target.run_client_id} as {me}… (Enter sends)"
        return f"Write as {me}… (Enter sends)"

    # --- outbound: intents --------------------------------------------------------------------

    async def ask_for_human(self, text: str) -> bool:
        return await self._do("ask for a human", self.handover.ask_for_human(text))

    async def answer(self, escalation: Escalation, text: str) -> bool:
        return await self._do("answer", self.handover.answer_escalation(escalation, text))

    async def take_over(self, expect: str | None) -> bool:
        return await self._do("take over", self.handover.take_over(expect))

    async def hand_back(self) -> bool:
        return await self._do("hand back", self.handover.hand_back(self.in_control()))

    async def reply(self, text: str) -> bool:
        return await self._do("reply", self.handover.reply(text))

    async def _do(self, what: str, call: Awaitable[Any]) -> bool:
        return await attempt(self._post, what, call)
