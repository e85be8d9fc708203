"""The agent service for tests: started on a hub, woken over real HTTP, its answers read back."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.hub import HubEndpoint
from tests.transport.agent_helpers import Wire
from tui_session.agent.launch import AblyTarget, RunningAgent, start_agent
from tui_session.config import AgentSettings


@contextlib.asynccontextmanager
async def running_agent(
    hub: HubEndpoint, settings: AgentSettings, data_dir: Path
) -> AsyncIterator[RunningAgent]:
    agent = await start_agent(settings, AblyTarget(hub.key, hub.host, hub.port), data_dir)
    try:
        yield agent
    finally:
        await agent.stop()


async def post(agent: RunningAgent, body: Any) -> tuple[int, dict[str, Any]]:
    """POST /api/chat as a terminal does; returns the status and the JSON answer."""
    async with aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{agent.port}/api/chat"
        kwargs = {"data": body} if isinstance(body, bytes | str) else {"json": body}
        async with http.post(url, **kwargs) as response:
            return response.status, await response.json()


def demo_settings(**overrides: Any) -> AgentSettings:
    """The offline demo model, as fast as it can go."""
    base = AgentSettings(host="127.0.0.1", port=0, model="offline-demo", demo_pace=0)
    return replace(base, **overrides)


def streamed_text(wire: Wire, run_id: str) -> str:
    """The answer text of a run as a fresh reader of the wire folds it."""
    node = wire.tree().run(run_id)
    assert node is not None
    return "".join(
        part.get("text", "")
        for _cmid, message in node.messages()
        for item in message.get("items", [])
        if item.get("type") == "message"
        for part in item.get("content", [])
    )
