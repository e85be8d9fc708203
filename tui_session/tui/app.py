"""The app factory shared by the CLI, the tests and the screenshot script.

`make_app(settings, session_or_factory, options=...)` returns a `ChatApp` on one session;
`make_desk_app(settings, desk)` the same app opening on the operator desk (`tui-session desk`),
whose rows open sessions on the chat screen. The app itself only hosts the screens and closes
what they opened on exit; the screens route, the controllers bridge to the session, the widgets
render.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from textual import constants, events
from textual.app import WINDOWS, App
from textual.binding import Binding
from textual.driver import Driver

from tui_session.config import Settings
from tui_session.transport.client import ClientSession

from .commands import SessionCommands
from .options import ChatOptions, DeskOptions, OpenSession, SessionFactory
from .screens.chat import ChatScreen
from .screens.desk import DeskScreen
from .terminal import TerminalOutput, tmux_passthrough
from .terminal_notify import TerminalNotifier, detect


class ChatApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "tui-session"
    COMMANDS = App.COMMANDS | {SessionCommands}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    BINDINGS = [
        Binding("f10", "back_to_desk", "Desk", id="app.desk", tooltip="Back to the desk"),
    ]
    # Set by the driver's probe (tui/keyboard.py): shift+enter arrives as itself.
    kitty_keyboard = False

    def __init__(
        self,
        settings: Settings,
        factory: SessionFactory,
        options: ChatOptions,
        *,
        clock: Callable[[], float] = time.monotonic,
        desk: DeskOptions | None = None,
    ) -> None:
        super().__init__()
        TerminalOutput().attach(self)  # notifications and the title reach the terminal
        self.settings = settings
        self.options = options
        terminal = options.terminal or detect(
            os.environ, tmux_passthrough=tmux_passthrough(os.environ)
        )
        self.notifier = TerminalNotifier(terminal, options.notify)  # one per terminal
        self.desk = DeskScreen(desk, self.notifier) if desk is not None else None
        self._chat = (
            ChatScreen(options, factory, clock=clock, notifier=self.notifier)
            if desk is None
            else None
        )

    @property
    def chat(self) -> ChatScreen:
        """The chat screen: the app's one, or the session last opened from the desk."""
        chat = self.desk.chats[-1] if self.desk is not None and self.desk.chats else self._chat
        if chat is None:
            raise LookupError("no session is open on the desk")
        return chat

    def get_driver_class(self) -> type[Driver]:
        if WINDOWS or constants.DRIVER:
            return super().get_driver_class()
        from .keyboard import ChatDriver

        return ChatDriver

    def on_mount(self) -> None:
        self.push_screen(self.desk or self.chat)

    async def on_event(self, event: events.Event) -> None:
        typing = isinstance(event, (events.Key, events.Paste)) and not event.is_forwarded
        if typing and isinstance(self.screen, ChatScreen):
            self.screen.take_typing(event)  # before Textual forwards it to the focused widget
        await super().on_event(event)

    async def on_unmount(self) -> None:
        if self.desk is not None:
            await self.desk.close_desk()
        if self._chat is not None:
            await self._chat.close_session()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "back_to_desk":
            return self.desk is not None and isinstance(self.screen, ChatScreen)
        return True

    async def action_back_to_desk(self) -> None:
        if self.desk is not None and isinstance(self.screen, ChatScreen):
            await self.desk.close_chat(self.screen)


def make_app(
    settings: Settings,
    session: ClientSession | OpenSession | SessionFactory,
    options: ChatOptions,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> ChatApp:
    """An app on an open session (the caller closes it) or on a factory (called with the
    session name on the app's event loop; what it opens is closed when the app exits)."""
    if isinstance(session, ClientSession):
        opened = OpenSession(session)
        factory: SessionFactory = _ready(opened)
    elif isinstance(session, OpenSession):
        factory = _ready(session)
    else:
        factory = session
    return ChatApp(settings, factory, options, clock=clock)


def make_desk_app(
    settings: Settings, desk: DeskOptions, *, clock: Callable[[], float] = time.monotonic
) -> ChatApp:
    """The app on the operator desk; a row's session opens with `desk.open_session`."""
    return ChatApp(settings, desk.open_session, desk.chat, clock=clock, desk=desk)


def _ready(opened: OpenSession) -> SessionFactory:
    async def factory(_channel: str) -> OpenSession:
        return opened

    return factory
