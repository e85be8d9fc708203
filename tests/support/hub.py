"""A real hub for tests: its settings, free loopback ports, real ably SDK clients, event waits,
and `tui-session hub` as a child process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

from ably import AblyRealtime

from tui_session.config import HubSettings
from tui_session.transport.connect import hub_realtime, hub_rest

WAIT_S = 10.0


def hub_settings(data_dir: Path, **overrides: Any) -> HubSettings:
    """An in-process hub on a free loopback port with its own data dir."""
    return HubSettings(host="127.0.0.1", port=0, data_dir=data_dir, **overrides)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def wait_state(client: AblyRealtime, state: str = "connected", timeout: float = WAIT_S):
    """Wait for a connection state, returning at once if the client is already there."""
    if client.connection.state.value == state:
        return
    await asyncio.wait_for(client.connection.once_async(state), timeout)


async def wait_until(
    predicate: Callable[[], bool], timeout: float = WAIT_S, what: str = ""
) -> None:
    """Poll a condition driven by network events (no fixed sleeps: it returns as soon as true)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.01)


class Collector:
    """A subscriber that records messages and lets a test wait for a count of them."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._changed = asyncio.Event()

    def add(self, item: Any) -> None:
        """The listener to hand to subscribe() (the SDK wants a function or method)."""
        self.items.append(item)
        self._changed.set()

    async def wait_for(self, count: int, timeout: float = WAIT_S) -> list[Any]:
        async def enough() -> None:
            while len(self.items) < count:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(enough(), timeout)
        return self.items


class HubEndpoint:
    """Where a running hub listens and how to make SDK clients for it."""

    def __init__(self, host: str, port: int, key: str, data_dir: Path) -> None:
        self.host, self.port, self.key, self.data_dir = host, port, key, data_dir
        self.clients: list[AblyRealtime] = []

    def realtime(self, client_id: str | None = None, **options: Any) -> AblyRealtime:
        client = hub_realtime(self.host, self.port, self.key, client_id, **options)
        self.clients.append(client)
        return client

    def rest(self, client_id: str | None = None, **options: Any):
        return hub_rest(self.host, self.port, self.key, client_id, **options)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def close_clients(self) -> None:
        for client in self.clients:
            with suppress(Exception):
                await asyncio.wait_for(client.close(), 5)
        self.clients.clear()


class HubProcess:
    """`tui-session hub` as a real child process, for crash tests (SIGKILL and restart)."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tui_session.cli",
                "hub",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the hub prints its address once it listens
        if "tui-session hub on" not in line:
            self.proc.kill()
            raise RuntimeError(f"hub did not start: {line!r}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
