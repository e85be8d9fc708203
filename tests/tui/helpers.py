"""Helpers for the terminal-client tests: open real ClientSessions on the test hub, build the
app through the same factory the CLI uses, and wait on conditions (never fixed sleeps)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from tests.support.hub import HubEndpoint
from tui_session.config import Settings
from tui_session.transport.client import ClientSession
from tui_session.tui.app import ChatApp, make_app
from tui_session.tui.options import ChatOptions, OpenSession
from tui_session.tui.widgets import Transcript, TurnItem

WAIT_S = 10.0


async def wait_for(
    pilot: Any, predicate: Callable[[], Any], timeout: float = WAIT_S, what: str = ""
) -> Any:
    """Let the app run until `predicate()` is truthy (re-checked after every pause)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (result := predicate()):
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await pilot.pause(0.02)
    return result


def session_factory(
    hub: HubEndpoint,
    client_id: str,
    *,
    device: str = "laptop",
    agent_url: str | None = None,
    realtime_options: dict[str, Any] | None = None,
    **options: Any,
):
    """A factory like the CLI's: a fresh realtime client and ClientSession per open."""

    async def factory(channel_name: str) -> OpenSession:
        realtime = hub.realtime(client_id, **(realtime_options or {}))
        session = await ClientSession.connect(
            realtime, channel_name, agent_url=agent_url, device=device, **options
        )

        async def close() -> None:
            await session.close()
            await realtime.close()

        return OpenSession(session, close)

    return factory


def chat_app(
    hub: HubEndpoint,
    channel: str,
    client_id: str = "alice",
    *,
    device: str = "laptop",
    agent_url: str | None = None,
    realtime_options: dict[str, Any] | None = None,
    **options: Any,
) -> ChatApp:
    factory = session_factory(
        hub,
        client_id,
        device=device,
        agent_url=agent_url,
        realtime_options=realtime_options,
        **options,
    )
    opts = ChatOptions(
        session_name=channel,
        endpoint_label=f"local hub {hub.host}:{hub.port}",
        spinner=False,
        notify="off",
    )
    return make_app(Settings(), factory, opts)


def turns(app: ChatApp) -> list[TurnItem]:
    return list(app.chat.query(TurnItem))


def transcript(app: ChatApp) -> Transcript:
    return app.chat.query_one(Transcript)


def ready(app: ChatApp) -> bool:
    return app.chat.controller is not None


@asynccontextmanager
async def two_apps(
    first: ChatApp,
    second: ChatApp,
    sizes: tuple[tuple[int, int], tuple[int, int]] = ((100, 30), (100, 30)),
) -> AsyncIterator[tuple[Any, Any]]:
    """Two app instances (two devices), each running and with its session open: their pilots."""
    async with first.run_test(size=sizes[0]) as a, second.run_test(size=sizes[1]) as b:
        await wait_for(a, lambda: ready(first))
        await wait_for(b, lambda: ready(second))
        yield a, b


def recorded_notices(app: ChatApp) -> list[str]:
    """Every notification the app shows from now on, kept (a toast leaves the screen after a
    few seconds, sooner than a loaded machine may look)."""
    seen: list[str] = []
    show = app.notify

    def notify(message: str, *args: Any, **kwargs: Any) -> None:
        seen.append(str(message))
        show(message, *args, **kwargs)

    app.notify = notify  # type: ignore[method-assign]
    return seen


def palette_hit(app: ChatApp, text: str) -> bool:
    """The command palette is open and lists a command containing `text`."""
    from textual.command import CommandList

    lists = app.screen.query(CommandList)
    return bool(lists) and any(text in str(option.prompt) for option in lists.first().options)
