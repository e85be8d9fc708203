"""What `tui-session chat`, `desk` and `export` do before they start, kept out of cli.py (flags
only): settings for the chosen endpoint, the session's names checked, the endpoint checked (a
hub that is ours, or the local one started), its key, what the agent service says about itself
(`/health`: its clientId, operators, desk channel), and the factories that build the realtime
client and the `ClientSession` (or the desk's `DeskFeed`) on the app's event loop.

Every mistake is found here, before the UI opens, and said in one sentence: a bad name or a
wrong endpoint is exit code 2 (what was asked for cannot be used as given); a server started
here that fails is exit code 1.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tui_session import hub_probe, sessions
from tui_session.config import ClientSettings, Settings
from tui_session.local_server import StartedServer, start_serve
from tui_session.sessions import JoinCommand

if TYPE_CHECKING:  # the client stack loads when the session opens, not for a quick error
    from tui_session.access import Access
    from tui_session.protocol.desk import Thresholds
    from tui_session.transport.client_handover import AgentInfo
    from tui_session.tui.options import (
        ChatOptions,
        DeskFactory,
        DeskOptions,
        OpenDesk,
        SessionFactory,
    )

HUB_START_TIMEOUT_S = 15.0
WHOLE_CONTEXT = 1000  # messages a session opened from the desk shows at once
OWNED_NAME_MAX = 120  # characters of an owned-inputs file name (file systems allow 255 bytes)
_WILDCARD = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class LaunchError(RuntimeError):
    """Something the user must fix (shown without a traceback); exit code 1: what was started
    here failed."""

    exit_code = 1


class EndpointError(LaunchError):
    """The endpoint cannot be used as given: nothing answers there, another program does, or
    a port the local server needs is taken. Exit code 2, as for every input `chat` refuses
    before the UI opens."""

    exit_code = 2


@dataclass(frozen=True)
class Launch:
    settings: Settings
    channel_name: str
    session_id: str | None
    created: bool  # a new session id was made up
    endpoint_label: str
    join: JoinCommand
    hub_elsewhere: bool = False  # --endpoint HOST:PORT: a hub that is never started here
    server: StartedServer | None = None  # the `tui-session serve` started here, if any
    read_only: bool = False  # a read-only invite: watch, never prompt, cancel or approve

    @property
    def join_command(self) -> str:
        return self.join.for_channel(self.channel_name)

    @property
    def started_server(self) -> str | None:
        return self.server.command if self.server else None

    @property
    def server_pid(self) -> int | None:
        return self.server.pid if self.server else None


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
    config: Path | None = None,
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
        config=str(Path(config).absolute()) if config is not None else None,
    )
    session_id = sessions.session_id_of(channel_name)
    elsewhere = local and endpoint_flag not in (None, "local")
    return Launch(settings, channel_name, session_id, created, label, join, elsewhere)


def hub_address(settings: Settings) -> tuple[str, int]:
    return _WILDCARD.get(settings.hub.host, settings.hub.host), settings.hub.port


def reach_endpoint(launch: Launch, *, config: Path | None) -> Launch:
    """The endpoint, checked before the UI opens (each failure an `EndpointError`, within a
    few seconds):
    - Ably's cloud: nothing to check here (its credentials are the SDK's to use);
    - a hub named with `--endpoint HOST:PORT`: it must answer as a tui-session hub; it is
      never started here;
    - the default local hub (no `--endpoint`, or `--endpoint local`): reused when it runs,
      else `tui-session serve` is started (`ensure_local_server`)."""
    settings = launch.settings
    if settings.client.endpoint != "local":
        return launch
    if not launch.hub_elsewhere:
        return ensure_local_server(launch, config=config)
    host, port = hub_address(settings)
    probe = hub_probe.probe_hub(host, port, tls=settings.hub.tls)
    if probe.found == "nothing":
        raise EndpointError(
            f"no tui-session hub at {host}:{port} ({probe.detail}); check the address, "
            "or start `tui-session serve` there first"
        )
    if probe.found == "other":
        raise EndpointError(f"{host}:{port} is not a tui-session hub: {probe.detail}")
    return launch


def ensure_local_server(launch: Launch, *, config: Path | None) -> Launch:
    """With the default local endpoint: the hub running there, or a `tui-session serve`
    (hub and agent service) started in the background, logging to the log dir. Another
    program on the hub's port, or a port serve could not listen on, is an `EndpointError`
    before anything starts; a serve that exits before answering is a `LaunchError` with the
    last lines of its log."""
    settings = launch.settings
    if settings.client.endpoint != "local":
        return launch
    host, port = hub_address(settings)
    probe = hub_probe.probe_hub(host, port, tls=settings.hub.tls)
    if probe.is_hub:
        return launch
    if probe.found == "other":
        raise EndpointError(
            f"the hub's port {host}:{port} is held by another program, not a tui-session hub: "
            f"{probe.detail}; stop it, or give the hub another port "
            "(hub.port in the config file, or TUI_SESSION_HUB_PORT)"
        )
    agent_host, agent_port = served_agent_address(settings)
    _check_free("the hub", settings.hub.host, port, "hub.port in the config file")
    _check_free(
        "its agent service",
        agent_host,
        agent_port,
        f"tui-session chat --agent-url http://{agent_host}:PORT",
    )
    server = start_serve(settings, agent_port=agent_port, config=config)
    deadline = time.monotonic() + HUB_START_TIMEOUT_S
    while True:
        if hub_probe.probe_hub(host, port, tls=settings.hub.tls).is_hub:
            if not server.running():
                return launch  # another terminal's serve came first; ours stepped aside
            if hub_probe.accepts(agent_host, agent_port):
                return replace(launch, server=server)
        report = server.exit_report()
        if report is not None:
            raise LaunchError(report)
        if time.monotonic() > deadline:
            raise LaunchError(
                f"started `tui-session serve` (pid {server.pid}) but its hub {host}:{port} "
                f"and agent {agent_host}:{agent_port} do not both answer after "
                f"{HUB_START_TIMEOUT_S:g} s; see {server.log_path}"
            )
        time.sleep(0.1)


def served_agent_address(settings: Settings) -> tuple[str, int]:
    """Where the agent of a `serve` started by `chat` listens: where this terminal will look
    for it (`client.agent_url`) when that is on this machine, else `agent.port`."""
    url = urlsplit(settings.client.agent_url)
    if url.scheme == "http" and url.hostname in _LOOPBACK and url.port:
        return url.hostname, url.port
    return _WILDCARD.get(settings.agent.host, settings.agent.host), settings.agent.port


def _check_free(what: str, host: str, port: int, instead: str) -> None:
    reason = hub_probe.cannot_listen(host, port)
    if reason is not None:
        raise EndpointError(
            f"cannot start `tui-session serve`: {what} cannot listen on {host}:{port} "
            f"({reason}); free it, or choose another port: {instead}"
        )


async def agent_info(settings: Settings, access: Access) -> AgentInfo:
    """What the agent service says about itself (`/health`: whose handover snapshots to
    trust, the operators, the desk channel); when it cannot be reached, what this machine's
    config says (the same file, for a local agent)."""
    from tui_session.transport.client_handover import AgentInfo, fetch_agent_info

    found = None
    if access.agent_url:
        http = access.http()
        try:
            found = await fetch_agent_info(access.agent_url, http=http)
        finally:
            if http is not None:
                await http.close()
    if found is not None:
        return found
    agent = settings.agent
    operators = frozenset(o.strip() for o in agent.operators.split(",") if o.strip())
    return AgentInfo(agent.client_id, operators, agent.desk_channel)


def session_factory(
    settings: Settings,
    *,
    role: str = "user",
    access: Access | None = None,
    initial_messages: int | None = None,
) -> SessionFactory:
    """Opens the realtime client and the ClientSession on the app's event loop, reaching the
    session as `access` says (default: the local hub; see tui_session/access.py). `role`
    "operator": opened from the desk or with `chat --operator` (docs/handover.md)."""
    from tui_session.access import for_settings
    from tui_session.transport.client import ClientSession
    from tui_session.tui.options import OpenSession

    client = settings.client
    if access is None:
        access = for_settings(settings, hub_elsewhere=False)
    extra = {"initial_messages": initial_messages} if initial_messages else {}

    async def factory(channel_name: str) -> OpenSession:
        agent = await agent_info(settings, access)
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
                agent=agent,
                **extra,
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


def desk_factory(settings: Settings, access: Access) -> DeskFactory:
    """Opens the realtime client and the desk's `DeskFeed` on the app's event loop, on the
    desk channel the agent names (`agent.desk_channel`)."""
    from tui_session.transport.client_desk import DeskFeed
    from tui_session.tui.options import OpenDesk

    client = settings.client

    async def factory(listener: Any) -> OpenDesk:
        agent = await agent_info(settings, access)
        channel = agent.desk_channel or settings.agent.desk_channel
        realtime = access.realtime(client.user, channel)
        try:
            feed = await DeskFeed.connect(
                realtime, channel, device=client.device, agent=agent, listener=listener
            )
        except BaseException:
            await realtime.close()
            raise

        async def close() -> None:
            await feed.close()
            await realtime.close()

        return OpenDesk(feed, close)

    return factory


def desk_options(launch: Launch, access: Access, thresholds: Thresholds) -> DeskOptions:
    """`tui-session desk`: its rows open sessions as an operator, with their whole context."""
    from tui_session.tui.options import DeskOptions

    settings = launch.settings
    return DeskOptions(
        factory=desk_factory(settings, access),
        open_session=session_factory(
            settings, role="operator", access=access, initial_messages=WHOLE_CONTEXT
        ),
        chat=chat_options(launch),
        thresholds=thresholds,
    )


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """`90s`, `5m`, `2h`, `1d`, or seconds (`300`)."""
    match = _DURATION.match(text)
    if match is None:
        raise LaunchError(f"not a duration: {text!r} (examples: 90s, 5m, 2h)")
    return float(match.group(1)) * _UNIT_S[match.group(2) or "s"]


def chat_options(launch: Launch) -> ChatOptions:
    from tui_session.tui.options import ChatOptions
    from tui_session.tui.terminal_notify import parse_mode

    return ChatOptions(
        session_name=launch.channel_name,
        endpoint_label=launch.endpoint_label,
        join=launch.join,
        notify=parse_mode(launch.settings.client.notify),
        read_only=launch.read_only,
    )
