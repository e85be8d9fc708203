"""The words of issue 11's rules (tui/labels.py), on read-model snapshots: who owns a turn,
who did what, who moved this device and where it browses."""

from __future__ import annotations

from dataclasses import replace

from tui_session.protocol import BranchSelection
from tui_session.transport.client_events import BranchFollowed
from tui_session.transport.client_model import (
    DecisionView,
    PendingApproval,
    PromptView,
    TurnView,
    Who,
)
from tui_session.tui import labels

TURN = TurnView(
    run_id="R",
    client_id="ada",
    own=True,
    status="active",
    label="streaming",
    messages=(),
    steps=(),
    input_codec_message_id="U",
    device="laptop",
    this_device=True,
)
PROMPT = PromptView(cmid="U", client_id="ada", own=True, optimistic=False, messages=())


def test_mine_says_you_and_names_my_other_device() -> None:
    assert labels.owner(TURN) == "you" and labels.turn_title(TURN) == "assistant · your turn"
    there = replace(TURN, this_device=False)
    assert labels.owner(there) == "you · laptop"
    assert labels.turn_title(there) == "assistant · your turn · laptop"
    bobs = replace(TURN, own=False, client_id="bob", this_device=False)
    assert labels.owner(bobs) == "bob" and labels.turn_title(bobs) == "assistant · bob's turn"
    assert labels.active_label(None, "ada", "ada") == "you"  # a pending prompt of mine
    assert labels.active_label(None, "bob", "ada") == "bob"


def test_prompt_authors() -> None:
    here = replace(PROMPT, device="phone", this_device=True)
    assert labels.prompt_author(here, "phone") == "you · phone"
    assert labels.prompt_author(replace(PROMPT, device="laptop"), "phone") == "you · laptop"
    other = replace(PROMPT, own=False, client_id="bob", device="desktop")
    assert labels.prompt_author(other, "phone") == "bob · desktop"
    assert labels.prompt_author(replace(other, device=None), "phone") == "bob"  # npm client


def test_who_cancelled_steered_approved_or_denied() -> None:
    cancelled = replace(TURN, status="cancelled", cancelled_by=Who("ada", "phone"))
    assert labels.end_marker(cancelled) == "⏹ cancelled by ada · phone"
    assert labels.end_marker(replace(cancelled, cancelled_by=None)) == "⏹ cancelled"
    assert labels.steer_line("consumed", "shorter", Who("ada", "laptop")) == (
        "↪ steer by ada · laptop (consumed): shorter"
    )
    assert labels.tool_title("delete_files", "approved", Who("ada", "phone"), True) == (
        "tool delete_files · approved by ada · phone · done"
    )
    assert labels.tool_title("delete_files", "pending", None, False) == (
        "tool delete_files · pending"
    )
    decided = replace(TURN, decisions=(DecisionView("c1", False, Who("ada", "phone")),))
    assert labels.decided_by(decided) == {"c1": Who("ada", "phone")}


def test_who_may_decide() -> None:
    request = PendingApproval("A", "c1", "delete_files", '{"n":1}')
    waiting = replace(TURN, status="suspended", deciders=("ada",))
    assert labels.approval_label(waiting, request) == '⏸ delete_files({"n":1}) needs approval'
    bobs = replace(waiting, can_decide=False)
    assert labels.approval_label(bobs, request).endswith("needs approval · only ada may decide")
    told = labels.not_yours_to_decide(bobs, request)
    assert told.startswith("You may not approve or deny delete_files: only ada (on any")


def test_cancel_not_applied() -> None:
    mine = replace(TURN, status="complete", cancel_requested=True)
    assert "your turn completed before the cancel reached the agent" in (
        labels.cancel_not_applied(mine)
    )
    bobs = replace(mine, own=False, client_id="bob")
    assert labels.cancel_not_applied(bobs).startswith("Cancel not applied: bob's turn completed")


def test_the_branch_line() -> None:
    moved = BranchFollowed("U2", "edited", Who("ada", "laptop"), 1, 2)
    assert labels.followed(moved) == "ada · laptop edited: now on branch 2/2"
    selection = BranchSelection(True, ["U1", "U2"], 0, "U1")
    assert labels.browsing(selection).startswith("viewing branch 1/2 · F4 next")
