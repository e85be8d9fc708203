"""docs/handover.md's keys on the chat screen, in-process (Pilot), against the real agent service
(offline demo model) on a real hub: an operator answers a request for a human (alt+a), takes
over (f7), replies, hands back (f7); a take-over from another operator asks first; someone who
is not an operator is refused with the agent's code on their screen."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.agent import demo_settings, running_agent
from tests.support.hub import HubEndpoint
from tests.tui.helpers import session_factory, wait_for
from tui_session.config import Settings
from tui_session.transport.client import ClientSession
from tui_session.tui.app import ChatApp, make_app
from tui_session.tui.options import ChatOptions
from tui_session.tui.screens.confirm import ConfirmScreen
from tui_session.tui.terminal_notify import Sequence, Terminal
from tui_session.tui.widgets import Composer, PromptItem
from tui_session.tui.widgets.handover import HandoverBar, HandoverLine

WAIT_S = 20.0


@pytest.fixture
async def agent_url(hub: HubEndpoint, tmp_path: Path) -> AsyncIterator[str]:
    settings = demo_settings(operators="ada,bob", operator_grace_s=120.0)
    async with running_agent(hub, settings, tmp_path / "agent") as agent:
        yield f"http://127.0.0.1:{agent.port}"


def app_for(hub: HubEndpoint, channel: str, user: str, agent_url: str, **options: Any) -> ChatApp:
    factory = session_factory(hub, user, agent_url=agent_url, **options)
    terminal = Terminal("xterm", Sequence.BELL)
    return make_app(Settings(), factory, ChatOptions(channel, spinner=False, terminal=terminal))


async def user_session(hub: HubEndpoint, channel: str, user: str, agent_url: str) -> ClientSession:
    return await ClientSession.connect(
        hub.realtime(user), channel, agent_url=agent_url, device="phone"
    )


def bar(app: ChatApp) -> str:
    widget = app.chat.query_one(HandoverBar)
    return str(widget.render()) if widget.display else ""


def lines(app: ChatApp) -> list[str]:
    return [str(line.query_one(".handover-text").render()) for line in app.chat.query(HandoverLine)]


def toasts(app: ChatApp) -> str:
    return " ".join(str(n.message) for n in app._notifications)


async def test_an_operator_answers_takes_over_replies_and_hands_back_with_keys(
    hub: HubEndpoint, channel: str, agent_url: str
) -> None:
    root = await user_session(hub, channel, "root", agent_url)
    app = app_for(hub, channel, "ada", agent_url)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            chat = app.chat
            await wait_for(pilot, lambda: chat.ready, what="session open")
            assert chat.check_action("answer_human", ()) is False  # nothing waits
            assert chat.check_action("take_over", ()) is True
            await root.handover.ask_for_human("I need a person about my refund")
            await wait_for(pilot, lambda: "root asked for a human" in bar(app), WAIT_S)
            assert chat.check_action("answer_human", ()) is True

            composer = chat.query_one(Composer)
            composer.text = "Refund approved, ref 42."
            await pilot.press("alt+a")
            [run] = await _wait_runs(pilot, root, 1)
            await wait_for(pilot, lambda: root.turn(run).terminal, WAIT_S, "the turn continues")
            assert "Refund approved, ref 42." in root.turn(run).text  # the model quotes it
            await wait_for(pilot, lambda: not bar(app), WAIT_S, "nothing waits any more")
            assert any("ada (operator) answered the request for a human" in t for t in lines(app))

            await pilot.press("f7")
            await wait_for(pilot, lambda: "you reply" in bar(app), WAIT_S, "ada in control")
            assert bar(app).startswith("⇄ ada (operator) in control for ")
            assert chat.check_action("hand_back", ()) is True
            await wait_for(pilot, lambda: root.handover.control().operator == "ada", WAIT_S)

            handle = await root.send("Where is my parcel?")
            await wait_for(pilot, lambda: root.prompt(handle.input_codec_message_id).handled_by)
            prompt = root.prompt(handle.input_codec_message_id)
            assert (prompt.status, prompt.handled_by) == ("handled by operator", "ada")
            await wait_for(pilot, lambda: len(list(chat.query(PromptItem))) == 2, WAIT_S)
            composer.text = "It ships tomorrow."
            await pilot.press("enter")
            await wait_for(pilot, lambda: root.prompt(handle.input_codec_message_id).run_id)
            reply = root.turn(root.prompt(handle.input_codec_message_id).run_id)
            assert (reply.operator, reply.own) == ("ada", True)

            await pilot.press("f7")
            await wait_for(pilot, lambda: not bar(app), WAIT_S, "control back to the agent")
            assert "ada handed control back to the agent" in lines(app)[-1]
            assert chat.check_action("take_over", ()) is True
            assert not composer.has_class("-reply")
    finally:
        await root.close()


async def test_taking_over_from_another_operator_asks_first(
    hub: HubEndpoint, channel: str, agent_url: str
) -> None:
    bob = await user_session(hub, channel, "bob", agent_url)
    app = app_for(hub, channel, "ada", agent_url)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await wait_for(pilot, lambda: app.chat.ready, what="session open")
            await bob.handover.take_over()
            await wait_for(pilot, lambda: "bob" in bar(app), WAIT_S, "bob in control")
            await pilot.press("f7")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            question = str(app.screen.query_one("#confirm-question").render())
            assert question == "bob is in control. Take over from bob?"
            await pilot.press("n")
            await wait_for(pilot, lambda: app.screen is app.chat)
            assert bob.handover.control().operator == "bob"  # nothing was asked
            await pilot.press("f7")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
            await wait_for(pilot, lambda: "you reply" in bar(app), WAIT_S, "ada in control")
            assert "ada (operator) took over from bob" in lines(app)[-1]
            await wait_for(pilot, lambda: bob.handover.control().operator == "ada", WAIT_S)
    finally:
        await bob.close()


async def test_someone_who_is_not_an_operator_is_refused_with_the_agents_code(
    hub: HubEndpoint, channel: str, agent_url: str
) -> None:
    app = app_for(hub, channel, "mallory", agent_url, role="operator")  # chat --operator
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: app.chat.ready, what="session open")
        assert app.chat.check_action("take_over", ()) is True  # claimed; the agent decides
        await pilot.press("f7")
        await wait_for(pilot, lambda: "40330" in toasts(app), WAIT_S, "the refusal")
        assert "Unable to take over: mallory is not an operator" in toasts(app)
        await wait_for(pilot, lambda: lines(app), WAIT_S, "the refusal in the transcript")
        assert "mallory was refused: mallory is not an operator" in lines(app)[-1]
        assert not bar(app)  # the agent still answers
    plain = app_for(hub, channel, "mallory", agent_url)  # without --operator: no such key
    async with plain.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: plain.chat.ready, what="session open")
        assert plain.chat.check_action("take_over", ()) is False


async def _wait_runs(pilot: Any, session: ClientSession, count: int) -> list[str]:
    await wait_for(pilot, lambda: len(session.runs()) >= count, WAIT_S, f"{count} run(s)")
    return [t.run_id for t in session.runs()]


async def test_a_user_asks_for_a_human_with_f6_or_from_the_palette(
    hub: HubEndpoint, channel: str, agent_url: str
) -> None:
    app = app_for(hub, channel, "root", agent_url)
    async with app.run_test(size=(120, 36)) as pilot:
        chat = app.chat
        await wait_for(pilot, lambda: chat.ready, what="session open")
        assert chat.check_action("ask_human", ()) is True  # the agent has operators
        assert chat.check_action("take_over", ()) is False  # root is not one
        chat.query_one(Composer).text = "Please get me a person about invoice 7"
        await pilot.press("f6")
        await wait_for(pilot, lambda: "root asked for a human" in bar(app), WAIT_S)
        assert bar(app) == "⚑ root asked for a human: Please get me a person about invoice 7"
        assert chat.query_one(Composer).text == ""
        [prompt] = list(chat.query(PromptItem))
        assert prompt.view.text == "Please get me a person about invoice 7"
        await wait_for(pilot, lambda: chat.check_action("ask_human", ()) is False)  # it waits

    other = app_for(hub, f"{channel}-2", "root", agent_url)
    async with other.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: other.chat.ready, what="session open")
        await pilot.press("ctrl+p")
        await pilot.press(*"Ask for a human")
        await wait_for(pilot, lambda: _palette_offers(other, "Ask for a human"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: "root asked for a human" in bar(other), WAIT_S)
        assert bar(other) == "⚑ root asked for a human: I'd like to talk to a human."


def _palette_offers(app: ChatApp, title: str) -> bool:
    from textual.command import CommandPalette

    return isinstance(app.screen, CommandPalette) and title in str(
        [option.prompt for option in app.screen.query("CommandList").first().options]
    )
