"""What `tui-session chat` and `export` do before they start, kept out of cli.py (flags only):
settings for the chosen endpoint, the session's names checked, find or start the local hub, its
key, and the session factory that builds the realtime client and the `ClientSession` on the
app's event loop.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tui_session import paths, sessions
from tui_session.access import Access, for_settings
from tui_session.config import ClientSettings, Settings
from tui_session.sessions import JoinCommand
from tui_session.transport.client import ClientSession
from tui_session.tui.options import ChatOptions, OpenSession, SessionFactory

HUB_START_TIMEOUT_S = 15.0
OWNED_NAME_MAX = 120  # characters of an owned-inputs file name (file systems allow 255 bytes)
_WILDCARD = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


class LaunchError(RuntimeError):
    """Something the user must fix (shown without a traceback)."""


@dataclass(frozen=True)
class Launch:
    settings: Settings
    channel_name: str
    session_id: str | None
    created: bool  # a new session id was made up
    endpoint_label: str
    join: JoinCommand
    started_server: str | None = None  # "serve" or "hub" when one was started here
    server_pid: int | None = None
    read_only: bool = False  # a read-only invite: watch, never prompt, cancel or approve

    @property
    def join_command(self) -> str:
        return self.join.for_channel(self.channel_name)


def endpoint_overrides(endpoint: str | None) -> dict[str, Any]:
    """--endpoint local | ably | HOST:PORT as settings overrides."""
    if endpoint is None or endpoint == "local":
        return {"client.endpoint": "local"} if endpoint else {}
    if endpoint == "ably":
        return {"client.endpoint": "main"}
    host, sep, port = endpoint.rpartition(":")
    if sep and host and port.isdigit():
        return {"client.endpoint": "local", "hub.host": host.strip("[]"), "hub.port": int(port)}
    return {"client.endpoint": endpoint}  # an Ably endpoint name, passed to the SDK


def default_device() -> str:
    """Host name plus terminal, so two terminals on one machine are two devices."""
    host = socket.gethostname().split(".")[0] or "host"
    terminal = os.environ.get("TMUX_PANE", "").lstrip("%")
    if terminal:
        return f"{host}-tmux{terminal}"
    try:
        tty = os.ttyname(0)
    except OSError:
        tty = ""
    if tty:
        return f"{host}-{re.sub(r'[^A-Za-z0-9]+', '', tty.removeprefix('/dev/'))}"
    return f"{host}-{os.getpid()}"


def runnable_program() -> str:
    """How another terminal runs this program: `tui-session` when that is the one on PATH,
    else the path this one was started from (e.g. `.venv/bin/tui-session`)."""
    started = Path(sys.argv[0])
    if started.name != "tui-session":
        return "tui-session"  # python -m, tests: the installed name
    on_path = shutil.which("tui-session")
    if on_path and Path(on_path).resolve() == started.resolve():
        return "tui-session"
    return str(started.absolute())


def plan(
    settings: Settings,
    *,
    session: str | None,
    channel: str | None,
    endpoint_flag: str | None,
) -> Launch:
    """The session to open and how it is shown. Raises `sessions.InvalidName` for a session
    id, channel, user or device name the hub would refuse, before anything connects."""
    if session is not None and channel is not None:
        raise LaunchError("give --session or --channel, not both")
    sessions.check_user(settings.client.user)
    sessions.check_device(settings.client.device)
    created = session is None and channel is None
    if channel is not None:
        channel_name = sessions.check_channel_name(channel)
    else:
        channel_name = sessions.channel_name(session or sessions.new_session_id())
    local = settings.client.endpoint == "local"
    if local:
        host = _WILDCARD.get(settings.hub.host, settings.hub.host)
        label = f"local hub {host}:{settings.hub.port}"
    else:
        label = f"Ably ({settings.client.endpoint})"
    agent_url = settings.client.agent_url
    join = JoinCommand(
        runnable_program(),
        endpoint=endpoint_flag,
        agent_url=None if agent_url == ClientSettings.agent_url else agent_url,
    )
    session_id = sessions.session_id_of(channel_name)
    return Launch(settings, channel_name, session_id, created, label, join)


def hub_address(settings: Settings) -> tuple[str, int]:
    return _WILDCARD.get(settings.hub.host, settings.hub.host), settings.hub.port


def reachable(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def ensure_local_server(launch: Launch, *, config: Path | None) -> Launch:
    """With the local endpoint and no hub listening, start `tui-session serve` (hub and agent
    service) in the background, logging to the log dir; a second terminal reuses it."""
    settings = launch.settings
    if settings.client.endpoint != "local":
        return launch
    host, port = hub_address(settings)
    if reachable(host, port):
        return launch
    command = "serve"
    log_dir = paths.log_dir()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{command}.log"
    args = [sys.executable, "-m", "tui_session.cli", command]
    if config is not None:
        args += ["--config", str(config)]
    args += ["--host", settings.hub.host, "--port", str(port)]
    args += ["--agent-port", str(settings.agent.port), "--data-dir", str(settings.hub.data_dir)]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives this terminal; a second terminal reuses it
        )
    deadline = time.monotonic() + HUB_START_TIMEOUT_S
    while not reachable(host, port):
        if time.monotonic() > deadline:
            raise LaunchError(
                f"started `tui-session {command}` but {host}:{port} does not answer; see {log_path}"
            )
        time.sleep(0.1)
    return replace(launch, started_server=command, server_pid=process.pid)


def session_factory(
    settings: Settings, *, role: str = "user", access: Access | None = None
) -> SessionFactory:
    """Opens the realtime client and the ClientSession on the app's event loop, reaching the
    session as `access` says (default: the local hub; see tui_session/access.py)."""
    client = settings.client
    if access is None:
        access = for_settings(settings, hub_elsewhere=False)

    async def factory(channel_name: str) -> OpenSession:
        realtime = access.realtime(client.user, channel_name)
        http = access.http()
        owned = _owned_path(settings, channel_name, client.device)
        try:
            session = await ClientSession.connect(
                realtime,
                channel_name,
                agent_url=access.agent_url,
                device=client.device,
                role=role,
                http=http,
                owned_inputs_path=owned,
            )
        except BaseException:
            await realtime.close()
            if http is not None:
                await http.close()
            raise

        async def close() -> None:
            await session.close()
            await realtime.close()
            if http is not None:
                await http.close()

        return OpenSession(session, close)

    return factory


def _owned_path(settings: Settings, channel_name: str, device: str) -> Path:
    """One file per device and channel; readable, and short enough for any file system
    (a channel name may be 256 characters): long names keep a prefix and a digest."""
    name = f"{device}--{channel_name}"
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    if len(safe) > OWNED_NAME_MAX:
        digest = hashlib.sha256(name.encode()).hexdigest()[:16]
        safe = f"{safe[: OWNED_NAME_MAX - 17]}-{digest}"
    return Path(settings.hub.data_dir) / "owned-inputs" / f"{safe}.ids"


def chat_options(launch: Launch) -> ChatOptions:
    return ChatOptions(
        session_name=launch.channel_name,
        endpoint_label=launch.endpoint_label,
        join=launch.join,
        read_only=launch.read_only,
    )
