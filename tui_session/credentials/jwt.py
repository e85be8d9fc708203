"""Ably JWTs: issued and verified with an app key, identically on the hub and on Ably's cloud.

An Ably JWT is `base64url(header).base64url(claims).base64url(HMAC-SHA256)` with the header
`{"typ": "JWT", "alg": "HS256", "kid": "<keyName>"}` and the claims `iat`, `exp` (seconds),
`x-ably-capability` (a JSON string), `x-ably-clientId` and `x-ably-revocation-key`. Whoever
holds the key can check one without asking anyone: the hub does on connect and on REST, the
agent service on `POST /api/chat`.

Each way a token can be wrong has its own code (docs/agent.md lists them):

| 40144 | not an Ably JWT: unreadable, a claim missing or malformed, or an algorithm other than
          HS256 (`alg: none` is how a token is forged without any key) |
| 40143 | its `kid` names no key of this app (signed by another app's or another hub's key) |
| 40140 | its signature does not match its content: a claim (the capability, the clientId, the
          expiry) was changed after signing, or it was signed with a secret that is not the key's |
| 40142 | expired |
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tui_session.credentials.capability import Capability
from tui_session.credentials.errors import AuthError

ALGORITHM = "HS256"
CLIENT_ID = "x-ably-clientId"
CAPABILITY = "x-ably-capability"
REVOCATION_KEY = "x-ably-revocation-key"
_B64URL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def now_ms() -> int:
    return int(time.time() * 1000)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    if not text or not _B64URL_CHARS.issuperset(text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def split_key(key: str) -> tuple[str, str]:
    """ "appId.keyId:secret" -> (keyName, secret)."""
    name, sep, secret = key.partition(":")
    if not sep or not name or not secret or "." not in name:
        raise ValueError("an Ably key looks like 'appId.keyId:secret'")
    return name, secret


@dataclass(frozen=True)
class TokenClaims:
    """What a verified JWT says. The capability is as claimed: the hub narrows it to the key's."""

    key_name: str
    client_id: str | None
    capability: Capability | None  # None: the claim is absent (the key's capability applies)
    issued_ms: int
    expires_ms: int
    revocation_key: str | None


def issue(
    key: str,
    *,
    client_id: str | None,
    capability: Capability | Mapping[str, Any] | None,
    ttl_ms: int,
    revocation_key: str | None = None,
    now: int | None = None,
) -> str:
    """A JWT signed with `key` ("appId.keyId:secret"). `capability` None grants the key's."""
    name, secret = split_key(key)
    issued_s = (now_ms() if now is None else now) // 1000
    cap = capability if isinstance(capability, Capability) else Capability.parse(capability)
    claims: dict[str, Any] = {
        "iat": issued_s,
        "exp": issued_s + max(1, ttl_ms // 1000),
        CAPABILITY: cap.to_json(),
    }
    if client_id is not None:
        claims[CLIENT_ID] = client_id
    if revocation_key is not None:
        claims[REVOCATION_KEY] = revocation_key
    header = {"typ": "JWT", "alg": ALGORITHM, "kid": name}
    signing_input = f"{_encode(header)}.{_encode(claims)}"
    return f"{signing_input}.{b64url(_sign(secret, signing_input))}"


def token_details(
    key: str,
    *,
    client_id: str | None,
    capability: Capability | Mapping[str, Any] | None,
    ttl_ms: int,
    now: int | None = None,
) -> dict[str, Any]:
    """An Ably TokenDetails whose token is a JWT: what a token endpoint (`authUrl`) answers.
    Every SDK reads it, and learns the clientId and expiry without decoding the JWT."""
    issued = now_ms() if now is None else now
    cap = capability if isinstance(capability, Capability) else Capability.parse(capability)
    token = issue(key, client_id=client_id, capability=cap, ttl_ms=ttl_ms, now=issued)
    details: dict[str, Any] = {
        "token": token,
        "keyName": split_key(key)[0],
        "issued": issued // 1000 * 1000,
        "expires": issued // 1000 * 1000 + max(1, ttl_ms // 1000) * 1000,
        "capability": cap.to_json(),
    }
    if client_id is not None:
        details["clientId"] = client_id
    return details


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


def verify(
    token: str, secret_of: Callable[[str], str | None], *, now: int | None = None
) -> TokenClaims:
    """Check a JWT against the key its `kid` names (`secret_of` returns that key's secret, or
    None when this app has no such key). Raises AuthError with the codes in the module doc."""
    header, claims, signature, signing_input = _decode(token)
    alg = header.get("alg")
    if alg != ALGORITHM:
        # Accepting "none" or another algorithm would let anyone mint tokens.
        raise _format_error(f"unsupported JWT algorithm {alg!r}: Ably JWTs are signed HS256")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise _format_error("the JWT header has no kid (the key name)")
    secret = secret_of(kid)
    if secret is None:
        raise AuthError(40143, 401, f"Token unrecognised: {kid!r} is not a key of this app")
    if not hmac.compare_digest(signature, _sign(secret, signing_input)):
        raise AuthError(
            40140,
            401,
            "Token invalid: its signature does not match its content "
            "(changed after signing, or not signed with this app's key)",
        )
    verified = TokenClaims(
        key_name=kid,
        client_id=_optional_text(claims, CLIENT_ID),
        capability=_capability(claims),
        issued_ms=_seconds(claims, "iat") * 1000,
        expires_ms=_seconds(claims, "exp") * 1000,
        revocation_key=_optional_text(claims, REVOCATION_KEY),
    )
    if (now_ms() if now is None else now) >= verified.expires_ms:
        raise AuthError(40142, 401, "Token expired")
    return verified


def unverified_claims(token: str) -> dict[str, Any]:
    """The claims without any check: only to show a person what a token says (never to trust)."""
    return _decode(token)[1]


def bearer_token(value: str) -> str:
    """The token in an `Authorization: Bearer` value. The SDKs send base64(token); tokens and
    JWTs always contain "." which base64 never does, so a value that decodes to something with
    a "." is the encoded form."""
    value = value.strip()
    try:
        decoded = base64.b64decode(value, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        return value
    return decoded if "." in decoded and decoded.isprintable() else value


# ---- helpers ------------------------------------------------------------------------------


def _encode(obj: Mapping[str, Any]) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def _sign(secret: str, signing_input: str) -> bytes:
    return hmac.new(secret.encode(), signing_input.encode("ascii"), hashlib.sha256).digest()


def _format_error(why: str) -> AuthError:
    return AuthError(40144, 401, f"Token invalid: {why}")


def _decode(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, str]:
    parts = token.split(".")
    if len(parts) != 3:
        raise _format_error("not a JWT")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2]) if parts[2] else b""
    except (ValueError, binascii.Error):
        raise _format_error("not a JWT") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise _format_error("not a JWT")
    return header, claims, signature, f"{parts[0]}.{parts[1]}"


def _seconds(claims: Mapping[str, Any], name: str) -> int:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _format_error(f"the JWT has no {name} claim")
    return int(value)


def _optional_text(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise _format_error(f"{name} must be a non-empty string")
    return value


def _capability(claims: Mapping[str, Any]) -> Capability | None:
    raw = claims.get(CAPABILITY)
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw:
        raise _format_error(f"{CAPABILITY} must be a JSON string")
    try:
        return Capability.parse(raw)
    except AuthError:
        raise _format_error(f"bad {CAPABILITY}") from None
