"""Who may call the agent service: every `POST /api/chat` and `GET /api/token` is checked here.

A caller is one of:

- **a token holder** (`Authorization: Bearer <Ably JWT>`, raw or base64 as the SDKs send it):
  the JWT must be signed with this service's app key, unexpired, not revoked (asked of the
  hub, or of Ably, with the caller's own token), carry a concrete clientId, and grant
  `publish` on the session's channel; and the input the POST names must have been published
  on the channel by that same clientId (checked when the input is found). This is how every
  terminal calls, on the hub and on Ably's cloud alike.
- **a service** holding `agent.auth_secret` (`Authorization: Bearer <secret>`): a trusted
  server (a web backend, a token proxy). Compared in constant time. It may call for any author
  and get tokens for any clientId `agent.token_client_ids` allows: keep it on servers only.
- **this machine, without credentials** — only when the service's HTTP API listens on a
  loopback address (the embedded default of `tui-session chat` / `serve`) and the request
  comes from loopback. A service listening beyond loopback asks every caller for credentials.

Every refusal has its own code (docs/agent.md, "Callers").
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from tui_session.credentials import jwt
from tui_session.credentials.errors import AuthError
from tui_session.credentials.jwt import TokenClaims

READ_ONLY = 40301
NOT_THE_AUTHOR = 40302
TOKENS_ONLY_HERE = 40300

# Asks the realm (hub or Ably) whether it still accepts this token for this channel; raises
# AuthError (40141 when revoked).
TokenProbe = Callable[[str, str], Awaitable[None]]


@dataclass(frozen=True)
class Caller:
    kind: str  # "token", "service" or "loopback"
    claims: TokenClaims | None = None
    token: str | None = None

    @property
    def client_id(self) -> str | None:
        return self.claims.client_id if self.claims is not None else None


class CallerCheck:
    def __init__(
        self,
        *,
        key: str | None,
        listens_on_loopback: bool,
        service_secret: str | None = None,
        probe: TokenProbe | None = None,
    ) -> None:
        self._key_name, self._secret = jwt.split_key(key) if key else (None, None)
        self.listens_on_loopback = listens_on_loopback
        self._service_digest = _digest(service_secret) if service_secret else None
        self._probe = probe

    def identify(self, headers: Mapping[str, str], remote: str | None) -> Caller:
        """Who is calling; raises AuthError (401) for missing or bad credentials."""
        auth = headers.get("Authorization", "").strip()
        if not auth:
            if self.listens_on_loopback and _is_loopback(remote):
                return Caller("loopback")
            raise AuthError(
                40101,
                401,
                "this agent service needs credentials: Authorization: Bearer <your Ably token>",
            )
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthError(40101, 401, "Authorization must be 'Bearer <token>'")
        value = value.strip()
        if self._service_digest is not None and hmac.compare_digest(
            _digest(value), self._service_digest
        ):
            return Caller("service")
        token = jwt.bearer_token(value)
        if not jwt.looks_like_jwt(token):
            raise AuthError(40101, 401, "Invalid credentials: not an Ably JWT nor the secret")
        return Caller("token", jwt.verify(token, self._secret_of), token)

    async def authorise_prompt(self, caller: Caller, channel: str) -> None:
        """May this caller start or continue a turn on `channel`? (Authorship comes later.)"""
        if caller.kind != "token" or caller.claims is None or caller.token is None:
            return
        claims = caller.claims
        if claims.capability is not None:
            if not claims.capability.allows(channel, "publish"):
                if claims.capability.allows(channel, "subscribe"):
                    raise AuthError(
                        READ_ONLY,
                        403,
                        f"read-only: this token may watch {channel!r} but not prompt, cancel "
                        "or approve there",
                    )
                raise AuthError(40160, 401, f"this token grants nothing on {channel!r}")
        if not claims.client_id or claims.client_id == "*":
            raise AuthError(
                40161, 401, "this token has no clientId, so it cannot speak for a prompt's author"
            )
        if self._probe is not None:
            await self._probe(caller.token, channel)

    @staticmethod
    def check_author(caller: Caller, author: str | None) -> None:
        """The input a POST names must be the caller's own (its hub-verified publisher)."""
        if caller.kind != "token":
            return
        if author != caller.client_id:
            raise AuthError(
                NOT_THE_AUTHOR,
                403,
                f"this input was published by {author!r}, not by {caller.client_id!r}: a caller "
                "may only ask for answers to its own prompts and decisions",
            )

    def authorise_token_request(self, caller: Caller) -> None:
        """GET /api/token mints tokens for any clientId: this machine or a service only."""
        if caller.kind == "token":
            raise AuthError(
                TOKENS_ONLY_HERE,
                403,
                "tokens are issued to terminals on this machine and to holders of "
                "agent.auth_secret; another machine joins with an invite (tui-session invite)",
            )

    def _secret_of(self, key_name: str) -> str | None:
        return self._secret if key_name == self._key_name else None


def _digest(value: str) -> bytes:
    # Hashing first makes the comparison constant-time in the length as well.
    return hashlib.sha256(value.encode()).digest()


def _is_loopback(remote: str | None) -> bool:
    try:
        return ipaddress.ip_address(remote or "").is_loopback
    except ValueError:
        return False
