"""Calling the agent service over HTTP: waking it with `POST {agent_url}/api/chat` and exactly
`{inputEventId, sessionName}` (plus configured extras), docs/wire.md §3.3, and the handover
requests (`POST /api/handover`, docs/handover.md). The bodies carry no content: the agent
reads the input, the request and the conversation from the channel."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp


@dataclass(frozen=True)
class AgentAnswer:
    """What the agent service answered. `error` is None for a 2xx (the agent took it), else
    why not: "agent not reached" when `status` is None, or the HTTP status and its text."""

    status: int | None
    body: Any = None
    error: str | None = None

    @property
    def handled_by_operator(self) -> str | None:
        """`202 {handledBy: "operator", operator}`: an operator in control answers instead of
        the agent (docs/handover.md, "The agent while an operator is in control")."""
        body = self.body if isinstance(self.body, Mapping) else {}
        if self.status != 202 or body.get("handledBy") != "operator":
            return None
        operator = body.get("operator")
        return operator if isinstance(operator, str) and operator else None

    @property
    def error_code(self) -> int | None:
        """The Ably-style code of an error answer (`{error: {code, message}}`)."""
        error = self.body.get("error") if isinstance(self.body, Mapping) else None
        code = error.get("code") if isinstance(error, Mapping) else None
        return code if isinstance(code, int) and not isinstance(code, bool) else None

    @property
    def error_message(self) -> str | None:
        error = self.body.get("error") if isinstance(self.body, Mapping) else None
        message = error.get("message") if isinstance(error, Mapping) else None
        return message if isinstance(message, str) else self.error


async def post_agent(
    http: aiohttp.ClientSession,
    agent_url: str,
    path: str,
    body: Mapping[str, Any],
    *,
    token: str | None,
    timeout: float,
) -> AgentAnswer:
    """POST `body` to the agent service; never raises for the network or an error status."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await _call(http, "POST", agent_url, path, timeout, json=dict(body), headers=headers)


async def get_agent(
    http: aiohttp.ClientSession, agent_url: str, path: str, *, timeout: float
) -> AgentAnswer:
    """GET a JSON document of the agent service (`/health`); never raises."""
    return await _call(http, "GET", agent_url, path, timeout)


async def _call(
    http: aiohttp.ClientSession,
    method: str,
    agent_url: str,
    path: str,
    timeout: float,
    **kwargs: Any,
) -> AgentAnswer:
    url = agent_url.rstrip("/") + path
    try:
        async with http.request(
            method, url, timeout=aiohttp.ClientTimeout(total=timeout), **kwargs
        ) as response:
            text = await response.text()
            try:
                parsed: Any = await response.json(content_type=None)
            except ValueError:
                parsed = None
            if response.status >= 300:
                return AgentAnswer(response.status, parsed, f"HTTP {response.status}: {text[:200]}")
            return AgentAnswer(response.status, parsed)
    except asyncio.CancelledError:
        raise
    except Exception as err:
        return AgentAnswer(None, None, str(err) or type(err).__name__)


async def post_invocation(
    http: aiohttp.ClientSession,
    agent_url: str,
    body: Mapping[str, Any],
    *,
    token: str | None,
    timeout: float,
) -> AgentAnswer:
    """POST the invocation (`/api/chat`)."""
    return await post_agent(http, agent_url, "/api/chat", body, token=token, timeout=timeout)
