"""Every device follows the conversation (issue 11's rules), beyond repro 1's edit: a
regenerate on one device moves the other to the new answer, and its next prompt continues
there; a device that browses an older branch on purpose (F4) sends there, and every device
follows (both checked on the channel)."""

from __future__ import annotations

from .chat_screen import LAST_LINE, send, transcript
from .stack import FOLLOW_S, USER, Scenario
from .terminal import Terminal
from .wire import ancestry, prompt_ids


def regenerated_on_the_laptop(scenario: Scenario) -> tuple[Terminal, Terminal]:
    """The laptop and the phone; the laptop sends "short A", then regenerates its answer
    (F3) and shows the new one."""
    laptop = scenario.chat("laptop", device="laptop", connected=False)
    phone = scenario.chat("phone", device="phone", connected=False)
    scenario.open(laptop, phone)
    send(laptop, "short A")
    laptop.wait_for("✓ done")
    laptop.press("f3")
    laptop.wait_for("branch 2/2", what="the regenerated answer")
    return laptop, phone


def test_after_a_regenerate_the_other_device_follows_and_continues_there(
    scenario: Scenario,
) -> None:
    laptop, phone = regenerated_on_the_laptop(scenario)
    phone.wait_for("branch 2/2", timeout=FOLLOW_S, what="the phone on the new answer")
    for terminal in (laptop, phone):
        terminal.wait_for(lambda s: "✓ done" in s and LAST_LINE in s)
    send(phone, "short C")
    laptop.wait_for(lambda s: "short C" in transcript(s), timeout=FOLLOW_S)
    log = scenario.channel_log()
    [short_c] = prompt_ids(log, "short C")
    regenerated = [
        m["headers"]["run-id"]
        for m in log
        if m["name"] == "ai-run-start" and m["headers"].get("msg-regenerate")
    ]
    answer_of = {
        m["headers"]["codec-message-id"]: m["headers"]["run-id"]
        for m in log
        if m["name"] == "ai-output"
    }
    parent = next(m for m in log if m["name"] == "ai-input" and m["data"] == "short C")
    assert answer_of.get(parent["headers"]["parent"]) == regenerated[0]  # the new answer
    assert ancestry(log, short_c) == ["short A"]


def test_the_phone_browses_an_older_branch_sends_there_and_the_laptop_follows(
    scenario: Scenario,
) -> None:
    """F4 browses an older branch on purpose: the strip says "viewing branch 1/2 · F4 next",
    a prompt sent then goes on that branch, and the laptop follows, saying who moved it."""
    laptop, phone = regenerated_on_the_laptop(scenario)
    for terminal in (laptop, phone):
        terminal.wait_for(lambda s: "branch 2/2" in s and "✓ done" in s and LAST_LINE in s)
    phone.press("f4")
    phone.wait_for("viewing branch 1/2 · F4 next", what="the phone browsing the first answer")
    assert "viewing branch" not in laptop.text  # the laptop stays where it was
    send(phone, "short C")
    laptop.wait_for(lambda s: "short C" in transcript(s), timeout=FOLLOW_S, what="followed")
    laptop.wait_for(f"{USER} · phone sent: now on branch 1/2", what="who moved the laptop")
    log = scenario.channel_log()
    [short_c] = prompt_ids(log, "short C")
    answer_of = {
        m["headers"]["codec-message-id"]: m["headers"]["run-id"]
        for m in log
        if m["name"] == "ai-output"
    }
    first_run = next(
        m["headers"]["run-id"]
        for m in log
        if m["name"] == "ai-run-start" and not m["headers"].get("msg-regenerate")
    )
    parent = next(m for m in log if m["name"] == "ai-input" and m["data"] == "short C")
    assert answer_of.get(parent["headers"]["parent"]) == first_run  # the browsed answer
    assert ancestry(log, short_c) == ["short A"]
