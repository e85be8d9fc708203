"""Pilot tests with other participants on the real agent service (offline demo model): a
second app instance on another device, and a web client built on the npm SDK."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.support.agent import demo_settings, post, running_agent
from tests.support.forms import npm_message_summaries
from tests.support.hub import HubEndpoint
from tests.support.npm import npm_client
from tests.tui.helpers import (
    chat_app,
    palette_hit,
    ready,
    recorded_notices,
    turns,
    two_apps,
    wait_for,
)
from tui_session.tui.widgets import ActiveTurnsStrip, Composer, PromptItem


def agent_url(agent) -> str:
    return f"http://127.0.0.1:{agent.port}"


async def test_second_app_sees_the_first_ones_turn_live_and_esc_there_cancels_it(
    hub: HubEndpoint, channel: str, tmp_path: Path
) -> None:
    """Issue 11: mine = my user's. The phone shows the laptop's turn live as its own
    ("your turn · laptop", "streaming: you · laptop"), Esc on the phone cancels it, and every
    device says who cancelled it."""
    async with running_agent(hub, demo_settings(demo_pace=10), tmp_path) as agent:
        laptop = chat_app(hub, channel, "alice", device="laptop", agent_url=agent_url(agent))
        phone = chat_app(hub, channel, "alice", device="phone", agent_url=agent_url(agent))
        async with two_apps(laptop, phone, ((100, 30), (80, 30))) as (a, b):
            laptop.chat.query_one(Composer).text = "tell me about the mountains"
            await a.press("enter")

            # the phone shows the laptop's turn while it streams, text growing
            await wait_for(b, lambda: turns(phone) and turns(phone)[0].rendered_text, what="live")
            seen = turns(phone)[0]
            first = len(seen.rendered_text)
            await wait_for(b, lambda: len(seen.rendered_text) > first, what="text growing")
            assert seen.view.status == "active" and seen.view.own and not seen.view.this_device
            assert seen.has_class("-own") and seen.has_class("-streaming")
            assert "your turn · laptop" in str(seen.query_one(".entry-header").render())
            [prompt] = phone.chat.query(PromptItem)
            assert "you · laptop" in str(prompt.query_one(".entry-header").render())
            strip = phone.chat.query_one(ActiveTurnsStrip)
            await wait_for(b, lambda: "streaming: you · laptop" in str(strip.render()))
            # Esc on the phone cancels the laptop's turn: it is mine there too
            await wait_for(b, lambda: phone.chat.check_action("cancel_mine", ()) is True)
            await b.press("escape")
            await wait_for(b, lambda: seen.view.status == "cancelled", what="phone: cancelled")
            mine = turns(laptop)[0]
            await wait_for(a, lambda: mine.view.status == "cancelled", what="laptop: cancelled")
            assert mine.view.run_id == seen.view.run_id
            for item, pilot in ((mine, a), (seen, b)):
                assert item.has_class("-cancelled")
                marker = item.query_one(".turn-marker")
                await wait_for(
                    pilot,
                    lambda marker=marker: "⏹ cancelled by alice · phone" in str(marker.render()),
                    what="who cancelled it",
                )
            await wait_for(a, lambda: mine.rendered_text, what="the partial answer stays")
            await wait_for(b, lambda: seen.rendered_text == mine.rendered_text)
            assert not laptop.chat.mine_busy and not phone.chat.mine_busy


async def test_another_users_palette_cancel_is_refused_and_he_is_told(
    hub: HubEndpoint, channel: str, tmp_path: Path
) -> None:
    """bob chooses "Cancel turn…" on alice's turn from the palette: the agent refuses it
    (only the owner or an operator may cancel), the turn completes on every device, and
    bob's terminal says his cancel was not applied."""
    # slow enough (~15 s) that the turn still runs when bob's palette lists it on a busy machine
    async with running_agent(hub, demo_settings(demo_pace=7), tmp_path) as agent:
        laptop = chat_app(hub, channel, "alice", device="laptop", agent_url=agent_url(agent))
        desktop = chat_app(hub, channel, "bob", device="desktop", agent_url=agent_url(agent))
        async with two_apps(laptop, desktop) as (a, b):
            laptop.chat.query_one(Composer).text = "tell me about the mountains"
            await a.press("enter")
            await wait_for(b, lambda: turns(desktop) and turns(desktop)[0].rendered_text)
            seen = turns(desktop)[0]
            assert not seen.view.own and "alice's turn" in str(
                seen.query_one(".entry-header").render()
            )
            assert desktop.chat.check_action("cancel_mine", ()) is None  # not his: dimmed
            notices = recorded_notices(desktop)
            await b.press("ctrl+p")
            await b.press(*"cancel")
            await wait_for(b, lambda: palette_hit(desktop, "Cancel turn"), what="palette hit")
            await b.press("down", "enter")
            await wait_for(b, lambda: seen.view.cancel_requested, what="cancel requested")
            await wait_for(b, lambda: seen.view.terminal, timeout=60, what="the turn's end")
            assert seen.view.status == "complete"
            assert seen.view.label == "completed (cancel not applied)"
            await wait_for(
                b,
                lambda: any("Cancel not applied" in n for n in notices),
                what="bob told",
            )
            assert "alice's turn completed" in next(n for n in notices if "Cancel not applied" in n)
            mine = turns(laptop)[0]
            await wait_for(a, lambda: mine.view.status == "complete")
            assert mine.view.cancelled_by is None


async def test_a_web_client_on_the_npm_sdk_is_an_observer_turn_with_the_same_text(
    hub: HubEndpoint, tmp_path: Path
) -> None:
    channel = f"session:{uuid.uuid4().hex[:8]}"
    async with running_agent(hub, demo_settings(), tmp_path) as agent:
        app = chat_app(hub, channel, "bob", device="desktop", agent_url=agent_url(agent))
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: ready(app))
            npm = await npm_client(hub, channel, "plain")  # clientId alice, no device
            try:
                first = await npm.next("invocation")
                status, ids = await post(agent, first["invocation"])
                assert status == 200
                result = await npm.next("result")
            finally:
                await npm.close()
            [npm_answer] = [m for m in npm_message_summaries(result) if m[1] == "assistant"]
            npm_text = "".join(item[2] for item in npm_answer[2] if item[0] == "message")
            assert "offline demo" in npm_text.lower()
            await wait_for(
                pilot,
                lambda: turns(app) and turns(app)[0].view.terminal,
                what="the npm client's turn, ended",
            )
            item = turns(app)[0]
            await wait_for(pilot, lambda: item.rendered_text == npm_text, what="identical text")
            assert item.view.run_id == ids["runId"] and item.view.status == "complete"
            assert not item.view.own and item.has_class("-observer")
            assert item.view.client_id == "alice"
            [prompt] = app.chat.query(PromptItem)
            assert prompt.view.text == "Hi there" and prompt.view.client_id == "alice"
            assert prompt.has_class("-observer")
            assert prompt.view.device is None  # the npm SDK sends no device header
