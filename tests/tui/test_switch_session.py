"""The palette's "Switch session…", driven with keys on a real hub: it opens the session's
channel (`session:<id>`, where the others are), refuses a bad id inline, leaves nothing of the
old session on screen, and gives the composer the keyboard. (The same path in a real terminal:
the scenario tests.)"""

from __future__ import annotations

from textual.widgets import Input

from tests.support.hub import HubEndpoint
from tests.tui.helpers import chat_app, ready, session_factory, wait_for
from tests.tui.scripted_agent import ScriptedAgent
from tui_session.config import Settings
from tui_session.sessions import JoinCommand
from tui_session.transport.client import ClientSession
from tui_session.tui.app import ChatApp, make_app
from tui_session.tui.options import ChatOptions
from tui_session.tui.screens.switch_session import SwitchSessionScreen
from tui_session.tui.widgets import Composer, ConnectionBanner, PresenceBar, PromptItem


def prompts(app: ChatApp) -> list[str]:
    return [item.view.text for item in app.chat.query(PromptItem)]


async def open_switch_dialog(app: ChatApp, pilot) -> None:
    await pilot.press("ctrl+p")
    await pilot.press(*"switch session")
    await wait_for(pilot, lambda: _palette_hit(app, "Switch session"), what="palette hit")
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, SwitchSessionScreen), what="dialog")


def _palette_hit(app: ChatApp, text: str) -> bool:
    from textual.command import CommandList

    lists = app.screen.query(CommandList)
    return bool(lists) and any(text in str(option.prompt) for option in lists.first().options)


async def test_switch_session_opens_the_sessions_channel_where_the_others_are(
    hub: HubEndpoint, agent: ScriptedAgent
) -> None:
    bob = await ClientSession.connect(
        hub.realtime("bob"), "session:second", agent_url=agent.url, device="desktop"
    )
    try:
        await bob.send("hello from the second session")
        app = chat_app(hub, "session:first", "alice", agent_url=agent.url)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: ready(app), what="first session open")
            await open_switch_dialog(app, pilot)

            # a bad id: the cause under the field, the dialog stays, nothing is opened
            await pilot.press(*"my notes")
            await pilot.press("enter")
            error = app.screen.query_one("#switch-error")
            await wait_for(pilot, lambda: error.display, what="inline error")
            assert "must not contain spaces" in str(error.render())
            assert isinstance(app.screen, SwitchSessionScreen)
            assert app.chat.controller.session.channel_name == "session:first"

            # corrected: the dialog closes and the session's channel opens
            app.screen.query_one(Input).value = ""
            await pilot.press(*"second", "enter")
            await wait_for(
                pilot,
                lambda: ready(app) and app.chat.controller.session.channel_name == "session:second",
                what="second session open",
            )
            await wait_for(pilot, lambda: prompts(app), what="the second session's transcript")
            assert prompts(app) == ["hello from the second session"]
            presence = app.chat.query_one(PresenceBar)
            await wait_for(pilot, lambda: "bob" in {m.client_id for m in presence.members})

            # the join command is the new session's, and the keyboard is the composer's
            assert app.chat.join_command == "tui-session chat --session second"
            assert isinstance(app.focused, Composer)
            await pilot.press(*"typed after switching", "enter")
            await wait_for(
                pilot,
                lambda: "typed after switching" in [p.text for p in _prompts_of(bob)],
                what="alice's prompt on the second session's channel",
            )
    finally:
        await bob.close()


def _prompts_of(session: ClientSession) -> list:
    return [entry for entry in session.transcript() if entry.kind == "prompt"]


async def test_switching_clears_the_old_sessions_error_banner(hub: HubEndpoint) -> None:
    working = session_factory(hub, "alice")

    async def factory(channel_name: str):
        if channel_name == "session:broken":
            raise RuntimeError("the hub said no")
        return await working(channel_name)

    options = ChatOptions(
        session_name="session:broken", spinner=False, notify=False, join=JoinCommand()
    )
    app = make_app(Settings(), factory, options)
    async with app.run_test(size=(100, 30)) as pilot:
        banner = app.chat.query_one(ConnectionBanner)
        await wait_for(pilot, lambda: banner.display, what="the open failure banner")
        assert "the hub said no" in str(banner.render())

        await open_switch_dialog(app, pilot)
        await pilot.press(*"working", "enter")
        await wait_for(pilot, lambda: ready(app), what="the new session open")
        assert not banner.display, "the old session's error is gone"
        assert app.chat.controller.session.channel_name == "session:working"
        assert isinstance(app.focused, Composer)
        app.chat.show_join_command()
        assert app.clipboard == "tui-session chat --session working"
