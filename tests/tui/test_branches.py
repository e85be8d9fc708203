"""Regenerate (f3) and switch branch (f4) on a real hub and the scripted agent.

This was flaky because `ClientSession.turn()` returned a snapshot without the branch: a
regenerated run redrawn from a per-turn update (every 50 ms while it streams) lost its
"branch 2/2" until the next structural update. `turn()` and `prompt()` now carry it."""

from __future__ import annotations

from tests.support.hub import HubEndpoint
from tests.tui.helpers import chat_app, ready, turns, wait_for
from tests.tui.scripted_agent import ScriptedAgent
from tui_session.tui.widgets import Composer


async def test_regenerate_then_switch_branch(
    hub: HubEndpoint, agent: ScriptedAgent, channel: str
) -> None:
    app = chat_app(hub, channel, agent_url=agent.url)
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_for(pilot, lambda: ready(app))
        app.chat.query_one(Composer).text = "question"
        await pilot.press("enter")
        await wait_for(pilot, lambda: turns(app) and turns(app)[0].view.terminal)
        first = turns(app)[0].view.run_id
        await wait_for(pilot, lambda: app.chat.check_action("regenerate", ()) is True)
        await pilot.press("f3")
        await wait_for(
            pilot,
            lambda: (
                len(turns(app)) == 1
                and turns(app)[0].view.run_id != first
                and turns(app)[0].view.terminal
            ),
            what="the regenerated answer",
        )
        second = turns(app)[0].view
        assert second.branch is not None and second.branch.siblings == [first, second.run_id]
        assert second.branch.index == 1
        assert "branch 2/2" in str(turns(app)[0].query_one(".entry-header").render())
        await wait_for(pilot, lambda: app.chat.has_branches)
        await pilot.press("f4")
        await wait_for(pilot, lambda: turns(app) and turns(app)[0].view.run_id == first)
        assert turns(app)[0].view.branch.index == 0
        await wait_for(
            pilot, lambda: "branch 1/2" in str(turns(app)[0].query_one(".entry-header").render())
        )
        await pilot.press("f4")  # and on to the regenerated answer again
        await wait_for(pilot, lambda: turns(app)[0].view.run_id == second.run_id)
