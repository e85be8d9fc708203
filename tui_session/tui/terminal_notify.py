"""Terminal notifications and the terminal title, as exact bytes. No textual, no I/O.

`detect(env)` names the terminal from its environment variables and picks the notification
sequence it understands (docs/handover.md, "Notifications in the terminal"):

| terminal | how it is recognised | sequence |
|---|---|---|
| kitty | `KITTY_WINDOW_ID`, `TERM=xterm-kitty` | OSC 99 (title and body, base64, `o=unfocused`) |
| iTerm2 | `TERM_PROGRAM=iTerm.app`, `LC_TERMINAL=iTerm2`, `ITERM_SESSION_ID` | OSC 9 |
| WezTerm | `TERM_PROGRAM=WezTerm`, `WEZTERM_PANE` | OSC 9 |
| Ghostty | `TERM_PROGRAM=ghostty`, `TERM=xterm-ghostty`, `GHOSTTY_RESOURCES_DIR` | OSC 9 |
| foot | `TERM=foot*` | OSC 777 |
| urxvt | `TERM=rxvt-unicode*` | OSC 777 |
| VTE (GNOME Terminal, Tilix, ...) | `VTE_VERSION` | OSC 777 |
| anything else | | BEL |

Inside tmux (`TMUX`) the sequence is wrapped for passthrough (`ESC P tmux; ... ESC \\`, every
ESC doubled), which tmux forwards when `allow-passthrough` is on; when it is known to be off,
BEL instead (tmux marks the window and passes the bell on); when unknown, both. Inside GNU
screen (`STY`) OSC 9 and 777 are wrapped in a DCS. The title (OSC 2) is never wrapped: in
tmux it names the pane, which is right for one session per pane.

Every text is cleaned of control characters (a remote prompt must not inject escape codes)
and shortened. `client.notify`: "auto" (the table above), "bell" (BEL only), "off" (nothing).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

NotifyMode = Literal["auto", "bell", "off"]
NOTIFY_MODES: tuple[str, ...] = ("auto", "bell", "off")

ESC = "\x1b"
BEL = "\x07"
ST = ESC + "\\"
TITLE_MAX = 80
BODY_MAX = 200
APP = "tui-session"


class Sequence(StrEnum):
    OSC9 = "osc9"
    OSC777 = "osc777"
    OSC99 = "osc99"
    BELL = "bell"


@dataclass(frozen=True)
class Terminal:
    name: str
    sequence: Sequence
    multiplexer: str | None = None  # "tmux" or "screen"
    passthrough: bool | None = None  # tmux allow-passthrough: None unknown

    @property
    def filters_focus(self) -> bool:
        """The terminal itself shows the notification only when unfocused (kitty's
        `o=unfocused`), so it may be sent whatever the app believes about focus."""
        return self.sequence == Sequence.OSC99 and self.multiplexer is None


def detect(env: Mapping[str, str], *, tmux_passthrough: bool | None = None) -> Terminal:
    """The terminal this process writes to, from its environment."""
    name, sequence = _outer_terminal(env)
    if env.get("TMUX"):
        return Terminal(name, sequence, "tmux", tmux_passthrough)
    if env.get("STY"):
        return Terminal(name, sequence, "screen")
    return Terminal(name, sequence)


def _outer_terminal(env: Mapping[str, str]) -> tuple[str, Sequence]:
    term = env.get("TERM", "")
    program = env.get("TERM_PROGRAM", "").lower()
    if env.get("KITTY_WINDOW_ID") or term == "xterm-kitty":
        return "kitty", Sequence.OSC99
    if program == "iterm.app" or env.get("LC_TERMINAL") == "iTerm2" or env.get("ITERM_SESSION_ID"):
        return "iTerm2", Sequence.OSC9
    if program == "wezterm" or env.get("WEZTERM_PANE"):
        return "WezTerm", Sequence.OSC9
    if program == "ghostty" or term == "xterm-ghostty" or env.get("GHOSTTY_RESOURCES_DIR"):
        return "Ghostty", Sequence.OSC9
    if term.startswith("foot"):
        return "foot", Sequence.OSC777
    if term.startswith("rxvt-unicode"):
        return "urxvt", Sequence.OSC777
    if env.get("VTE_VERSION"):
        return "VTE", Sequence.OSC777
    return env.get("TERM_PROGRAM") or term or "unknown", Sequence.BELL


# --- text --------------------------------------------------------------------------------------

_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]+")


def clean(text: str, limit: int) -> str:
    """One line without control characters (C0, DEL, C1), at most `limit` characters."""
    line = " ".join(_CONTROLS.sub(" ", text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


# --- sequences --------------------------------------------------------------------------------


def osc9(text: str) -> str:
    """iTerm2's notification. The text never starts with a digit: Windows Terminal and ConEmu
    read `9;<digit>` as other commands (progress, sleep...)."""
    body = clean(text, TITLE_MAX + BODY_MAX)
    if body[:1].isdigit():
        body = f"{APP}: {body}"
    return f"{ESC}]9;{body}{BEL}"


def osc777(title: str, body: str) -> str:
    """urxvt / VTE / foot: `notify;<title>;<body>`; `;` would split the fields."""
    t = clean(title, TITLE_MAX).replace(";", ",")
    b = clean(body, BODY_MAX).replace(";", ",")
    return f"{ESC}]777;notify;{t};{b}{BEL}"


def osc99(title: str, body: str, ident: str) -> str:
    """kitty: a title chunk then the body, base64 (`e=1`) so no text can end the sequence;
    `o=unfocused`: kitty shows it only when the window is not focused."""
    ident = re.sub(r"[^a-zA-Z0-9_+.-]", "-", ident)[:64] or "0"
    t = _b64(clean(title, TITLE_MAX))
    b = _b64(clean(body, BODY_MAX))
    return (
        f"{ESC}]99;i={ident}:d=0:e=1:o=unfocused;{t}{ST}{ESC}]99;i={ident}:d=1:e=1:p=body;{b}{ST}"
    )


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode("ascii")


def tmux_wrap(sequence: str) -> str:
    """tmux passthrough: `ESC P tmux; <sequence with every ESC doubled> ESC \\`."""
    return f"{ESC}Ptmux;{sequence.replace(ESC, ESC + ESC)}{ST}"


def screen_wrap(sequence: str) -> str:
    """GNU screen forwards a DCS string's content to the outer terminal."""
    return f"{ESC}P{sequence}{ST}"


def title_sequence(text: str) -> str:
    """OSC 2: the window (tab) title."""
    return f"{ESC}]2;{clean(text, TITLE_MAX)}{BEL}"


def push_title() -> str:
    """Save the title on the terminal's title stack (xterm `CSI 22;0 t`)..."""
    return f"{ESC}[22;0t"


def pop_title() -> str:
    """...and restore it when the app ends (`CSI 23;0 t`); terminals without a stack
    ignore both."""
    return f"{ESC}[23;0t"


def session_title(session: str, state: str) -> str:
    """`demo · waiting for you · tui-session`: the session first, as tabs are narrow."""
    return f"{session} · {state} · {APP}" if state else f"{session} · {APP}"


def notification(terminal: Terminal, title: str, body: str, *, ident: str = "1") -> str:
    """The bytes that notify on `terminal` (mode "auto")."""
    match terminal.sequence:
        case Sequence.OSC99:
            inner = osc99(title, body, ident)
        case Sequence.OSC9:
            inner = osc9(f"{title}: {body}")
        case Sequence.OSC777:
            inner = osc777(title, body)
        case _:
            return BEL
    if terminal.multiplexer == "tmux":
        wrapped = tmux_wrap(inner)
        if terminal.passthrough is None:
            return wrapped + BEL
        return wrapped if terminal.passthrough else BEL
    if terminal.multiplexer == "screen":
        return BEL if terminal.sequence == Sequence.OSC99 else screen_wrap(inner)
    return inner


# --- when --------------------------------------------------------------------------------------


@dataclass
class TerminalNotifier:
    """What to write, and when: at most once per (turn, state), only while this terminal is
    not focused (unless the terminal filters by focus itself), and as `mode` says."""

    terminal: Terminal
    mode: NotifyMode = "auto"
    _sent: set[tuple[str, str]] = field(default_factory=set)
    _title: str | None = None

    def notify(self, turn: str, state: str, title: str, body: str, *, focused: bool) -> str:
        """Bytes for "turn reached state" (empty: nothing to write)."""
        key = (turn, state)
        if self.mode == "off" or key in self._sent:
            return ""
        auto = self.mode == "auto"
        if focused and not (auto and self.terminal.filters_focus):
            self._sent.add(key)  # seen as it happened: not worth a notification later
            return ""
        self._sent.add(key)
        if not auto:
            return BEL
        return notification(self.terminal, title, body, ident=f"{turn}-{state}")

    def title(self, session: str, state: str) -> str:
        """OSC 2 for the session's state, or empty when the title already says it."""
        text = session_title(session, state)
        if text == self._title:
            return ""
        self._title = text
        return title_sequence(text)


def parse_mode(value: str) -> NotifyMode:
    if value not in NOTIFY_MODES:
        raise ValueError(f"client.notify must be one of {NOTIFY_MODES}, got {value!r}")
    return value  # type: ignore[return-value]
