"""What the app needs besides Settings: how to open a session, and display options.

No textual here: the launcher (CLI), the tests and the screenshot script all build these.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tui_session.sessions import JoinCommand
from tui_session.transport.client import ClientSession


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
    notify: bool = True  # bell + OSC 9 when a turn of mine ends while the terminal is unfocused
    batch_s: float = 0.05  # turn deltas are rendered at most this often per turn
    confirm_window_s: float = 3.0  # second press of "cancel all" must come within this
