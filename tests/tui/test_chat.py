"""Pilot tests of the terminal client on a real in-process hub, real ClientSessions and a
scripted agent built on the transport's AgentSession."""

from __future__ import annotations

import asyncio

from tests.proxy import CuttableProxy
from tests.support.hub import HubEndpoint
from tests.tui.helpers import chat_app, ready, turns, wait_for
from tests.tui.scripted_agent import ScriptedAgent
from tui_session.transport.client import ClientSession
from tui_session.tui.widgets import Composer, ConnectionBanner, PresenceBar, PromptItem, WirePane


async def test_send_prompt_streams_into_one_turn_widget(
    hub: HubEndpoint, agent: ScriptedAgent, channel: str
) -> None:
    await agent.join(channel)
    app = chat_app(hub, channel, agent_url=agent.url)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: ready(app), what="session open")
        composer = app.chat.query_one(Composer)
        composer.text = "hello there"
        await pilot.press("enter")
        await wait_for(pilot, lambda: turns(app) and turns(app)[0].view.terminal, what="turn end")
        assert len(turns(app)) == 1
        item = turns(app)[0]
        await wait_for(pilot, lambda: "second point" in item.query_one(".answer").source)
        assert item.view.own and item.view.status == "complete"
        assert item.has_class("-own")
        prompts = list(app.chat.query(PromptItem))
        assert [p.view.text for p in prompts] == ["hello there"]
        assert composer.text == ""


async def test_cancel_own_turn_with_escape(
    hub: HubEndpoint, agent: ScriptedAgent, channel: str
) -> None:
    app = chat_app(hub, channel, agent_url=agent.url)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: ready(app))
        app.chat.query_one(Composer).text = "slow story please"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.chat.mine_busy, what="own turn active")
        await wait_for(pilot, lambda: turns(app) and turns(app)[0].rendered_text, what="text")
        await pilot.press("escape")
        await wait_for(pilot, lambda: turns(app)[0].view.status == "cancelled", what="cancel")
        item = turns(app)[0]
        assert item.has_class("-cancelled")
        assert "cancelled" in str(item.query_one(".turn-marker").render())
        await wait_for(pilot, lambda: not app.chat.mine_busy)
        assert app.chat.check_action("cancel_mine", ()) is None  # dimmed when idle
        assert app.chat.check_action("approve", ()) is False  # hidden: nothing to approve


async def test_my_other_devices_turn_is_mine_here_and_esc_cancels_it(
    hub: HubEndpoint, agent: ScriptedAgent, channel: str
) -> None:
    """Mine = my user's: the laptop shows the phone's turn as mine ("your turn · phone"),
    and Esc on the laptop cancels it."""
    app = chat_app(hub, channel, device="laptop", agent_url=agent.url)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: ready(app))
        phone = await ClientSession.connect(
            hub.realtime("alice"), channel, agent_url=agent.url, device="phone"
        )
        try:
            await wait_for(
                pilot,
                lambda: "phone" in str(app.chat.query_one(PresenceBar).render()),
                what="the phone in the presence bar",
            )
            await phone.send("slow tell me a story")
            await wait_for(pilot, lambda: turns(app) and turns(app)[0].rendered_text, what="live")
            item = turns(app)[0]
            assert item.view.own and item.has_class("-own") and not item.view.this_device
            assert "your turn · phone" in str(item.query_one(".entry-header").render())
            assert item.view.status == "active"
            await wait_for(pilot, lambda: app.chat.mine_busy, what="the phone's turn is mine")
            await pilot.press("escape")
            await wait_for(pilot, lambda: item.view.status == "cancelled", what="cancelled")
            assert phone.turn(item.view.run_id).status == "cancelled"
            assert item.view.cancelled_by.client_id == "alice"
            assert item.view.cancelled_by.device == "laptop"
        finally:
            await phone.close()


async def test_steer_cancel_and_send_and_send_alongside(
    hub: HubEndpoint, agent: ScriptedAgent, channel: str
) -> None:
    app = chat_app(hub, channel, agent_url=agent.url)
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_for(pilot, lambda: ready(app))
        composer = app.chat.query_one(Composer)
        composer.text = "slow first"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.chat.mine_busy)
        await wait_for(pilot, lambda: turns(app) and turns(app)[0].rendered_text)
        # Enter while my turn runs does not send; the text stays
        composer.text = "about mountains"
        await pilot.press("enter")
        assert composer.text == "about mountains"
        await pilot.press("ctrl+r")  # steer
        first = turns(app)[0]
        await wait_for(pilot, lambda: first.view.terminal, what="steered turn ends")
        assert first.view.status == "complete"
        assert [s.text for s in first.view.steers] == ["about mountains"]
        assert "Echo: about mountains" in first.rendered_text
        assert first.query(".steer")

        # send alongside: a second turn while the first runs
        composer.text = "slow second"
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(turns(app)) == 2 and turns(app)[1].rendered_text)
        composer.text = "third alongside"
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: len(turns(app)) == 3 and turns(app)[2].view.terminal)
        assert turns(app)[1].view.status == "active"

        # cancel and send: the running turn is cancelled, the text is a new turn
        composer.text = "replacement"
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: len(turns(app)) == 4 and turns(app)[3].view.terminal)
        await wait_for(pilot, lambda: turns(app)[1].view.status == "cancelled")
        assert "Echo: replacement" in turns(app)[3].rendered_text


async def test_cancel_all_needs_a_second_press(
    hub: HubEndpoint, agent: ScriptedAgent, channel: str
) -> None:
    app = chat_app(hub, channel, agent_url=agent.url)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: ready(app))
        bob = await ClientSession.connect(
            hub.realtime("bob"), channel, agent_url=agent.url, device="desktop"
        )
        try:
            await bob.send("slow bob's question")
            await wait_for(pilot, lambda: turns(app) and turns(app)[0].rendered_text)
            await pilot.press("ctrl+g")
            assert turns(app)[0].view.status == "active"  # first press only asks
            await pilot.press("ctrl+g")
            await wait_for(pilot, lambda: turns(app)[0].view.label != "streaming")
            # bob's run: alice is not its owner, so the agent's policy may refuse;
            # either way this device shows that it asked
            assert turns(app)[0].view.cancel_requested
        finally:
            await bob.close()


async def test_load_older(hub: HubEndpoint, agent: ScriptedAgent, channel: str) -> None:
    writer = await ClientSession.connect(hub.realtime("bob"), channel, agent_url=None, device="d")
    for i in range(8):
        await writer.send(f"old prompt {i}", invoke=False)
    await writer.close()
    app = chat_app(hub, channel, agent_url=agent.url, initial_messages=3)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: ready(app) and app.chat.has_older)
        before = len(app.chat.query(PromptItem))
        assert before == 3
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: len(app.chat.query(PromptItem)) == 8)
        texts = [p.view.text for p in app.chat.query(PromptItem)]
        assert texts == [f"old prompt {i}" for i in range(8)]
        assert not app.chat.has_older


async def test_wire_pane_shows_raw_events(
    hub: HubEndpoint, agent: ScriptedAgent, channel: str
) -> None:
    app = chat_app(hub, channel, agent_url=agent.url)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: ready(app))
        wire = app.chat.query_one(WirePane)
        assert not wire.display
        await pilot.press("ctrl+l")
        assert wire.display
        app.chat.query_one(Composer).text = "hello wire"
        await pilot.press("enter")
        await wait_for(pilot, lambda: turns(app) and turns(app)[0].view.terminal)
        await wait_for(pilot, lambda: any(r.name == "ai-run-end" for r in wire.rows))
        names = [r.name for r in wire.rows]
        assert "ai-input" in names and "ai-run-start" in names and "ai-output" in names
        start = next(r for r in wire.rows if r.name == "ai-run-start")
        assert start.serial and start.client_id == "agent" and "run-id" in start.headers
        assert {r.action for r in wire.rows} >= {"create", "append"}


async def test_disconnect_banner_and_resume(
    hub: HubEndpoint, agent: ScriptedAgent, channel: str
) -> None:
    proxy = CuttableProxy(hub.host, hub.port)
    await proxy.start()
    endpoint = HubEndpoint(hub.host, proxy.port, hub.key, hub.data_dir)
    fast_retry = {"disconnected_retry_timeout": 200, "realtime_request_timeout": 2_000}
    app = chat_app(endpoint, channel, agent_url=agent.url, realtime_options=fast_retry)
    back = CuttableProxy(hub.host, hub.port)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: ready(app))
            app.chat.query_one(Composer).text = "slow before the cut"
            await pilot.press("enter")
            await wait_for(pilot, lambda: turns(app) and turns(app)[0].rendered_text)
            await proxy.stop()  # cut, and refuse reconnects for a while
            banner = app.chat.query_one(ConnectionBanner)
            await wait_for(pilot, lambda: banner.display, what="banner")
            assert "reconnecting" in str(banner.render())
            agent.release.set()  # the answer finishes while this device is away
            await wait_for(pilot, lambda: agent.runs and agent.runs[0].status == "complete")
            back.port = proxy.port  # the same address comes back
            back._server = await asyncio.start_server(back._handle, "127.0.0.1", proxy.port)
            await wait_for(pilot, lambda: not banner.display, timeout=20, what="reconnect")
            await wait_for(pilot, lambda: turns(app)[0].view.status == "complete")
            item = turns(app)[0]
            await wait_for(pilot, lambda: "second point" in item.rendered_text)
            assert item.rendered_text.count("Echo:") == 1  # no duplicate after catching up
            assert len(turns(app)) == 1
            assert "disconnected" in app.chat.connection_log
    finally:
        await back.stop()
        await endpoint.close_clients()


async def test_approve_a_tool_call_from_the_other_device(
    hub: HubEndpoint, agent: ScriptedAgent, channel: str
) -> None:
    """alice's laptop asks; her desktop approves (the owner's user, any of her devices)."""
    app = chat_app(hub, channel, client_id="alice", device="desktop", agent_url=agent.url)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: ready(app))
        alice = await ClientSession.connect(
            hub.realtime("alice"), channel, agent_url=agent.url, device="laptop"
        )
        try:
            await alice.send("delete my temp files")
            await wait_for(pilot, lambda: app.chat.approval, what="approval offered")
            item = turns(app)[0]
            await wait_for(pilot, lambda: item.query(".approval"))
            assert app.chat.check_action("approve", ()) is True
            await pilot.press("f8")
            await wait_for(pilot, lambda: item.view.status == "complete", what="resumed, done")
            assert "Done: deleted 3 files." in item.rendered_text
            assert not app.chat.approval
            (decision,) = item.view.decisions
            assert decision.approved and (decision.by.client_id, decision.by.device) == (
                "alice",
                "desktop",
            )
            tool = item.query_one(".tool")
            assert "approved by alice · desktop" in str(tool.title)
            assert alice.turn(item.view.run_id).status == "complete"
        finally:
            await alice.close()


async def test_edit_last_prompt(hub: HubEndpoint, agent: ScriptedAgent, channel: str) -> None:
    app = chat_app(hub, channel, agent_url=agent.url)
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_for(pilot, lambda: ready(app))
        composer = app.chat.query_one(Composer)
        composer.text = "original question"
        await pilot.press("enter")
        await wait_for(pilot, lambda: turns(app) and turns(app)[0].view.terminal)
        await wait_for(pilot, lambda: app.chat.can_edit)
        await pilot.press("f2")
        assert composer.text == "original question" and composer.editing
        composer.text = "edited question"
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: (
                [p.view.text for p in app.chat.query(PromptItem)] == ["edited question"]
                and turns(app)
                and turns(app)[0].view.terminal
            ),
            what="the edit's branch",
        )
        assert "Echo: edited question" in turns(app)[0].rendered_text
        assert app.chat.has_branches  # regenerate and switch branch: test_branches.py
