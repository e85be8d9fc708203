"""The README walkthrough, line by line, in three real terminals: the laptop (`make chat`'s
`tui-session chat --session demo`, its device called laptop as in the README), the phone (same
user, `--device phone`) and bob (`--user bob`)."""

from __future__ import annotations

import re
import shlex

import pytest

from .chat_screen import (
    LAST_LINE,
    answer_lines,
    composer_shows,
    send,
    toast,
    transcript,
    turn_header,
)
from .conftest import SLOW
from .stack import USER, Scenario
from .terminal import Size, Terminal

TALL = Size(120, 72)


def three_terminals(scenario: Scenario) -> tuple[Terminal, Terminal, Terminal]:
    laptop = scenario.chat("laptop", device="laptop", connected=False)  # the OS user (ada)
    phone = scenario.chat("phone", device="phone", connected=False)
    bob = scenario.chat("bob", user="bob", connected=False)
    scenario.open(laptop, phone, bob)
    for terminal in (laptop, phone, bob):
        terminal.wait_for(lambda s: "bob:" in s and "phone" in s, what="all three present")
    return laptop, phone, bob


def test_a_prompt_appears_everywhere_and_the_answer_streams_into_every_terminal(
    scenario: Scenario,
) -> None:
    """Type in terminal 1 and press Enter: the prompt appears everywhere at once, and the
    answer streams into every terminal. Terminal 1 shows it as your turn, the others as an
    observer's: the phone as your turn on the laptop, bob as ada's."""
    laptop, phone, bob = three_terminals(scenario)
    send(laptop, "what is a session channel?")
    for terminal in (phone, bob):
        terminal.wait_for(lambda s: "what is a session channel?" in transcript(s))
    for terminal in (laptop, phone, bob):
        terminal.wait_for("● streaming", what="the answer streaming")
        terminal.wait_for("This is the offline demo model", what="the first words")
    laptop.wait_for(lambda s: "assistant · your turn" in turn_header(s), what="your turn")
    bob.wait_for(lambda s: f"assistant · {USER}'s turn" in turn_header(s), what="ada's turn")
    for terminal in (laptop, phone, bob):
        terminal.wait_for("✓ done", what="the end of the answer")
        terminal.wait_for(LAST_LINE, what="the answer's last line drawn")
    assert "assistant · your turn · laptop" in turn_header(phone.text), phone.dump()
    assert "your turn · laptop" not in turn_header(laptop.text), laptop.dump()  # here: "your"
    for terminal in (phone, bob):  # the same answer, line for line
        terminal.wait_for(lambda s: answer_lines(s) == answer_lines(laptop.text), what="same")


@pytest.mark.demo_pace(SLOW)
def test_esc_on_the_phone_cancels_the_laptops_turn_and_the_partial_answer_stays(
    scenario: Scenario,
) -> None:
    """Press Esc in terminal 2 while it streams: the phone cancels the laptop's turn (same
    user; its strip says "streaming: you · laptop"). The partial answer stays, marked "⏹
    cancelled by ada · phone", on every device."""
    laptop, phone, bob = three_terminals(scenario)
    send(laptop, "tell me about channels")
    phone.wait_for("This is the offline demo model", what="the answer streaming on the phone")
    phone.wait_for("streaming: you · laptop", what="the strip naming my other device")
    phone.press("escape")
    for terminal in (laptop, phone, bob):
        ended = terminal.wait_for(
            lambda s: ("⏹ cancelled" in s or "✓ done" in s) and s, what="the turn's end"
        )
        assert f"⏹ cancelled by {USER} · phone" in str(ended), terminal.dump()
        assert "This is the offline demo model" in terminal.text  # the partial answer stays
        assert "print(len(prompt.split())" not in terminal.text  # ... and only that part


def test_delete_temp_files_waits_for_approval_and_a_device_approves_with_alt_y(
    scenario: Scenario,
) -> None:
    """Ask "please delete my temp files": the demo model calls a tool that needs approval;
    the turn waits, and any of ada's devices can press alt+y (approve) or alt+n (deny); every
    device names who approved it."""
    laptop, phone, bob = three_terminals(scenario)
    send(laptop, "please delete my temp files")
    for terminal in (laptop, phone, bob):
        terminal.wait_for("⏸ waiting for approval", what="the turn waiting")
        terminal.wait_for("delete_files", what="the tool call")
        terminal.wait_for("needs approval")
    phone.press("alt+y")
    for terminal in (laptop, phone, bob):
        terminal.wait_for("tool returned", what="the approved tool's output")
        terminal.wait_for("✓ done")
        terminal.wait_gone("needs approval")
        assert f"tool delete_files · approved by {USER} · phone" in terminal.text, terminal.dump()


def waiting_for_approval(terminal: Terminal) -> None:
    terminal.wait_for(
        lambda s: "⏸ waiting for approval" in s and "needs approval" in s,
        what="the turn waiting for approval",
    )


def test_the_phone_sends_alongside_then_cancels_the_laptops_turn_and_sends(
    scenario: Scenario,
) -> None:
    """ctrl+n and ctrl+t on the phone act on the laptop's turn too (same user): ctrl+n sends
    a new turn while it runs, ctrl+t cancels it and sends the composer's text. The laptop's
    turn waits for an approval, so it is running whenever the phone acts. (Tall terminals:
    the three turns stay on screen.)"""
    laptop = scenario.chat("laptop", device="laptop", size=TALL, connected=False)
    phone = scenario.chat("phone", device="phone", size=TALL, connected=False)
    scenario.open(laptop, phone)
    send(laptop, "please delete my temp files")
    for terminal in (laptop, phone):
        waiting_for_approval(terminal)
    phone.type("short alongside")
    phone.wait_for(composer_shows("short alongside"))
    phone.press("ctrl+n")
    for terminal in (laptop, phone):
        terminal.wait_for(
            lambda s: "“short alongside”" in s and "✓ done" in turn_header(s),
            what="the turn sent alongside, answered",
        )
        assert "needs approval" in terminal.text  # the laptop's turn still waits
    phone.type("short instead")
    phone.wait_for(composer_shows("short instead"))
    phone.press("ctrl+t")
    for terminal in (laptop, phone):
        terminal.wait_for(f"⏹ cancelled by {USER} · phone", what="the laptop's turn cancelled")
        terminal.wait_for(
            lambda s: "“short instead”" in s and "✓ done" in turn_header(s),
            what="the text sent instead, answered",
        )
        assert "needs approval" not in terminal.text, terminal.dump()


def test_bobs_esc_does_nothing_to_adas_turn_and_his_cancel_all_is_not_applied(
    scenario: Scenario,
) -> None:
    """bob's Esc does nothing to ada's turn; ctrl+g twice asks to cancel it, the agent does
    not apply it (bob is not its owner nor an operator) and bob's terminal says "Cancel not
    applied". bob's f9 (alt+n's twin) is refused in words; ada approves with f8 (alt+y's
    twin), and her turn completes."""
    laptop = scenario.chat("laptop", device="laptop", connected=False)
    bob = scenario.chat("bob", user="bob", connected=False)
    scenario.open(laptop, bob)
    send(laptop, "please delete my temp files")
    for terminal in (laptop, bob):
        waiting_for_approval(terminal)
    bob.press("escape", "f9")  # f9 after Esc: keys are handled in order
    bob.wait_for(
        lambda s: "You may not approve or deny delete_files: only ada" in toast(s),
        what="bob's f9 refused in words",
    )
    bob.press("ctrl+g")
    bob.wait_for(
        lambda s: "Press ctrl+g again" in toast(s), what="ctrl+g asking to be pressed again"
    )
    bob.press("ctrl+g")
    bob.wait_for("cancel requested", what="bob's cancel sent")
    laptop.press("f8")
    for terminal in (laptop, bob):
        terminal.wait_for("tool returned", what="ada's approval carried out")
    laptop.wait_for(lambda s: "✓ done" in turn_header(s), what="ada's turn completed")
    bob.wait_for(
        lambda s: "completed (cancel not applied)" in turn_header(s),
        what="ada's turn completed, and bob's turn header says his cancel was not applied",
    )
    for terminal in (laptop, bob):
        assert "⏹ cancelled" not in terminal.text, terminal.dump()
    bob.wait_for(
        lambda s: "Cancel not applied" in toast(s) and f"{USER}'s turn completed" in toast(s),
        what="bob told his cancel was not applied",
    )
    cancels = [m for m in scenario.channel_log() if m["name"] == "ai-cancel"]
    assert [m["clientId"] for m in cancels] == ["bob"], cancels  # ctrl+g's; Esc sent nothing


@pytest.mark.demo_pace(SLOW)
def test_closing_terminal_1_mid_answer_and_reopening_catches_up_with_nothing_repeated(
    scenario: Scenario,
) -> None:
    """Close terminal 1 mid-answer and open it again: it catches up with the answer so far,
    then the rest, with nothing repeated."""
    laptop = scenario.chat("laptop", device="laptop", connected=False)
    phone = scenario.chat("phone", device="phone", connected=False)
    scenario.open(laptop, phone)
    send(laptop, "a long answer please")
    laptop.wait_for("This is the offline demo model", what="the answer under way")
    laptop.kill()  # the terminal window closes: the process gets its hang-up
    reopened = scenario.chat("laptop again", device="laptop")
    reopened.wait_for("● streaming", what="the answer still streaming: caught up mid-answer")
    reopened.wait_for("This is the offline demo model")
    for terminal in (phone, reopened):
        terminal.wait_for("✓ done")
        terminal.wait_for(LAST_LINE, what="the answer's last line drawn")
    reopened.wait_for(lambda s: answer_lines(s) == answer_lines(phone.text), what="same answer")
    for line in ("You wrote “a long answer please”", LAST_LINE):
        assert reopened.text.count(line) == 1, reopened.dump()
    prompts = [
        line
        for line in transcript(reopened.text).splitlines()
        if line.strip(" █") == "a long answer please"
    ]
    assert len(prompts) == 1, reopened.dump()


def test_chat_without_a_session_prints_the_command_that_joins_it_and_it_works(
    scenario: Scenario,
) -> None:
    """`tui-session chat` without `--session` creates a new session and prints the command
    that joins it from another terminal."""
    first = scenario.chat("first", session="")
    printed = first.wait_for(
        lambda s: re.search(
            r"join it from another terminal with:\s+(tui-session chat .+)", first.output
        ),
        what="the join command printed",
    )
    command = printed.group(1).strip()  # type: ignore[union-attr]
    session = re.search(r"--session (\S+)", command)
    assert session, command
    assert shlex.split(command)[0] == "tui-session"  # as printed: found on the PATH
    second = scenario.spawn("second", ["/bin/sh", "-c", command])
    for terminal in (first, second):
        terminal.wait_for(f"session {session.group(1)}")
    first.wait_for(lambda s: s.count(", ") >= 1 and "ada:" in s, what="two devices of ada")
    send(second, "hello from the second terminal")
    first.wait_for(lambda s: "hello from the second terminal" in transcript(s))
    assert first.quit() == 0
    assert f"to come back to this session: {command}" in first.output
