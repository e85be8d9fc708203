"""`tui-session serve`: the hub and the agent service in one process (the embedded default),
and where a lone `tui-session agent` finds its sessions.

Off loopback both serve TLS with one certificate (credentials/tls.py), and the agent reaches
the hub trusting exactly that certificate.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tui_session import listening
from tui_session.agent.launch import AblyTarget, RunningAgent, start_agent
from tui_session.config import AgentSettings, HubSettings, Settings
from tui_session.credentials.tls import (
    TlsFiles,
    existing_hub_tls,
    hub_tls,
    is_loopback,
    pinned_context,
)
from tui_session.hub.auth import AuthStore
from tui_session.hub.server import RunningHub, hub_url, start_hub, tls_line
from tui_session.lifecycle import run_until_signalled


@dataclass
class RunningServe:
    hub: RunningHub
    agent: RunningAgent

    async def stop(self) -> None:
        await self.agent.stop()
        await self.hub.stop()


def agent_tls(settings: Settings) -> TlsFiles | None:
    """The agent's HTTP API follows the hub's rule for its own address: TLS off loopback
    (the hub's certificate), plaintext on loopback or with hub.insecure."""
    return hub_tls(replace(settings.hub, host=settings.agent.host))


def with_agent_beside_the_hub(settings: Settings) -> Settings:
    """In `serve`, an agent.host left at its default follows a hub that leaves loopback:
    another machine that can reach the hub can reach the agent it prompts."""
    if settings.agent.host == AgentSettings().host and not is_loopback(settings.hub.host):
        return replace(settings, agent=replace(settings.agent, host=settings.hub.host))
    return settings


async def start_serve(settings: Settings) -> RunningServe:
    settings = with_agent_beside_the_hub(settings)
    hub = await start_hub(settings.hub)
    target = _hub_target(hub.hub.auth.root_key(), settings.hub.host, hub.port, hub.tls)
    tls = agent_tls(settings)
    agent = await start_agent(settings.agent, target, settings.hub.data_dir, tls=tls)
    return RunningServe(hub, agent)


def _hub_target(key: str, host: str, port: int, tls: TlsFiles | None) -> AblyTarget:
    context = pinned_context(tls.cert_der()) if tls is not None else None
    return AblyTarget(key, listening.local_host(host), port, context)


def agent_target(settings: Settings, hub_address: str | None) -> AblyTarget:
    """Where `tui-session agent` serves sessions: Ably's cloud when it has an API key and no
    hub was named, else the hub at HOST:PORT, with the key (and the certificate of a hub that
    serves TLS) kept in the hub's data dir."""
    if settings.client.ably_key and not hub_address:
        return AblyTarget(settings.client.ably_key)
    host, _, port = (hub_address or f"127.0.0.1:{settings.hub.port}").rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    key = AuthStore(settings.hub.data_dir).root_key()
    return _hub_target(key, host, int(port), _served_tls(settings.hub, host, int(port)))


def _served_tls(hub: HubSettings, host: str, port: int) -> TlsFiles | None:
    running = listening.read(hub.data_dir, "hub")
    if running is not None and running.port == port:
        return existing_hub_tls(replace(hub, host=running.host)) if running.tls else None
    return existing_hub_tls(replace(hub, host=host))


def run_serve(settings: Settings) -> None:
    settings = with_agent_beside_the_hub(settings)

    def banner(running: RunningServe) -> str:
        agent = running.agent
        return (
            f"tui-session serve: hub on {hub_url(running.hub)}, agent on "
            f"{agent.scheme}://{settings.agent.host}:{agent.port} "
            f"(model {agent.service.backend.name})"
            f"{tls_line(running.hub.tls)}\n"
            "another machine joins with an invite: tui-session invite --session ID"
        )

    run_until_signalled(lambda: start_serve(settings), banner)
