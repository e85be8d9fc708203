"""Helpers for the ClientSession tests (no tests here): the npm agent as a child process, an
event recorder that waits on session events, and session factories.

The npm agent (tests/node/npm_agent.mjs) runs as an asyncio subprocess because the hub it
talks to runs in the test's own event loop.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

from tests.support import HubEndpoint
from tui_session.transport.client import ClientSession
from tui_session.transport.client_events import ClientEvent, WireMessage

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
AGENT_SCRIPT = NODE_DIR / "npm_agent.mjs"
WAIT_S = 10.0


def node_or_skip() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not found: install node 20+ to run the npm agent tests")
    modules = NODE_DIR / "node_modules"
    if not (modules / "ably").is_dir() or not (modules / "@ably" / "ai-transport").is_dir():
        pytest.skip(f"{modules} lacks ably / @ably/ai-transport (run npm install there)")
    return node


class NpmAgent:
    """tests/node/npm_agent.mjs serving POST /api/chat; `log` holds its JSON stderr lines."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc = proc
        self.port = port
        self.log: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    async def start(cls, hub: HubEndpoint, delta_ms: int = 100) -> NpmAgent:
        node = node_or_skip()
        proc = await asyncio.create_subprocess_exec(
            node,
            str(AGENT_SCRIPT),
            "--host",
            hub.host,
            "--port",
            str(hub.port),
            "--key",
            hub.key,
            "--delta-ms",
            str(delta_ms),
            cwd=NODE_DIR,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), WAIT_S)
        if not line.strip().isdigit():
            err = await proc.stderr.read() if proc.stderr else b""
            raise RuntimeError(f"npm agent did not start: {line!r} {err.decode()[-2000:]}")
        return cls(proc, int(line))

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            text = line.decode(errors="replace").rstrip()
            self.raw.append(text)
            with suppress(json.JSONDecodeError):
                self.log.append(json.loads(text))

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.log if r.get("event") == kind]

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        with suppress(Exception):
            await asyncio.wait_for(self._reader, 2)


class Recorder:
    """Records a session's events; `until()` waits for a condition re-checked on each event."""

    def __init__(self, session: ClientSession | None = None) -> None:
        self.items: list[ClientEvent] = []
        self._changed = asyncio.Event()
        if session is not None:
            session.listen(self.add)

    def add(self, event: ClientEvent) -> None:
        self.items.append(event)
        self._changed.set()

    async def until(
        self, predicate: Callable[[], Any], timeout: float = WAIT_S, what: str = ""
    ) -> Any:
        async def wait() -> Any:
            while not (result := predicate()):
                self._changed.clear()
                await self._changed.wait()
            return result

        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what or predicate}") from None

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.items if isinstance(e, kind)]

    def wire(self, name: str | None = None, source: str = "live") -> list[WireMessage]:
        return [
            e
            for e in self.of(WireMessage)
            if (name is None or e.name == name) and e.source == source
        ]


OPENED: list[ClientSession] = []  # closed by the `cleanup_sessions` fixture of each test


async def open_session(
    hub: HubEndpoint,
    client_id: str,
    channel: str,
    *,
    device: str = "laptop",
    agent_url: str | None = None,
    **options: Any,
) -> tuple[ClientSession, Recorder]:
    """A ClientSession on a fresh realtime client; its recorder sees events from the start."""
    recorder = Recorder()
    session = await ClientSession.connect(
        hub.realtime(client_id),
        channel,
        agent_url=agent_url,
        device=device,
        listener=recorder.add,
        **options,
    )
    OPENED.append(session)
    return session, recorder


async def close_opened() -> None:
    while OPENED:
        await OPENED.pop().close()
