"""Issue 11's rules with two app instances on one session (real hub, real agent over HTTP):
every device follows the conversation and says who moved it; a device browsing an older
branch says so and sends there; only the turn owner's user may approve or deny."""

from __future__ import annotations

from typing import Any

from tests.support.hub import HubEndpoint
from tests.tui.helpers import chat_app, palette_hit, recorded_notices, turns, two_apps, wait_for
from tests.tui.scripted_agent import ScriptedAgent
from tui_session.tui.widgets import ActiveTurnsStrip, Composer, PromptItem, WirePane


def strip(app: Any) -> str:
    return str(app.chat.query_one(ActiveTurnsStrip).render())


def prompts(app: Any) -> list[str]:
    return [p.view.text for p in app.chat.query(PromptItem)]


async def ask(app: Any, pilot: Any, text: str) -> None:
    """Type a prompt and send it; wait until its answer ended."""
    app.chat.query_one(Composer).text = text
    await pilot.press("enter")
    await wait_for(
        pilot,
        lambda: text in prompts(app) and turns(app) and turns(app)[-1].view.terminal,
        what=f"{text!r} answered",
    )


async def edited(laptop: Any, a: Any, old: str, new: str) -> None:
    """F2 on the laptop, the prompt replaced, Enter: an edit (a second branch)."""
    await wait_for(a, lambda: laptop.chat.can_edit)
    await a.press("f2")
    composer = laptop.chat.query_one(Composer)
    assert composer.text == old
    composer.text = new
    await a.press("enter")
    await wait_for(
        a,
        lambda: prompts(laptop) == [new] and turns(laptop) and turns(laptop)[0].view.terminal,
        what="the edit answered",
    )


async def test_an_edit_on_the_laptop_moves_the_phone_and_says_who(
    hub: HubEndpoint, agent: ScriptedAgent, channel: str
) -> None:
    laptop = chat_app(hub, channel, "alice", device="laptop", agent_url=agent.url)
    phone = chat_app(hub, channel, "alice", device="phone", agent_url=agent.url)
    async with two_apps(laptop, phone) as (a, b):
        await ask(laptop, a, "short A")
        await wait_for(b, lambda: prompts(phone) == ["short A"], what="the phone shows A")
        await edited(laptop, a, "short A", "short A edited")
        await wait_for(b, lambda: prompts(phone) == ["short A edited"], what="the phone follows")
        await wait_for(
            b,
            lambda: "alice · laptop edited: now on branch 2/2" in strip(phone),
            what="who moved it",
        )
        assert "edited" not in strip(laptop)  # its own move says nothing
        [prompt] = phone.chat.query(PromptItem)
        header = str(prompt.query_one(".entry-header").render())
        assert "you · laptop" in header and "branch 2/2" in header
        # the conversation goes on elsewhere: the line stays for whoever looks at the phone
        await ask(laptop, a, "short B")
        await wait_for(b, lambda: prompts(phone) == ["short A edited", "short B"])
        assert "alice · laptop edited: now on branch 2/2" in strip(phone)
        await ask(phone, b, "short C")  # until the phone itself goes on
        await wait_for(b, lambda: "edited" not in strip(phone), what="the line cleared")


async def test_the_phone_browses_an_older_branch_sends_there_and_the_laptop_follows(
    hub: HubEndpoint, agent: ScriptedAgent, channel: str
) -> None:
    laptop = chat_app(hub, channel, "alice", device="laptop", agent_url=agent.url)
    phone = chat_app(hub, channel, "alice", device="phone", agent_url=agent.url)
    async with two_apps(laptop, phone) as (a, b):
        await ask(laptop, a, "first try")
        await edited(laptop, a, "first try", "second try")
        await wait_for(b, lambda: prompts(phone) == ["second try"] and turns(phone))
        await wait_for(b, lambda: turns(phone)[0].view.terminal and phone.chat.has_branches)
        await b.press("f4")  # browse back to the first branch, on purpose
        await wait_for(b, lambda: prompts(phone) == ["first try"], what="the first branch")
        await wait_for(
            b, lambda: "viewing branch 1/2 · F4 next" in strip(phone), what="the indicator"
        )
        assert prompts(laptop) == ["second try"]  # browsing moves nobody else
        first_answer = turns(phone)[0].view.messages[-1].cmid

        phone.chat.query_one(Composer).text = "third, from the phone"
        await b.press("enter")
        await wait_for(
            b,
            lambda: prompts(phone) == ["first try", "third, from the phone"],
            what="the phone's prompt under what it showed",
        )
        await wait_for(b, lambda: "viewing branch" not in strip(phone), what="no longer browsing")
        session = laptop.chat.controller.session
        await wait_for(
            a,
            lambda: prompts(laptop) == ["first try", "third, from the phone"],
            what="the laptop follows",
        )
        third = next(p for p in laptop.chat.query(PromptItem) if p.view.text.startswith("third"))
        assert session.state.tree.nodes[third.view.cmid].parent == first_answer  # on the wire
        assert "you · phone" in str(third.query_one(".entry-header").render())
        await wait_for(
            a,
            lambda: "alice · phone sent: now on branch 1/2" in strip(laptop),
            what="who moved the laptop",
        )


async def test_another_user_cannot_approve_and_is_told_why(
    hub: HubEndpoint, agent: ScriptedAgent, channel: str
) -> None:
    """bob presses alt+y on alice's tool call: nothing changes for the turn, anywhere, and
    he is told who may decide; approve/deny are not in his footer. alice then approves."""
    laptop = chat_app(hub, channel, "alice", device="laptop", agent_url=agent.url)
    desktop = chat_app(hub, channel, "bob", device="desktop", agent_url=agent.url)
    async with two_apps(laptop, desktop) as (a, b):
        laptop.chat.query_one(Composer).text = "delete my temp files"
        await a.press("enter")
        await wait_for(a, lambda: laptop.chat.approval, what="alice may approve")
        await wait_for(b, lambda: desktop.chat.approval_refused, what="bob sees it waiting")
        item = turns(desktop)[0]
        await wait_for(b, lambda: item.query(".approval"))
        label = str(item.query_one(".approval-label").render())
        assert "needs approval · only alice may decide" in label
        assert desktop.chat.check_action("approve", ()) is False  # not in his footer
        assert desktop.chat.check_action("deny", ()) is False

        notices = recorded_notices(desktop)
        await b.press("alt+y")
        await wait_for(b, lambda: any("only alice" in n for n in notices), what="bob told why")
        told = next(n for n in notices if "only alice" in n)
        assert "may not approve or deny delete_files" in told and "Nothing was changed" in told
        notices.clear()  # the palette's "Approve delete_files" says the same
        await b.press("ctrl+p")
        await b.press(*"approve")
        await wait_for(b, lambda: palette_hit(desktop, "Approve delete_files"), what="palette")
        await b.press("enter")
        await wait_for(b, lambda: any("only alice" in n for n in notices))
        for app in (laptop, desktop):
            view = turns(app)[0].view
            assert view.status == "suspended" and view.pending_approvals and not view.decisions

        await a.press("alt+y")  # the owner decides
        await wait_for(b, lambda: item.view.status == "complete", what="resumed and done")
        (decision,) = item.view.decisions
        assert decision.approved and decision.by.client_id == "alice"
        assert "approved by alice · laptop" in str(item.query_one(".tool").title)
        inputs = [r.client_id for r in laptop.chat.query_one(WirePane).rows if r.name == "ai-input"]
        assert inputs and "bob" not in inputs  # bob's terminal published no decision
