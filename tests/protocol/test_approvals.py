"""Who may decide a tool call (protocol/approvals.py): the deciders named on a run's suspend,
and a tree that folds no other decision, in any delivery order."""

from __future__ import annotations

from typing import Any

import pytest

from tui_session.protocol import InputHeaders, RunStatus, tool_approval_response
from tui_session.protocol.approvals import (
    approvers_text,
    deciders_text,
    may_decide,
    not_a_decider,
    parse_approvers,
    with_approvers,
)

from .helpers import Script, Session, as_history


def test_the_header_round_trips_in_order_and_anyone_is_a_star() -> None:
    assert approvers_text(["alice", " ops ", "alice", ""]) == "alice,ops"
    assert parse_approvers("alice,ops") == ("alice", "ops")
    assert parse_approvers(None) is None  # the agent named nobody: 0.8.0, anyone decides
    assert may_decide(None, "bob") and may_decide(("*",), "bob")
    assert may_decide(("alice", "ops"), "ops") and not may_decide(("alice",), "bob")
    assert not may_decide(("alice",), None)


def test_the_words_name_who_may_decide() -> None:
    assert deciders_text(("alice",)) == "alice"
    assert deciders_text(("alice", "carol", "ops")) == "alice, carol or ops"
    assert deciders_text(None) == deciders_text(("*",)) == "anyone"
    assert "only alice (on any of their devices) may decide" in not_a_decider(("alice",))


def suspended(approvers: list[str] | None) -> tuple[Script, Any]:
    """alice's run R suspended on a gated call_1 in message A, naming `approvers`."""
    script = Script()
    script.prompt("U", "Clean up")
    run = script.run_headers("R", "U", parent="U")
    script.start(run)
    script.pipe(
        run,
        "A",
        [{"type": "tool-approval-request", "call_id": "call_1", "name": "delete_files"}],
    )
    suspend = run.run_suspend()
    script.hub.send(suspend if approvers is None else with_approvers(suspend, approvers))
    return script, run


def decide(script: Script, client: str, approved: bool) -> None:
    headers = InputHeaders("A", script.fresh("E"), run_client_id=client, parent="A", run_id="R")
    script.hub.send(tool_approval_response(headers, "call_1", approved), client)


def approval(session: Session) -> str:
    return session.tree.run("R").message("A").tool_call_states["call_1"]["approval"]


def test_a_decision_by_someone_not_named_does_not_fold() -> None:
    script, _ = suspended(["alice"])
    decide(script, "bob", False)
    session = Session()
    session.feed(script.hub.live)
    node = session.tree.run("R")
    assert node.deciders() == ("alice",) and not node.may_decide("bob")
    assert approval(session) == "pending" and node.status == RunStatus.SUSPENDED
    assert node.message("A").items == []  # no "not approved" output either
    assert [(d.client_id, d.approved, d.counted) for d in node.decisions()] == [
        ("bob", False, False)
    ]
    decide(script, "alice", True)
    session.feed(script.hub.live[-1:])
    assert approval(session) == "approved"
    assert [d.counted for d in node.decisions()] == [False, True]


@pytest.mark.parametrize("size", [1, 2, 3])
def test_a_decision_read_before_its_suspend_is_refolded_out(size: int) -> None:
    """History pages come newest first: bob's decision folds before the suspend that says he
    may not decide, and must not stay folded."""
    script, _ = suspended(["alice"])
    decide(script, "bob", True)
    session = Session()
    session.feed_pages(as_history(script.hub.live), size)
    assert approval(session) == "pending"


def test_a_suspend_that_names_nobody_lets_anyone_decide_as_0_8_0_does() -> None:
    script, _ = suspended(None)
    decide(script, "bob", True)
    session = Session()
    session.feed(script.hub.live)
    assert session.tree.run("R").deciders() is None and approval(session) == "approved"


def test_named_approvers_and_anyone() -> None:
    for approvers, bob in ((["alice", "bob"], "approved"), (["alice", "*"], "approved")):
        script, _ = suspended(approvers)
        decide(script, "bob", True)
        session = Session()
        session.feed(script.hub.live)
        assert approval(session) == bob
