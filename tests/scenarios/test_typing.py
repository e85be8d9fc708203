"""Typing always reaches the composer (issue 11, items 3 and 4), in real terminals: after a
click in the transcript, after Tab, after the Switch session dialog; and the newline keys a
terminal can actually send, with the hint naming them."""

from __future__ import annotations

from .chat_screen import composer_lines, composer_shows, open_switch_dialog, send, transcript
from .stack import MEDIUM, Scenario


def test_click_in_the_transcript_then_type_keeps_the_text(scenario: Scenario) -> None:
    laptop = scenario.chat("laptop", device="laptop")
    send(laptop, "a prompt to click on")
    laptop.wait_for("✓ done")
    laptop.click_text("a prompt to click on")  # the transcript takes focus
    laptop.type("typed after a click")
    laptop.wait_for(composer_shows("typed after a click"), what="the text in the composer")
    laptop.click(5, 10)  # an empty part of the transcript
    laptop.type(" and again")
    laptop.wait_for(composer_shows("typed after a click and again"))
    laptop.press("enter")  # and it is still the composer that has the keys: enter sends
    laptop.wait_for(lambda s: "typed after a click and again" in transcript(s), what="sent")


def test_tab_then_type_keeps_the_text(scenario: Scenario) -> None:
    laptop = scenario.chat("laptop", device="laptop")
    laptop.press("tab")  # focus leaves the composer
    laptop.type("typed after tab")
    laptop.wait_for(composer_shows("typed after tab"), what="the text in the composer")
    laptop.press("shift+tab", "shift+tab")
    laptop.paste(" pasted")
    laptop.wait_for(composer_shows("typed after tab pasted"), what="the paste in the composer")


def test_after_the_switch_session_dialog_typing_reaches_the_composer(scenario: Scenario) -> None:
    laptop = scenario.chat("laptop", device="laptop")
    laptop.click(5, 10)  # focus in the transcript when the dialog opens
    open_switch_dialog(laptop)
    laptop.type(f"{scenario.session}-other")
    laptop.press("enter")
    laptop.wait_gone("Session id to open:")
    laptop.type("typed after switching")
    laptop.wait_for(composer_shows("typed after switching"), what="the text in the composer")


def test_after_the_command_palette_closes_typing_reaches_the_composer(
    scenario: Scenario,
) -> None:
    laptop = scenario.chat("laptop", device="laptop")
    laptop.press("tab")  # focus elsewhere before the palette opens
    laptop.press("ctrl+p")
    laptop.wait_for("Search for commands")
    laptop.press("escape")
    laptop.wait_gone("Search for commands")
    laptop.type("typed after the palette")
    laptop.wait_for(composer_shows("typed after the palette"))


def test_a_legacy_terminal_ctrl_j_and_alt_enter_add_lines_enter_sends(
    scenario: Scenario,
) -> None:
    """A terminal without the kitty keyboard protocol (tmux, VTE, Apple Terminal): shift+enter
    is a bare CR there, so the hint does not offer it; ctrl+j (LF) and alt+enter (ESC CR, as
    tmux sends it) add a line and do not send."""
    laptop = scenario.chat("laptop", device="laptop", size=MEDIUM)
    laptop.wait_for("Enter sends · ctrl+j: new line", what="the legacy terminal's hint")
    assert "shift+enter" not in laptop.text
    laptop.type("first")
    laptop.press("ctrl+j")
    laptop.type("second")
    laptop.press("alt+enter")
    laptop.type("third")
    laptop.wait_for(lambda s: composer_lines(s)[:3] == ["first", "second", "third"])
    assert "first" not in transcript(laptop.text)  # nothing was sent
    laptop.press("enter")
    laptop.wait_for("You wrote “first", what="the answer to the three-line prompt")
    prompts = [m["data"] for m in scenario.channel_log() if m["name"] == "ai-input"]
    assert prompts == ["first\nsecond\nthird"]


def test_a_kitty_terminal_shift_enter_adds_a_line(scenario: Scenario) -> None:
    """A terminal that answers the kitty keyboard query reports shift+enter as itself; the
    hint offers it, and it adds a line."""
    laptop = scenario.chat("laptop", device="laptop", kitty=True)
    laptop.wait_for("Enter sends · shift+enter or ctrl+j: new line", what="the kitty hint")
    laptop.type("one")
    laptop.press("shift+enter")
    laptop.type("two")
    laptop.wait_for(lambda s: composer_lines(s)[:2] == ["one", "two"])
    laptop.press("enter")
    laptop.wait_for(lambda s: "two" in transcript(s), what="the two-line prompt sent")
