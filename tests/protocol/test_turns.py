"""docs/wire.md §6 and §3.6, §7.10: own and observer turns (mine = my user's, on any
device), active turns, cancels, steers."""

from __future__ import annotations

from tui_session.protocol import (
    CancelFilter,
    CancelTarget,
    RunReason,
    UserOwnership,
    active_turns,
    cancel_label,
    cancel_targets,
    steer_outcome,
)

from .helpers import Script, Session, text_events

ALICE = UserOwnership("alice")  # this device is alice's (it published U1)


def build() -> Session:
    """alice (this device: input U1) runs R1 active; alice on another device runs R2
    suspended; bob's R3 completed; bob's R4 active."""
    script = Script()
    for run_id, trigger, client, end in (
        ("R1", "U1", "alice", None),
        ("R2", "U2", "alice", "suspend"),
        ("R3", "U3", "bob", "end"),
        ("R4", "U4", "bob", None),
    ):
        run = script.run_headers(run_id, trigger, client, parent=trigger)
        script.start(run)
        if end == "suspend":
            script.hub.send(run.run_suspend())
        elif end == "end":
            script.hub.send(run.run_end())
    session = Session()
    session.feed(script.hub.live)
    return session


def test_mine_is_my_users_on_any_device_by_the_verified_owner() -> None:
    tree = build().tree
    # R1 (this device) and R2 (alice's other device) are mine; bob's R4 is not
    assert [ALICE.run(tree.run(r)) for r in ("R1", "R2", "R4")] == [True, True, False]
    assert [UserOwnership("bob").run(tree.run(r)) for r in ("R1", "R4")] == [False, True]


def test_the_verified_owner_wins_over_a_self_asserted_run_client_id() -> None:
    """`run-client-id` is copied from the input's own header (anyone can write it); the
    agent's `input-client-id` on the start is the hub-verified publisher of the input."""
    script = Script()
    run = script.run_headers("R", "U", "bob", parent="U")
    script.hub.send(run.__class__(**{**run.__dict__, "run_client_id": "alice"}).run_start())
    script.prompt("P", "mine", client="alice")
    session = Session()
    session.feed(script.hub.live)
    node = session.tree.run("R")
    assert node.client_id == "alice" and node.owner == "bob"
    assert not ALICE.run(node) and UserOwnership("bob").run(node)
    assert ALICE.prompt(session.tree.nodes["P"]) and not UserOwnership("bob").prompt(
        session.tree.nodes["P"]
    )


def test_active_turns_map_lists_active_waiting_and_pending() -> None:
    tree = build().tree
    assert active_turns(tree, "alice", awaiting={"U1", "U9"}) == {
        "alice": {"R1": "active", "R2": "waiting", "U9": "pending"},
        "bob": {"R4": "active"},
    }


def test_cancel_filter_own_takes_my_users_runs_on_every_device() -> None:
    tree = build().tree
    assert cancel_targets(tree, CancelFilter("own"), ALICE, awaiting={"U9"}) == [
        CancelTarget("R1", "U1"),
        CancelTarget("R2", "U2"),
        CancelTarget(None, "U9"),
    ]


def test_cancel_filter_client_id() -> None:
    tree = build().tree
    assert cancel_targets(tree, CancelFilter("client", "bob"), ALICE, {"U9"}) == [
        CancelTarget("R4", "U4")
    ]
    alice = cancel_targets(tree, CancelFilter("client", "alice"), ALICE, {"U9"})
    assert [t.run_id or t.input_codec_message_id for t in alice] == ["R1", "R2", "U9"]


def test_cancel_filter_all() -> None:
    tree = build().tree
    targets = cancel_targets(tree, CancelFilter("all"), ALICE, awaiting={"U9"})
    assert [t.run_id or t.input_codec_message_id for t in targets] == ["R1", "R2", "R4", "U9"]


def steered(end: str | None, consumed: bool):
    script = Script()
    run = script.run_headers("R", "U", parent="U")
    script.start(run)
    script.prompt("S", "steer", run_id="R")
    script.pipe(run, "A", text_events("m", "x"), steer_ids=("S",) if consumed else ())
    if end == "end":
        script.hub.send(run.run_end(RunReason.COMPLETE))
    elif end == "suspend":
        script.hub.send(run.run_suspend())
    session = Session()
    session.feed(script.hub.live)
    return steer_outcome(session.tree.run("R"), "S")


def test_steer_outcome_resolves_at_run_end() -> None:
    assert steered("end", True) == steered("end", True).__class__(True, "complete")
    outcome = steered("end", False)
    assert outcome.consumed is False and outcome.run_terminal_reason == "complete"


def test_steer_outcome_at_suspension_resolves_only_consumed_steers() -> None:
    assert steered("suspend", True).consumed is True
    assert steered("suspend", False) is None
    assert steered(None, True) is None


def test_cancel_labels() -> None:
    script = Script()
    run = script.run_headers("R", "U", parent="U")
    script.start(run)
    session = Session()
    session.feed(script.hub.live)
    node = session.tree.run("R")
    assert cancel_label(node, requested=False) is None
    assert cancel_label(node, requested=True) == "cancel requested"
    n = len(script.hub.live)
    script.hub.send(run.run_end())
    session.feed(script.hub.live[n:])
    assert cancel_label(node, requested=True) == "completed (cancel not applied)"
    other = Script()
    run2 = other.run_headers("R", "U", parent="U")
    other.start(run2)
    other.hub.send(run2.run_end(RunReason.CANCELLED))
    s2 = Session()
    s2.feed(other.hub.live)
    assert cancel_label(s2.tree.run("R"), requested=True) == "cancelled"
