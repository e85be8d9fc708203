"""docs/wire.md §3.8, §3.9 (sibling groups, visibility) and §3.10 (branch selection)."""

from __future__ import annotations

from tui_session.protocol import InputHeaders, RunNode, regenerate, user_message_seed

from .helpers import Script, Session


def base() -> tuple[Script, Session]:
    script = Script()
    script.prompt("U1", "Hi")
    script.answer("R1", "U1", "Hello")
    return script, Session()


def cmids(session: Session) -> list[str]:
    return [c for c, _ in session.view.messages()]


def feed_new(session: Session, script: Script, since: int) -> int:
    session.feed(script.hub.live[since:])
    return len(script.hub.live)


def test_edit_is_a_sibling_input_and_the_default_member_is_the_newest() -> None:
    script, session = base()
    script.prompt("U2", "Hi, edited", fork_of="U1")
    script.answer("R2", "U2", "Hello again", fork_of="U1")
    session.feed(script.hub.live)
    assert cmids(session)[0] == "U2" and session.view.runs()[0].run_id == "R2"
    selection = session.view.branch_selection("U1")
    assert selection.has_siblings and selection.siblings == ["U1", "U2"]
    assert selection.index == 1


def test_an_edit_made_elsewhere_does_not_move_the_view() -> None:
    script, session = base()
    n = feed_new(session, script, 0)
    assert cmids(session)[0] == "U1"
    script.prompt("U2", "edited on the phone", fork_of="U1")
    script.answer("R2", "U2", "other answer", fork_of="U1")
    feed_new(session, script, n)
    assert cmids(session)[0] == "U1"
    assert session.view.branch_selection("U1").index == 0


def test_own_edit_selects_the_new_branch() -> None:
    script, session = base()
    feed_new(session, script, 0)
    cmids(session)
    session.tree.add_optimistic("U2", user_message_seed(["mine"]), fork_of="U1")
    session.view.follow("U2")
    assert cmids(session) == ["U2"]


def test_a_regenerate_made_elsewhere_rolls_the_view_forward() -> None:
    script, session = base()
    n = feed_new(session, script, 0)
    first = cmids(session)
    script.hub.send(regenerate(InputHeaders("G", "E9", parent="U1", msg_regenerate=first[1])))
    script.answer("R2", "G", "Another hello", parent="U1", msg_regenerate=first[1])
    feed_new(session, script, n)
    assert [r.run_id for r in session.view.runs()] == ["R2"]
    assert session.view.branch_selection(first[1]).siblings == ["R1", "R2"]


def test_explicit_selection_is_remembered_and_survives_new_siblings() -> None:
    script, session = base()
    script.answer("R2", "G", "second", parent="U1", msg_regenerate="x")
    n = feed_new(session, script, 0)
    a1 = session.tree.run("R1").codec_message_ids()[0]
    session.view.select(a1, 0)
    assert [r.run_id for r in session.view.runs()] == ["R1"]
    script.answer("R3", "G2", "third", parent="U1", msg_regenerate="x")
    feed_new(session, script, n)
    assert [r.run_id for r in session.view.runs()] == ["R1"]
    assert session.view.branch_selection(a1).siblings == ["R1", "R2", "R3"]


def test_own_regenerate_selects_its_run_even_after_an_explicit_choice() -> None:
    script, session = base()
    script.answer("R2", "G", "second", parent="U1", msg_regenerate="x")
    n = feed_new(session, script, 0)
    session.view.select("R1", 0)
    session.view.follow("G3")
    script.answer("R3", "G3", "mine", parent="U1", msg_regenerate="x")
    feed_new(session, script, n)
    assert [r.run_id for r in session.view.runs()] == ["R3"]


def test_runs_lists_only_the_visible_branch_while_the_tree_has_every_run() -> None:
    script, session = base()
    script.prompt("U2", "edit", fork_of="U1")
    script.answer("R2", "U2", "answer", fork_of="U1")
    session.feed(script.hub.live)
    assert [r.run_id for r in session.view.runs()] == ["R2"]
    assert [r.run_id for r in session.tree.runs()] == ["R1", "R2"]


def test_descendants_follow_the_selected_member() -> None:
    script, session = base()
    a1 = None
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
    from tui_session.protocol import View

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
