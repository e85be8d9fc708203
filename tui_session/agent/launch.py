"""Running the agent service against a hub or Ably's cloud.

`start_agent` wires the parts (realtime client, model backend, tools, run ledger, the caller
check and the tokens it issues) and listens, over TLS when given a certificate; `run_agent` is
the blocking CLI entry point, which ends the service's turns on SIGTERM before leaving.
`tui_session/serve.py` runs it together with the hub.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ably.util.exceptions import AblyException
from aiohttp import web

from tui_session import listening
from tui_session.agent.callers import CallerCheck
from tui_session.agent.ledger import RunLedger
from tui_session.agent.models import backend_from_settings
from tui_session.agent.service import CLIENT_CAPABILITY, AgentService
from tui_session.agent.tools import builtin_tools
from tui_session.config import AgentSettings
from tui_session.credentials import jwt
from tui_session.credentials.errors import AuthError
from tui_session.credentials.tls import TlsFiles, is_loopback
from tui_session.lifecycle import run_until_signalled
from tui_session.transport.connect import (
    TOKEN_TTL_MS,
    cloud_realtime,
    cloud_rest,
    hub_realtime,
    hub_rest,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AblyTarget:
    """Where the session channels are: the local hub (host, port) or Ably's cloud."""

    key: str
    host: str | None = None  # None: Ably's cloud
    port: int | None = None
    ssl_context: ssl.SSLContext | None = None  # a hub over TLS: how to trust it

    def realtime(self, client_id: str) -> Any:
        if self.host is None:
            return cloud_realtime(key=self.key, client_id=client_id)
        return hub_realtime(self.host, self.port or 0, self.key, client_id, **self._tls())

    def rest(self) -> Any:
        if self.host is None:
            return cloud_rest(key=self.key)
        return hub_rest(self.host, self.port or 0, self.key, **self._tls())

    def _tls(self) -> dict[str, Any]:
        if self.ssl_context is None:
            return {}
        return {"tls": True, "ssl_context": self.ssl_context}


@dataclass
class RunningAgent:
    service: AgentService
    runner: web.AppRunner
    port: int
    realtime: Any
    rest: Any
    data_dir: Path
    tls: TlsFiles | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.tls is not None else "http"

    async def stop(self, reason: str = "agent shutting down") -> None:
        listening.forget(self.data_dir, "agent")
        await self.service.stop(reason)
        await self.runner.cleanup()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.realtime.close(), 5)
        with contextlib.suppress(Exception):
            await self.rest.close()


async def start_agent(
    settings: AgentSettings,
    target: AblyTarget,
    data_dir: Path,
    *,
    tls: TlsFiles | None = None,
) -> RunningAgent:
    """Connect, end what a killed predecessor left open, and listen on settings.host:port
    (https with `tls`)."""
    realtime = target.realtime(settings.client_id)
    rest = target.rest()

    def issue_token(client_id: str) -> dict[str, Any]:
        return jwt.token_details(
            target.key, client_id=client_id, capability=CLIENT_CAPABILITY, ttl_ms=TOKEN_TTL_MS
        )

    backend = backend_from_settings(
        settings, timeout=settings.model_timeout_s, demo_pace=settings.demo_pace
    )
    callers = CallerCheck(
        key=target.key,
        listens_on_loopback=is_loopback(settings.host),
        service_secret=settings.auth_secret,
        probe=token_probe(rest),
    )
    service = AgentService(
        settings,
        realtime,
        backend,
        builtin_tools(),
        ledger=RunLedger(data_dir / "agent-runs.json"),
        callers=callers,
        token_issuer=issue_token,
    )
    await service.start()
    runner = web.AppRunner(service.application(), access_log=None, handle_signals=False)
    await runner.setup()
    ssl_context = tls.server_context() if tls is not None else None
    site = web.TCPSite(runner, settings.host, settings.port, ssl_context=ssl_context)
    await site.start()
    sockets = site._server.sockets if site._server is not None else []  # type: ignore[union-attr]
    port = sockets[0].getsockname()[1] if sockets else settings.port
    listening.record(data_dir, "agent", settings.host, port, tls is not None)
    return RunningAgent(service, runner, port, realtime, rest, data_dir, tls)


def token_probe(rest: Any) -> Any:
    """Asks the hub (or Ably) whether it still accepts a caller's token on a channel: a
    presence read made with that token. A revoked token is answered 40141 there, so here."""

    async def probe(token: str, channel: str) -> None:
        path = f"/channels/{quote(channel, safe='')}/presence?limit=1"
        bearer = base64.b64encode(token.encode()).decode("ascii")
        try:
            await rest.http.get(path, headers={"Authorization": f"Bearer {bearer}"}, skip_auth=True)
        except AblyException as exc:
            if exc.status_code in (401, 403):
                raise AuthError(exc.code, exc.status_code, exc.message) from None
            raise

    return probe


def run_agent(
    settings: AgentSettings, target: AblyTarget, data_dir: Path, tls: TlsFiles | None = None
) -> None:
    """`tui-session agent`: serve until SIGINT or SIGTERM, then end the turns in flight."""

    def banner(running: RunningAgent) -> str:
        where = f"{target.host}:{target.port}" if target.host else "Ably's cloud"
        return (
            f"tui-session agent on {running.scheme}://{settings.host}:{running.port} "
            f"(sessions on {where}; model {running.service.backend.name})"
        )

    run_until_signalled(lambda: start_agent(settings, target, data_dir, tls=tls), banner)
