"""The agent service's /health as a terminal reads it: the real service's model, a service
without /health, no service; and the watch that asks again only while nobody answers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from tests.support.agent import demo_settings, running_agent
from tests.support.hub import HubEndpoint, free_port
from tests.support.squatters import plain_http_server
from tui_session.transport.service_health import AgentHealth, HealthWatch, read_health


async def test_health_reads_the_model_or_says_why_not(hub: HubEndpoint, tmp_path: Path) -> None:
    async with aiohttp.ClientSession() as http:
        async with running_agent(hub, demo_settings(), tmp_path / "agent") as agent:
            url = f"http://127.0.0.1:{agent.port}"
            expected = AgentHealth(url, "offline-demo", True, client_id="agent")
            assert await read_health(http, url + "/") == expected
        with plain_http_server() as port:
            other = await read_health(http, f"http://127.0.0.1:{port}")
        assert other.reachable and other.model is None, "it answers, without a /health"
        down = await read_health(http, f"http://127.0.0.1:{free_port()}")
        assert not down.reachable and "Cannot connect" in str(down.problem)


async def test_the_watch_asks_again_only_while_nobody_answers(
    hub: HubEndpoint, tmp_path: Path
) -> None:
    port = free_port()
    readings: list[AgentHealth] = []
    arrived = asyncio.Event()

    def seen(health: AgentHealth) -> None:
        readings.append(health)
        arrived.set()

    async def next_reading() -> AgentHealth:
        arrived.clear()
        await asyncio.wait_for(arrived.wait(), 10)
        return readings[-1]

    watch = HealthWatch(f"http://127.0.0.1:{port}", seen, retry_s=0.05)
    watch.start()
    try:
        assert not (await next_reading()).reachable
        assert not (await next_reading()).reachable, "asked again after retry_s"
        async with running_agent(hub, demo_settings(port=port), tmp_path / "agent"):
            while not (await next_reading()).reachable:
                pass
            watch.agent_present(True)  # an agent on the channel: its presence says the rest
            watch.agent_present(False)  # it left: read once more at once
            assert (await next_reading()).model == "offline-demo"
    finally:
        await watch.stop()
