"""The operator desk (`tui-session desk`, docs/handover.md "The desk"): what needs a human
across sessions, live and from history, as `DeskFold.rows()` lists it.

Two tables: pending (oldest first, with how long each has waited, `agent offline` when its
agent is gone) and resolved (newest first, with who resolved it and how long it waited). Enter
opens the row's session on the chat screen as an operator, with its whole context; f7 opens it
and takes over; `/` filters by session or user. f10 (an app key) comes back here.
"""

from __future__ import annotations

from dataclasses import replace

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from tui_session.protocol.desk import DeskItem, DeskKind, DeskRow, DeskRows, DeskState
from tui_session.protocol.handover import format_duration
from tui_session.sessions import display_name
from tui_session.tui.options import DeskOptions, OpenDesk
from tui_session.tui.screens.chat import ChatScreen
from tui_session.tui.terminal_notify import TerminalNotifier

PENDING_COLUMNS = ("kind", "session", "user", "why", "waiting", "state")
RESOLVED_COLUMNS = ("kind", "session", "user", "why", "waited", "resolved")
WHY_WIDTH = 48
REFRESH_S = 5.0  # ages move on even when nothing arrives


class DeskUpdated(Message):
    """The feed's rows may have changed (an item, history, the agents present)."""


class DeskScreen(Screen):
    CSS_PATH = "desk.tcss"
    BINDINGS = [
        Binding(
            "enter",
            "open",
            "Open",
            id="desk.open",
            priority=True,  # before the table's own enter (which only selects)
            tooltip="Open this session as an operator",
        ),
        Binding(
            "f7",
            "take_over",
            "Take over",
            id="desk.take_over",
            tooltip="Open this session and take over from the agent",
        ),
        Binding("slash", "filter", "Filter", id="desk.filter", tooltip="Filter by session/user"),
        Binding("escape", "clear_filter", "Clear filter", id="desk.clear_filter", show=False),
    ]

    def __init__(self, options: DeskOptions, notifier: TerminalNotifier) -> None:
        super().__init__()
        self.options = options
        self.notifier = notifier
        self.opened: OpenDesk | None = None
        self.rows: DeskRows | None = None
        self.filter = ""
        self.status = "connecting"
        self.chats: list[ChatScreen] = []  # sessions opened from here, newest last

    def compose(self) -> ComposeResult:
        yield Static(id="desk-header", markup=False)
        yield Input(placeholder="filter by session or user (Esc clears)", id="desk-filter")
        yield Static("Needs a human", classes="desk-title")
        yield DataTable(id="pending", cursor_type="row", zebra_stripes=True)
        yield Static("Resolved", classes="desk-title")
        yield DataTable(id="resolved", cursor_type="row")
        yield Static(id="desk-footer", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#pending", DataTable).add_columns(*PENDING_COLUMNS)
        self.query_one("#resolved", DataTable).add_columns(*RESOLVED_COLUMNS)
        self.query_one("#desk-filter").display = False
        self.query_one("#pending").focus()
        self._show_header()
        self.set_interval(REFRESH_S, self._refresh_rows)
        self.run_worker(self._open(), exclusive=True, group="desk")

    async def _open(self) -> None:
        try:
            self.opened = await self.options.factory(
                lambda _event: self.post_message(DeskUpdated())
            )
        except Exception as err:
            self.status = f"✗ could not open the desk: {err or type(err).__name__}"
            self._show_header()
            return
        self.status = "● connected"
        self.post_message(DeskUpdated())

    def _feed_event(self, _event: object) -> None:
        self.post_message(DeskUpdated())

    async def close_desk(self) -> None:
        for chat in self.chats:
            await chat.close_session()
        opened, self.opened = self.opened, None
        if opened is not None and opened.close is not None:
            await opened.close()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("open", "take_over"):  # a row of a table (the filter's enter is its own)
            return isinstance(self.focused, DataTable)
        return True

    # --- showing the rows -------------------------------------------------------------------

    @on(DeskUpdated)
    def _refresh_rows(self) -> None:
        if self.opened is None:
            return
        self.rows = self.opened.feed.rows(self.options.thresholds)
        self._show_header()
        pending = [r for r in self.rows.pending if self._matches(r.item)]
        resolved = [r for r in self.rows.resolved if self._matches(r.item)]
        _fill(self.query_one("#pending", DataTable), pending)
        _fill(self.query_one("#resolved", DataTable), resolved)
        self.query_one("#desk-footer", Static).update(_footer(self.rows))

    def _show_header(self) -> None:
        feed = self.opened.feed if self.opened else None
        channel = feed.channel_name if feed else ""
        agents = ""
        if feed is not None and feed.history_read:
            present = feed.agents_present()
            agents = f" │ agent {'present' if present else 'offline'}"
        count = f" │ {len(self.rows.pending)} pending" if self.rows else ""
        text = f"tui-session │ desk {channel} │ {self.status}{agents}{count}"
        self.query_one("#desk-header", Static).update(text)

    def _matches(self, item: DeskItem) -> bool:
        needle = self.filter.strip().lower()
        return not needle or needle in item.session.lower() or needle in item.user.lower()

    # --- opening a session --------------------------------------------------------------------

    def selected(self) -> DeskItem | None:
        """The item under the cursor of the focused table (pending by default)."""
        focused = self.focused if isinstance(self.focused, DataTable) else None
        table = focused or self.query_one("#pending", DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        rows = self.rows
        every = [*rows.pending, *rows.resolved] if rows else []
        return next((r.item for r in every if r.item.id == key), None)

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        item = self.selected()
        if item is not None:
            self.open_session(item.channel)

    def action_take_over(self) -> None:
        item = self.selected()
        if item is not None:
            self.open_session(item.channel, take_over=True)

    def open_session(self, channel: str, *, take_over: bool = False) -> ChatScreen:
        """The session's chat screen on top of the desk (f10 comes back)."""
        options = replace(self.options.chat, session_name=channel)
        chat = ChatScreen(options, self.options.open_session, notifier=self.notifier)
        if take_over:

            def when_ready(ready: bool) -> None:
                if ready and chat.handover is not None and chat.handover.in_control() is None:
                    chat.action_take_over()

            self.watch(chat, "ready", when_ready, init=False)
        self.chats.append(chat)
        self.app.push_screen(chat)
        return chat

    async def close_chat(self, chat: ChatScreen) -> None:
        """Back from a session to the desk: its session is closed (it leaves presence)."""
        await chat.close_session()
        if chat in self.chats:
            self.chats.remove(chat)
        if self.app.screen is chat:
            self.app.pop_screen()
        self._refresh_rows()

    # --- filter ------------------------------------------------------------------------------

    def action_filter(self) -> None:
        field = self.query_one("#desk-filter", Input)
        field.display = True
        field.focus()

    @on(Input.Changed, "#desk-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter = event.value
        self._refresh_rows()

    @on(Input.Submitted, "#desk-filter")
    def _filter_done(self, _event: Input.Submitted) -> None:
        self.query_one("#pending").focus()

    def action_clear_filter(self) -> None:
        field = self.query_one("#desk-filter", Input)
        field.value = ""
        field.display = False
        self.query_one("#pending").focus()


def _fill(table: DataTable, rows: list[DeskRow]) -> None:
    """Replace the table's rows, keeping the cursor on the same item where it still is."""
    current = None
    if table.row_count:
        current = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    table.clear()
    for row in rows:
        table.add_row(*_cells(row), key=row.item.id)
    keys = [row.item.id for row in rows]
    if current in keys:
        table.move_cursor(row=keys.index(current))


def _why(item: DeskItem) -> str:
    text = " ".join(item.why.split())
    if item.kind == DeskKind.CONTROL and not text:
        text = f"{item.by or item.user} in control"
    return text if len(text) <= WHY_WIDTH else text[: WHY_WIDTH - 1] + "…"


def _cells(row: DeskRow) -> tuple[str, ...]:
    """kind, session, user, why, how long it waited, and its state: `open`, `agent offline`,
    or how it was resolved and by whom."""
    item = row.item
    if item.state == DeskState.RESOLVED:
        by = f" by {item.resolved_by}" if item.resolved_by else ""
        state = f"{item.resolution or 'resolved'}{by}"
    else:
        state = "agent offline" if row.agent_offline else "open"
    age = format_duration(row.age_s)
    return (str(item.kind), display_name(item.channel), item.user, _why(item), age, state)


def _footer(rows: DeskRows) -> str:
    hidden = [f"{n} {kind}" for kind, n in sorted(rows.below_threshold.items()) if n]
    if not hidden:
        return "Enter opens a session · f7 takes it over · / filters · f10 comes back here"
    return "below the thresholds (not listed yet): " + ", ".join(hidden)
