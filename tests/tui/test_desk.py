"""docs/handover.md "The desk", in-process (Pilot) against the real agent service (offline demo
model) on a real hub: a desk opened after an escalation lists it from history, a new one
arrives live, Enter opens the session as an operator with its context, f10 comes back, f7
opens and takes over, and the row then shows who resolved it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.agent import demo_settings, running_agent
from tests.support.hub import HubEndpoint
from tests.tui.helpers import session_factory, wait_for
from tui_session.config import Settings
from tui_session.protocol.desk import Thresholds
from tui_session.transport.client import ClientSession
from tui_session.transport.client_desk import DeskFeed
from tui_session.transport.client_handover import fetch_agent_info
from tui_session.tui.app import ChatApp, make_desk_app
from tui_session.tui.options import ChatOptions, DeskOptions, OpenDesk
from tui_session.tui.screens.chat import ChatScreen
from tui_session.tui.screens.desk import DeskScreen
from tui_session.tui.terminal_notify import Sequence, Terminal
from tui_session.tui.widgets.handover import HandoverBar

WAIT_S = 20.0


@pytest.fixture
async def agent_url(hub: HubEndpoint, tmp_path: Path) -> AsyncIterator[str]:
    settings = demo_settings(operators="ada", desk_channel="desk:test")
    async with running_agent(hub, settings, tmp_path / "agent") as agent:
        yield f"http://127.0.0.1:{agent.port}"


def desk_app(hub: HubEndpoint, agent_url: str) -> ChatApp:
    async def factory(listener: Any) -> OpenDesk:
        agent = await fetch_agent_info(agent_url)
        assert agent is not None and agent.desk_channel == "desk:test"
        realtime = hub.realtime("ada")
        feed = await DeskFeed.connect(
            realtime, agent.desk_channel, device="desk", agent=agent, listener=listener
        )

        async def close() -> None:
            await feed.close()
            await realtime.close()

        return OpenDesk(feed, close)

    options = DeskOptions(
        factory=factory,
        open_session=session_factory(hub, "ada", agent_url=agent_url, role="operator"),
        chat=ChatOptions("", spinner=False, terminal=Terminal("xterm", Sequence.BELL)),
        thresholds=Thresholds(),
    )
    return make_desk_app(Settings(), options)


async def ask_for_human(hub: HubEndpoint, channel: str, agent_url: str, text: str) -> None:
    root = await ClientSession.connect(
        hub.realtime("root"), channel, agent_url=agent_url, device="phone"
    )
    try:
        await root.handover.ask_for_human(text)
        await _until(lambda: root.handover.view().open_escalations)
    finally:
        await root.close()


async def _until(predicate: Any, timeout: float = WAIT_S) -> None:
    import asyncio

    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def cells(app: ChatApp, table: str) -> list[list[str]]:
    desk = app.desk
    assert desk is not None
    data = desk.query_one(f"#{table}")
    return [[str(c) for c in data.get_row_at(i)] for i in range(data.row_count)]


async def test_the_desk_lists_escalations_from_history_and_live_and_opens_their_sessions(
    hub: HubEndpoint, agent_url: str
) -> None:
    await ask_for_human(hub, "session:refund", agent_url, "I need a person about my refund")
    app = desk_app(hub, agent_url)
    async with app.run_test(size=(140, 36)) as pilot:
        assert isinstance(app.screen, DeskScreen)
        await wait_for(pilot, lambda: cells(app, "pending"), WAIT_S, "the row from history")
        [row] = cells(app, "pending")
        assert row[:3] == ["escalation", "refund", "root"]
        assert "I need a person about my refund" in row[3] and row[5] == "open"

        await ask_for_human(hub, "session:parcel", agent_url, "A human, please")
        await wait_for(pilot, lambda: len(cells(app, "pending")) == 2, WAIT_S, "the live row")
        assert [r[1] for r in cells(app, "pending")] == ["refund", "parcel"]  # oldest first

        await pilot.press("enter")  # the oldest: refund
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen) and app.chat.ready)
        chat = app.chat
        assert chat.session_name == "session:refund"
        assert chat.opened is not None and chat.opened.session.role == "operator"
        bar = chat.query_one(HandoverBar)
        await wait_for(pilot, lambda: bar.display, WAIT_S, "the request shown")
        assert "root asked for a human: I need a person about my refund" in str(bar.render())
        assert chat.check_action("take_over", ()) is True
        assert app.check_action("back_to_desk", ()) is True

        await pilot.press("f10")
        await wait_for(pilot, lambda: isinstance(app.screen, DeskScreen))
        assert chat.opened is None  # the session was closed on the way back

        await pilot.press("down", "f7")  # parcel: open it and take over
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen) and app.chat.ready)
        taken = app.chat
        await wait_for(
            pilot,
            lambda: taken.handover is not None and taken.handover.replying(),
            WAIT_S,
            "ada in control",
        )
        await pilot.press("f10")
        await wait_for(pilot, lambda: isinstance(app.screen, DeskScreen))
        await wait_for(
            pilot,
            lambda: any(
                r[1] == "parcel" and r[5] == "taken-over by ada" for r in cells(app, "resolved")
            ),
            WAIT_S,
            "the escalation resolved by ada",
        )
        pending = cells(app, "pending")
        assert ["escalation", "refund"] == pending[0][:2]
        assert any(r[0] == "control" and r[1] == "parcel" for r in pending)  # ada in control
