"""Signals to the terminal itself, beside the screen: the bell and a desktop notification.

Textual 8.2.8 has no public call that writes an escape sequence (its own `bell()` and
`copy_to_clipboard()` write through the private driver), so the one private access of the
package lives here. Issue 14 rebuilds notifications (per-terminal sequences, tmux passthrough)
on this module.
"""

from __future__ import annotations

import re

from textual.app import App

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # nothing in the text may end the sequence


def notify_desktop(app: App, text: str) -> None:
    """The bell, then OSC 9: a desktop notification in terminals that support it (iTerm2,
    WezTerm, Ghostty...); the others ignore it."""
    app.bell()
    driver = app._driver  # no public API (see above)
    if driver is not None and not app.is_headless:
        driver.write(f"\x1b]9;{_CONTROL.sub(' ', text)}\x07")
