"""The README walkthrough, line by line, in three real terminals: the laptop (`make chat`'s
`tui-session chat --session demo`), the phone (same user, `--device phone`) and bob
(`--user bob`)."""

from __future__ import annotations

import re
import shlex

import pytest

from .chat_screen import LAST_LINE, answer_lines, send, transcript, turn_header
from .conftest import SLOW
from .stack import USER, Scenario
from .terminal import Terminal


def three_terminals(scenario: Scenario) -> tuple[Terminal, Terminal, Terminal]:
    laptop = scenario.chat("laptop", connected=False)  # the OS user (ada), default device
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
    observer's."""
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
    for terminal in (phone, bob):  # the same answer, line for line
        terminal.wait_for(lambda s: answer_lines(s) == answer_lines(laptop.text), what="same")


@pytest.mark.demo_pace(SLOW)
def test_esc_on_the_phone_cancels_the_laptops_turn_and_the_partial_answer_stays(
    scenario: Scenario,
) -> None:
    """Press Esc in terminal 2 while it streams: the phone cancels the laptop's turn (same
    user). The partial answer stays, marked cancelled, on every device."""
    laptop, phone, bob = three_terminals(scenario)
    send(laptop, "tell me about channels")
    phone.wait_for("This is the offline demo model", what="the answer streaming on the phone")
    phone.press("escape")
    for terminal in (laptop, phone, bob):
        ended = terminal.wait_for(
            lambda s: ("⏹ cancelled" in s or "✓ done" in s) and s, what="the turn's end"
        )
        assert "⏹ cancelled" in str(ended), terminal.dump()
        assert "This is the offline demo model" in terminal.text  # the partial answer stays
        assert "print(len(prompt.split())" not in terminal.text  # ... and only that part


def test_delete_temp_files_waits_for_approval_and_a_device_approves_with_alt_y(
    scenario: Scenario,
) -> None:
    """Ask "please delete my temp files": the demo model calls a tool that needs approval;
    the turn waits, and any device can press alt+y (approve) or alt+n (deny)."""
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
