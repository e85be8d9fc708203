"""A real `tui-session chat` in a pseudo-terminal, read as a screen (pexpect + pyte).

Small on purpose: spawn, type, wait until the screen shows something. (A general scenario
harness lives in tests/scenarios/; this one only serves the two-machine test.)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import pexpect
import pyte

ESC, ENTER, CTRL_G = "\x1b", "\r", "\x07"


class Terminal:
    def __init__(self, argv: Sequence[str], *, columns: int = 120, rows: int = 40) -> None:
        self.screen = pyte.Screen(columns, rows)
        self._stream = pyte.ByteStream(self.screen)
        self.child = pexpect.spawn(
            argv[0],
            list(argv[1:]),
            dimensions=(rows, columns),
            env={"TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": str(rows)},
        )
        self.transcript = bytearray()  # everything the program wrote, for failure messages

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.screen.display)

    def _pump(self, timeout: float) -> None:
        try:
            data = self.child.read_nonblocking(65536, timeout=timeout)
        except pexpect.TIMEOUT:
            return
        except pexpect.EOF:
            raise AssertionError(f"the program ended; its screen:\n{self.text()}") from None
        self.transcript += data
        self._stream.feed(data)

    def wait_for(
        self, what: str | Callable[[str], bool], timeout: float = 30.0, why: str = ""
    ) -> str:
        """Read the program's output until the screen shows `what` (text or predicate)."""
        check = (lambda screen: what in screen) if isinstance(what, str) else what
        deadline = time.monotonic() + timeout
        while True:
            screen = self.text()
            if check(screen):
                return screen
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"timed out waiting for {why or what!r}; the screen:\n{screen}"
                )
            self._pump(min(left, 0.5))

    def type(self, keys: str) -> None:
        self.child.send(keys)

    def close(self) -> None:
        if self.child.isalive():
            self.child.sendcontrol("q")
            try:
                self.child.expect(pexpect.EOF, timeout=10)
            except (pexpect.TIMEOUT, pexpect.EOF):
                pass
        self.child.close(force=True)
