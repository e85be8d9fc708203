"""docs/handover.md on the chat screen, in-process (Pilot) on a real hub and real sessions: the
handover bar and transcript lines follow the agent's snapshots (published here as the agent's
clientId would), the keys know the state, an operator in control replies from the composer,
operator replies are headed with the operator's name, and the terminal's title and
notifications go through the app's output. The whole flow with the real agent service runs
in tests/scenarios/test_handover.py."""

from __future__ import annotations

import re
import time
from typing import Any

from ably.types.message import Message

from tests.support.hub import HubEndpoint, wait_state
from tests.tui.helpers import session_factory, turns, wait_for
from tests.tui.scripted_agent import ScriptedAgent
from tui_session.config import Settings
from tui_session.protocol.handover import (
    Control,
    Escalation,
    EventKind,
    HandoverEvent,
    Snapshot,
    state_publish,
)
from tui_session.transport.client import ClientSession
from tui_session.transport.client_handover import AgentInfo
from tui_session.tui.app import ChatApp, make_app
from tui_session.tui.options import ChatOptions
from tui_session.tui.terminal import TerminalOutput
from tui_session.tui.terminal_notify import Sequence, Terminal, title_sequence
from tui_session.tui.widgets import Composer, PromptItem
from tui_session.tui.widgets.handover import HandoverBar, HandoverLine

OPERATORS = AgentInfo("agent", frozenset({"ada"}))
ITERM = Terminal("iTerm2", Sequence.OSC9)


def now_ms() -> int:
    return int(time.time() * 1000)


def app_for(
    hub: HubEndpoint,
    channel: str,
    user: str,
    *,
    agent_url: str | None = None,
    notify: str = "off",
    **options: Any,
) -> ChatApp:
    factory = session_factory(hub, user, agent_url=agent_url, agent=OPERATORS, **options)
    opts = ChatOptions(channel, spinner=False, notify=notify, terminal=ITERM)  # type: ignore[arg-type]
    return make_app(Settings(), factory, opts)


class AgentVoice:
    """The agent's clientId on the channel: what it publishes is what terminals trust."""

    def __init__(self, hub: HubEndpoint, channel: str, client_id: str = "agent") -> None:
        self.hub, self.channel_name, self.client_id = hub, channel, client_id
        self.channel: Any = None

    async def __aenter__(self) -> AgentVoice:
        realtime = self.hub.realtime(self.client_id)
        await wait_state(realtime)
        self.channel = realtime.channels.get(self.channel_name)
        await self.channel.attach()
        return self

    async def __aexit__(self, *_: Any) -> None:
        return None

    async def say(self, snapshot: Snapshot) -> None:
        op = state_publish(snapshot)
        await self.channel.publish(Message(name=op.name, data=op.data, extras=op.extras))


def escalated(at: int) -> Snapshot:
    escalation = Escalation("call_1", "R1", "A1", "root", "model", "wants a refund", at)
    event = HandoverEvent(EventKind.ESCALATED, "model", at, escalation="call_1")
    return Snapshot(open=(escalation,), event=event)


def took_over(by: str, at: int, grace_s: float = 120) -> Snapshot:
    event = HandoverEvent(EventKind.TOOK_OVER, by, at)
    return Snapshot(control=Control(by, at, grace_s), event=event)


def bar(app: ChatApp) -> str:
    widget = app.chat.query_one(HandoverBar)
    return str(widget.render()) if widget.display else ""


def lines(app: ChatApp) -> list[str]:
    return [str(line.query_one(".handover-text").render()) for line in app.chat.query(HandoverLine)]


async def test_a_user_sees_who_answers_from_the_agents_snapshots_and_no_one_elses(
    hub: HubEndpoint, channel: str
) -> None:
    app = app_for(hub, channel, "root")
    async with app.run_test(size=(110, 30)) as pilot, AgentVoice(hub, channel) as agent:
        await wait_for(pilot, lambda: app.chat.ready, what="session open")
        assert not bar(app) and app.chat.check_action("take_over", ()) is False
        assert app.chat.check_action("ask_human", ()) is True  # the agent has operators
        async with AgentVoice(hub, channel, "mallory") as mallory:
            await mallory.say(took_over("mallory", now_ms()))  # a self-granted control
        await agent.say(escalated(now_ms()))
        await wait_for(pilot, lambda: "asked for a human" in bar(app), what="the escalation")
        assert bar(app) == "⚑ the assistant asked for a human: wants a refund"
        assert [t.split(" · ")[0] for t in lines(app)] == [
            "⚑ the assistant asked for a human: wants a refund"
        ]
        assert app.chat.check_action("answer_human", ()) is False  # root is not an operator
        await agent.say(took_over("ada", now_ms()))
        await wait_for(pilot, lambda: "ada" in bar(app), what="the take-over")
        # ada has no device in the session: every terminal counts down to the hand-back
        assert re.fullmatch(r"⇄ ada left · back to the agent in (2:00|1:[0-5]\d)", bar(app))
        assert "ada (operator) took over; the agent stops answering" in lines(app)[-1]
        assert "mallory" not in " ".join(lines(app))
        assert app.chat.check_action("ask_human", ()) is False  # an operator answers already
        assert app.chat.check_action("take_over", ()) is False
        assert app.chat.check_action("hand_back", ()) is False


async def test_an_operator_in_control_replies_from_the_composer_and_every_device_sees_it(
    hub: HubEndpoint, channel: str
) -> None:
    root = await ClientSession.connect(
        hub.realtime("root"), channel, agent_url=None, device="phone", agent=OPERATORS
    )
    app = app_for(hub, channel, "ada")
    try:
        async with app.run_test(size=(110, 30)) as pilot, AgentVoice(hub, channel) as agent:
            await wait_for(pilot, lambda: app.chat.ready, what="session open")
            assert app.chat.check_action("take_over", ()) is True  # ada is an operator
            assert app.chat.check_action("hand_back", ()) is False
            await root.send("Where is my parcel?", invoke=False)
            await agent.say(took_over("ada", now_ms()))
            composer = app.chat.query_one(Composer)
            await wait_for(pilot, lambda: composer.has_class("-reply"), what="reply mode")
            await wait_for(
                pilot, lambda: len(list(app.chat.query(PromptItem))) == 1, what="the prompt"
            )
            await wait_for(
                pilot,
                lambda: composer.placeholder == "Reply to root as ada (operator)… (Enter sends)",
                what="the placeholder naming whom the reply answers",
            )
            assert app.chat.check_action("hand_back", ()) is True
            assert app.chat.check_action("take_over", ()) is False
            composer.text = "It ships tomorrow."
            await pilot.press("enter")
            await wait_for(pilot, lambda: turns(app) and turns(app)[0].view.terminal)
            item = turns(app)[0]
            header = str(item.query_one(".entry-header").render())
            assert header.startswith("ada (operator) · root's turn")
            assert item.has_class("-operator") and item.view.status == "complete"
            assert "It ships tomorrow." in item.rendered_text
            [turn] = root.runs()
            assert (turn.operator, turn.own, turn.text) == ("ada", True, "It ships tomorrow.")
    finally:
        await root.close()


async def test_notifications_and_the_title_reach_the_terminal_through_the_apps_output(
    hub: HubEndpoint, agent: ScriptedAgent, channel: str
) -> None:
    app = app_for(hub, channel, "root", agent_url=agent.url, notify="auto")
    async with app.run_test(size=(110, 30)) as pilot:
        await wait_for(pilot, lambda: app.chat.ready, what="session open")
        output = TerminalOutput.of(app)
        assert output is not None
        app.chat.query_one(Composer).text = "slow story"
        await pilot.press("enter")  # a key press is focus, as in a terminal
        await wait_for(pilot, lambda: turns(app) and turns(app)[0].rendered_text)
        app.app_focus = False  # the user looks elsewhere (the terminal reports focus out)
        agent.release.set()
        await wait_for(pilot, lambda: turns(app)[0].view.terminal, what="the end")
        name = channel  # a raw channel name is shown whole
        ended = f"\x1b]9;{name}: your turn ended (complete)\x07"  # OSC 9: iTerm2
        await wait_for(pilot, lambda: ended in output.sent, what="the notification")
        assert list(output.sent).count(ended) == 1
        titles = [s for s in output.sent if s.startswith("\x1b]2;")]
        assert title_sequence(f"{name} · streaming · tui-session") in titles
        assert titles[-1] == title_sequence(f"{name} · tui-session")
        app.chat.query_one(Composer).text = "again"  # focused now (a key press)
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(turns(app)) == 2 and turns(app)[1].view.terminal)
        assert not [s for s in output.sent if s.startswith("\x1b]9;")][1:]  # focused: none


async def test_with_the_agent_silent_the_bar_says_control_is_returning_once_the_grace_is_over(
    hub: HubEndpoint, channel: str
) -> None:
    """The agent that would hand back is down: every terminal counts the same deadline from
    the snapshot's grace and then says control is returning, instead of "in control" for ever."""
    app = app_for(hub, channel, "root")
    async with app.run_test(size=(110, 30)) as pilot, AgentVoice(hub, channel) as agent:
        await wait_for(pilot, lambda: app.chat.ready, what="session open")
        await agent.say(took_over("ada", now_ms(), grace_s=1.5))
        await wait_for(pilot, lambda: "back to the agent in 0:0" in bar(app), what="countdown")
        await wait_for(pilot, lambda: "returning to the agent" in bar(app), what="lapsed")
        assert bar(app) == "⇄ ada (operator) left · returning to the agent…"
        assert app.chat.handover is not None and app.chat.handover.in_control() is None
