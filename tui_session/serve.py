"""`tui-session serve`: the hub and the agent service in one process (the embedded default),
and where a lone `tui-session agent` finds its sessions."""

from __future__ import annotations

from dataclasses import dataclass

from tui_session.agent.launch import AblyTarget, RunningAgent, start_agent
from tui_session.config import Settings
from tui_session.hub.auth import AuthStore
from tui_session.hub.server import RunningHub, start_hub
from tui_session.lifecycle import run_until_signalled


@dataclass
class RunningServe:
    hub: RunningHub
    agent: RunningAgent

    async def stop(self) -> None:
        await self.agent.stop()
        await self.hub.stop()


async def start_serve(settings: Settings) -> RunningServe:
    hub = await start_hub(settings.hub)
    target = AblyTarget(hub.hub.auth.root_key(), "127.0.0.1", hub.port)
    agent = await start_agent(settings.agent, target, settings.hub.data_dir)
    return RunningServe(hub, agent)


def agent_target(settings: Settings, hub_address: str | None) -> AblyTarget:
    """Where `tui-session agent` serves sessions: Ably's cloud when it has an API key and no
    hub was named, else the hub at HOST:PORT, with the key kept in the hub's data dir."""
    if settings.client.ably_key and not hub_address:
        return AblyTarget(settings.client.ably_key)
    host, _, port = (hub_address or f"127.0.0.1:{settings.hub.port}").rpartition(":")
    key = AuthStore(settings.hub.data_dir).root_key()
    return AblyTarget(key, host or "127.0.0.1", int(port))


def run_serve(settings: Settings) -> None:
    def banner(running: RunningServe) -> str:
        return (
            f"tui-session serve: hub on {settings.hub.host}:{running.hub.port}, agent on "
            f"http://{settings.agent.host}:{running.agent.port} "
            f"(model {running.agent.service.backend.name})"
        )

    run_until_signalled(lambda: start_serve(settings), banner)
