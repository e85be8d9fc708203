"""The agent service as a terminal sees it before any answer: its `GET /health`
(`{model, demo, ...}`, docs/agent.md), read when the session opens so the first screen names
the model, or says the service cannot be reached.

Chosen over having the agent enter presence when a terminal opens a session: the agent only
learns of a session from an (authenticated) invocation, and attaching to every session that is
opened would cost a channel per session nobody prompts in. /health needs no credentials and
no channel; the agent's presence takes over once it serves the session.

`HealthWatch` reads it once; while the service does not answer, again every `retry_s` seconds
(no busy polling), and stops as soon as it answers or an agent is present on the channel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

HEALTH_TIMEOUT_S = 3.0
RETRY_S = 5.0


@dataclass(frozen=True)
class AgentHealth:
    """What `GET {url}/health` said: the model (None from a service without a /health), or
    why the service could not be reached."""

    url: str
    model: str | None = None
    demo: bool = False
    client_id: str | None = None  # the agent's clientId on the channel
    problem: str | None = None  # None: it answered

    @property
    def reachable(self) -> bool:
        return self.problem is None


async def read_health(
    http: aiohttp.ClientSession, agent_url: str, timeout: float = HEALTH_TIMEOUT_S
) -> AgentHealth:
    url = agent_url.rstrip("/")
    try:
        async with http.get(
            f"{url}/health", timeout=aiohttp.ClientTimeout(total=timeout)
        ) as response:
            if response.status != 200:
                return AgentHealth(url)  # it answers, without a /health: the model is unknown
            body = await response.json(content_type=None)
    except asyncio.CancelledError:
        raise
    except ValueError:
        return AgentHealth(url)
    except (aiohttp.ClientError, TimeoutError) as err:
        return AgentHealth(url, problem=str(err) or type(err).__name__)
    if not isinstance(body, dict):
        return AgentHealth(url)
    model, client_id = body.get("model"), body.get("clientId")
    return AgentHealth(
        url,
        str(model) if model else None,
        bool(body.get("demo")),
        str(client_id) if client_id else None,
    )


class HealthWatch:
    """Reads the health of the agent at `agent_url` on the running loop and reports each
    reading to `on_health`; see the module docstring for when."""

    def __init__(
        self,
        agent_url: str,
        on_health: Callable[[AgentHealth], None],
        *,
        http: aiohttp.ClientSession | None = None,
        retry_s: float = RETRY_S,
    ) -> None:
        self.agent_url = agent_url
        self.on_health = on_health
        self.retry_s = retry_s
        self._http = http
        self._owns_http = http is None
        self._task: asyncio.Task[None] | None = None
        self._present = False

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._watch())

    def agent_present(self, present: bool) -> None:
        """An agent is (or is no longer) present on the channel: its presence says the
        model, so stop reading; when it leaves, read again at once."""
        was, self._present = self._present, present
        if present:
            self._cancel()
        elif was:
            self.start()

    async def stop(self) -> None:
        self._cancel()
        if self._owns_http and self._http is not None:
            await self._http.close()
            self._http = None

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _watch(self) -> None:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        while True:
            health = await read_health(self._http, self.agent_url)
            if self._present:
                return
            self.on_health(health)
            if health.reachable:
                return
            await asyncio.sleep(self.retry_s)  # a modest interval: the service is down
