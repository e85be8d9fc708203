"""The client core (`ClientState.fold` and its read model) on channel logs recorded from real
sessions: no hub, no sockets, no npm. Each log was recorded with real `ClientSession`s against
the npm agent or our agent service (tests/protocol/fixtures/record_channel_logs.py); `seen`
is what those sessions showed at the end, which every replay must reproduce.

These cover the rules of tests/transport/test_client_npm.py (docs/wire.md §9.26-47), which
need node and npm, here with only Python.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_session.protocol import CancelFilter, CancelTarget, ErrorCode, ProtocolError, View
from tui_session.transport.client_events import (
    ActiveTurnsChanged,
    BranchChanged,
    BranchFollowed,
    PromptAdded,
    PromptUpdated,
    SteerResolved,
    TurnAdded,
    TurnEnded,
    TurnUpdated,
    WireMessage,
)
from tui_session.transport.client_model import DecisionView, Who
from tui_session.transport.client_read import ReadModel
from tui_session.transport.client_records import Send, Steer
from tui_session.transport.client_state import (
    ClientState,
    ResendCancel,
    SendEnded,
    SendStarted,
    SteerSettled,
)
from tui_session.transport.history import HistoryPager
from tui_session.transport.owned_inputs import OwnedInputs

from .channel_logs import NAMES, Replay, index_of, load, named, pages, seen, shuffled, transport

DEVICES = [(name, device) for name in NAMES for device in load(name)["devices"]]


def texts(replay: Replay) -> list[str]:
    return [entry.text for entry in replay.read.transcript()]


# --- every log, every device, every order -----------------------------------------------------


@pytest.mark.parametrize(("name", "device"), DEVICES, ids=[f"{n}-{d}" for n, d in DEVICES])
def test_live_replay_shows_what_the_recorded_device_showed(name: str, device: str) -> None:
    log = load(name)
    replay = Replay(log, device).opened_on_an_empty_channel()
    replay.live()
    assert seen(replay.read) == log["seen"][device]
    wire = replay.of(WireMessage)
    assert len(wire) == len(log["live"]) and {w.source for w in wire} == {"live"}


ORDERS = ["whole", "pages of 1", "pages of 2", "pages of 5", "shuffled pages of 3"]


def remembers_a_branch(name: str, device: str, order: str) -> bool:
    """Which sibling prompt a view shows is sticky (protocol/view.py, rule 3): a device that
    watched an edit made elsewhere stays where it was, and pages folded out of order look
    like an older sibling arriving first. A fresh reader paging newest first opens on the
    newest branch."""
    return name == "edit" and (device == "desktop" or order.startswith("shuffled"))


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize(("name", "device"), DEVICES, ids=[f"{n}-{d}" for n, d in DEVICES])
def test_history_replay_in_any_page_order_shows_the_same(name: str, device: str, order: str):
    """§9.32 / §7.7: a conversation read back from history is the one seen live, whatever
    the page size and even with pages folded out of order (a completed run never looks
    active; ownership comes from this device's own input ids)."""
    log = load(name)
    history = log["history"]
    chosen = {
        "whole": [history],
        "pages of 1": pages(history, 1),
        "pages of 2": pages(history, 2),
        "pages of 5": pages(history, 5),
        "shuffled pages of 3": shuffled(history, 3, seed=len(name)),
    }[order]
    replay = Replay(log, device, owned=set(log["devices"][device]["owned"]))
    for recorded in log["sends"]:
        if recorded["device"] == device:  # what this device knows of its own sends
            send = _send(recorded)
            replay.state.register(send)
            serial = next(
                m["serial"] for m in history if transport(m).get("event-id") == recorded["event_id"]
            )
            replay.state.published(send, [serial])
    replay.history(chosen)
    live = Replay(log, device).opened_on_an_empty_channel()
    live.live()
    assert replay.read.all_turns() == live.read.all_turns()  # every run, every branch
    assert not replay.read.has_older()
    if not remembers_a_branch(name, device, order):
        assert seen(replay.read) == log["seen"][device]


def _send(recorded: dict) -> Send:
    return Send(
        recorded["kind"],
        recorded["cmid"],
        recorded["event_id"],
        target_run_id=recorded["target_run_id"],
    )


def test_a_fresh_reader_of_an_edit_opens_on_the_newest_branch() -> None:
    log = load("edit")
    replay = Replay(log, "desktop")
    replay.history(pages(log["history"], 2))
    assert texts(replay) == ["plain two", "Hello world"]
    (prompt, _) = replay.read.transcript()
    assert (prompt.branch.index, len(prompt.branch.siblings)) == (1, 2)


# --- prompts, runs and events (§9.26, 27, 29) -------------------------------------------------


def test_own_prompt_folds_at_once_and_its_echo_reconciles_it() -> None:
    log = load("plain")
    ids = log["ids"]
    replay = Replay(log, "laptop").opened_on_an_empty_channel()
    first = ids["first"]["prompt"]
    replay.live(until=1)  # the prompt's echo and its ACK
    (added,) = replay.of(PromptAdded)
    assert added.cmid == first
    assert PromptUpdated(first) in replay.changes  # the echo
    prompt = replay.read.prompt(first)
    assert prompt.text == "plain hello" and prompt.own and not prompt.optimistic
    assert prompt.status == "sent" and prompt.device == "laptop"
    assert replay.read.active_turns() == {"alice": {first: "pending"}}

    replay.live()
    send = replay.send(first)
    run = ids["first"]["run"]
    assert SendStarted(send, run) in replay.changes and send.run_id == run
    assert SendEnded(send, "complete") in replay.changes
    assert TurnAdded(run) in replay.changes and TurnEnded(run, "complete") in replay.changes
    maps = [c.turns for c in replay.of(ActiveTurnsChanged)]
    assert maps[:3] == [{"alice": {first: "pending"}}, {"alice": {run: "active"}}, {}]
    assert [e.kind for e in replay.read.transcript()] == ["prompt", "turn"] * 2
    assert len(replay.read.messages()) == 4  # one prompt each, no duplicate from the echo
    turn = replay.read.turn(run)
    assert turn.own and turn.text == "Hello world" and turn.label == "complete"
    assert [m.role for m in turn.messages] == ["assistant"]


def test_the_next_prompt_goes_after_the_last_visible_message() -> None:
    """§3.2: `tip()` (the parent of a new prompt) is the answer shown last, as on the wire."""
    log = load("plain")
    replay = Replay(log, "laptop").opened_on_an_empty_channel()
    replay.live()
    second = log["ids"]["second"]["prompt"]
    answer = replay.read.turn(log["ids"]["first"]["run"]).messages[-1].cmid
    assert replay.tips[log["ids"]["first"]["prompt"]] is None
    assert replay.tips[second] == answer
    sent = next(m for m in log["live"] if transport(m).get("codec-message-id") == second)
    assert transport(sent)["parent"] == answer


def test_error_run_streams_are_shown_interrupted() -> None:
    """§9.36 / §7.1: the npm agent leaves its stream open on error."""
    log = load("error")
    replay = Replay(log, "laptop").opened_on_an_empty_channel()
    replay.live()
    run = log["ids"]["run"]
    turn = replay.read.turn(run)
    assert turn.status == "error" and turn.error_code == 104008
    assert turn.interrupted and not turn.streaming
    assert turn.label == "error (interrupted)" and turn.text == "Partial answer"
    assert TurnEnded(run, "error") in replay.changes


# --- late joiners and history paging (§9.31, 37; §7.2) ----------------------------------------


def test_late_joiner_sees_the_text_so_far_then_the_rest_without_duplicates() -> None:
    """§9.31: replayed in the order the joiner's terminal saw attach, pages and deliveries."""
    log = load("late_join")
    run = log["ids"]["run"]
    state = ClientState("bob", "desktop")
    read_so_far = None
    for item in log["joiner"]:
        if "page" in item:
            state.fold_page(item["page"])
        else:
            if read_so_far is None:  # the pages are read: what the joiner shows at once
                state.window.history_exhausted = True
                state.window.reveal(50)
                read_so_far = _snapshot(state, run)
            state.fold(item["live"])
    kinds, so_far, active = read_so_far
    assert kinds == ["prompt", "turn"]
    assert so_far and active == {"alice": {run: "active"}}  # §9.46, rebuilt on join
    read = ReadModel(state)
    final = read.turn(run)
    assert final.status == "complete" and not final.own
    assert final.text == "".join(f"w{i} " for i in range(40))
    assert final.text.startswith(so_far)
    assert [e.kind for e in read.transcript()] == ["prompt", "turn"]
    assert read.active_turns() == {}


def _snapshot(state: ClientState, run: str) -> tuple[list[str], str, dict]:
    read = ReadModel(state)
    turn = read.turn(run)
    assert turn.streaming and turn.status == "active"
    return [e.kind for e in read.transcript()], turn.text, read.active_turns()


class RecordedPages:
    """The history of a log as the follower's backward cursor serves it (no network)."""

    def __init__(self, history: list[dict], size: int) -> None:
        self._pages = pages(history, size)
        self.read = 0

    @property
    def exhausted(self) -> bool:
        return self.read >= len(self._pages)

    async def older(self) -> list[dict] | None:
        if self.exhausted:
            return None
        self.read += 1
        return self._pages[self.read - 1]


async def test_load_older_reveals_exact_counts() -> None:
    """§9.37: exact counts while history lasts; has_older false at the start."""
    log = load("plain")
    state = ClientState("bob", "desktop")
    source = RecordedPages(log["history"], 2)
    pager = HistoryPager(state.window, source, state.fold_page)
    read = ReadModel(state)
    assert await pager.load_initial(1) == 1
    assert [m["role"] for _, m in read.messages()] == ["assistant"]
    assert read.has_older()
    assert source.read < len(pages(log["history"], 2))  # pages are read only as needed
    assert await pager.load_older(2) == 2
    assert [m["role"] for _, m in read.messages()] == ["assistant", "user", "assistant"]
    assert await pager.load_older(10) == 1
    assert len(read.messages()) == 4 and not read.has_older()
    assert [e.kind for e in read.transcript()] == ["prompt", "turn"] * 2


# --- cancels (§9.39-41, §7.3, §7.10, §7.15) ---------------------------------------------------


def test_cancel_before_the_run_starts_is_sent_again_with_the_run_id() -> None:
    """§9.39 / §7.3: cancelled by input id; at the run's start the cancel names the run."""
    log = load("cancel_before_start")
    cmid, run = log["ids"]["prompt"], log["ids"]["run"]
    replay = Replay(log, "laptop").opened_on_an_empty_channel()
    first_cancel = index_of(log, named("ai-cancel"))
    replay.live(until=first_cancel)
    assert replay.read.active_turns() == {"alice": {cmid: "pending"}}
    send = replay.send(cmid)
    replay.apply(replay.state.cancel_before_start(send))
    assert replay.read.prompt(cmid).cancel_requested
    assert replay.state.cancel_targets(CancelFilter("own")) == [CancelTarget(None, cmid)]
    replay.live(until=index_of(log, named("ai-run-start")) + 1)
    assert ResendCancel(run, cmid) in replay.changes
    assert replay.read.turn(run).label == "cancel requested"
    replay.live()
    resent = log["live"][index_of(log, named("ai-cancel"), nth=1)]
    assert transport(resent)["run-id"] == run  # what the real client published
    assert transport(resent)["input-codec-message-id"] == cmid
    turn = replay.read.turn(run)
    assert turn.status == "cancelled" and turn.cancel_label == "cancelled"
    assert replay.read.active_turns() == {}


def test_cancel_of_an_observed_run_shows_requested_until_the_end() -> None:
    """§9.40: carol cancels bob's run: "cancel requested", then "cancelled"; not hers."""
    log = load("two_users")
    run_b = log["ids"]["bob"]["run"]
    replay = Replay(log, "tablet").opened_on_an_empty_channel()
    replay.live(until=index_of(log, named("ai-cancel", "carol")))
    replay.apply(replay.state.request_cancel(run_b))
    assert TurnUpdated(run_b) in replay.changes
    assert replay.read.turn(run_b).label == "cancel requested"
    replay.live()
    turn = replay.read.turn(run_b)
    assert turn.label == "cancelled" and turn.status == "cancelled" and not turn.own


def test_cancel_filters_enumerate_the_selected_runs_and_own_pending_prompts() -> None:
    """§9.41: one cancel per selected run: a clientId's, every run, or mine (with pending)."""
    log = load("two_users")
    ids = log["ids"]
    run_a, run_b = ids["alice"]["run"], ids["bob"]["run"]
    laptop = Replay(log, "laptop").opened_on_an_empty_channel()
    tablet = Replay(log, "tablet").opened_on_an_empty_channel()
    laptop.live(until="both active")
    tablet.live(until="both active")
    assert tablet.read.active_turns() == {"alice": {run_a: "active"}, "bob": {run_b: "active"}}
    assert laptop.read.active_turns()["alice"] == {run_a: "active", ids["pending"]: "pending"}
    assert tablet.state.cancel_targets(CancelFilter("client", "bob")) == [
        CancelTarget(run_b, ids["bob"]["prompt"])
    ]
    assert {t.run_id for t in tablet.state.cancel_targets(CancelFilter("all"))} == {run_a, run_b}
    assert set(laptop.state.cancel_targets(CancelFilter("own"))) == {
        CancelTarget(run_a, ids["alice"]["prompt"]),
        CancelTarget(None, ids["pending"]),
    }
    laptop.live()
    tablet.live()
    assert tablet.read.active_turns() == {}
    assert laptop.read.active_turns() == {"alice": {ids["pending"]: "pending"}}  # only it left


def test_cancel_own_reaches_a_run_on_a_hidden_branch() -> None:
    """§9.41 / §7.15: the own filter walks every branch, not only the one shown."""
    log = load("edit_while_streaming")
    first, second = log["ids"]["first"], log["ids"]["second"]
    replay = Replay(log, "laptop").opened_on_an_empty_channel()
    replay.live(until="both active")
    assert [t.run_id for t in replay.read.runs()] == [second["run"]]  # the first is hidden
    targets = replay.state.cancel_targets(CancelFilter("own"))
    assert {t.run_id for t in targets} == {first["run"], second["run"]}
    for target in targets:
        replay.apply(replay.state.request_cancel(target.run_id))
    replay.live()
    assert replay.read.turn(first["run"]).label == "cancelled"
    assert replay.read.turn(second["run"]).label == "cancelled"


# --- steers (§9.42, §3.6) ---------------------------------------------------------------------


def test_steer_is_consumed_and_steering_an_ended_run_is_refused() -> None:
    log = load("steer")
    ids = log["ids"]
    run = ids["run"]
    replay = Replay(log, "laptop").opened_on_an_empty_channel()
    steer_at = index_of(log, lambda m: transport(m).get("codec-message-id") == ids["steer"])
    replay.live(until=steer_at)
    replay.state.check_steerable(run)  # running: allowed
    steer = Steer(ids["steer"], run, ids["steer_text"])
    replay.state.add_steer(steer)
    replay.live(until=steer_at + 1)
    replay.apply(replay.state.steer_published(steer, log["live"][steer_at]["serial"]))
    assert steer.state == "pending"
    replay.live()
    assert steer.state == "consumed"
    assert SteerSettled(steer) in replay.changes
    assert SteerResolved(ids["steer"], run, "consumed") in replay.changes
    turn = replay.read.turn(run)
    assert turn.status == "complete" and len(turn.steps) == 2
    assert [(s.text, s.state) for s in turn.steers] == [(ids["steer_text"], "consumed")]
    assert turn.text.endswith("Steered answer.")
    with pytest.raises(ProtocolError) as refused:
        replay.state.check_steerable(run)
    assert refused.value.code == ErrorCode.INVALID_ARGUMENT


def test_a_steer_with_no_answer_in_time_is_unknown() -> None:
    log = load("steer")
    ids = log["ids"]
    replay = Replay(log, "laptop").opened_on_an_empty_channel()
    replay.live(until="steer")
    steer = Steer(ids["steer"], ids["run"], ids["steer_text"])
    replay.state.add_steer(steer)
    changes = replay.state.steer_timed_out(steer)
    assert changes == [
        SteerSettled(steer),
        SteerResolved(ids["steer"], ids["run"], "unknown"),
        TurnUpdated(ids["run"]),
    ]
    replay.live()
    assert steer.state == "unknown"  # settled once: the later answer does not change it
    assert replay.state.steer_timed_out(steer) == []


# --- tool approvals (§9.43, §3.7) -------------------------------------------------------------


@pytest.mark.parametrize("name", ["approval", "ours_approval"])
def test_tool_approval_suspends_then_the_approval_resumes_the_run(name: str) -> None:
    log = load(name)
    ids = log["ids"]
    run = ids["run"]
    replay = Replay(log, "laptop").opened_on_an_empty_channel()
    replay.live(until="suspended")  # the suspend folded, the approval not yet
    turn = replay.read.turn(run)
    (approval,) = turn.pending_approvals
    assert approval.call_id == ids["call_id"] and approval.name == "delete_files"
    assert approval.assistant_cmid == ids["assistant"] and approval.arguments
    assert turn.label == "waiting for approval"
    assert replay.read.active_turns() == {"alice": {run: "waiting"}}
    replay.live()
    resume = replay.send(ids["assistant"])
    assert resume.kind == "approval" and SendStarted(resume, run) in replay.changes
    turn = replay.read.turn(run)
    assert turn.status == "complete" and not turn.pending_approvals
    states = next(m for m in turn.messages if m.cmid == ids["assistant"]).tool_call_states
    assert states[ids["call_id"]]["approval"] == "approved"
    assert turn.text
    assert replay.read.active_turns() == {}


# --- the agent invocation (§9.28, §7.12; issue 11 item 9) -------------------------------------


def test_a_prompt_whose_agent_was_not_reached_is_not_pending_until_retried() -> None:
    log = load("post_failed")
    cmid, run = log["ids"]["prompt"], log["ids"]["run"]
    replay = Replay(log, "laptop").opened_on_an_empty_channel()
    replay.live(until="not reached")
    send = replay.send(cmid)
    replay.apply(replay.state.post_started(send))
    assert replay.read.active_turns() == {"alice": {cmid: "pending"}}
    changes = replay.apply(replay.state.post_finished(send, log["post_error"]))
    assert changes == [PromptUpdated(cmid), ActiveTurnsChanged({})]
    prompt = replay.read.prompt(cmid)
    assert prompt.status == "agent not reached" and prompt.post_error == log["post_error"]
    assert replay.read.active_turns() == {}  # not "starting" for ever
    assert replay.read.my_active_turns() == ()
    assert replay.state.cancel_targets(CancelFilter("own")) == []

    assert replay.state.retry(send) == [PromptUpdated(cmid)]
    assert replay.apply(replay.state.post_started(send)) == [
        ActiveTurnsChanged({"alice": {cmid: "pending"}})
    ]
    replay.apply(replay.state.post_finished(send, None))
    assert replay.read.prompt(cmid).status == "sent"
    replay.live()
    assert replay.read.prompt(cmid).status == "started"
    assert replay.read.turn(run).status == "complete"
    assert replay.state.retry(send) is None  # a run is known: no second POST


def test_no_run_start_in_time_shows_waiting_for_agent_until_it_starts() -> None:
    log = load("plain")
    cmid = log["ids"]["first"]["prompt"]
    replay = Replay(log, "laptop").opened_on_an_empty_channel()
    replay.live(until=1)
    send = replay.send(cmid)
    assert replay.state.start_timed_out(send) == [PromptUpdated(cmid)]
    assert replay.read.prompt(cmid).status == "waiting for agent"
    replay.live()
    assert replay.read.prompt(cmid).status == "started"
    assert replay.state.start_timed_out(send) == []


# --- ownership (§9.45; issue 11: mine = my user's) and branches (§9.44; every device follows) --


def test_mine_is_my_users_on_every_device_and_the_device_is_a_label(tmp_path: Path) -> None:
    """The phone (alice too) owns the turn the laptop started: Esc and ctrl+r there act on
    it; each device knows which of them it came from."""
    log = load("two_devices")
    cmid, run = log["ids"]["prompt"], log["ids"]["run"]
    owned = OwnedInputs(tmp_path / "laptop.ids")
    laptop = Replay(log, "laptop", owned=owned).opened_on_an_empty_channel()
    phone = Replay(log, "phone").opened_on_an_empty_channel()
    start = index_of(log, named("ai-run-start")) + 1
    laptop.live(until=start)
    phone.live(until=start)
    for replay in (laptop, phone):
        assert replay.read.my_active_turns() == (run,) and replay.read.is_own(run)
        assert replay.state.cancel_targets(CancelFilter("own")) == [CancelTarget(run, cmid)]
    assert phone.read.active_turns() == {"alice": {run: "active"}}
    laptop.live()
    phone.live()
    for replay, here in ((laptop, True), (phone, False)):
        turn, prompt = replay.read.turn(run), replay.read.prompt(cmid)
        assert turn.own and prompt.own and turn.client_id == "alice"
        assert (turn.device, prompt.device) == ("laptop", "laptop")
        assert turn.this_device is here and prompt.this_device is here

    again = Replay(log, "laptop", owned=OwnedInputs(tmp_path / "laptop.ids"))  # a restart
    again.history(pages(log["history"], 100))
    assert again.read.turn(run).own and again.read.prompt(cmid).this_device
    bob = Replay(log, "phone")
    bob.state = type(bob.state)("bob", "desktop")
    bob.read = type(bob.read)(bob.state)
    bob.history(pages(log["history"], 3))
    assert not bob.read.turn(run).own and not bob.read.prompt(cmid).own


def test_an_edit_elsewhere_moves_every_device_and_says_who() -> None:
    """§9.44 and issue 11: the editor follows its edit, and so does bob's desktop, told who
    moved it; selecting a sibling shows that branch until the next move."""
    log = load("edit")
    first, second = log["ids"]["first"], log["ids"]["second"]
    laptop = Replay(log, "laptop").opened_on_an_empty_channel()
    desktop = Replay(log, "desktop").opened_on_an_empty_channel()
    laptop.live()
    desktop.live()
    assert BranchChanged(second["prompt"]) in laptop.changes
    assert laptop.of(BranchFollowed) == []  # its own move says nothing
    for replay in (laptop, desktop):
        assert texts(replay) == ["plain two", "Hello world"]
        prompt, turn = replay.read.transcript()
        assert prompt.cmid == second["prompt"] and turn.run_id == second["run"]
        assert (prompt.branch.index, len(prompt.branch.siblings)) == (1, 2)
    assert desktop.of(BranchFollowed) == [
        BranchFollowed(second["prompt"], "edited", Who("alice", "laptop"), 1, 2)
    ]
    edit = next(m for m in log["live"] if transport(m).get("fork-of"))
    assert transport(edit)["fork-of"] == first["prompt"] and "parent" not in transport(edit)

    assert desktop.state.select_branch(second["prompt"], 0) == [BranchChanged(second["prompt"])]
    assert [e.run_id for e in desktop.read.transcript() if e.kind == "turn"] == [first["run"]]
    assert desktop.read.browsing().index == 0
    desktop.state.select_branch(second["prompt"], 1)
    assert texts(desktop) == ["plain two", "Hello world"] and desktop.read.browsing() is None


def test_repro_1_after_an_edit_the_phone_follows_and_its_prompt_goes_on_that_branch() -> None:
    """Issue 11, repro 1: laptop `A`, edit to `A edited`, `B`; the phone follows (told who
    moved it), and its `C` is parented on `B`'s answer, which the laptop then shows."""
    log = load("edit_then_prompt_elsewhere")
    ids = log["ids"]
    laptop = Replay(log, "laptop").opened_on_an_empty_channel()
    phone = Replay(log, "phone").opened_on_an_empty_channel()
    laptop.live(until="phone sends")
    phone.live(until="phone sends")
    assert phone.of(BranchFollowed) == [
        BranchFollowed(ids["edited"]["prompt"], "edited", Who("alice", "laptop"), 1, 2)
    ]
    conversation = ["plain A edited", "Hello world", "plain B", "Hello world"]
    assert texts(phone) == texts(laptop) == conversation
    b_answer = phone.read.turn(ids["b"]["run"]).messages[-1].cmid
    assert phone.state.tip() == b_answer
    laptop.live()
    phone.live()
    sent = next(
        m for m in log["live"] if transport(m).get("codec-message-id") == ids["c"]["prompt"]
    )
    assert transport(sent)["parent"] == b_answer  # on the wire, where the phone showed
    assert texts(laptop) == texts(phone) == [*conversation, "plain C", "Hello world"]
    assert laptop.of(BranchFollowed) == []  # the same branch: nothing moved
    c = laptop.read.prompt(ids["c"]["prompt"])
    assert c.own and not c.this_device and c.device == "phone"


def test_a_device_browsing_an_older_branch_sends_there_and_every_device_follows() -> None:
    log = load("browse_then_send")
    ids = log["ids"]
    laptop = Replay(log, "laptop").opened_on_an_empty_channel()
    phone = Replay(log, "phone").opened_on_an_empty_channel()
    laptop.live(until="browse")
    phone.live(until="browse")
    assert texts(phone) == ["plain two", "Hello world"] and phone.read.browsing() is None
    phone.apply(phone.state.select_branch(ids["two"]["prompt"], 0))
    browsing = phone.read.browsing()
    assert (browsing.index, len(browsing.siblings)) == (0, 2)  # "viewing branch 1/2"
    one_answer = phone.read.turn(ids["one"]["run"]).messages[-1].cmid
    assert phone.state.tip() == one_answer
    phone.live()
    laptop.live()
    sent = next(
        m for m in log["live"] if transport(m).get("codec-message-id") == ids["three"]["prompt"]
    )
    assert transport(sent)["parent"] == one_answer
    assert phone.read.browsing() is None  # its prompt is the newest move: nothing hidden
    conversation = ["plain one", "Hello world", "plain three", "Hello world"]
    assert texts(phone) == texts(laptop) == conversation
    assert laptop.of(BranchFollowed) == [
        BranchFollowed(ids["three"]["prompt"], "sent", Who("alice", "phone"), 0, 2)
    ]


def test_a_regenerate_elsewhere_rolls_an_observer_forward() -> None:
    log = load("regenerate")
    ids = log["ids"]
    laptop = Replay(log, "laptop").opened_on_an_empty_channel()
    desktop = Replay(log, "desktop").opened_on_an_empty_channel()
    laptop.live(until="first answered")
    desktop.live(until="first answered")
    assert [e.run_id for e in desktop.read.transcript() if e.kind == "turn"] == [ids["first_run"]]
    laptop.live()
    desktop.live()
    start = next(m for m in log["live"] if transport(m).get("run-id") == ids["second_run"])
    assert transport(start)["msg-regenerate"] == ids["answer"]
    assert transport(start)["parent"] == ids["prompt"]
    for replay in (laptop, desktop):
        turn = [e for e in replay.read.transcript() if e.kind == "turn"][-1]
        assert turn.run_id == ids["second_run"]
        assert (turn.branch.index, len(turn.branch.siblings)) == (1, 2)
    assert desktop.of(BranchFollowed) == [
        BranchFollowed(ids["second_run"], "regenerated", Who("alice", "laptop"), 1, 2)
    ]
    assert laptop.of(BranchFollowed) == []


# --- attribution and who may decide (issue 11) -------------------------------------------------


@pytest.mark.parametrize("order", ["live", "history"])
def test_a_cancel_from_the_users_other_device_is_attributed_everywhere(order: str) -> None:
    log = load("cancel_elsewhere")
    run = log["ids"]["run"]
    for device in ("laptop", "phone"):
        replay = Replay(log, device)
        if order == "live":
            replay.opened_on_an_empty_channel().live(until="cancel")
            assert replay.read.my_active_turns() == (run,)  # Esc on either device cancels it
            replay.live()
        else:
            replay.history(pages(log["history"], 2))
        turn = replay.read.turn(run)
        assert turn.status == "cancelled" and turn.cancelled_by == Who("alice", "phone")


def test_a_steer_from_the_users_other_device_is_attributed() -> None:
    log = load("steer_elsewhere")
    ids = log["ids"]
    for device in ("laptop", "phone"):
        replay = Replay(log, device).opened_on_an_empty_channel()
        replay.live()
        (steer,) = replay.read.turn(ids["run"]).steers
        assert (steer.text, steer.state) == (ids["steer_text"], "consumed")
        assert steer.by == Who("alice", "phone")


def test_an_unauthorised_decision_changes_nothing_on_any_device() -> None:
    """bob denies alice's tool call (published with the bare SDK; the agent refused it with
    40380): every device still shows the call pending, and only alice may decide; alice's
    phone approves, and that decision, by her, is what every device shows."""
    log = load("approval_refused")
    ids = log["ids"]
    assert log["refused_post"]["status"] == 403
    assert log["refused_post"]["error"]["code"] == ErrorCode.APPROVAL_NOT_ALLOWED == 40380
    replays = {
        d: Replay(log, d).opened_on_an_empty_channel() for d in ("laptop", "phone", "desktop")
    }
    for device, replay in replays.items():
        replay.live(until="refused")
        turn = replay.read.turn(ids["run"])
        assert turn.status == "suspended" and turn.label == "waiting for approval"
        assert [p.call_id for p in turn.pending_approvals] == [ids["call_id"]]
        assert turn.decisions == () and turn.deciders == ("alice",)
        assert turn.can_decide is (device != "desktop")
    refused = next(m for m in log["live"] if transport(m).get("event-id") == ids["refused_event"])
    assert refused["clientId"] == "bob"  # it is on the channel, and changed nothing
    for replay in replays.values():
        replay.live()
        turn = replay.read.turn(ids["run"])
        assert turn.status == "complete"
        assert turn.decisions == (DecisionView(ids["call_id"], True, Who("alice", "phone")),)


def test_from_history_the_unauthorised_decision_is_left_out_in_any_page_order() -> None:
    """A decision folded before the suspend that names the deciders is refolded out."""
    log = load("approval_refused")
    ids = log["ids"]
    cut = log["marks"]["refused"]
    serials = {m["serial"] for m in log["live"][:cut]}
    history = [m for m in log["history"] if m["serial"] in serials]
    for chosen in (pages(history, 1), shuffled(history, 2, seed=3), [history]):
        replay = Replay(log, "desktop")
        replay.history(chosen)
        turn = replay.read.turn(ids["run"])
        assert turn.status == "suspended" and turn.decisions == ()
        assert [p.call_id for p in turn.pending_approvals] == [ids["call_id"]]


# --- stalls (§9.47, §7.14) and the gap after a lost continuity (§9.38, §7.13) -----------------


def test_a_run_without_wire_activity_or_whose_agent_left_is_stalled_and_cancellable() -> None:
    log = load("late_join")
    run = log["ids"]["run"]
    replay = Replay(log, "laptop", stall_after=60.0).opened_on_an_empty_channel()
    replay.now = 100.0
    replay.live(until="join")
    nobody_left = lambda _agent: False  # noqa: E731
    assert replay.state.check_stalls(130.0, nobody_left) == []
    assert replay.state.check_stalls(161.0, nobody_left) == [TurnUpdated(run)]
    turn = replay.read.turn(run)
    assert turn.stalled and turn.status == "active" and turn.label == "stalled"
    replay.live(until=replay.cursor + 1)  # wire activity clears it
    assert not replay.read.turn(run).stalled
    assert replay.state.check_stalls(101.0, lambda agent: agent == "npm-agent") == [
        TurnUpdated(run)
    ]
    assert replay.read.turn(run).stalled  # its agent left presence
    replay.apply(replay.state.request_cancel(run))
    assert replay.read.turn(run).label == "cancel requested"
    replay.live()
    assert not replay.read.turn(run).stalled and replay.read.turn(run).status == "complete"


def test_the_gap_after_lost_continuity_is_read_back_to_the_oldest_open_stream() -> None:
    """§9.38 / §7.13: the floor is the last serial had, or an open stream's own serial if
    older (history lists a stream at its create serial, with the appends it missed);
    folding the gap as the follower hands it over ends where live delivery would have."""
    log = load("two_users")
    cut = index_of(log, named("ai-cancel", "carol"))  # continuity lost from here on
    last = log["live"][cut - 1]["serial"]
    stream = next(m for m in log["live"] if transport(m).get("status") == "streaming")["serial"]
    full = Replay(log, "tablet").opened_on_an_empty_channel()
    full.live()

    def after_gap(floor: str) -> Replay:
        replay = Replay(log, "tablet").opened_on_an_empty_channel()
        replay.live(until=cut)
        replay.apply(replay.state.fold_page([m for m in log["history"] if m["serial"] >= floor]))
        return replay

    before = Replay(log, "tablet").opened_on_an_empty_channel()
    before.live(until=cut)
    floor = before.state.gap_floor(last)
    assert floor == stream < last
    too_short = after_gap(last)  # back to the last serial only: the stream's end is missed
    assert too_short.read.turn(log["ids"]["alice"]["run"]).interrupted
    right = after_gap(floor)
    assert right.read.transcript() == full.read.transcript()
    assert right.read.active_turns() == full.read.active_turns() == {}
    assert right.state.gap_floor(None) is None


def test_the_fold_is_pure_state_changes_in_changes_out() -> None:
    """No clock, no loop: a ClientState folds the same log to the same changes twice."""
    log = load("plain")
    one, two = (Replay(log, "laptop").opened_on_an_empty_channel() for _ in range(2))
    assert [type(c).__name__ for c in one.live()] == [type(c).__name__ for c in two.live()]
    assert seen(one.read) == seen(two.read)


# --- the two rules of issue 11 each live in one object ---------------------------------------


class ThisDeviceOnly:
    """A stand-in ownership rule (mine = what this device published): swapping the one
    object changes every own / observer decision of the client at once."""

    def __init__(self, client_id: str, owned) -> None:
        self.client_id, self.owned = client_id, owned

    def run(self, run) -> bool:
        return run.input_codec_message_id in self.owned

    def prompt(self, node) -> bool:
        return node.key in self.owned


def test_whose_turn_is_mine_is_one_swappable_policy() -> None:
    log = load("two_devices")
    cmid, run = log["ids"]["prompt"], log["ids"]["run"]
    phone = Replay(
        log, "phone", ownership=ThisDeviceOnly("alice", set())
    ).opened_on_an_empty_channel()
    phone.live(until=index_of(log, named("ai-run-start")) + 1)
    assert phone.read.my_active_turns() == ()
    assert phone.state.cancel_targets(CancelFilter("own")) == []
    phone.live()
    assert not phone.read.turn(run).own and not phone.read.prompt(cmid).own
    default = Replay(log, "phone").opened_on_an_empty_channel()
    default.live()
    assert default.read.turn(run).own  # the rule: my user's, on any device


class NewestSibling(View):
    """A stand-in branch rule (every group shows its newest sibling, wherever the
    conversation went on)."""

    def _chooser(self):
        return lambda group, members: members[-1].key if members else None


def test_which_branch_this_device_shows_is_one_swappable_policy() -> None:
    log = load("browse_then_send")
    laptop = Replay(log, "laptop", view=NewestSibling).opened_on_an_empty_channel()
    laptop.live()
    assert texts(laptop) == ["plain two", "Hello world"]  # the phone's prompt is hidden
    default = Replay(log, "laptop").opened_on_an_empty_channel()
    default.live()
    assert texts(default) == ["plain one", "Hello world", "plain three", "Hello world"]
