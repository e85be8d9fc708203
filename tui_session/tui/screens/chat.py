"""The chat screen: lays out the widgets, routes controller messages to them, and maps keys
to controller intents. Bindings know the state (`check_action`): a key that makes no sense
right now is shown dimmed and does nothing."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Static

from tui_session.sessions import JoinCommand
from tui_session.transport.client_model import PromptView, TurnView
from tui_session.transport.message_size import draft_oversize
from tui_session.transport.service_health import HealthWatch
from tui_session.tui import messages as m
from tui_session.tui.attention import Attention, title_state
from tui_session.tui.controller import SessionController
from tui_session.tui.handover import HandoverController
from tui_session.tui.options import ChatOptions, OpenSession, SessionFactory
from tui_session.tui.screens.confirm import ConfirmScreen
from tui_session.tui.screens.switch_session import SwitchSessionScreen
from tui_session.tui.terminal import TerminalOutput
from tui_session.tui.terminal_notify import TerminalNotifier, detect
from tui_session.tui.widgets import (
    ActiveTurnsStrip,
    Composer,
    ConnectionBanner,
    PresenceBar,
    SessionHeader,
    Transcript,
    WirePane,
)
from tui_session.tui.widgets.footer import KeyFooter
from tui_session.tui.widgets.handover import HandoverBar
from tui_session.tui.widgets.status import agent_model
from tui_session.tui.widgets.turn import ApprovalBar

SESSION_ACTIONS = {
    "cancel_mine",
    "steer",
    "cancel_and_send",
    "send_alongside",
    "cancel_all",
    "load_older",
    "approve",
    "deny",
    "edit_last",
    "regenerate",
    "switch_branch",
    "ask_human",
    "take_over",
    "hand_back",
    "answer_human",
    "approval_refused",
}


DIMMED_WHEN_OFF = {"cancel_mine", "steer", "cancel_and_send", "send_alongside", "cancel_all"}


class ChatScreen(Screen):
    CSS_PATH = "chat.tcss"

    # Footer order is priority order: the footer shows whole keys only, as many as fit (see
    # widgets/footer.py). Situational keys first (shown only when they apply), then the core
    # turn keys (dimmed when off; hidden at narrow widths), then the rest.
    BINDINGS = [
        Binding(
            "alt+y,f8",
            "approve",
            "Approve",
            id="session.approve",
            priority=True,
            tooltip="Approve the tool call waiting for approval",
        ),
        Binding(
            "alt+n,f9",
            "deny",
            "Deny",
            id="session.deny",
            priority=True,
            tooltip="Deny the tool call waiting for approval",
        ),
        # the same keys for a device that may not decide: not in the footer, and says why
        Binding("alt+y,f8,alt+n,f9", "approval_refused", show=False, priority=True),
        Binding(
            "alt+a",
            "answer_human",
            "Answer",
            id="handover.answer",
            priority=True,
            tooltip="Answer the request for a human with the composer's text",
        ),
        Binding(
            "f7",
            "hand_back",
            "Hand back",
            id="handover.hand_back",
            priority=True,  # the composer (a TextArea) binds f6 and f7 itself
            tooltip="Hand control back to the agent",
        ),
        Binding(
            "ctrl+o,f5",
            "load_older",
            "Older",
            id="session.load_older",
            tooltip="Load older history",
        ),
        Binding(
            "escape",
            "cancel_mine",
            "Cancel mine",
            id="session.cancel_mine",
            tooltip="Cancel my active turns (barge-in)",
        ),
        Binding(
            "ctrl+r",
            "steer",
            "Steer",
            id="session.steer",
            tooltip="Redirect: steer my active turn with the composer text",
        ),
        Binding(
            "ctrl+t",
            "cancel_and_send",
            "Cancel+send",
            id="session.cancel_and_send",
            tooltip="Cancel my active turn and send the composer text as a new turn",
        ),
        Binding(
            "ctrl+n",
            "send_alongside",
            "Alongside",
            id="session.send_alongside",
            tooltip="Send the composer text as another turn while mine runs",
        ),
        Binding(
            "ctrl+g",
            "cancel_all",
            "Cancel all",
            id="session.cancel_all",
            tooltip="Cancel every active turn in the session (press twice)",
        ),
        Binding(
            "f2",
            "edit_last",
            "Edit",
            id="session.edit_last",
            tooltip="Edit my last prompt (press again to stop editing)",
        ),
        Binding(
            "f3",
            "regenerate",
            "Regen",
            id="session.regenerate",
            tooltip="Regenerate the last answer",
        ),
        Binding(
            "f4",
            "switch_branch",
            "Branch",
            id="session.switch_branch",
            tooltip="Show the next branch (edit or regenerate alternative)",
        ),
        Binding(
            "f6",
            "ask_human",
            "Ask human",
            id="handover.ask",
            priority=True,  # the composer (a TextArea) binds f6 and f7 itself
            tooltip="Ask for a human: send the composer's text (or a plain request) to an operator",
        ),
        Binding(
            "f7",
            "take_over",
            "Take over",
            id="handover.take_over",
            priority=True,  # the composer (a TextArea) binds f6 and f7 itself
            tooltip="Take over: the agent stops answering; your replies answer the user",
        ),
        Binding(
            "ctrl+l",
            "toggle_wire",
            "Wire",
            id="view.toggle_wire",
            tooltip="Show or hide the raw channel events",
        ),
    ]

    mine_busy: reactive[bool] = reactive(False, bindings=True)
    any_busy: reactive[bool] = reactive(False, bindings=True)
    approval: reactive[bool] = reactive(False, bindings=True)  # pending, and mine to decide
    approval_refused: reactive[bool] = reactive(False, bindings=True)  # pending, not mine
    has_older: reactive[bool] = reactive(False, bindings=True)
    can_edit: reactive[bool] = reactive(False, bindings=True)
    can_regenerate: reactive[bool] = reactive(False, bindings=True)
    has_branches: reactive[bool] = reactive(False, bindings=True)
    ready: reactive[bool] = reactive(False, bindings=True)

    def __init__(
        self,
        options: ChatOptions,
        factory: SessionFactory,
        *,
        clock: Callable[[], float] = time.monotonic,
        notifier: TerminalNotifier | None = None,
    ) -> None:
        super().__init__()
        self.options = options
        self.factory = factory
        self.clock = clock
        self.notifier = notifier or TerminalNotifier(detect({}), "off")
        self.controller: SessionController | None = None
        self.handover: HandoverController | None = None  # docs/handover.md
        self.attention: Attention | None = None
        self._prompt_placeholder = ""
        self.opened: OpenSession | None = None
        self.agent_watch: HealthWatch | None = None
        self.unreached: set[str] = set()  # prompts seen "agent not reached"
        self._confirm_cancel_all_until = 0.0
        self.connection_log: list[str] = []  # every connection state seen, for diagnostics

    # --- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        header = SessionHeader(id="header")
        header.session_name = self.options.session_name
        header.endpoint = self.options.endpoint_label
        header.read_only = self.options.read_only
        yield header
        yield HandoverBar(id="handover")
        yield PresenceBar(id="presence")
        yield ConnectionBanner(id="banner")
        with Horizontal(id="main"):
            yield Transcript(id="transcript")
            yield WirePane(id="wire")
        yield Static("↓ new messages below (click, or scroll down)", id="unseen")
        yield ActiveTurnsStrip(spinner=self.options.spinner, id="active")
        yield Composer(
            id="composer",
            kitty_keyboard=getattr(self.app, "kitty_keyboard", False),
            read_only=self.options.read_only,
        )
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        self.query_one("#banner").display = False
        self.query_one("#wire").display = False
        self.query_one("#unseen").display = False
        self.query_one(Composer).focus()
        self.run_worker(self._open(self.options.session_name), exclusive=True, group="open")

    # --- focus: typing always reaches the composer ------------------------------------------

    def take_typing(self, event: events.Key | events.Paste) -> None:
        """Called by the app before a key or paste goes to the focused widget: text goes to
        the composer wherever focus is (after a click in the transcript, Tab, a button), so
        nothing typed is lost. Other keys stay with the focused widget: the transcript keeps
        scrolling with the arrows, PageUp/PageDown and Home/End."""
        composer = self.query_one(Composer)
        if self.focused is composer:
            return
        if isinstance(event, events.Paste) or event.is_printable:
            self.set_focus(composer)  # synchronous: the app forwards this very event to it

    def on_screen_resume(self) -> None:
        """Back from any modal (command palette, switch session...): the composer has focus."""
        self.query_one(Composer).focus()

    async def _open(self, channel_name: str) -> None:
        try:
            opened = await self.factory(channel_name)
        except Exception as err:
            self.post_message(m.SessionOpenFailed(channel_name, str(err) or type(err).__name__))
            return
        self.opened = opened
        session = opened.session
        self.post_message(m.SessionOpened(channel_name, session.client_id, session.device))

    @on(m.SessionOpened)
    def _session_opened(self, message: m.SessionOpened) -> None:
        assert self.opened is not None
        transcript = self.query_one(Transcript)
        transcript.me, transcript.device = message.client_id, message.device
        presence = self.query_one(PresenceBar)
        presence.me, presence.device = message.client_id, message.device
        self.query_one(ActiveTurnsStrip).me = message.client_id
        self.query_one(SessionHeader).connection = "connected"
        self.controller = SessionController(
            self.opened.session, self.post_message, batch_s=self.options.batch_s
        )
        self.controller.start()
        self.attention = Attention(self.notifier, self.session_name, message.client_id)
        self.query_one(HandoverBar).me = message.client_id
        self.handover = HandoverController(self.opened.session, self.post_message)
        self.handover.start()
        self._watch_agent(self.opened.session)
        self.ready = True
        if self.options.join is not None:
            self.notify(f"Join from another terminal:\n{self.join_command}", timeout=8)

    @on(m.SessionOpenFailed)
    def _open_failed(self, message: m.SessionOpenFailed) -> None:
        self.query_one(SessionHeader).connection = "failed"
        banner = self.query_one(ConnectionBanner)
        banner.update(f"✗ Could not open session {message.channel_name}: {message.error}")
        banner.display = True

    async def close_session(self) -> None:
        if self.agent_watch is not None:
            await self.agent_watch.stop()
            self.agent_watch = None
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
        if self.handover is not None:
            self.handover.stop()
            self.handover = None
        opened, self.opened = self.opened, None
        self.ready = False
        if opened is not None and opened.close is not None:
            await opened.close()

    # --- controller messages -> widgets ------------------------------------------------------

    @on(m.TranscriptChanged)
    async def _transcript_changed(self, message: m.TranscriptChanged) -> None:
        entries: Any = message.entries
        if self.handover is not None:  # the handover events among prompts and turns
            entries = self.handover.timeline(entries, has_older=message.has_older)
            self._signal(self._attention_prompts(message.entries))
            self._show_composer_mode()  # a reply answers the newest prompt
        await self.query_one(Transcript).show_entries(entries, message.has_older)
        self.has_older = message.has_older
        self._refresh_flags(message.entries)
        self._agent_not_reached(message.entries)

    @on(m.TurnChanged)
    def _turn_changed(self, message: m.TurnChanged) -> None:
        self.query_one(Transcript).show_turn(message.view)
        self._refresh_approval()
        if self.attention is not None and message.view.pending_approvals:
            self._signal(self.attention.turn_changed(message.view, focused=self.app.app_focus))
            self._show_title()

    @on(m.PromptChanged)
    def _prompt_changed(self, message: m.PromptChanged) -> None:
        self.query_one(Transcript).show_prompt(message.view)
        self._agent_not_reached([message.view])

    @on(m.TurnFinished)
    def _turn_finished(self, message: m.TurnFinished) -> None:
        if self.controller is not None:
            self._refresh_flags(self.controller.session.transcript())
        if self.attention is not None:
            self._signal(self.attention.turn_ended(message.view, focused=self.app.app_focus))
            self._show_title()

    @on(m.ActiveTurnsChanged)
    def _active_changed(self, message: m.ActiveTurnsChanged) -> None:
        self.query_one(ActiveTurnsStrip).show(message.turns, message.mine, message.names)
        self.mine_busy = bool(message.mine)
        self.any_busy = any(message.turns.values())
        self._show_title()

    @on(m.BranchLineChanged)
    def _branch_line(self, message: m.BranchLineChanged) -> None:
        self.query_one(ActiveTurnsStrip).show_branch(message.text)

    @on(m.MembersChanged)
    def _members_changed(self, message: m.MembersChanged) -> None:
        self.query_one(PresenceBar).show(message.members)
        self.query_one(ActiveTurnsStrip).show_agents(message.members)
        self.query_one(SessionHeader).model = model = agent_model(message.members)
        if self.agent_watch is not None:
            self.agent_watch.agent_present(model is not None)

    # --- the agent before its first answer (transport/service_health.py) ---------------------

    def _watch_agent(self, session: Any) -> None:
        if session.agent_url:
            post = self.post_message
            self.agent_watch = HealthWatch(
                session.agent_url,
                lambda health: post(m.AgentHealthRead(health)),
                http=session.options.http,
                retry_s=self.options.agent_retry_s,
            )
            self.agent_watch.start()

    def _agent_not_reached(self, entries: Any) -> None:
        """A prompt's invocation failed: read the service's health again, so the header says
        why and the prompt is retried when the service answers."""
        unreached = {
            e.cmid for e in entries if isinstance(e, PromptView) and e.status == "agent not reached"
        }
        if self.agent_watch is not None and unreached - self.unreached:
            self.agent_watch.start()
        self.unreached |= unreached

    @on(m.AgentHealthRead)
    def _agent_health(self, message: m.AgentHealthRead) -> None:
        header = self.query_one(SessionHeader)
        was_down = header.agent is not None and not header.agent.reachable
        header.agent = message.health
        self.query_one(PresenceBar).show_service(message.health)
        if was_down and message.health.reachable and self.controller is not None:
            for entry in self.controller.session.transcript():  # they waited for it
                if isinstance(entry, PromptView) and entry.status == "agent not reached":
                    self.retry(entry.cmid)

    @on(m.ConnectionStateChanged)
    def _connection_changed(self, message: m.ConnectionStateChanged) -> None:
        self.connection_log.append(message.state)
        self.query_one(SessionHeader).connection = message.state
        self.query_one(ConnectionBanner).show_state(message.state, message.reason)

    @on(m.WireEventsArrived)
    def _wire(self, message: m.WireEventsArrived) -> None:
        self.query_one(WirePane).add_rows(message.rows)

    @on(m.SteerResolved)
    def _steer_resolved(self, message: m.SteerResolved) -> None:
        if message.outcome != "consumed":
            self.notify(f"Steer {message.outcome}.", severity="warning")

    @on(m.Notice)
    def _notice(self, message: m.Notice) -> None:
        self.notify(message.text, severity=message.severity)  # type: ignore[arg-type]

    @on(m.HandoverChanged)
    async def _handover_changed(self, message: m.HandoverChanged) -> None:
        """docs/handover.md: the bar, the transcript's lines, the composer's mode, the keys,
        the terminal's title and notifications follow who answers the session."""
        if self.handover is None or self.controller is None:
            return
        self.query_one(HandoverBar).show(message.view, message.control_view)
        session = self.controller.session
        entries = session.transcript()
        await self.query_one(Transcript).show_entries(
            self.handover.timeline(entries, has_older=session.has_older()),
            session.has_older(),
        )
        self._show_composer_mode()
        self.refresh_bindings()
        if self.attention is not None:
            self._signal(
                self.attention.handover(
                    self.handover.lines(),
                    operator=self.handover.acts_as_operator,
                    focused=self.app.app_focus,
                )
            )
        self._show_title()

    def _show_composer_mode(self) -> None:
        """While this user is in control the composer sends replies, not prompts."""
        composer = self.query_one(Composer)
        handover = self.handover
        replying = handover is not None and handover.replying()
        if not composer.has_class("-reply"):
            self._prompt_placeholder = composer.placeholder
        if handover is not None and replying:
            composer.placeholder = handover.reply_placeholder()
            composer.border_title = "reply as operator"
        elif composer.has_class("-reply"):
            composer.placeholder = self._prompt_placeholder
            composer.border_title = ""
        composer.set_class(replying, "-reply")

    def _signal(self, data: str) -> None:
        """Bytes for the terminal itself (a notification, the title), beside the screen."""
        output = TerminalOutput.of(self.app)
        if data and output is not None:
            output.write(data)

    def _attention_prompts(self, entries: Any) -> str:
        if self.attention is None or self.handover is None:
            return ""
        replying = self.handover.replying()
        return self.attention.prompts(entries, replying=replying, focused=self.app.app_focus)

    def _show_title(self) -> None:
        """The terminal's title: the session and its state (written only when it changes)."""
        if self.attention is None or self.handover is None:
            return
        view = self.handover.view()
        mine = self.controller.pending_approval() if self.controller is not None else None
        state = title_state(
            waiting_for_me=bool(mine and mine[0].own),
            in_control=self.handover.in_control(),
            escalated=bool(view.open_escalations),
            busy=self.any_busy,
        )
        self._signal(self.attention.title(state))

    @on(Transcript.UnseenChanged)
    def _unseen(self, message: Transcript.UnseenChanged) -> None:
        self.query_one("#unseen").display = message.unseen

    def on_click(self, event: Any) -> None:
        if getattr(event.widget, "id", None) == "unseen":
            self.query_one(Transcript).scroll_to_newest()

    @on(ApprovalBar.Answered)
    def _approval_button(self, message: ApprovalBar.Answered) -> None:
        self.action_approve() if message.approved else self.action_deny()

    def _refresh_flags(self, entries: Any) -> None:
        self.can_edit = any(isinstance(e, PromptView) and e.own for e in entries)
        self.can_regenerate = any(isinstance(e, TurnView) and e.terminal for e in entries)
        self.has_branches = any(
            e.branch is not None and len(e.branch.siblings) > 1 for e in entries
        )
        self._refresh_approval()

    def _refresh_approval(self) -> None:
        pending = self.controller.pending_approval() if self.controller is not None else None
        self.approval = pending is not None and pending[0].can_decide
        self.approval_refused = pending is not None and not pending[0].can_decide

    # --- bindings ----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action not in SESSION_ACTIONS:
            return True
        if not self.ready:
            return None
        enabled = {
            "cancel_mine": self.mine_busy,
            "steer": self.mine_busy,
            "cancel_and_send": self.mine_busy,
            "send_alongside": self.mine_busy,
            "cancel_all": self.any_busy,
            "load_older": self.has_older,
            "approve": self.approval,
            "deny": self.approval,
            "edit_last": self.can_edit,
            "regenerate": self.can_regenerate and not self.mine_busy,
            "switch_branch": self.has_branches,
            **self._handover_actions(),
            "approval_refused": self.approval_refused,
        }[action]
        if enabled:
            return True
        # core turn keys stay listed (dimmed); the situational ones appear when they apply
        return None if action in DIMMED_WHEN_OFF else False

    def _handover_actions(self) -> dict[str, bool]:
        """Which handover keys apply now (docs/handover.md): f6 where an operator can answer
        and the agent answers; f7 and alt+a for operators only."""
        handover = self.handover
        if handover is None or self.options.read_only:  # a read-only invite publishes nothing
            return dict.fromkeys(("ask_human", "take_over", "hand_back", "answer_human"), False)
        holder = handover.in_control()
        operator = handover.acts_as_operator
        return {
            "ask_human": handover.escalation_offered and holder is None and not self.mine_busy,
            "take_over": operator and holder != handover.me,
            "hand_back": operator and holder == handover.me,
            "answer_human": operator and handover.open_escalation() is not None,
        }

    def _intent(
        self,
        call: Awaitable[bool],
        *,
        restore: str | None = None,
        done: Callable[[], Any] | None = None,
    ) -> None:
        async def run() -> None:
            ok = await call
            if ok and done is not None:
                done()
            if not ok and restore:
                composer = self.query_one(Composer)
                if not composer.text:
                    composer.set_draft(restore)

        self.run_worker(run(), group="intent")

    def _take_text(self) -> str | None:
        composer = self.query_one(Composer)
        text = composer.text.strip()
        if not text:
            self.notify("Type the text first.", severity="warning")
            return None
        if self.controller and (too_large := draft_oversize(self.controller.session, text)):
            composer.refuse(too_large.words())
            self.notify(too_large.words(), severity="error")
            return None
        composer.remember(text)
        composer.text = ""
        return text

    @on(Composer.Submitted)
    def _submitted(self, message: Composer.Submitted) -> None:
        if self.controller is None:
            self.notify("Not connected yet.", severity="warning")
            return
        composer = message.composer
        if composer.editing:
            text = self._take_text()
            if text:
                cmid, composer.editing = composer.editing, None
                composer.border_subtitle = ""
                self._intent(self.controller.edit(cmid, text), restore=text)
            return
        if self.handover is not None and self.handover.replying():
            text = self._take_text()
            if text:
                self.query_one(Transcript).scroll_to_newest()
                self._intent(self.handover.reply(text), restore=text)
            return
        if self.mine_busy:
            self.notify(
                "Your turn is still running: ctrl+r steers it, ctrl+t cancels it and sends, "
                "ctrl+n sends alongside, esc cancels it.",
                severity="warning",
            )
            return
        text = self._take_text()
        if text:
            self.query_one(Transcript).scroll_to_newest()
            self._intent(self.controller.send(text), restore=text)

    def action_cancel_mine(self) -> None:
        if self.controller is not None:
            self._intent(self.controller.cancel_mine())

    def action_steer(self) -> None:
        if self.controller is not None and (text := self._take_text()):
            self._intent(self.controller.steer(text), restore=text)

    def action_cancel_and_send(self) -> None:
        if self.controller is not None and (text := self._take_text()):
            self._intent(self.controller.cancel_and_send(text), restore=text)

    def action_send_alongside(self) -> None:
        if self.controller is not None and (text := self._take_text()):
            self._intent(self.controller.send(text), restore=text)

    def action_cancel_all(self) -> None:
        if self.controller is None:
            return
        now = self.clock()
        if now > self._confirm_cancel_all_until:
            self._confirm_cancel_all_until = now + self.options.confirm_window_s
            count = sum(len(runs) for runs in self.controller.active.values())
            self.notify(
                f"Press ctrl+g again to cancel all {count} active turn(s) in this session.",
                severity="warning",
            )
            return
        self._confirm_cancel_all_until = 0.0
        self._intent(self.controller.cancel_all())

    def action_load_older(self) -> None:
        if self.controller is not None:
            self._intent(self.controller.load_older())

    def action_approve(self) -> None:
        if self.controller is not None:
            self._intent(self.controller.answer_approval(True))

    def action_deny(self) -> None:
        if self.controller is not None:
            self._intent(self.controller.answer_approval(False))

    def action_approval_refused(self) -> None:
        """alt+y / alt+n on a device that may not decide: the controller says why."""
        self.action_approve()

    def action_edit_last(self) -> None:
        if self.controller is None:
            return
        composer = self.query_one(Composer)
        if composer.editing:
            composer.editing = None
            composer.border_subtitle = ""
            composer.text = ""
            return
        prompt = self.controller.last_own_prompt()
        if prompt is None:
            return
        composer.editing = prompt.cmid
        composer.border_subtitle = "editing your last prompt · Enter sends the edit · F2 stops"
        composer.set_draft(prompt.text)
        composer.focus()

    def action_regenerate(self) -> None:
        if self.controller is not None:
            self._intent(self.controller.regenerate_last())

    def action_switch_branch(self) -> None:
        if self.controller is not None and not self.controller.switch_branch():
            self.notify("No other branch here.", severity="warning")

    # --- human handover (docs/handover.md) ---------------------------------------------------

    def action_ask_human(self) -> None:
        if self.handover is not None:
            composer = self.query_one(Composer)
            text = composer.text.strip()
            if text:
                composer.remember(text)
                composer.text = ""
            self.query_one(Transcript).scroll_to_newest()
            self._intent(self.handover.ask_for_human(text), restore=text or None)

    def action_take_over(self) -> None:
        handover = self.handover
        if handover is None:
            return
        holder = handover.in_control()
        if holder is None:
            self._intent(handover.take_over(None))
            return

        def answered(yes: bool | None) -> None:
            if yes and self.handover is not None:
                self._intent(self.handover.take_over(holder))

        question = f"{holder} is in control. Take over from {holder}?"
        self.app.push_screen(ConfirmScreen(question, yes="Take over"), answered)

    def action_hand_back(self) -> None:
        if self.handover is not None:
            self._intent(self.handover.hand_back())

    def action_answer_human(self) -> None:
        handover = self.handover
        escalation = handover.open_escalation() if handover is not None else None
        if handover is None or escalation is None:
            return
        text = self._take_text()
        if text:
            self._intent(handover.answer(escalation, text), restore=text)

    def action_toggle_wire(self) -> None:
        wire = self.query_one(WirePane)
        wire.display = not wire.display

    # --- command palette ---------------------------------------------------------------------

    def show_join_command(self) -> None:
        command = self.join_command
        self.app.copy_to_clipboard(command)
        self.notify(f"Join from another terminal (copied):\n{command}", timeout=10)

    @property
    def session_name(self) -> str:
        """The channel shown (and opened, once connected)."""
        return self.query_one(SessionHeader).session_name

    @property
    def join_command(self) -> str:
        """The command that joins the session on screen from another terminal."""
        return (self.options.join or JoinCommand()).for_channel(self.session_name)

    def copy_text(self, text: str) -> None:
        self.app.copy_to_clipboard(text)
        self.notify("Copied to the clipboard.")

    def cancel_turn(self, run_id: str) -> None:
        if self.controller is not None:
            self._intent(self.controller.cancel_turn(run_id))

    def retry(self, cmid: str) -> None:
        if self.controller is not None:
            self._intent(self.controller.retry(cmid))

    def ask_switch_session(self) -> None:
        def chosen(channel: str | None) -> None:
            if channel and channel != self.session_name:
                self.run_worker(self.switch_session(channel), exclusive=True, group="open")
            self.query_one(Composer).focus()

        self.app.push_screen(SwitchSessionScreen(), chosen)

    async def switch_session(self, channel_name: str) -> None:
        """Close this session and open another in the same screen: nothing of the old one
        stays (transcript, flags, draft edit, error banner, toasts)."""
        await self.close_session()
        transcript = self.query_one(Transcript)
        await transcript.remove_children(transcript.items())
        header = self.query_one(SessionHeader)
        header.session_name = channel_name
        header.connection = "connecting"
        self.query_one(ConnectionBanner).display = False
        self.query_one("#unseen").display = False
        self.app.clear_notifications()
        self.query_one(PresenceBar).show(())
        self.query_one(HandoverBar).display = False
        self._show_composer_mode()
        self.query_one(ActiveTurnsStrip).show({}, ())
        self.query_one(ActiveTurnsStrip).show_branch(None)
        self.query_one(WirePane).clear()
        self.mine_busy = self.any_busy = self.approval = self.has_older = False
        self.approval_refused = False
        self.can_edit = self.can_regenerate = self.has_branches = False
        composer = self.query_one(Composer)
        composer.editing, composer.border_subtitle = None, ""
        composer.focus()
        await self._open(channel_name)
