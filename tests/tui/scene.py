"""A whole session for snapshots and screenshots, started inside the app's own event loop
(snap_compare runs the app with `App.run`, so nothing may live in the test's loop): a real
hub, the scripted agent, the app's ClientSession and any other devices' sessions."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from tests.proxy import CuttableProxy
from tests.support.hub import HubEndpoint
from tests.tui.helpers import turns, wait_for
from tests.tui.scripted_agent import ScriptedAgent, answer_for, words
from tui_session.config import HubSettings, Settings
from tui_session.hub.server import RunningHub, start_hub
from tui_session.transport.client import ClientSession
from tui_session.tui.app import ChatApp, make_app
from tui_session.tui.options import ChatOptions, OpenSession
from tui_session.tui.widgets import Composer, TurnItem
from tui_session.tui.widgets.turn import AnswerMarkdown

CHANNEL = "session:demo"


class ServiceAgent:
    """The real agent service with the offline demo model, shaped like ScriptedAgent for the
    scene (url, join, stop): what screenshots show is what a user gets."""

    def __init__(self, hub: HubEndpoint, pace: float) -> None:
        self.hub, self.pace = hub, pace
        self.running: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.running.port}"

    async def start(self) -> ServiceAgent:
        from tui_session.agent.launch import AblyTarget, start_agent
        from tui_session.config import AgentSettings

        settings = AgentSettings(
            host="127.0.0.1", port=0, model="offline-demo", demo_pace=self.pace
        )
        target = AblyTarget(self.hub.key, self.hub.host, self.hub.port)
        self.running = await start_agent(settings, target, self.hub.data_dir)
        return self

    async def join(self, channel_name: str) -> None:
        await self.running.service.serve_session(channel_name)

    async def stop(self) -> None:
        await self.running.stop()


class Scene:
    def __init__(
        self,
        data_dir: Path,
        *,
        user: str = "alice",
        device: str = "laptop",
        demo_pace: float | None = None,
    ) -> None:
        """`demo_pace`: answer with the real agent service and the offline demo model at that
        many tokens/s (screenshots); None: the scripted test agent (deterministic snapshots)."""
        self.data_dir = data_dir
        self.demo_pace = demo_pace
        self.user, self.device = user, device
        self.running: RunningHub | None = None
        self.hub: HubEndpoint | None = None
        self.agent: ScriptedAgent | ServiceAgent | None = None
        self.proxy: CuttableProxy | None = None
        self.others: list[ClientSession] = []
        self.session: ClientSession | None = None
        self.before_open: Any = None  # async (scene) -> None, run before the app joins
        self.via_proxy = False
        self.realtime: Any = None

    async def start(self) -> HubEndpoint:
        if self.hub is None:
            settings = HubSettings(host="127.0.0.1", port=0, data_dir=self.data_dir)
            self.running = await start_hub(settings)
            key = self.running.hub.auth.root_key()
            self.hub = HubEndpoint("127.0.0.1", self.running.port, key, self.data_dir)
            if self.demo_pace is None:
                self.agent = await ScriptedAgent(self.hub).start()
            else:
                self.agent = await ServiceAgent(self.hub, self.demo_pace).start()
            await self.agent.join(CHANNEL)
        return self.hub

    async def join_device(self, client_id: str, device: str) -> ClientSession:
        hub = await self.start()
        assert self.agent is not None
        session = await ClientSession.connect(
            hub.realtime(client_id), CHANNEL, agent_url=self.agent.url, device=device
        )
        self.others.append(session)
        return session

    async def factory(self, channel: str) -> OpenSession:
        hub = await self.start()
        assert self.agent is not None
        if self.before_open is not None:
            await self.before_open(self)
        port = hub.port
        if self.via_proxy:
            self.proxy = CuttableProxy(hub.host, hub.port)
            await self.proxy.start()
            port = self.proxy.port
        endpoint = HubEndpoint(hub.host, port, hub.key, hub.data_dir)
        realtime = self.realtime = endpoint.realtime(self.user)
        hub.clients.append(realtime)
        self.session = await ClientSession.connect(
            realtime, channel, agent_url=self.agent.url, device=self.device
        )
        return OpenSession(self.session, self.close)

    async def close(self) -> None:
        if self.proxy is not None and self.realtime is not None:
            with contextlib.suppress(Exception):  # cut off: do not wait for presence leave
                await asyncio.wait_for(self.realtime.close(), 2)
        for session in [*self.others, self.session]:
            if session is not None:
                with contextlib.suppress(Exception):
                    await session.close()
        if self.agent is not None:
            await self.agent.stop()
        if self.proxy is not None:
            await self.proxy.stop()
        if self.hub is not None:
            await self.hub.close_clients()
        if self.running is not None:
            await self.running.stop()

    def app(self) -> ChatApp:
        options = ChatOptions(
            session_name=CHANNEL, endpoint_label="local hub", spinner=False, notify=False
        )
        return make_app(Settings(), self.factory, options)


# --- steps for run_before ----------------------------------------------------------------------


async def opened(pilot: Any) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.chat.controller is not None, what="session open")
    app.chat.query_one(Composer).cursor_blink = False


async def members(pilot: Any, count: int) -> None:
    await wait_for(
        pilot, lambda: len(pilot.app.chat.controller.session.members) >= count, what="presence"
    )


async def send(pilot: Any, text: str) -> None:
    pilot.app.chat.query_one(Composer).text = text
    await pilot.press("enter")


def partial(prompt: str, chunks: int = 3) -> str:
    return "".join(words(answer_for(prompt))[:chunks])


async def shows(pilot: Any, index: int, text: str, *, status: str | None = None) -> TurnItem:
    """Wait until turn `index` has rendered exactly `text` (and has `status`)."""

    def done() -> bool:
        items = turns(pilot.app)
        if len(items) <= index:
            return False
        item = items[index]
        answers = list(item.query(AnswerMarkdown))
        return (
            (status is None or item.view.status == status)
            and item.rendered_text == text
            and bool(answers)
            and answers[-1].source == text
        )

    await wait_for(pilot, done, what=f"turn {index} shows {text!r}")
    await pilot.pause()
    return turns(pilot.app)[index]
