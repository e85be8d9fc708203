"""What the real terminal can tell apart, for the composer's newline keys.

Enter sends; a new line needs a key the terminal reports differently from enter:

- ctrl+j is a line feed (LF) where enter is a carriage return (CR): distinct everywhere.
- shift+enter is a bare CR in every terminal without the kitty keyboard protocol (VTE, Apple
  Terminal, tmux, xterm's default): indistinguishable from enter there.
- alt+enter is ESC CR in terminals that send ESC for alt (tmux, VTE, xterm with
  metaSendsEscape). Textual 8.2.8's parser drops that ESC and reports plain enter, so
  `decode_alt_enter()` teaches its sequence table ESC CR = alt+enter.

Textual pushes the kitty keyboard flags (`CSI > 25 u`) without ever asking whether the
terminal understood them, so the app cannot know whether shift+enter will arrive as itself.
`ChatDriver` asks before Textual starts reading input: the kitty query (`CSI ? u`) followed
by the primary device attributes request (`CSI c`), which every terminal answers; a kitty
answer before the DA1 answer means the protocol is supported (the method the kitty
documentation gives). The result is `ChatApp.kitty_keyboard`.
"""

from __future__ import annotations

import os
import re
import select
import termios
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from textual import constants
from textual._ansi_sequences import ANSI_SEQUENCES_KEYS
from textual.drivers.linux_driver import LinuxDriver

ALT_ENTER = "\x1b\r"
KITTY_QUERY = "\x1b[?u"
DEVICE_ATTRIBUTES_QUERY = "\x1b[c"
PROBE_TIMEOUT_S = 1.0  # only a terminal that never answers DA1 waits this long
_KITTY_ANSWER = re.compile(r"\x1b\[\?\d*u")
_DEVICE_ATTRIBUTES_ANSWER = re.compile(r"\x1b\[\?[\d;]*c")


class _ExtraKey(StrEnum):
    """Key names for sequences Textual's table lacks (its entries are `Keys` members)."""

    ALT_ENTER = "alt+enter"


def decode_alt_enter() -> None:
    """Make Textual's input parser report ESC CR as alt+enter instead of enter."""
    table: Any = ANSI_SEQUENCES_KEYS  # a dict typed as a read-only Mapping
    table.setdefault(ALT_ENTER, (_ExtraKey.ALT_ENTER,))


def kitty_keyboard_answered(replies: str) -> bool | None:
    """True: a kitty keyboard answer came before the DA1 answer; False: DA1 alone; None: the
    replies are not complete yet."""
    device_attributes = _DEVICE_ATTRIBUTES_ANSWER.search(replies)
    if device_attributes is None:
        return None
    kitty = _KITTY_ANSWER.search(replies)
    return kitty is not None and kitty.start() < device_attributes.start()


def probe_kitty_keyboard(
    fd: int,
    write: Callable[[str], None],
    *,
    timeout: float = PROBE_TIMEOUT_S,
) -> bool:
    """Ask the terminal on `fd` whether it speaks the kitty keyboard protocol. Runs with echo
    and line buffering off, before anything else reads the terminal."""
    if not os.isatty(fd):
        return False
    before = termios.tcgetattr(fd)
    quiet = termios.tcgetattr(fd)
    quiet[3] &= ~(termios.ICANON | termios.ECHO)
    termios.tcsetattr(fd, termios.TCSANOW, quiet)
    replies = ""
    try:
        write(KITTY_QUERY + DEVICE_ATTRIBUTES_QUERY)
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                break
            replies += os.read(fd, 1024).decode("utf-8", "replace")
            answered = kitty_keyboard_answered(replies)
            if answered is not None:
                return answered
        return False
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, before)


class ChatDriver(LinuxDriver):
    """Textual's Linux driver, plus the keyboard probe and the ESC CR decoding above."""

    def __init__(self, app: Any, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        decode_alt_enter()
        self._probed = False

    def start_application_mode(self) -> None:
        if not self._probed and not constants.DISABLE_KITTY_KEY:
            self._probed = True
            self._app.kitty_keyboard = probe_kitty_keyboard(self.fileno, self._write_now)
        super().start_application_mode()

    def _write_now(self, data: str) -> None:
        """Write before Textual's writer thread exists."""
        assert self._file is not None
        self._file.write(data)
        self._file.flush()
