"""The agent service for tests: started on a hub (in this process, or as `tui-session agent` in
a child process that a test may SIGKILL), woken over real HTTP, its answers read back."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.hub import HubEndpoint, free_port
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


async def post(agent: RunningAgent | AgentProcess, body: Any) -> tuple[int, dict[str, Any]]:
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


class AgentProcess:
    """`tui-session agent` as a real child process on a hub, sharing the hub's data dir (where
    it finds the hub's key and keeps its ledgers), with no config file; `settings` are
    `TUI_SESSION_AGENT_*` variables (e.g. {"operators": "ada"}). Without `args` choosing a
    model it runs the offline demo model, as fast as it can."""

    def __init__(
        self,
        hub: HubEndpoint,
        *,
        settings: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        config = hub.data_dir / "no-config.toml"
        config.write_text("")
        self.env = {
            **{
                k: v for k, v in os.environ.items() if not k.startswith(("TUI_SESSION_", "OPENAI_"))
            },
            "TUI_SESSION_CONFIG": str(config),
            "TUI_SESSION_AGENT_DEMO_PACE": "0",
            **{f"TUI_SESSION_AGENT_{k.upper()}": v for k, v in (settings or {}).items()},
            **(env or {}),
        }
        self.command = [
            sys.executable,
            "-m",
            "tui_session.cli",
            "agent",
            "--hub",
            f"{hub.host}:{hub.port}",
            "--data-dir",
            str(hub.data_dir),
            "--port",
            str(self.port),
            *args,
        ]
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> AgentProcess:
        """Start and wait for the line it prints once it listens."""
        self.proc = await asyncio.create_subprocess_exec(
            *self.command,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 30)
        assert b"tui-session agent on" in line, line
        return self

    async def kill(self) -> None:
        """SIGKILL: nothing is ended, nothing is left."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> None:
        """SIGTERM, as a service manager stops it; killed if it does not leave in time."""
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), 15)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
