"""The node oracle (ably-js, @ably/ai-transport 0.8.0 in tests/node) as child processes: a
JSON-lines script runner, the npm client and observer scripts, and the npm agent service.

They run as asyncio subprocesses because the hub they talk to runs in the test's own event
loop. Each skips the test, with the reason, where node or the npm packages are absent.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

from tests.support.hub import WAIT_S, HubEndpoint

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
EVENT_TIMEOUT_S = 20.0


def node_or_skip(*packages: str) -> str:
    """The node executable; skips the test when node or one of the npm packages is absent."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not found: install node 20+ to run the npm interop tests")
    modules = NODE_DIR / "node_modules"
    for package in packages or ("ably", "@ably/ai-transport"):
        if not (modules / package).is_dir():
            pytest.skip(f"{modules / package} is absent (run npm install in {NODE_DIR})")
    return node


class NodeScript:
    """A node script that prints JSON lines on stdout and reads commands on stdin."""

    def __init__(self, proc: asyncio.subprocess.Process, name: str) -> None:
        self.proc = proc
        self.name = name
        self.lines: list[str] = []

    @classmethod
    async def start(cls, script: str, hub: HubEndpoint, *args: str) -> NodeScript:
        proc = await asyncio.create_subprocess_exec(
            node_or_skip(),
            str(NODE_DIR / script),
            *("--host", hub.host, "--port", str(hub.port), "--key", hub.key),
            *args,
            cwd=NODE_DIR,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )
        return cls(proc, script)

    async def next(self, *events: str, timeout: float = EVENT_TIMEOUT_S) -> dict[str, Any]:
        """The next record whose `event` is one of `events` (others are skipped)."""
        assert self.proc.stdout is not None
        while True:
            line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
            if not line:
                raise AssertionError(f"{self.name} exited before {events}: {await self.stderr()}")
            self.lines.append(line.decode())
            with suppress(json.JSONDecodeError):
                record = json.loads(line)
                if record.get("event") == "error":
                    raise AssertionError(f"{self.name} failed: {record['error']}")
                if record.get("event") in events:
                    return record

    async def command(self, reply: str, **command: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        await self.proc.stdin.drain()
        return await self.next(reply)

    async def stderr(self) -> str:
        assert self.proc.stderr is not None
        with suppress(TimeoutError):
            return (await asyncio.wait_for(self.proc.stderr.read(), 2)).decode()[-3000:]
        return ""

    async def close(self) -> None:
        if self.proc.returncode is None and self.proc.stdin is not None:
            with suppress(Exception):
                self.proc.stdin.write(b'{"cmd":"quit"}\n')
                await self.proc.stdin.drain()
                self.proc.stdin.close()
            with suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), 10)
        if self.proc.returncode is None:
            with suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()


async def npm_client(hub: HubEndpoint, channel: str, scenario: str) -> NodeScript:
    """tests/node/npm_client.mjs playing `scenario` on `channel` (clientId alice)."""
    args = ("--channel", channel, "--scenario", scenario)
    return await NodeScript.start("npm_client.mjs", hub, *args)


async def npm_observer(hub: HubEndpoint, channel: str, client: str = "observer") -> NodeScript:
    """tests/node/npm_observer.mjs attached to `channel`, history loaded ("ready" consumed)."""
    observer = await NodeScript.start("npm_observer.mjs", hub, "--channel", channel)
    observer.ready = await observer.next("ready")  # type: ignore[attr-defined]
    return observer


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
            str(NODE_DIR / "npm_agent.mjs"),
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
