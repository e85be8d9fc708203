"""How a terminal reaches its session: where, with which credentials, trusting which
certificate. Decided before the UI opens, so a missing credential is one sentence and exit
code 2, never a timeout inside the UI.

- `chat` (the local hub): the hub's key from this machine's data dir; the terminal signs its
  own JWT, scoped to the channel it opens; TLS trust: the certificate in the data dir, when
  the hub serves TLS.
- `chat --join STRING`: the invite's token and nothing else (it works with an empty HOME);
  TLS trust: exactly the certificate in the invite.
- `chat --endpoint HOST:PORT`: `client.auth_url` (a token endpoint) or `client.ably_key`,
  given explicitly, never the local data dir's key; TLS trust: `hub.tls_cert` when set.
- `chat --endpoint ably`: `client.auth_url` (e.g. the agent service's `/api/token`), else
  `client.ably_key`; TLS trust: the system's CAs.

The agent service is called with the same token (docs/agent.md, "Callers"), over the same
trust when its URL is https.
"""

from __future__ import annotations

import ipaddress
import shlex
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tui_session import listening, sessions
from tui_session.config import ClientSettings, Settings
from tui_session.credentials.tls import existing_hub_tls, pinned_context
from tui_session.invite import PROMPT_OPS, Invite
from tui_session.sessions import JoinCommand

RealtimeFactory = Callable[[str, str], Any]  # (clientId, channel) -> AblyRealtime
PREFLIGHT_TIMEOUT_S = 3.0


class AccessError(ValueError):
    """Credentials or trust are missing: said in one sentence (exit code 2)."""


@dataclass(frozen=True)
class Access:
    label: str  # for the header: where, and how
    agent_url: str | None
    ssl_context: ssl.SSLContext | None  # trust for the hub and an https agent
    make_realtime: RealtimeFactory
    user: str | None = None  # the user the credentials are bound to (an invite's)
    read_only: bool = False

    def realtime(self, client_id: str, channel: str) -> Any:
        """Call inside the event loop that will run the client (the SDK needs it)."""
        return self.make_realtime(client_id, channel)

    def http(self) -> Any:
        """The HTTP session that calls the agent (trusting what the hub is trusted with), or
        None for the default one."""
        if self.ssl_context is None:
            return None
        import aiohttp

        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self.ssl_context))


def for_invite(invite: Invite) -> Access:
    from tui_session.transport.connect import fixed_token_source, hub_realtime

    context = invite.ssl_context()
    when = invite.expires_ms
    source = fixed_token_source(
        invite.token,
        expires_ms=when,
        client_id=invite.user,
        expired="this invite has expired; ask the hub's owner for a new one (tui-session invite)",
    )

    def realtime(client_id: str, _channel: str) -> Any:
        return hub_realtime(
            invite.hub_host,
            invite.hub_port,
            None,
            client_id,
            tls=invite.tls,
            ssl_context=context,
            auth_callback=source,
        )

    mode = "read-only invite" if invite.read_only else "invite"
    trust = f", TLS {invite.fingerprint[:23]}…" if invite.fingerprint else ", no TLS"
    return Access(
        label=f"hub {invite.hub_address} ({mode}{trust})",
        agent_url=invite.agent_url,
        ssl_context=context,
        make_realtime=realtime,
        user=invite.user,
        read_only=invite.read_only,
    )


def for_settings(settings: Settings, *, hub_elsewhere: bool) -> Access:
    """The local hub (its key from the data dir), a hub elsewhere, or Ably's cloud."""
    client = settings.client
    if client.endpoint != "local":
        return _cloud(settings)
    hub = settings.hub
    host = listening.local_host(hub.host)
    if hub_elsewhere and not _this_machines_hub(settings, host):
        return _hub_elsewhere(settings, host)
    key = local_hub_key(Path(hub.data_dir))
    running = listening.read(Path(hub.data_dir), "hub")
    if running is not None and running.port == hub.port:
        # The hub of this data dir as it was started (`serve --host 0.0.0.0`: TLS there).
        hub = replace(hub, host=running.host, insecure=not running.tls)
        host = listening.local_host(running.host)
        settings = replace(settings, client=_local_agent(settings, Path(hub.data_dir)))
    tls = existing_hub_tls(hub)
    context = pinned_context(tls.cert_der()) if tls is not None else None
    label = f"local hub {host}:{hub.port}" + (" (TLS)" if tls is not None else "")
    return _hub_with_key(key, host, hub.port, context, label, settings)


def _this_machines_hub(settings: Settings, host: str) -> bool:
    """`--endpoint 127.0.0.1:PORT` naming the hub this data dir runs (on a port of its own
    choosing) is not a hub elsewhere: its key is here, as for the default endpoint."""
    running = listening.read(Path(settings.hub.data_dir), "hub")
    if running is None or running.port != settings.hub.port:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _local_agent(settings: Settings, data_dir: Path) -> ClientSettings:
    """With `client.agent_url` at its default, the agent service of this data dir as it was
    started (https, another address) rather than the default URL."""
    client = settings.client
    agent = listening.read(data_dir, "agent")
    if agent is None or client.agent_url != ClientSettings.agent_url:
        return client
    scheme = "https" if agent.tls else "http"
    host = listening.local_host(agent.host)
    return replace(client, agent_url=f"{scheme}://{listening.url_host(host)}:{agent.port}")


def local_hub_key(data_dir: Path) -> str:
    """The local hub's root key (written by the hub at its first start; only read here)."""
    from tui_session.hub.auth import NoRootKey, root_key_for_client

    try:
        return root_key_for_client(data_dir)
    except NoRootKey as err:
        raise AccessError(str(err)) from None


def _hub_elsewhere(settings: Settings, host: str) -> Access:
    client, hub = settings.client, settings.hub
    context = None
    if hub.tls_cert is not None:
        context = pinned_context(ssl.PEM_cert_to_DER_cert(Path(hub.tls_cert).read_text()))
    label = f"hub {host}:{hub.port}"
    if client.auth_url:
        from tui_session.transport.connect import hub_realtime

        def realtime(client_id: str, _channel: str) -> Any:
            return hub_realtime(
                host,
                hub.port,
                None,
                client_id,
                tls=context is not None,
                ssl_context=context,
                auth_url=client.auth_url,
                auth_params={"clientId": client_id},
            )

        return Access(f"{label} (token endpoint)", client.agent_url, context, realtime)
    if client.ably_key:
        return _hub_with_key(client.ably_key, host, hub.port, context, label, settings)
    raise AccessError(
        f"a hub elsewhere ({host}:{hub.port}) needs credentials: join with an invite "
        "(tui-session chat --join STRING, made by `tui-session invite` on the hub's machine), "
        "or set client.auth_url (a token endpoint) or ABLY_KEY"
    )


def _hub_with_key(
    key: str,
    host: str,
    port: int,
    context: ssl.SSLContext | None,
    label: str,
    settings: Settings,
) -> Access:
    from tui_session.transport.connect import hub_realtime

    def realtime(client_id: str, channel: str) -> Any:
        # The key signs a JWT for this channel only: what the terminal can do, and what the
        # agent service checks when it is called with it.
        return hub_realtime(
            host,
            port,
            key,
            client_id,
            tls=context is not None,
            ssl_context=context,
            capability={channel: list(PROMPT_OPS)},
        )

    return Access(label, settings.client.agent_url, context, realtime)


def _cloud(settings: Settings) -> Access:
    from tui_session.transport.connect import cloud_realtime

    client = settings.client
    label = f"Ably ({client.endpoint})"
    if client.auth_url:

        def with_token_endpoint(client_id: str, _channel: str) -> Any:
            return cloud_realtime(
                auth_url=client.auth_url,
                auth_params={"clientId": client_id},
                client_id=client_id,
                endpoint=client.endpoint,
            )

        return Access(label, client.agent_url, None, with_token_endpoint)
    if client.ably_key:

        def with_key(client_id: str, _channel: str) -> Any:
            return cloud_realtime(
                key=client.ably_key, client_id=client_id, endpoint=client.endpoint
            )

        return Access(f"{label}, API key", client.agent_url, None, with_key)
    raise AccessError(
        "Ably's cloud needs credentials: set client.auth_url to a token endpoint (the agent "
        "service's https://HOST:8471/api/token) or ABLY_KEY to an API key"
    )


def read_join(join: str, *, given: dict[str, str | None], user: str | None) -> Invite:
    """`chat --join STRING`: the invite, refusing flags that would contradict it."""
    clashing = [flag for flag, value in given.items() if value]
    if clashing:
        raise AccessError(
            f"--join already says which session, hub and agent to use: drop {', '.join(clashing)}"
        )
    invite = Invite.decode(join)
    if user and user != invite.user:
        raise AccessError(f"this invite is for user {invite.user!r}: drop --user {user}")
    return invite


def preflight(invite: Invite, timeout: float = PREFLIGHT_TIMEOUT_S) -> None:
    """Reach the invite's hub once before the UI opens, so an unreachable hub or a hub whose
    certificate is not the invite's is one sentence now, not a 10 s "connecting" later."""
    where = invite.hub_address
    try:
        with socket.create_connection((invite.hub_host, invite.hub_port), timeout) as sock:
            context = invite.ssl_context()
            if context is not None:
                with context.wrap_socket(sock, server_hostname=invite.hub_host):
                    pass
    except ssl.SSLCertVerificationError:
        raise AccessError(
            f"the hub at {where} does not present the certificate this invite trusts "
            f"({invite.fingerprint}); ask for a new invite"
        ) from None
    except ssl.SSLError as err:
        raise AccessError(
            f"the hub at {where} does not speak TLS as the invite says: {err}"
        ) from None
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise AccessError(f"cannot reach the hub at {where}: {reason}") from None


def describe(plan: Any, access: Access, invite: Invite | None) -> Any:
    """The launch plan as this terminal's header and join hint should describe it."""
    join = plan.join
    if invite is not None:
        join = InviteJoin(join.program, user=invite.user)
    return replace(plan, endpoint_label=access.label, join=join, read_only=access.read_only)


@dataclass(frozen=True)
class InviteJoin(JoinCommand):
    """A device that joined by invite cannot hand out the session: another device of the user
    gets its own invite, made on the hub's machine (this is the command to run there)."""

    user: str = ""

    def for_channel(self, channel: str) -> str:
        target = sessions.session_id_of(channel)
        where = ["--session", target] if target else ["--channel", channel]
        words = [self.program, "invite", *where, "--user", self.user]
        return shlex.join(words) + "  # on the hub's machine"
