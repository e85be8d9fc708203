"""Signals to the terminal itself, beside the screen: notifications, the title, the bell.

Textual 8.2.8 has no public "write these bytes" call: `App.bell()` and
`App.copy_to_clipboard()` write through the driver's private `_driver`. Its public seams are
the driver class (`App(driver_class=...)`, `App.driver_class`, `App.get_driver_class()`) and
`Driver.write()`. `TerminalOutput.attach(app)` wraps the app's driver class before it runs
so the driver it creates hands itself over; `write()` then queues bytes on the driver's
writer thread, in order with Textual's own frames (a write to stdout from elsewhere could
land inside a frame's escape codes). The wrapper also saves the terminal's title when the
app starts and restores it when it stops, on every exit path. What to write, and when, is
`terminal_notify` (no textual there); docs/handover.md, "Notifications in the terminal".

Headless (Pilot) apps never get a terminal: `write()` then only records what it was asked
to write (`sent`), which in-process tests read. `tmux_passthrough()` asks the tmux the app
runs in whether it forwards wrapped sequences (`terminal_notify.detect(tmux_passthrough=...)`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import weakref
from collections import deque
from collections.abc import Mapping
from typing import Any

from textual.app import App
from textual.driver import Driver

from .terminal_notify import APP, detect, notification, pop_title, push_title, title_sequence

TITLE_PREFIX = title_sequence("")[:4]  # ESC ] 2 ;


_ATTACHED: weakref.WeakKeyDictionary[App[Any], TerminalOutput] = weakref.WeakKeyDictionary()


class TerminalOutput:
    def __init__(self, *, keep: int = 100) -> None:
        self.sent: deque[str] = deque(maxlen=keep)  # everything asked for, newest last
        self._driver: Driver | None = None
        self._title: str | None = None  # the last title written (OSC 2)

    @classmethod
    def of(cls, app: App[Any]) -> TerminalOutput | None:
        """The output attached to `app`, if any."""
        return _ATTACHED.get(app)

    def attach(self, app: App[Any]) -> None:
        """Call once, before `app.run()` (the app factory does)."""
        _ATTACHED[app] = self
        output = self
        base: type[Driver] = app.driver_class

        class TappedDriver(base):  # type: ignore[valid-type, misc]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                output._driver = self

            def start_application_mode(self) -> None:
                super().start_application_mode()
                self.write(push_title())
                if output._title:  # back from a suspend (ctrl+z): our title again
                    self.write(output._title)

            def stop_application_mode(self) -> None:
                self.write(pop_title())
                super().stop_application_mode()

        TappedDriver.__name__ = f"Tapped{base.__name__}"
        app.driver_class = TappedDriver

    @property
    def connected(self) -> bool:
        """Whether writes reach a terminal (false headless, or before the app runs)."""
        return self._driver is not None and not self._driver.is_headless

    def write(self, data: str) -> bool:
        """Queue `data` for the terminal; returns whether it reached one."""
        if not data:
            return False
        self.sent.append(data)
        if data.startswith(TITLE_PREFIX):
            self._title = data
        if not self.connected:
            return False
        assert self._driver is not None
        self._driver.write(data)
        self._driver.flush()
        return True


def tmux_passthrough(env: Mapping[str, str], timeout_s: float = 2.0) -> bool | None:
    """Whether the tmux this process runs in forwards passthrough sequences
    (`allow-passthrough` on or all); None outside tmux or when tmux does not say (an old tmux
    without the option, no tmux binary, no answer in time). Asked once, at start."""
    if not env.get("TMUX") or shutil.which("tmux") is None:
        return None
    try:
        answer = subprocess.run(
            ["tmux", "show-options", "-gv", "allow-passthrough"],
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    value = answer.stdout.strip()
    if answer.returncode != 0 or value not in ("on", "all", "off"):
        return None
    return value != "off"


def notify_desktop(app: App[Any], text: str) -> None:
    """A notification in the sequence this terminal understands (BEL where none), through the
    app's attached output. The chat screen calls it when a turn of mine ends unfocused; part 2
    of issue 14 replaces it with a `TerminalNotifier` (modes, per-event dedupe, titles)."""
    output = TerminalOutput.of(app)
    if output is not None:
        body = text.removeprefix(f"{APP}: ")  # the title already names the app
        output.write(notification(detect(os.environ), APP, body))
