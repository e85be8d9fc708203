"""`tui-session invite`: one string that lets a terminal on another machine join a session,
and revoking it.

The join string is `tsj1.` + base64url(JSON) and holds everything the joining terminal needs,
and nothing that would let it do more: the hub's address; whether it speaks TLS, and then its
certificate (DER) and SHA-256 fingerprint, the only certificate the terminal will trust there;
the agent service's URL; the session's channel; the user; and an Ably JWT signed with the
hub's key, **scoped to that channel** (subscribe, presence, history, plus publish unless
read-only), **bound to the user's clientId**, **expiring** with the invite and carrying the
revocation key `invite:<id>`, so `tui-session invite --revoke <id>` (Ably's `revokeTokens`,
through the running hub) ends it: its connections are cut and its next connect and its next
`POST /api/chat` are refused with 40141. The key itself never leaves the hub's machine.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import socket
import ssl
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tui_session import listening
from tui_session.config import HubSettings, Settings
from tui_session.credentials import jwt
from tui_session.credentials.capability import Capability
from tui_session.credentials.errors import AuthError
from tui_session.credentials.revocation import TARGET_TYPES, Revocations, parse_target
from tui_session.credentials.tls import (
    TlsFiles,
    existing_hub_tls,
    fingerprint,
    is_loopback,
    pinned_context,
)
from tui_session.hub.auth import REVOCATIONS_FILE, NoRootKey, root_key_for_client

PREFIX = "tsj1."
DEFAULT_TTL = "8h"
MAX_TTL_MS = 7 * 24 * 60 * 60 * 1000
WATCH_OPS = ("history", "presence", "subscribe")
PROMPT_OPS = ("publish", *WATCH_OPS)
REVOCATION_PREFIX = "invite:"
SESSION_PREFIX = "session:"
_TTL = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_WILDCARDS = {"0.0.0.0", "::", ""}


class InviteError(ValueError):
    """Something the person must fix, said in one sentence."""


@dataclass(frozen=True)
class Invite:
    hub_host: str
    hub_port: int
    tls: bool
    cert: bytes | None  # DER; present with tls
    agent_url: str | None
    channel: str
    user: str
    read_only: bool
    token: str
    invite_id: str
    expires_ms: int

    @property
    def fingerprint(self) -> str | None:
        return fingerprint(self.cert) if self.cert is not None else None

    @property
    def hub_address(self) -> str:
        return f"{listening.url_host(self.hub_host)}:{self.hub_port}"

    def ssl_context(self) -> ssl.SSLContext | None:
        """Trusts exactly the hub's certificate (for the hub and the agent service)."""
        return pinned_context(self.cert) if self.cert is not None else None

    def encode(self) -> str:
        data: dict[str, Any] = {
            "hub": self.hub_address,
            "tls": self.tls,
            "agent": self.agent_url,
            "channel": self.channel,
            "user": self.user,
            "readOnly": self.read_only,
            "token": self.token,
            "id": self.invite_id,
            "expires": self.expires_ms,
        }
        if self.cert is not None:
            data["cert"] = base64.b64encode(self.cert).decode("ascii")
            data["fingerprint"] = self.fingerprint
        raw = json.dumps(data, separators=(",", ":")).encode()
        return PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    @classmethod
    def decode(cls, text: str, *, now: int | None = None) -> Invite:
        """Read a join string; refuses one that is damaged, inconsistent or expired."""
        text = text.strip()
        if not text.startswith(PREFIX):
            raise InviteError(
                "that is not a join string (it starts with 'tsj1.'; `tui-session invite` "
                "prints one on the hub's machine)"
            )
        try:
            data = json.loads(jwt.b64url_decode(text[len(PREFIX) :]))
            host, _, port = str(data["hub"]).rpartition(":")
            cert = base64.b64decode(data["cert"], validate=True) if data.get("cert") else None
            invite = cls(
                hub_host=host.strip("[]"),
                hub_port=int(port),
                tls=bool(data["tls"]),
                cert=cert,
                agent_url=data.get("agent") or None,
                channel=str(data["channel"]),
                user=str(data["user"]),
                read_only=bool(data["readOnly"]),
                token=str(data["token"]),
                invite_id=str(data["id"]),
                expires_ms=int(data["expires"]),
            )
            claims = jwt.unverified_claims(invite.token)
        except (ValueError, KeyError, TypeError, binascii.Error, AuthError):
            raise InviteError("that join string is damaged (copy it whole, on one line)") from None
        if invite.tls and (cert is None or data.get("fingerprint") != invite.fingerprint):
            raise InviteError("that join string's certificate does not match its fingerprint")
        if claims.get(jwt.CLIENT_ID) != invite.user:
            raise InviteError("that join string's token is not for the user it names")
        if (jwt.now_ms() if now is None else now) >= invite.expires_ms:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(invite.expires_ms / 1000))
            raise InviteError(f"that invite expired at {when}; ask for a new one")
        return invite

    def command(self) -> str:
        return f"tui-session chat --join {self.encode()}"


def parse_ttl(text: str) -> int:
    """ "8h", "30m", "2d", "90s" -> milliseconds (at most 7 days)."""
    match = _TTL.match(text)
    if not match:
        raise InviteError(f"--ttl {text!r}: give a number and a unit, like 30m, 8h or 2d")
    ms = int(match.group(1)) * _UNIT_MS[match.group(2)]
    if not 0 < ms <= MAX_TTL_MS:
        raise InviteError(f"--ttl {text!r}: an invite lasts between 1 s and 7 days")
    return ms


def capability_for(channel: str, read_only: bool) -> Capability:
    return Capability.parse({channel: list(WATCH_OPS if read_only else PROMPT_OPS)})


def make_invite(
    key: str,
    *,
    hub_host: str,
    hub_port: int,
    tls: TlsFiles | None,
    agent_url: str | None,
    channel: str,
    user: str,
    ttl_ms: int,
    read_only: bool = False,
    now: int | None = None,
) -> Invite:
    """An invite signed with `key` (the hub's app key, which stays here)."""
    if not user or user == "*":
        raise InviteError("an invite is for one user: give --user NAME")
    issued = jwt.now_ms() if now is None else now
    invite_id = secrets.token_urlsafe(6)
    expires = issued // 1000 * 1000 + ttl_ms
    token = jwt.issue(
        key,
        client_id=user,
        capability=capability_for(channel, read_only),
        ttl_ms=ttl_ms,
        revocation_key=REVOCATION_PREFIX + invite_id,
        now=issued,
    )
    return Invite(
        hub_host=hub_host,
        hub_port=hub_port,
        tls=tls is not None,
        cert=tls.cert_der() if tls is not None else None,
        agent_url=agent_url,
        channel=channel,
        user=user,
        read_only=read_only,
        token=token,
        invite_id=invite_id,
        expires_ms=expires,
    )


def invite_to_running(
    settings: Settings,
    *,
    channel: str,
    user: str,
    ttl_ms: int,
    read_only: bool,
    address: str | None = None,
    agent_url: str | None = None,
) -> tuple[Invite, list[str]]:
    """An invite to the hub and agent service running with this data dir (as they started,
    see `listening`), and notes for the person (e.g. a hub reachable from this machine only)."""
    data_dir = Path(settings.hub.data_dir)
    hub = listening.read(data_dir, "hub")
    if hub is None:
        raise InviteError(
            f"no hub is running with data dir {data_dir}; start one first, for other machines "
            "with: tui-session serve --host 0.0.0.0"
        )
    notes: list[str] = []
    host = address or _advertised(hub.host)
    if is_loopback(host):
        notes.append(
            f"the hub listens on {hub.host} only, so this invite works on this machine only; "
            "for other machines start it with: tui-session serve --host 0.0.0.0"
        )
    tls = existing_hub_tls(_with_host(settings, hub.host)) if hub.tls else None
    if hub.tls and tls is None:
        raise InviteError(
            "the hub serves TLS with a certificate this command cannot find: set hub.tls_cert"
        )
    if agent_url is None:
        agent = listening.read(data_dir, "agent")
        if agent is None:
            notes.append("no agent service is running with this data dir: prompts go unanswered")
        elif is_loopback(agent.host) and not is_loopback(host):
            raise InviteError(
                f"the agent service listens on {agent.host} only, so another machine cannot "
                "reach it: start `tui-session serve --host ...` (it binds both), or give "
                "--agent-url"
            )
        else:
            scheme = "https" if agent.tls else "http"
            agent_host = host if agent.host in _WILDCARDS else agent.host
            agent_url = f"{scheme}://{listening.url_host(agent_host)}:{agent.port}"
    invite = make_invite(
        _hub_key(data_dir),
        hub_host=host,
        hub_port=hub.port,
        tls=tls,
        agent_url=agent_url,
        channel=channel,
        user=user,
        ttl_ms=ttl_ms,
        read_only=read_only,
    )
    return invite, notes


# ---- revocation -------------------------------------------------------------------------------


def revocation_target(what: str) -> str:
    """An invite id, a join string, or an Ably target specifier (clientId:NAME,
    revocationKey:KEY, channel:NAME) -> the target to revoke."""
    what = what.strip()
    if what.startswith(PREFIX):
        return "revocationKey:" + REVOCATION_PREFIX + _invite_id(what)
    kind, sep, _ = what.partition(":")
    if sep and kind in TARGET_TYPES:
        try:
            parse_target(what)
        except ValueError as err:
            raise InviteError(str(err)) from None
        return what
    if not what or sep:
        raise InviteError(f"--revoke {what!r}: give an invite id, a join string, or clientId:NAME")
    return "revocationKey:" + REVOCATION_PREFIX + what


async def revoke(settings: Settings, target: str) -> tuple[dict[str, Any], bool]:
    """Revoke through the running hub (its connections using the tokens are cut at once);
    with no hub running, record it in the data dir for the next start. Returns Ably's
    BatchResult and whether a running hub applied it."""
    data_dir = Path(settings.hub.data_dir)
    key = _hub_key(data_dir)
    key_name, _ = jwt.split_key(key)
    body = {"targets": [target]}
    hub = listening.read(data_dir, "hub")
    if hub is None:
        return Revocations(data_dir / REVOCATIONS_FILE).revoke(key_name, body, jwt.now_ms()), False
    import aiohttp

    tls = existing_hub_tls(_with_host(settings, hub.host)) if hub.tls else None
    scheme = "https" if tls is not None else "http"
    host = listening.local_host(hub.host)
    url = f"{scheme}://{listening.url_host(host)}:{hub.port}/keys/{key_name}/revokeTokens"
    auth = "Basic " + base64.b64encode(key.encode()).decode("ascii")
    context = pinned_context(tls.cert_der()) if tls is not None else None
    async with aiohttp.ClientSession() as http:
        async with http.post(
            url, json=body, headers={"Authorization": auth}, ssl=context or False
        ) as response:
            answer = await response.json()
    if "error" in answer:
        raise InviteError(f"the hub refused the revocation: {answer['error'].get('message')}")
    return answer, True


# ---- helpers ----------------------------------------------------------------------------------


def _invite_id(join: str) -> str:
    try:
        data = json.loads(jwt.b64url_decode(join[len(PREFIX) :]))
        return str(data["id"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InviteError("that join string is damaged (copy it whole, on one line)") from None


def _hub_key(data_dir: Path) -> str:
    try:
        return root_key_for_client(data_dir)
    except NoRootKey as err:
        raise InviteError(str(err)) from None


def _advertised(host: str) -> str:
    """The address another machine uses: the bound one, or for a wildcard the address of
    this machine's default route."""
    if host not in _WILDCARDS:
        return host
    for family, probe in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.connect((probe, 9))  # sends nothing: picks the route's source address
                return str(sock.getsockname()[0])
        except OSError:
            continue
    raise InviteError("cannot tell this machine's address; give it with --address HOST")


def _with_host(settings: Settings, host: str) -> HubSettings:
    return replace(settings.hub, host=host)


def describe(invite: Invite) -> str:
    """What `tui-session invite` prints: the join string on a line of its own, the command."""
    expires = time.strftime("%Y-%m-%d %H:%M", time.localtime(invite.expires_ms / 1000))
    rights = "watch only" if invite.read_only else "prompt, cancel, approve"
    trust = f"TLS, certificate {invite.fingerprint}" if invite.tls else "no TLS"
    return "\n".join(
        [
            f"invite {invite.invite_id}: user {invite.user} on {invite.channel} ({rights}), "
            f"until {expires}",
            f"hub {invite.hub_address} ({trust}); agent {invite.agent_url or 'none'}",
            "join string:",
            invite.encode(),
            "on the other machine run:",
            f"  {invite.command()}",
            f"revoke it with: tui-session invite --revoke {invite.invite_id}",
        ]
    )


def describe_revocation(result: dict[str, Any], live: bool) -> str:
    lines = []
    for item in result.get("results", []):
        if "error" in item:
            lines.append(f"not revoked {item['target']}: {item['error'].get('message')}")
        else:
            lines.append(f"revoked {item['target']} (tokens issued before now)")
    if live:
        lines.append("the hub has cut the connections that used them")
    else:
        lines.append("no hub is running: the revocation applies when it starts")
    return "\n".join(lines)
