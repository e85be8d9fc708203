"""The first screen, before any prompt: the header names the agent's model (read from the real
agent service's /health, the offline demo model labelled as such), or says in words that the
agent service cannot be reached; it updates when the service comes up, and a prompt sent
meanwhile waits for it and is answered."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text

from tests.support.agent import demo_settings, running_agent
from tests.support.hub import HubEndpoint, free_port
from tests.tui.helpers import ready, session_factory, turns, wait_for
from tui_session.config import Settings
from tui_session.transport.service_health import AgentHealth
from tui_session.tui.app import ChatApp, make_app
from tui_session.tui.options import ChatOptions
from tui_session.tui.widgets import Composer, PresenceBar, PromptItem, SessionHeader
from tui_session.tui.widgets.status import header_text

DEMO_LABEL = "model: offline-demo (offline demo)"


def first_screen(hub: HubEndpoint, channel: str, agent_url: str) -> ChatApp:
    options = ChatOptions(
        session_name=channel,
        endpoint_label=f"local hub {hub.host}:{hub.port}",
        spinner=False,
        notify=False,
        agent_retry_s=0.2,  # the test's patience, not the app's default
    )
    return make_app(Settings(), session_factory(hub, "ada", agent_url=agent_url), options)


def header(app: ChatApp) -> str:
    return str(app.chat.query_one(SessionHeader).render())


async def test_the_demo_model_is_named_before_any_prompt(
    hub: HubEndpoint, channel: str, tmp_path: Path
) -> None:
    async with running_agent(hub, demo_settings(), tmp_path / "agent") as agent:
        app = first_screen(hub, channel, f"http://127.0.0.1:{agent.port}")
        async with app.run_test(size=(120, 30)) as pilot:
            await wait_for(pilot, lambda: ready(app), what="session open")
            await wait_for(pilot, lambda: DEMO_LABEL in header(app), what="the demo label")
            assert not list(app.chat.query(PromptItem)), "before any prompt"
            presence = str(app.chat.query_one(PresenceBar).render())
            assert "⚙ agent (agent): available · offline-demo" in presence
            assert not [m for m in app.chat.controller.session.members if m.kind == "agent"]

            app.chat.query_one(Composer).text = "hello"
            await pilot.press("enter")
            await wait_for(
                pilot,
                lambda: (
                    "⚙ agent (agent): idle · offline-demo"
                    in str(app.chat.query_one(PresenceBar).render())
                ),
                timeout=30,
                what="the agent itself present once it answered",
            )
            assert DEMO_LABEL in header(app)


async def test_an_unreachable_agent_is_said_in_words_and_a_prompt_waits_for_it(
    hub: HubEndpoint, channel: str, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = first_screen(hub, channel, url)
    async with app.run_test(size=(140, 30)) as pilot:  # wide enough for the whole header
        await wait_for(pilot, lambda: ready(app), what="session open")
        words = f"agent not reachable: {url} · prompts wait"
        await wait_for(pilot, lambda: words in header(app), what="the unreachable agent")

        app.chat.query_one(Composer).text = "are you there?"
        await pilot.press("enter")
        prompt = await wait_for(pilot, lambda: list(app.chat.query(PromptItem)), what="prompt")
        await wait_for(
            pilot, lambda: prompt[0].view.status == "agent not reached", what="not reached"
        )

        async with running_agent(hub, demo_settings(port=port), tmp_path / "agent"):
            await wait_for(pilot, lambda: DEMO_LABEL in header(app), what="the agent came up")
            await wait_for(
                pilot,
                lambda: turns(app) and turns(app)[0].view.terminal,
                timeout=30,
                what="the waiting prompt answered",
            )
            assert turns(app)[0].view.status == "complete"
            await wait_for(
                pilot,
                lambda: "offline demo" in turns(app)[0].rendered_text.lower(),
                what="the demo model's answer on screen",
            )


def test_a_narrow_header_still_says_the_agent_is_not_reachable() -> None:
    down = AgentHealth("http://127.0.0.1:8471", problem="Cannot connect")
    for width in (120, 80, 60):
        text = header_text("demo", "local hub 127.0.0.1:8470", "● connected", None, width, down)
        assert "agent not reachable" in Text.from_markup(text).plain, width
    wide = header_text("demo", "local hub 127.0.0.1:8470", "● connected", None, 120, down)
    assert "agent not reachable: http://127.0.0.1:8471 · prompts wait" in wide
