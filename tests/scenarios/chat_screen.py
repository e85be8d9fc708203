"""Reading the chat screen's parts from a terminal's text, as a person reads them: the header
(first line), the footer (last line), the composer box (rounded border above the footer)."""

from __future__ import annotations

import re

from .terminal import Terminal

FOOTER_LABELS = (
    "Approve",
    "Deny",
    "Older",
    "Cancel mine",
    "Steer",
    "Cancel+send",
    "Alongside",
    "Cancel all",
    "Edit",
    "Regen",
    "Branch",
    "Wire",
)
PALETTE = "▏^p palette"
LAST_LINE = "print(len(prompt.split()), 'words')"  # the offline demo model's answer ends so


def header(screen: str) -> str:
    return screen.splitlines()[0]


def footer(screen: str) -> str:
    return screen.splitlines()[-1]


def footer_keys(screen: str) -> str:
    """The footer left of the palette key."""
    return footer(screen).split(PALETTE)[0].rstrip()


def composer_lines(screen: str) -> list[str]:
    """The composer's rows, left of any toast drawn over it ("▌" is a toast's edge); none
    while a frame is only partly drawn."""
    lines = screen.splitlines()
    top = _composer_top(lines)
    if top is None:
        return []
    rows = []
    for line in lines[top + 1 :]:
        if line.startswith("╰"):
            break
        inner = re.split(r"[▌│]", line[1:], maxsplit=1)[0]
        rows.append(inner.strip())
    return rows


def composer(screen: str) -> str:
    return "\n".join(composer_lines(screen)).strip()


def transcript(screen: str) -> str:
    """Everything between the header lines and the composer ("" while a frame is only partly
    drawn)."""
    lines = screen.splitlines()
    top = _composer_top(lines)
    return "" if top is None else "\n".join(lines[1:top])


def _composer_top(lines: list[str]) -> int | None:
    """The row of the composer's top border (the last box drawn from the left edge)."""
    tops = [i for i, line in enumerate(lines) if line.startswith("╭")]
    return tops[-1] if tops else None


def composer_shows(text: str):
    """A wait_for condition: the composer shows `text` (its rows joined with newlines)."""

    def check(screen: str) -> bool:
        return composer(screen) == text

    return check


def send(terminal: Terminal, text: str) -> None:
    """Type a prompt and press enter; waits until it shows in the transcript."""
    terminal.type(text)
    terminal.wait_for(composer_shows(text), what=f"the composer to show {text!r}")
    terminal.press("enter")
    terminal.wait_for(lambda screen: text in transcript(screen), what=f"{text!r} sent")


def palette_command(terminal: Terminal, search: str, title: str) -> None:
    """Run a command palette command: ctrl+p, type to search, enter on the one named."""
    terminal.press("ctrl+p")
    terminal.wait_for("Search for commands")
    terminal.type(search)
    terminal.wait_for(title)
    terminal.press("enter")


def open_switch_dialog(terminal: Terminal) -> None:
    palette_command(terminal, "switch session", "Switch session")
    terminal.wait_for("Session id to open:")


def turn_header(screen: str) -> str:
    """The last turn's header line ("assistant · your turn · ● streaming")."""
    headers = [line for line in screen.splitlines() if "assistant · " in line]
    return headers[-1] if headers else ""


def answer_lines(screen: str) -> list[str]:
    """The last turn's body as shown: the lines after its header, up to the next entry."""
    lines = transcript(screen).splitlines()
    starts = [i for i, line in enumerate(lines) if "assistant · " in line]
    if not starts:
        return []
    body = []
    for line in lines[starts[-1] + 1 :]:
        if not line.startswith(" █"):
            break
        body.append(line.rstrip())
    return body


def toast(screen: str) -> str:
    """The text of the notification shown at the bottom right (its lines joined: the toast
    wraps at spaces), or "" when there is none. "▌" is a toast's left edge."""
    parts = [line.split("▌", 1)[1].strip(" │─╮╯") for line in screen.splitlines() if "▌" in line]
    return " ".join(part for part in parts if part)
