"""The app factory shared by the CLI, the tests and the screenshot script.

`make_app(settings, session_or_factory, options=...)` returns a `ChatApp`. The app itself only
hosts the chat screen and closes the session on exit; the screen routes, the controller
bridges to the session, the widgets render.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from textual import constants, events
from textual.app import WINDOWS, App
from textual.driver import Driver

from tui_session.config import Settings
from tui_session.transport.client import ClientSession

from .commands import SessionCommands
from .options import ChatOptions, OpenSession, SessionFactory
from .screens.chat import ChatScreen
from .terminal import TerminalOutput


class ChatApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "tui-session"
    COMMANDS = App.COMMANDS | {SessionCommands}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    # Set by the driver's probe (tui/keyboard.py): shift+enter arrives as itself.
    kitty_keyboard = False

    def __init__(
        self,
        settings: Settings,
        factory: SessionFactory,
        options: ChatOptions,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        TerminalOutput().attach(self)  # notifications and the title reach the terminal
        self.settings = settings
        self.options = options
        self.chat = ChatScreen(options, factory, clock=clock)

    def get_driver_class(self) -> type[Driver]:
        if WINDOWS or constants.DRIVER:
            return super().get_driver_class()
        from .keyboard import ChatDriver

        return ChatDriver

    def on_mount(self) -> None:
        self.push_screen(self.chat)

    async def on_event(self, event: events.Event) -> None:
        typing = isinstance(event, (events.Key, events.Paste)) and not event.is_forwarded
        if typing and isinstance(self.screen, ChatScreen):
            self.screen.take_typing(event)  # before Textual forwards it to the focused widget
        await super().on_event(event)

    async def on_unmount(self) -> None:
        await self.chat.close_session()


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


def _ready(opened: OpenSession) -> SessionFactory:
    async def factory(_channel: str) -> OpenSession:
        return opened

    return factory
