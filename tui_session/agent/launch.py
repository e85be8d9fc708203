"""Running the agent service against a hub or Ably's cloud.

`start_agent` wires the parts (realtime client, model backend, tools, run ledger, token
requests) and listens; `run_agent` is the blocking CLI entry point, which ends the service's
turns on SIGTERM before leaving. `tui_session/serve.py` runs it together with the hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from tui_session.agent.ledger import RunLedger
from tui_session.agent.models import backend_from_settings
from tui_session.agent.notifier import PushNotifier
from tui_session.agent.service import CLIENT_CAPABILITY, AgentService
from tui_session.agent.tools import builtin_tools
from tui_session.config import AgentSettings
from tui_session.lifecycle import run_until_signalled
from tui_session.transport.connect import cloud_realtime, cloud_rest, hub_realtime, hub_rest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AblyTarget:
    """Where the session channels are: the local hub (host, port) or Ably's cloud."""

    key: str
    host: str | None = None  # None: Ably's cloud
    port: int | None = None

    def realtime(self, client_id: str) -> Any:
        if self.host is None:
            return cloud_realtime(key=self.key, client_id=client_id)
        return hub_realtime(self.host, self.port or 0, self.key, client_id)

    def rest(self) -> Any:
        if self.host is None:
            return cloud_rest(key=self.key)
        return hub_rest(self.host, self.port or 0, self.key)


@dataclass
class RunningAgent:
    service: AgentService
    runner: web.AppRunner
    port: int
    realtime: Any
    rest: Any

    async def stop(self, reason: str = "agent shutting down") -> None:
        await self.service.stop(reason)
        await self.runner.cleanup()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.realtime.close(), 5)
        with contextlib.suppress(Exception):
            await self.rest.close()


async def start_agent(settings: AgentSettings, target: AblyTarget, data_dir: Path) -> RunningAgent:
    """Connect, end what a killed predecessor left open, and listen on settings.host:port."""
    realtime = target.realtime(settings.client_id)
    rest = target.rest()

    async def token_request(client_id: str) -> dict[str, Any]:
        request = await rest.auth.create_token_request(
            token_params={"client_id": client_id, "capability": CLIENT_CAPABILITY}
        )
        return request.to_dict()

    backend = backend_from_settings(
        settings, timeout=settings.model_timeout_s, demo_pace=settings.demo_pace
    )
    service = AgentService(
        settings,
        realtime,
        backend,
        builtin_tools(escalation=bool(settings.operators.strip(", "))),  # someone to answer
        ledger=RunLedger(data_dir / "agent-runs.json"),
        handover_ledger=RunLedger(data_dir / "agent-handover.json"),
        notifier=PushNotifier.from_settings(settings),
        token_requester=token_request,
    )
    await service.start()
    runner = web.AppRunner(service.application(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    sockets = site._server.sockets if site._server is not None else []  # type: ignore[union-attr]
    port = sockets[0].getsockname()[1] if sockets else settings.port
    return RunningAgent(service, runner, port, realtime, rest)


def run_agent(settings: AgentSettings, target: AblyTarget, data_dir: Path) -> None:
    """`tui-session agent`: serve until SIGINT or SIGTERM, then end the turns in flight."""

    def banner(running: RunningAgent) -> str:
        where = f"{target.host}:{target.port}" if target.host else "Ably's cloud"
        return (
            f"tui-session agent on http://{settings.host}:{running.port} "
            f"(sessions on {where}; model {running.service.backend.name})"
        )

    run_until_signalled(lambda: start_agent(settings, target, data_dir), banner)
