"""A real terminal for scenario tests: a process in a pseudo-terminal of a chosen size, its
output read as a screen (pyte), keys and mouse clicks written as a terminal sends them.

A reader thread feeds everything the process writes into the screen and wakes waiters, so a
test waits on what a person would see (`wait_for`), never on a fixed delay. Keys are encoded
as a terminal without the kitty keyboard protocol sends them (xterm, VTE, tmux): shift+enter
is a bare CR there, alt+enter is ESC CR. `kitty=True` makes a terminal that answers the kitty
keyboard query and sends the kitty encodings of the keys that differ.
"""

from __future__ import annotations

import os
import re
import select
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pexpect
import pyte

WAIT_S = 30.0  # generous: the machine is shared; a passing wait returns as soon as it holds

# What a legacy terminal sends (xterm with tmux's defaults): shift+enter is indistinguishable
# from enter, alt+<key> is ESC <key>.
LEGACY_KEYS: dict[str, str] = {
    "enter": "\r",
    "shift+enter": "\r",
    "alt+enter": "\x1b\r",
    "ctrl+j": "\n",
    "tab": "\t",
    "shift+tab": "\x1b[Z",
    "escape": "\x1b",
    "backspace": "\x7f",
    "up": "\x1b[A",
    "down": "\x1b[B",
    "right": "\x1b[C",
    "left": "\x1b[D",
    "home": "\x1b[H",
    "end": "\x1b[F",
    "pageup": "\x1b[5~",
    "pagedown": "\x1b[6~",
    "f1": "\x1bOP",
    "f2": "\x1bOQ",
    "f3": "\x1bOR",
    "f4": "\x1bOS",
    "f5": "\x1b[15~",
    "f6": "\x1b[17~",
    "f7": "\x1b[18~",
    "f8": "\x1b[19~",
    "f9": "\x1b[20~",
    "f10": "\x1b[21~",
    "focus-out": "\x1b[O",  # a terminal's focus report (the app asked for them)
    "focus-in": "\x1b[I",
}
# The kitty keyboard protocol's encodings of the keys that differ (CSI code;modifiers u).
KITTY_KEYS: dict[str, str] = {
    "enter": "\x1b[13u",
    "shift+enter": "\x1b[13;2u",
    "alt+enter": "\x1b[13;3u",
    "escape": "\x1b[27u",
}
KITTY_QUERY = "\x1b[?u"
# CSI sequences, OSC strings, charset selections and two-character escapes.
_ESCAPES = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|.)")
KITTY_ANSWER = "\x1b[?0u"


def encode_key(key: str, *, kitty: bool = False) -> str:
    """The bytes a terminal sends for `key` ("enter", "ctrl+q", "alt+y", "f2", "x")."""
    if kitty and key in KITTY_KEYS:
        return KITTY_KEYS[key]
    if key in LEGACY_KEYS:
        return LEGACY_KEYS[key]
    if key.startswith("ctrl+") and len(key) == 6:
        return chr(ord(key[-1].lower()) & 0x1F)
    if key.startswith("alt+") and len(key) == 5:
        return "\x1b" + key[-1]
    if len(key) == 1:
        return key
    raise ValueError(f"no encoding for key {key!r}")


@dataclass(frozen=True)
class Size:
    columns: int
    rows: int


class TerminalClosed(AssertionError):
    pass


class Terminal:
    """One process in one pseudo-terminal, read as a `columns` x `rows` screen."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        size: Size = Size(120, 40),
        cwd: str | None = None,
        kitty: bool = False,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.size = size
        self.kitty = kitty
        self._screen = pyte.Screen(size.columns, size.rows)
        self._stream = pyte.ByteStream(self._screen)
        self._screen.write_process_input = self._answer  # DA1 and other reports
        self._raw = bytearray()
        self._changed = threading.Condition()
        self._eof = False
        self._after_lone_escape = False
        self.child = pexpect.spawn(
            self.argv[0],
            self.argv[1:],
            env=dict(env),
            cwd=cwd,
            dimensions=(size.rows, size.columns),
        )
        self._reader = threading.Thread(target=self._read, name=f"pty-{name}", daemon=True)
        self._reader.start()

    # --- output ----------------------------------------------------------------------------

    def _read(self) -> None:
        fd = self.child.child_fd
        while True:
            try:
                ready, _, _ = select.select([fd], [], [], 0.5)
                if not ready:
                    if not self.child.isalive():
                        break
                    continue
                data = os.read(fd, 65536)
            except OSError:  # EIO: the process closed the terminal
                break
            if not data:
                break
            with self._changed:
                if self.kitty and KITTY_QUERY.encode() in data:
                    self._answer(KITTY_ANSWER)  # before the DA1 answer pyte gives below
                self._raw += data
                self._stream.feed(data)
                self._changed.notify_all()
        with self._changed:
            self._eof = True
            self._changed.notify_all()

    def _answer(self, data: str) -> None:
        if not self._eof:
            try:
                os.write(self.child.child_fd, data.encode())
            except OSError:
                pass

    @property
    def lines(self) -> list[str]:
        with self._changed:
            return list(self._screen.display)

    @property
    def text(self) -> str:
        """The screen as a person sees it, one line per row."""
        return "\n".join(self.lines)

    @property
    def raw(self) -> bytes:
        """Every byte the process wrote, escape sequences included (titles, notifications)."""
        with self._changed:
            return bytes(self._raw)

    def wait_raw(self, data: bytes, *, timeout: float = WAIT_S) -> None:
        """Wait until the process has written `data` (anywhere in its output)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while data not in self._raw:
                remaining = deadline - time.monotonic()
                if self._eof or remaining <= 0:
                    tail = bytes(self._raw[-600:])
                    raise AssertionError(f"{self.name}: never wrote {data!r}; last: {tail!r}")
                self._changed.wait(remaining)

    @property
    def output(self) -> str:
        """Everything the process wrote, escape sequences removed (also what scrolled away or
        was printed before the app started)."""
        with self._changed:
            raw = bytes(self._raw)
        text = raw.decode("utf-8", "replace")
        return re.sub(
            r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|.)", "", text
        )

    def cell(self, x: int, y: int) -> str:
        with self._changed:
            return self._screen.buffer[y][x].data

    def find(self, text: str) -> tuple[int, int]:
        """The screen cell (x, y) where `text` first appears."""
        for y, line in enumerate(self.lines):
            x = _cell_index(line, text)
            if x is not None:
                return x, y
        raise AssertionError(f"{self.name}: {text!r} is not on the screen\n{self.dump()}")

    def dump(self) -> str:
        rule = "─" * self.size.columns
        return f"--- {self.name} ({self.size.columns}x{self.size.rows}) ---\n{self.text}\n{rule}"

    # --- waiting ---------------------------------------------------------------------------

    def wait_for(
        self,
        condition: str | Callable[[str], object],
        *,
        timeout: float = WAIT_S,
        what: str = "",
    ) -> object:
        """Wait until the screen shows `condition` (text) or `condition(screen_text)` holds;
        returns the condition's value. Fails with the screen printed."""
        check = (lambda screen: condition in screen) if isinstance(condition, str) else condition
        what = what or (repr(condition) if isinstance(condition, str) else "the condition")
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                screen = "\n".join(self._screen.display)
                result = check(screen)
                if result:
                    self._after_lone_escape = False
                    return result
                remaining = deadline - time.monotonic()
                if self._eof:
                    raise TerminalClosed(f"{self.name} exited while waiting for {what}\n{screen}")
                if remaining <= 0:
                    raise AssertionError(
                        f"{self.name}: timed out after {timeout:.0f}s waiting for {what}\n"
                        f"{self.dump()}"
                    )
                self._changed.wait(remaining)

    def wait_gone(self, text: str, *, timeout: float = WAIT_S) -> None:
        self.wait_for(lambda screen: text not in screen, timeout=timeout, what=f"{text!r} gone")

    def wait_exit(self, timeout: float = WAIT_S) -> int:
        """Wait for the process to end; its exit status."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._eof, timeout):
                raise AssertionError(
                    f"{self.name} still running after {timeout:.0f}s\n{self.dump()}"
                )
        self.child.wait()
        return self.child.exitstatus if self.child.exitstatus is not None else -1

    # --- input -----------------------------------------------------------------------------

    def _send(self, data: str) -> None:
        # ESC then a sequence that starts with ESC (f1-f10, arrows, alt+<key>) decodes as esc
        # and that key whatever the timing: Textual's parser ends a sequence at the next ESC.
        if self._after_lone_escape and not data.startswith("\x1b"):
            raise AssertionError(
                "wait for the effect of a lone esc before the next key: a terminal sends esc as "
                "ESC, and ESC followed at once by a key decodes as alt+<key>"
            )
        if self._eof:
            raise TerminalClosed(f"{self.name} has exited\n{self.text}")
        self.child.send(data.encode())

    def type(self, text: str) -> None:
        """Type text as keystrokes (no newline translation: "\\n" is ctrl+j)."""
        self._send(text)

    def press(self, *keys: str) -> None:
        for key in keys:
            data = encode_key(key, kitty=self.kitty)
            self._send(data)
            self._after_lone_escape = data == "\x1b"

    def paste(self, text: str) -> None:
        """A bracketed paste, as a terminal sends it when the app asked for bracketed paste."""
        self._send(f"\x1b[200~{text}\x1b[201~")

    def click(self, x: int, y: int) -> None:
        """A left click at screen cell (x, y), as an SGR mouse report (press, release)."""
        self._send(f"\x1b[<0;{x + 1};{y + 1}M\x1b[<0;{x + 1};{y + 1}m")

    def click_text(self, text: str) -> tuple[int, int]:
        x, y = self.find(text)
        self.click(x, y)
        return x, y

    # --- lifecycle -------------------------------------------------------------------------

    def press_quit(self) -> None:
        """ctrl+q (even right after a lone esc: quitting needs no decoding guard)."""
        if not self._eof:
            self.child.send(encode_key("ctrl+q").encode())

    def quit(self, timeout: float = WAIT_S) -> int:
        """ctrl+q, then wait for the process to end; its exit status."""
        self.press_quit()
        return self.wait_exit(timeout)

    def kill(self) -> None:
        if self.child.isalive():
            self.child.kill(9)
        self.child.close(force=True)
        self._reader.join(5)

    @property
    def alive(self) -> bool:
        return not self._eof


def _cell_index(line: str, text: str) -> int | None:
    """The screen column of `text` in a display line (a wide character takes two cells)."""
    index = line.find(text)
    if index < 0:
        return None
    return sum(max(pyte.screens.wcwidth(char), 0) for char in line[:index])
