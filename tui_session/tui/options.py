"""What the app needs besides Settings: how to open a session, and display options.

No textual here: the launcher (CLI), the tests and the screenshot script all build these.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tui_session.protocol.desk import Thresholds
from tui_session.sessions import JoinCommand
from tui_session.transport.client import ClientSession
from tui_session.transport.client_desk import DeskFeed

from .terminal_notify import NotifyMode, Terminal


@dataclass
class OpenSession:
    """An open `ClientSession` and how to close what was opened with it (realtime client,
    HTTP session...). `close` None: the caller owns the session and closes it."""

    session: ClientSession
    close: Callable[[], Awaitable[None]] | None = None


# channel name -> an open session; called on the app's event loop (the ably SDK needs it)
SessionFactory = Callable[[str], Awaitable[OpenSession]]


@dataclass(frozen=True)
class ChatOptions:
    session_name: str
    endpoint_label: str = "local hub"
    join: JoinCommand | None = None  # the join command is shown at start when given
    read_only: bool = False  # a read-only invite: the header and the composer say so
    spinner: bool = True  # animate the active-turns spinner (off for snapshots)
    # notifications while the terminal is unfocused: "auto" (its own sequence), "bell", "off"
    # (client.notify); the title follows the session's state whatever this says
    notify: NotifyMode = "auto"
    terminal: Terminal | None = None  # None: detected from the environment at start
    batch_s: float = 0.05  # turn deltas are rendered at most this often per turn
    confirm_window_s: float = 3.0  # second press of "cancel all" must come within this
    agent_retry_s: float = 5.0  # an agent service that did not answer is asked again this often


@dataclass
class OpenDesk:
    """An open `DeskFeed` and how to close what was opened with it."""

    feed: DeskFeed
    close: Callable[[], Awaitable[None]] | None = None


# the feed's listener -> an open desk; called on the app's event loop
DeskFactory = Callable[[Callable[[Any], None]], Awaitable[OpenDesk]]


@dataclass(frozen=True)
class DeskOptions:
    """`tui-session desk`: where the desk comes from, and how a row's session opens (as an
    operator, with its whole context); `chat` is the chat screen's options for any session
    (its `session_name` is replaced by the row's channel)."""

    factory: DeskFactory
    open_session: SessionFactory
    chat: ChatOptions
    thresholds: Thresholds = field(default_factory=Thresholds)
