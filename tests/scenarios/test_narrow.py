"""Narrow terminals (issue 11, item 8), in real 80x24 and 60x20 terminals: the footer shows
approve / deny while a tool call waits and load-older while older history exists, whole keys
only and nothing stale in its last column; the header keeps the connection state."""

from __future__ import annotations

import re

import pytest

from .chat_screen import FOOTER_LABELS, PALETTE, footer, footer_keys, header, send
from .stack import MEDIUM, NARROW, Scenario
from .terminal import Size, Terminal

SIZES = pytest.mark.parametrize("size", [MEDIUM, NARROW], ids=["80x24", "60x20"])
WHOLE_KEYS = re.compile(
    r"^(\S+ (" + "|".join(re.escape(label) for label in FOOTER_LABELS) + r") ?)+$"
)


def assert_clean_footer(terminal: Terminal) -> None:
    """Whole keys, then the palette key reaching the last column (its padding, nothing else)."""
    screen = terminal.text
    line = footer(screen)
    assert line.endswith(PALETTE + " "), f"last column: {line[-1]!r}\n{terminal.dump()}"
    assert terminal.cell(terminal.size.columns - 1, terminal.size.rows - 1) == " "
    keys = footer_keys(screen)
    assert WHOLE_KEYS.match(keys), f"a cut key in the footer: {keys!r}\n{terminal.dump()}"


@SIZES
def test_a_waiting_tool_call_shows_approve_and_deny_in_narrow_footers(
    scenario: Scenario, size: Size
) -> None:
    laptop = scenario.chat("laptop", device="laptop", size=size)
    phone = scenario.chat("phone", device="phone", size=size)
    send(laptop, "please delete my temp files")
    for terminal in (laptop, phone):
        terminal.wait_for(
            lambda s: footer_keys(s).startswith("alt+y Approve alt+n Deny"),
            what="approve and deny first in the footer",
        )
        assert "● connected" in header(terminal.text)
    # the laptop's own turn waits: every core turn key applies too, so its footer overflows
    laptop.wait_for(lambda s: "Cancel mine" in footer_keys(s), what="the core keys")
    assert_clean_footer(laptop)
    assert_clean_footer(phone)
    phone.press("alt+y")
    for terminal in (laptop, phone):
        terminal.wait_for(lambda s: "Approve" not in footer(s), what="approve gone once used")
        terminal.wait_for("returned", what="the approved tool's output in the answer")
    assert_clean_footer(laptop)


@SIZES
def test_older_history_shows_load_older_in_narrow_footers(scenario: Scenario, size: Size) -> None:
    scenario.server.seed_prompts(scenario.session, [f"old prompt {i}" for i in range(51)])
    phone = scenario.chat("phone", device="phone", size=size)
    phone.wait_for(lambda s: footer_keys(s).startswith("^o Older"), what="load older offered")
    assert "● connected" in header(phone.text)
    assert_clean_footer(phone)
    phone.press("ctrl+o")
    phone.wait_for(lambda s: "Older" not in footer(s), what="every older message loaded")
    assert_clean_footer(phone)
    phone.click(2, 5)  # the transcript takes focus; home scrolls it to the top
    phone.press("home")
    phone.wait_for("old prompt 0", what="the oldest prompt, loaded and scrolled to")
