"""The scenario stack: one real `tui-session serve` (hub and agent service, offline demo model)
in its own HOME, config and data dirs on free ports, and `tui-session chat` terminals on it.

Every process gets the same environment, as a person's shell would: the hub port, the agent
URL and the data dir come from `TUI_SESSION_*` variables, so `tui-session chat --session X`
(the join command the app prints) works as printed. The OS user is `ada`.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

from tests.proxy import CuttableProxy
from tests.support.hub import HubEndpoint, free_port
from tui_session.hub.auth import read_root_key
from tui_session.transport.client import ClientSession

from .terminal import Size, Terminal

BIN = Path(sys.executable).parent
TUI_SESSION = str(BIN / "tui-session")
USER = "ada"
START_S = 30.0
# For what one device already shows to reach another: propagation takes milliseconds; a repro
# of a bug where it never arrives fails after this long instead of the full WAIT_S.
FOLLOW_S = 5.0
WIDE, MEDIUM, NARROW = Size(120, 40), Size(80, 24), Size(60, 20)


def clean_environ() -> dict[str, str]:
    """The caller's environment without what would leak into a scenario (its config, model,
    terminal multiplexer, colour and Textual switches)."""
    dropped = (
        "TUI_SESSION_",
        "OPENAI_",
        "TEXTUAL",
        "TMUX",
        "NO_COLOR",
        "ABLY_",
        "COLUMNS",
        "LINES",
    )
    return {k: v for k, v in os.environ.items() if not k.startswith(dropped)}


class Server:
    """`tui-session serve` as a child process, with the environment its clients share."""

    def __init__(self, root: Path, *, demo_pace: float) -> None:
        self.root = root
        self.port, self.agent_port = free_port(), free_port()
        home = root / "home"
        self.env = {
            **clean_environ(),
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local/share"),
            "XDG_STATE_HOME": str(home / ".local/state"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "TUI_SESSION_DATA_DIR": str(root / "data"),
            "TUI_SESSION_HUB_PORT": str(self.port),
            "TUI_SESSION_AGENT_PORT": str(self.agent_port),
            "TUI_SESSION_CLIENT_AGENT_URL": f"http://127.0.0.1:{self.agent_port}",
            "TUI_SESSION_AGENT_DEMO_PACE": str(demo_pace),
            "USER": USER,
            "LOGNAME": USER,
            "TERM": "xterm-256color",
            "LANG": "C.UTF-8",
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
        }
        self.log: list[str] = []
        self._ready = threading.Event()
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> Server:
        self.process = subprocess.Popen(
            [TUI_SESSION, "serve"],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._drain, name="serve-log", daemon=True).start()
        if not self._ready.wait(START_S) or self.process.poll() is not None:
            self.stop()
            raise RuntimeError("tui-session serve did not start:\n" + "".join(self.log))
        return self

    def _drain(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.log.append(line)
            if line.startswith("tui-session serve: hub on"):
                self._ready.set()
        self._ready.set()  # ended: start() sees the exit

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def run(self, *args: str, timeout: float = START_S) -> subprocess.CompletedProcess[str]:
        """`tui-session ARGS` in this stack's environment, to completion."""
        return subprocess.run(
            [TUI_SESSION, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def hub(self) -> HubEndpoint:
        data_dir = Path(self.env["TUI_SESSION_DATA_DIR"])
        return HubEndpoint("127.0.0.1", self.port, read_root_key(data_dir), data_dir)

    def seed_prompts(self, session: str, texts: list[str], *, user: str = "bob") -> None:
        """Publish prompts on the session as another participant would, without waking the
        agent (older history for a terminal that joins afterwards)."""

        async def publish() -> None:
            hub = self.hub()
            realtime = hub.realtime(user)
            try:
                writer = await ClientSession.connect(
                    realtime, f"session:{session}", agent_url=None, device="seed"
                )
                for text in texts:
                    await writer.send(text, invoke=False)
                await writer.close()
            finally:
                await hub.close_clients()

        asyncio.run(publish())

    def channel_log(self, session: str) -> list[dict[str, Any]]:
        """The session's channel, message by message (`tui-session export --format jsonl`)."""
        result = self.run("export", "--session", session, "--format", "jsonl")
        assert result.returncode == 0, result.stderr
        return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


class Proxy:
    """tests/proxy.py's CuttableProxy in front of the hub, on its own event loop thread (the
    scenario tests are plain functions): `cut()` resets every live connection."""

    def __init__(self, port: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="proxy", daemon=True)
        self.thread.start()
        self.proxy = CuttableProxy("127.0.0.1", port)
        self._run(self.proxy.start())
        self.port = self.proxy.port

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(START_S)

    def cut(self) -> int:
        async def cut() -> int:
            return self.proxy.cut()

        return self._run(cut())

    def stop(self) -> None:
        self._run(self.proxy.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(START_S)
        self.loop.close()


class Scenario:
    """One test on a shared server: a new session id and the terminals opened on it. Every
    terminal is closed with ctrl+q at the end (and must exit cleanly), or killed on failure."""

    def __init__(self, server: Server, root: Path) -> None:
        self.server = server
        self.root = root
        self.session = f"s{uuid.uuid4().hex[:8]}"
        self.terminals: list[Terminal] = []

    def chat(
        self,
        name: str,
        *,
        user: str | None = None,
        device: str | None = None,
        session: str | None = None,
        size: Size = WIDE,
        args: tuple[str, ...] = (),
        kitty: bool = False,
        connected: bool = True,
        env: dict[str, str] | None = None,
    ) -> Terminal:
        """`tui-session chat` on this scenario's session (or `session`, or none when
        `session=""`), in a new terminal (with `env` added to the stack's environment); waits
        until it shows it is connected."""
        argv = [TUI_SESSION, "chat"]
        session = self.session if session is None else session
        if session:
            argv += ["--session", session]
        if user:
            argv += ["--user", user]
        if device:
            argv += ["--device", device]
        argv += list(args)
        return self.spawn(name, argv, size=size, kitty=kitty, connected=connected, env=env)

    def open(self, *terminals: Terminal) -> None:
        """Wait until each terminal started with `connected=False` says it is connected (they
        start side by side)."""
        for terminal in terminals:
            terminal.wait_for("● connected", what="the header to say connected")

    def spawn(
        self,
        name: str,
        argv: list[str],
        *,
        size: Size = WIDE,
        kitty: bool = False,
        connected: bool = True,
        env: dict[str, str] | None = None,
    ) -> Terminal:
        environ = {**self.server.env, **(env or {})}
        terminal = Terminal(name, argv, env=environ, size=size, cwd=str(self.root), kitty=kitty)
        self.terminals.append(terminal)
        if connected:
            terminal.wait_for("● connected", what="the header to say connected")
        return terminal

    def channel_log(self) -> list[dict[str, Any]]:
        return self.server.channel_log(self.session)

    def close(self, *, failed: bool) -> list[str]:
        """Quit every terminal (or kill them all when the test failed); the problems seen."""
        problems = []
        if failed:
            for terminal in self.terminals:
                terminal.kill()
            return problems
        running = [t for t in self.terminals if t.alive]
        for terminal in running:
            terminal.press_quit()  # all at once: each takes a moment to leave the session
        for terminal in running:
            try:
                status = terminal.wait_exit()
            except AssertionError as err:
                problems.append(f"{terminal.name} did not quit on ctrl+q: {err}")
                terminal.kill()
                continue
            if status != 0:
                problems.append(f"{terminal.name} exited with {status}:\n{terminal.output[-2000:]}")
        for terminal in self.terminals:
            terminal.kill()  # closes the pty of those that had exited already
        return problems

    def screens(self) -> str:
        return "\n".join(t.dump() for t in self.terminals)
