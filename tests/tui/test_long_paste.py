"""A paste longer than the session's message size limit: the composer keeps the draft and says
the limit in words, and nothing reaches the channel; up to the limit, it is sent."""

from __future__ import annotations

import pytest
from textual import events

from tests.support.hub import HubEndpoint
from tests.tui.helpers import chat_app, ready, turns, wait_for
from tests.tui.scripted_agent import ScriptedAgent
from tui_session.transport.message_size import MessageTooLarge, draft_oversize
from tui_session.tui.app import ChatApp
from tui_session.tui.widgets import Composer, PromptItem

PASTE = "0123456789abcdef" * (96 * 1024 // 16)  # 96 KB


async def inputs_on_the_channel(hub: HubEndpoint, channel: str) -> list[str]:
    page = await hub.rest("reader").channels.get(channel).history()
    return [item.data for item in page.items if item.name == "ai-input"]


def shown(app: ChatApp) -> list[str]:
    return [str(toast.message) for toast in app._notifications]


async def test_a_96_kb_paste_stays_in_the_composer_with_the_limit_in_words(
    hub: HubEndpoint, channel: str
) -> None:
    app = chat_app(hub, channel, agent_url=None)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: ready(app), what="session open")
        composer = app.chat.query_one(Composer)
        app.post_message(events.Paste(PASTE))  # as the terminal driver does
        await wait_for(pilot, lambda: composer.text == PASTE, what="the paste in the composer")
        await pilot.press("enter")
        await wait_for(pilot, lambda: composer.has_class("-refused"), what="the refusal")

        room = draft_oversize(app.chat.controller.session, PASTE).room
        words = (
            f"This message is 96 KB, over the session's limit of {room / 1024:.1f} KB per "
            "message. Shorten it or split it."
        )
        assert 63 * 1024 < room < 64 * 1024
        assert composer.text == PASTE, "the draft is kept"
        assert composer.border_title == words
        assert words in shown(app)
        assert not list(app.chat.query(PromptItem)), "nothing was folded"
        assert await inputs_on_the_channel(hub, channel) == [], "nothing was published"

        # Shortened to what fits, it goes out; the refusal clears as the text changes.
        composer.text = PASTE[:room]
        await pilot.pause()
        assert not composer.has_class("-refused") and not composer.border_title
        await pilot.press("enter")
        await wait_for(pilot, lambda: list(app.chat.query(PromptItem)), what="the prompt")
        assert composer.text == ""
        assert await inputs_on_the_channel(hub, channel) == [PASTE[:room]]


async def test_a_steer_too_large_is_refused_the_same_way(
    hub: HubEndpoint, agent: ScriptedAgent, channel: str
) -> None:
    app = chat_app(hub, channel, agent_url=agent.url)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: ready(app), what="session open")
        composer = app.chat.query_one(Composer)
        composer.text = "slow story please"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.chat.mine_busy, what="my turn running")
        await wait_for(pilot, lambda: turns(app) and turns(app)[0].rendered_text, what="text")

        app.post_message(events.Paste(PASTE))  # as the terminal driver does
        await wait_for(pilot, lambda: composer.text == PASTE, what="the paste in the composer")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: composer.has_class("-refused"), what="the refusal")
        assert composer.text == PASTE
        assert str(composer.border_title).startswith("This message is 96 KB, over the session")
        assert turns(app)[0].view.steers == ()
        # the session refuses it too, for any caller, before publishing
        with pytest.raises(MessageTooLarge):
            await app.chat.controller.session.steer(turns(app)[0].view.run_id, PASTE)
        assert await inputs_on_the_channel(hub, channel) == ["slow story please"]
        agent.release.set()
        await wait_for(pilot, lambda: turns(app)[0].view.terminal, what="the turn ends")
        assert await inputs_on_the_channel(hub, channel) == ["slow story please"]
