"""Every device follows the conversation (issue 11's rules), beyond repro 1's edit: a
regenerate on one device moves the other to the new answer, and its next prompt continues
there (checked on the channel)."""

from __future__ import annotations

from .chat_screen import LAST_LINE, send, transcript
from .stack import FOLLOW_S, Scenario
from .wire import ancestry, prompt_ids


def test_after_a_regenerate_the_other_device_follows_and_continues_there(
    scenario: Scenario,
) -> None:
    laptop = scenario.chat("laptop", device="laptop", connected=False)
    phone = scenario.chat("phone", device="phone", connected=False)
    scenario.open(laptop, phone)
    send(laptop, "short A")
    laptop.wait_for("✓ done")
    laptop.press("f3")
    laptop.wait_for("branch 2/2", what="the regenerated answer")
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
