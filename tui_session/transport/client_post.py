"""Waking the agent: `POST {agent_url}/api/chat` with exactly `{inputEventId, sessionName}`
(plus configured extras), docs/wire.md §3.3. The body carries no content: the agent reads the
input and the conversation from the channel."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import aiohttp


async def post_invocation(
    http: aiohttp.ClientSession,
    agent_url: str,
    body: Mapping[str, Any],
    *,
    token: str | None,
    timeout: float,
) -> str | None:
    """POST the invocation; None when the agent took it, else why not ("agent not reached")."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = agent_url.rstrip("/") + "/api/chat"
    try:
        async with http.post(
            url,
            json=dict(body),
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as response:
            text = await response.text()
            if response.status >= 300:
                return f"HTTP {response.status}: {text[:200]}"
    except asyncio.CancelledError:
        raise
    except Exception as err:
        return str(err) or type(err).__name__
    return None
