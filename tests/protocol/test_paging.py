"""docs/wire.md §3.10 / §9.37: `loadOlder(n)` reveals exactly n older messages while history
lasts, runs are revealed whole (trimmed in messages, whole in runs), `hasOlder()` ends false."""

from __future__ import annotations

from tui_session.protocol.paging import Window

from .helpers import Script, Session, as_history


def conversation(turns: int) -> Script:
    script = Script()
    parent = None
    for i in range(turns):
        cmid = f"U{i}"
        script.prompt(cmid, f"question {i}", parent=parent)
        _, parent = script.answer(f"R{i}", cmid, f"answer {i}")
    return script


class Paged:
    """A session that reads history in pages of `page_size` wire messages, newest first."""

    def __init__(self, script: Script, page_size: int) -> None:
        self.session = Session()
        self.window = Window(self.session.view)
        history = as_history(script.hub.live)
        newest_first = list(reversed(history))
        self.pages = [
            list(reversed(newest_first[i : i + page_size]))
            for i in range(0, len(newest_first), page_size)
        ]

    def load_older(self, n: int) -> int:
        shown = 0
        while True:
            result = self.window.reveal(n - shown)
            shown += result.revealed
            if result.shortfall == 0 or self.window.history_exhausted:
                return shown
            if self.pages:
                self.session.feed(self.pages.pop(0))
            if not self.pages:
                self.window.history_exhausted = True

    def texts(self) -> list[str]:
        out = []
        for _, msg in self.window.messages():
            item = msg["items"][0]
            out.append("".join(p.get("text", "") for p in item.get("content", [])))
        return out


def test_load_older_reveals_exact_counts_and_has_older_ends_false() -> None:
    for page_size in (1, 2, 3, 7, 100):
        paged = Paged(conversation(4), page_size)
        assert paged.load_older(3) == 3, page_size
        assert paged.texts() == ["answer 2", "question 3", "answer 3"], page_size
        assert paged.window.has_older()
        assert paged.load_older(2) == 2
        assert paged.texts()[0] == "answer 1"
        assert paged.load_older(10) == 3  # only three are left
        assert paged.texts() == [f"{kind} {i}" for i in range(4) for kind in ("question", "answer")]
        assert not paged.window.has_older(), page_size


def test_runs_are_never_split_and_the_overshoot_is_trimmed() -> None:
    script = Script()
    script.prompt("U0", "two part", "prompt")
    run = script.run_headers("R0", "U0", parent="U0")
    script.start(run)
    from .helpers import text_events

    script.pipe(run, "A1", text_events("msg_1", "first"))
    script.pipe(run, "A2", text_events("msg_2", "second"), step_id="s2")
    script.hub.send(run.run_end())
    paged = Paged(script, 2)
    assert paged.load_older(1) == 1
    assert [cmid for cmid, _ in paged.window.messages()] == ["A2"]
    assert [r.run_id for r in paged.window.runs()] == ["R0"]  # the whole run, trimmed
    assert paged.window.withheld() >= 1
    assert paged.load_older(1) == 1
    assert [cmid for cmid, _ in paged.window.messages()] == ["A1", "A2"]


def test_live_messages_show_at_once_and_older_history_stays_withheld() -> None:
    script = conversation(2)
    paged = Paged(script, 100)
    assert paged.load_older(1) == 1
    before = len(script.hub.live)
    script.prompt("U9", "live question", parent="x")
    paged.session.feed(script.hub.live[before:])
    assert paged.texts() == ["answer 1", "live question"]


def test_optimistic_prompt_shows_before_any_reveal() -> None:
    session = Session()
    window = Window(session.view)
    from tui_session.protocol import user_message_seed

    session.tree.add_optimistic("U1", user_message_seed(["hi"]))
    assert [cmid for cmid, _ in window.messages()] == ["U1"]


def test_empty_history() -> None:
    window = Window(Session().view)
    window.history_exhausted = True
    result = window.reveal(10)
    assert result.revealed == 0 and not window.has_older()
