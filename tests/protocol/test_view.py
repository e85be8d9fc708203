"""docs/wire.md §3.8, §3.9 (sibling groups, visibility) and the branch rule of
protocol/view.py: every device follows the newest move (a prompt, an edit, a regenerate),
wherever it was made; a deliberate selection holds until the next move."""

from __future__ import annotations

from typing import Any

from tui_session.protocol import (
    BranchMove,
    InputHeaders,
    RunNode,
    View,
    regenerate,
    user_message_seed,
)

from .helpers import Script, Session


def base() -> tuple[Script, Session]:
    script = Script()
    script.prompt("U1", "Hi")
    script.answer("R1", "U1", "Hello")
    return script, Session()


def cmids(session: Session) -> list[str]:
    return [c for c, _ in session.view.messages()]


def keys(view: View) -> list[str]:
    return [n.key for n in view.nodes()]


def fold_live(session: Session, messages: list[dict[str, Any]]) -> list[BranchMove]:
    """Fold live deliveries as a client does: each node new to the tree is `arrived`."""
    moves = []
    for message in messages:
        decoded = session.decoder.decode(message)
        if decoded is None:
            continue
        key = decoded.transport.get("run-id") or decoded.transport.get("codec-message-id")
        existed = key in session.tree.nodes
        node = session.tree.apply(decoded)
        if node is not None and not existed:
            move = session.view.arrived(node, live=True)
            if move is not None:
                moves.append(move)
    return moves


class Live:
    """A script and a session folding it live, step by step."""

    def __init__(self) -> None:
        self.script, self.session = base()
        self.seen = 0
        self.session.view.remember()
        self.fold()

    def fold(self) -> list[BranchMove]:
        new = self.script.hub.live[self.seen :]
        self.seen = len(self.script.hub.live)
        return fold_live(self.session, new)

    def answer_of(self, run_id: str) -> str:
        return self.session.tree.run(run_id).codec_message_ids()[0]


def test_edit_is_a_sibling_input_and_the_default_member_is_the_newest() -> None:
    script, session = base()
    script.prompt("U2", "Hi, edited", fork_of="U1")
    script.answer("R2", "U2", "Hello again", fork_of="U1")
    session.feed(script.hub.live)
    assert cmids(session)[0] == "U2" and session.view.runs()[0].run_id == "R2"
    selection = session.view.branch_selection("U1")
    assert selection.has_siblings and selection.siblings == ["U1", "U2"]
    assert selection.index == 1


def test_an_edit_made_elsewhere_moves_the_view_and_says_so() -> None:
    live = Live()
    assert keys(live.session.view) == ["U1", "R1"]
    live.script.prompt("U2", "edited on the phone", fork_of="U1", client="alice")
    (move,) = live.fold()
    assert move.node.key == "U2"
    assert (move.selection.index, move.selection.siblings) == (1, ["U1", "U2"])
    live.script.answer("R2", "U2", "other answer", fork_of="U1")
    assert live.fold() == []  # its answer is not a move
    assert keys(live.session.view) == ["U2", "R2"]


def test_a_prompt_on_the_branch_shown_moves_nothing() -> None:
    live = Live()
    live.script.prompt("U2", "next", parent=live.answer_of("R1"))
    assert live.fold() == []
    assert keys(live.session.view) == ["U1", "R1", "U2"]


def test_own_edit_shows_at_once_before_its_echo() -> None:
    live = Live()
    live.session.tree.add_optimistic("U2", user_message_seed(["mine"]), fork_of="U1")
    assert cmids(live.session) == ["U2"]


def test_a_regenerate_made_elsewhere_moves_the_view_even_from_a_chosen_sibling() -> None:
    live = Live()
    answer = live.answer_of("R1")
    live.script.answer("R2", "G", "second", parent="U1", msg_regenerate=answer)
    live.fold()
    live.session.view.select(answer, 0)  # browse back to the first answer
    assert [r.run_id for r in live.session.view.runs()] == ["R1"]
    live.script.hub.send(regenerate(InputHeaders("G3", "E9", parent="U1", msg_regenerate=answer)))
    live.script.answer("R3", "G3", "third", parent="U1", msg_regenerate=answer)
    (move,) = live.fold()
    assert move.node.key == "R3" and move.selection.index == 2
    assert [r.run_id for r in live.session.view.runs()] == ["R3"]


def test_a_chosen_sibling_holds_until_the_next_move() -> None:
    """Answers streaming and runs starting are not moves: browsing stays where it is."""
    live = Live()
    live.script.prompt("U2", "edit", fork_of="U1")
    live.fold()
    live.session.view.select("U2", 0)
    assert keys(live.session.view)[:2] == ["U1", "R1"]
    live.script.answer("R2", "U2", "answer to the edit", fork_of="U1")
    assert live.fold() == []
    assert keys(live.session.view)[:2] == ["U1", "R1"]
    assert live.session.view.browsing().index == 0  # and it says so
    live.script.prompt("U3", "an edit on the laptop", fork_of="U1")
    (move,) = live.fold()
    assert keys(live.session.view) == ["U3"] and move.selection.index == 2
    assert live.session.view.browsing() is None


def test_a_prompt_sent_while_browsing_goes_where_the_view_shows_and_others_follow() -> None:
    """The phone browses back to the first branch and sends there: its next prompt hangs
    on what it shows, it stays there, and the laptop (another view) follows it."""
    live = Live()
    live.script.prompt("U2", "edit", fork_of="U1")
    live.script.answer("R2", "U2", "answer to the edit", fork_of="U1")
    live.fold()
    laptop = View(live.session.tree)
    laptop.remember()
    assert keys(laptop) == ["U2", "R2"]
    phone = live.session.view
    phone.select("U1", 0)
    tip = phone.messages()[-1][0]
    assert tip == live.answer_of("R1") and phone.browsing().index == 0
    live.session.tree.add_optimistic("U4", user_message_seed(["from the phone"]), parent=tip)
    assert keys(phone) == ["U1", "R1", "U4"] and phone.browsing() is None
    move = laptop.arrived(live.session.tree.nodes["U4"], live=True)
    assert keys(laptop) == ["U1", "R1", "U4"]
    assert move is not None and move.selection.index == 0  # "now on branch 1/2"


def test_a_late_start_on_an_older_branch_does_not_pull_the_view_back() -> None:
    """A prompt, edited before its run started: the first prompt's run starts after the
    edit, yet the view stays on the edit, the newest move."""
    script, session = Script(), Session()
    script.prompt("U1", "Hi")
    script.prompt("U2", "Hi, edited", fork_of="U1")
    script.answer("R1", "U1", "late answer to the first")
    session.feed(script.hub.live)
    assert keys(session.view) == ["U2"]


def test_a_regenerate_counts_from_its_signal_not_its_run_start() -> None:
    """Regenerate, then edit the prompt before the regenerated run starts: the edit is newer."""
    live = Live()
    answer = live.answer_of("R1")
    live.script.hub.send(regenerate(InputHeaders("G", "E9", parent="U1", msg_regenerate=answer)))
    live.script.prompt("U2", "edit", fork_of="U1")
    live.script.answer("R2", "G", "regenerated", parent="U1", msg_regenerate=answer)
    live.fold()
    assert keys(live.session.view) == ["U2"]


def test_a_reader_opens_where_the_newest_move_is_not_on_the_newest_siblings() -> None:
    """An edit made a second branch, then the conversation went on on the first one: a
    fresh reader opens on the first (the newest prompt), not on the newest sibling."""
    script, session = base()
    answer = None
    script.prompt("U2", "edit", fork_of="U1")
    script.answer("R2", "U2", "answer to the edit", fork_of="U1")
    session.feed(script.hub.live)
    answer = session.tree.run("R1").codec_message_ids()[0]
    script.prompt("U3", "back on the first branch", parent=answer)
    session.feed_pages(script.hub.history(), 2)
    assert keys(session.view) == ["U1", "R1", "U3"]
    assert session.view.branch_selection("U1").index == 0


def test_runs_lists_only_the_visible_branch_while_the_tree_has_every_run() -> None:
    script, session = base()
    script.prompt("U2", "edit", fork_of="U1")
    script.answer("R2", "U2", "answer", fork_of="U1")
    session.feed(script.hub.live)
    assert [r.run_id for r in session.view.runs()] == ["R2"]
    assert [r.run_id for r in session.tree.runs()] == ["R1", "R2"]


def test_descendants_follow_the_selected_member() -> None:
    script, session = base()
    session.feed(script.hub.live)
    a1 = session.tree.run("R1").codec_message_ids()[0]
    script.prompt("U3", "follow-up", parent=a1)
    script.answer("R3", "U3", "more")
    script.prompt("U2", "edit", fork_of="U1")
    session.feed(script.hub.live)
    session.view.select("U1", 0)
    assert [n.key for n in session.view.nodes()] == ["U1", "R1", "U3", "R3"]
    session.view.select("U1", 1)
    assert [n.key for n in session.view.nodes()] == ["U2"]


def test_several_views_share_one_tree_with_independent_selection() -> None:
    script, session = base()
    script.prompt("U2", "edit", fork_of="U1")
    session.feed(script.hub.live)
    other = View(session.tree)
    other.select("U1", 0)
    assert next(n.key for n in other.nodes()) == "U1"
    assert next(n.key for n in session.view.nodes()) == "U2"


def test_visibility_walks_parent_links_not_sort_order() -> None:
    """A child sorted before its parent (no serial yet on the parent) is still visible."""
    script, session = base()
    session.feed(script.hub.live)
    a1 = session.tree.run("R1").codec_message_ids()[0]
    session.tree.add_optimistic("U2", user_message_seed(["next"]), parent=a1)
    assert cmids(session) == ["U1", a1, "U2"]
    assert all(not isinstance(n, RunNode) or n.run_id == "R1" for n in session.view.nodes())
