"""Ably-compatible authentication for the local hub: keys, tokens, JWTs, revocation, apps.

Pure module (no network): the hub server feeds it query strings, headers and request bodies.
Tokens are self-verifying (signed with the issuing key's secret) so they survive a hub restart
without any token table; keys and apps are persisted in ``<data_dir>/keys.json``, token
revocations in ``<data_dir>/revocations.json``. Capabilities and JWTs are the shared ones of
``tui_session.credentials`` (the agent service checks tokens with the same code).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import string
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tui_session.credentials import jwt
from tui_session.credentials.capability import (
    ALL_OPS,
    KNOWN_OPERATIONS,
    ROOT_CAPABILITY,
    Capability,
)
from tui_session.credentials.errors import AuthError
from tui_session.credentials.files import write_private_json
from tui_session.credentials.jwt import b64url as _b64url
from tui_session.credentials.jwt import b64url_decode as _b64url_decode
from tui_session.credentials.revocation import Revocations, TokenFacts

__all__ = [
    "ALL_OPS",
    "KNOWN_OPERATIONS",
    "ROOT_CAPABILITY",
    "AuthError",
    "AuthStore",
    "Capability",
    "Principal",
    "token_request_mac",
]

DEFAULT_TTL_MS = 60 * 60 * 1000
MAX_TTL_MS = 24 * 60 * 60 * 1000
# TokenRequest timestamps further than this from the hub clock are refused; nonces are
# remembered for the same window, which is what makes replay detection sufficient.
TIMESTAMP_WINDOW_MS = 10 * 60 * 1000
MAX_REMEMBERED_NONCES = 100_000

KEYS_FILE = "keys.json"
REVOCATIONS_FILE = "revocations.json"
_FILE_VERSION = 1
_ALNUM = string.ascii_letters + string.digits
# Domain-separates our token signatures from TokenRequest MACs and JWTs made with the same secret.
_TOKEN_KEY_LABEL = b"tui-session-hub/token/v1"


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Principal:
    """Who a connection or request acts as."""

    key_name: str
    client_id: str | None  # None = anonymous (key auth without clientId), "*" = wildcard
    capability: Capability
    expires_ms: int | None  # token expiry; None for key auth
    via_token: bool
    issued_ms: int | None = None  # tokens: when issued (what revocation compares)
    revocation_key: str | None = None  # JWTs: x-ably-revocation-key

    @property
    def app_id(self) -> str:
        # Channels are scoped per app, exactly as on Ably.
        return self.key_name.split(".", 1)[0]

    def token_facts(self) -> TokenFacts | None:
        """What token revocation matches; None for key auth (keys are not revoked this way)."""
        if not self.via_token or self.issued_ms is None:
            return None
        return TokenFacts(
            self.key_name,
            self.client_id,
            self.revocation_key,
            frozenset(self.capability.rules),
            self.issued_ms,
        )


@dataclass(frozen=True)
class _Key:
    name: str  # "<appId>.<keyId>"
    secret: str
    capability: Capability
    privileged: bool = False

    @property
    def key_str(self) -> str:
        return f"{self.name}:{self.secret}"


def _new_id(length: int = 6) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def _new_secret() -> str:
    # URL-safe, never contains ":" so "<keyName>:<secret>" splits unambiguously.
    return secrets.token_urlsafe(32)


def _mac_field(value: Any) -> str:
    """Stringify a TokenRequest field the way the SDKs do before signing."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _as_int(value: Any, field: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise AuthError(40003, 400, f"invalid {field}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise AuthError(40003, 400, f"invalid {field}")


def token_request_mac(secret: str, token_request: Mapping[str, Any]) -> str:
    """base64(HMAC-SHA256(secret, keyName\\nttl\\ncapability\\nclientId\\ntimestamp\\nnonce\\n))."""
    fields = ("keyName", "ttl", "capability", "clientId", "timestamp", "nonce")
    text = "".join(_mac_field(token_request.get(f)) + "\n" for f in fields)
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, val in headers.items():
        if key.lower() == lowered:
            return val
    return None


def _no_credentials() -> AuthError:
    return AuthError(40101, 401, "No authentication information provided")


def _invalid_token(why: str = "Token invalid") -> AuthError:
    return AuthError(40144, 401, why)


def _bind_client_id(principal: Principal, requested: str | None) -> Principal:
    """Apply a clientId asked for by the connection (query param or X-Ably-ClientId)."""
    if not requested or requested == principal.client_id:
        return principal
    if principal.via_token and principal.client_id != "*":
        # An anonymous token cannot take an identity either; Ably reports the same mismatch.
        raise AuthError(
            40102,
            401,
            f"Mismatched clientId: {requested!r} conflicts with credentials "
            f"({principal.client_id!r})",
        )
    # Key auth may act as anyone; a wildcard token lets the connection act as this client.
    return replace(principal, client_id=requested)


class AuthStore:
    """Keys and apps persisted in ``<data_dir>/keys.json`` (0600), plus token logic."""

    def __init__(self, data_dir: Path) -> None:
        self._dir = Path(data_dir)
        self._path = self._dir / KEYS_FILE
        self._apps: dict[str, dict[str, Any]] = {}
        self._keys: dict[str, _Key] = {}
        # (keyName, nonce) -> timestamp; insertion order lets us evict the oldest cheaply.
        self._nonces: OrderedDict[tuple[str, str], int] = OrderedDict()
        self.revocations = Revocations(self._dir / REVOCATIONS_FILE)
        if self._path.exists():
            self._load()
        else:
            self._create()

    # --- persistence ---------------------------------------------------------------------

    def _create(self) -> None:
        if not self._dir.exists():
            self._dir.mkdir(parents=True, mode=0o700)
            os.chmod(self._dir, 0o700)  # mkdir's mode is subject to the umask
        self.app_id = _new_id()
        self._apps = {
            self.app_id: {
                "keys": [
                    {
                        "id": _new_id(),
                        "secret": _new_secret(),
                        "capability": ROOT_CAPABILITY.to_json(),
                    }
                ],
                "namespaces": [],
                "channels": [],
                "created": _now_ms(),
            }
        }
        self._index_keys()
        self._save()

    def _load(self) -> None:
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
            self.app_id = data["defaultApp"]
            self._apps = data["apps"]
            self._index_keys()
        except (OSError, ValueError, KeyError, TypeError, AuthError) as exc:
            # Never regenerate silently: that would invalidate every configured client.
            raise RuntimeError(f"cannot load hub keys from {self._path}: {exc}") from exc
        if self.app_id not in self._apps:
            raise RuntimeError(f"{self._path}: default app {self.app_id!r} missing")
        if self._path.stat().st_mode & 0o077:
            os.chmod(self._path, 0o600)

    def _index_keys(self) -> None:
        keys: dict[str, _Key] = {}
        for app_id, app in self._apps.items():
            for k in app["keys"]:
                name = f"{app_id}.{k['id']}"
                keys[name] = _Key(
                    name,
                    k["secret"],
                    Capability.parse(k["capability"]),
                    bool(k.get("privileged", False)),
                )
        self._keys = keys

    def _save(self) -> None:
        data = {"version": _FILE_VERSION, "defaultApp": self.app_id, "apps": self._apps}
        write_private_json(self._path, data, sort_keys=True)

    # --- keys ----------------------------------------------------------------------------

    def root_key(self) -> str:
        return _root_key(self.app_id, self._apps)

    def key_names(self) -> list[str]:
        return list(self._keys)

    def key_capability(self, key_name: str) -> Capability:
        return self._key(key_name).capability

    def _key(self, key_name: str) -> _Key:
        key = self._keys.get(key_name)
        if key is None:
            raise AuthError(40400, 404, f"No such key: {key_name}")
        return key

    def authenticate_key(self, key: str) -> Principal:
        name, sep, secret = key.partition(":")
        known = self._keys.get(name)
        # Compare even for unknown names so timing does not reveal which key names exist.
        expected = known.secret if known else "\0" * len(secret)
        ok = hmac.compare_digest(expected.encode(), secret.encode())
        if not sep or known is None or not ok:
            raise AuthError(40101, 401, "Invalid key credentials")
        return Principal(known.name, None, known.capability, None, False)

    # --- tokens --------------------------------------------------------------------------

    def request_token(
        self,
        token_request: Mapping[str, Any],
        now_ms: int | None = None,
        *,
        key_name: str | None = None,
    ) -> dict[str, Any]:
        """Verify a signed TokenRequest and issue a token. ``key_name`` is the one in the URL
        path, if the caller has it; it must agree with the body."""
        now = _now_ms() if now_ms is None else now_ms
        name = token_request.get("keyName")
        if not isinstance(name, str) or not name:
            raise AuthError(40000, 400, "TokenRequest has no keyName")
        if key_name is not None and key_name != name:
            raise AuthError(40101, 401, "keyName in TokenRequest does not match the URL")
        key = self._key(name)

        mac = token_request.get("mac")
        expected = token_request_mac(key.secret, token_request)
        if not isinstance(mac, str) or not hmac.compare_digest(mac.encode(), expected.encode()):
            raise AuthError(40101, 401, "Invalid mac in TokenRequest")

        timestamp = _as_int(token_request.get("timestamp"), "timestamp")
        if timestamp is None or abs(now - timestamp) > TIMESTAMP_WINDOW_MS:
            raise AuthError(40104, 401, "Timestamp not current")
        nonce = token_request.get("nonce")
        if not isinstance(nonce, str) or not nonce:
            raise AuthError(40000, 400, "TokenRequest has no nonce")
        self._prune_nonces(now)
        if (name, nonce) in self._nonces:
            raise AuthError(40101, 401, "Nonce value replayed")

        ttl = _as_int(token_request.get("ttl"), "ttl")
        raw_cap = token_request.get("capability")
        requested = None if raw_cap in (None, "") else Capability.parse(raw_cap)
        client_id = token_request.get("clientId") or None
        if client_id is not None and not isinstance(client_id, str):
            raise AuthError(40000, 400, "clientId must be a string")

        details = self.issue_token(
            name,
            client_id,
            requested,
            DEFAULT_TTL_MS if not ttl else ttl,
            now_ms=now,
        )
        # Only a request that produced a token consumes its nonce.
        self._nonces[(name, nonce)] = timestamp
        while len(self._nonces) > MAX_REMEMBERED_NONCES:
            self._nonces.popitem(last=False)
        return details

    def _prune_nonces(self, now: int) -> None:
        # A nonce older than the window cannot be replayed: its timestamp would be refused.
        # Entries are roughly in timestamp order, so popping from the front keeps this O(expired);
        # an out-of-order straggler just lingers until the size cap evicts it.
        cutoff = now - TIMESTAMP_WINDOW_MS
        while self._nonces and next(iter(self._nonces.values())) < cutoff:
            self._nonces.popitem(last=False)

    def issue_token(
        self,
        key_name: str,
        client_id: str | None,
        capability: Capability | None = None,
        ttl_ms: int = DEFAULT_TTL_MS,
        *,
        now_ms: int | None = None,
    ) -> dict[str, Any]:
        """Issue a self-verifying token; the capability is narrowed to the key's."""
        key = self._key(key_name)
        if isinstance(ttl_ms, bool) or not isinstance(ttl_ms, int) or not 0 < ttl_ms <= MAX_TTL_MS:
            raise AuthError(40003, 400, f"Invalid ttl {ttl_ms!r}: must be 1..{MAX_TTL_MS} ms")
        cap = key.capability
        if capability is not None and not capability.is_empty():
            cap = key.capability.intersect(capability)
        if cap.is_empty():
            raise AuthError(40160, 401, "Requested capability is not permitted by the key")
        issued = _now_ms() if now_ms is None else now_ms
        expires = issued + ttl_ms
        payload: dict[str, Any] = {
            "k": key.name,
            "c": client_id,
            "cap": cap.to_json(),
            "i": issued,
            "x": expires,
            "n": secrets.token_hex(6),  # distinct tokens even within one millisecond
        }
        body = _b64url(json.dumps(payload, separators=(",", ":")).encode())
        token = f"{body}.{_b64url(self._token_sig(key, body))}"
        details: dict[str, Any] = {
            "token": token,
            "keyName": key.name,
            "issued": issued,
            "expires": expires,
            "capability": cap.to_json(),
        }
        if client_id is not None:
            details["clientId"] = client_id
        return details

    @staticmethod
    def _token_sig(key: _Key, body: str) -> bytes:
        signing_key = hmac.new(key.secret.encode(), _TOKEN_KEY_LABEL, hashlib.sha256).digest()
        return hmac.new(signing_key, body.encode("ascii"), hashlib.sha256).digest()

    def authenticate_token(self, token: str, now_ms: int | None = None) -> Principal:
        now = _now_ms() if now_ms is None else now_ms
        if jwt.looks_like_jwt(token):
            principal = self._authenticate_jwt(token, now)
        else:
            principal = self._authenticate_hub_token(token, now)
        facts = principal.token_facts()
        if facts is not None:
            self.revocations.check(facts, now)
        return principal

    def _authenticate_hub_token(self, token: str, now: int) -> Principal:
        parts = token.split(".")
        if len(parts) != 2:
            raise _invalid_token()
        body, sig = parts
        try:
            payload = json.loads(_b64url_decode(body))
            key = self._keys.get(payload["k"])
            if key is None or not hmac.compare_digest(
                _b64url_decode(sig), self._token_sig(key, body)
            ):
                raise _invalid_token()
            client_id = payload["c"]
            capability = Capability.parse(payload["cap"])
            expires = int(payload["x"])
            issued = int(payload["i"])
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise _invalid_token() from None
        if now >= expires:
            raise AuthError(40142, 401, "Token expired")
        return Principal(key.name, client_id, capability, expires, True, issued)

    def _authenticate_jwt(self, token: str, now: int) -> Principal:
        claims = jwt.verify(token, self.secret_of, now=now)
        key = self._keys[claims.key_name]
        # A JWT can narrow the key's capability, never widen it.
        cap = (
            key.capability
            if claims.capability is None
            else key.capability.intersect(claims.capability)
        )
        if cap.is_empty():
            raise AuthError(40160, 401, "JWT capability is not permitted by the key")
        return Principal(
            key.name,
            claims.client_id,
            cap,
            claims.expires_ms,
            True,
            claims.issued_ms,
            claims.revocation_key,
        )

    def secret_of(self, key_name: str) -> str | None:
        """The secret of a key of any app of this hub (what JWTs are checked against)."""
        key = self._keys.get(key_name)
        return key.secret if key is not None else None

    # --- revocation ----------------------------------------------------------------------

    def revoke_tokens(
        self,
        key_name: str,
        body: Mapping[str, Any],
        principal: Principal,
        now_ms: int | None = None,
    ) -> dict[str, Any]:
        """POST /keys/{keyName}/revokeTokens: only the key itself (Basic auth) may revoke the
        tokens it issued, as on Ably."""
        if principal.via_token:
            raise AuthError(40162, 401, "Cannot revoke tokens when using token auth: use the key")
        if principal.key_name != key_name:
            raise AuthError(40101, 401, "revokeTokens must be called with the key it names")
        self._key(key_name)
        return self.revocations.revoke(key_name, body, _now_ms() if now_ms is None else now_ms)

    def is_revoked(self, principal: Principal, now_ms: int | None = None) -> bool:
        facts = principal.token_facts()
        now = _now_ms() if now_ms is None else now_ms
        return facts is not None and self.revocations.revoked(facts, now)

    # --- transport entry points ----------------------------------------------------------

    def authenticate_ws(self, query: Mapping[str, str]) -> Principal:
        """Credentials from the WebSocket upgrade query (both SDKs' spellings)."""
        token = query.get("accessToken") or query.get("access_token")
        key = query.get("key")
        if token:
            principal = self.authenticate_token(token)
        elif key:
            principal = self.authenticate_key(key)
        else:
            raise _no_credentials()
        return _bind_client_id(principal, query.get("clientId"))

    def authenticate_http(self, headers: Mapping[str, str]) -> Principal:
        """Credentials from a REST request's Authorization and X-Ably-ClientId headers."""
        auth = _header(headers, "Authorization")
        if not auth:
            raise _no_credentials()
        scheme, _, value = auth.strip().partition(" ")
        value = value.strip()
        scheme = scheme.lower()
        if scheme == "basic":
            try:
                decoded = base64.b64decode(value, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise AuthError(40101, 401, "Malformed Basic credentials") from None
            principal = self.authenticate_key(decoded)
        elif scheme == "bearer":
            principal = self.authenticate_token(jwt.bearer_token(value))
        else:
            raise _no_credentials()
        raw_client_id = _header(headers, "X-Ably-ClientId")
        client_id = None
        if raw_client_id:
            try:
                client_id = base64.b64decode(raw_client_id, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                client_id = raw_client_id  # tolerate a client that sends it unencoded
        return _bind_client_id(principal, client_id)

    # --- sandbox-style app management ----------------------------------------------------

    def create_app(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """POST /apps as the SDK test suites use it: a new app with the listed keys."""
        key_specs = spec.get("keys") or [{}]
        if not isinstance(key_specs, list) or not all(isinstance(k, Mapping) for k in key_specs):
            raise AuthError(40000, 400, "keys must be a list of objects")
        namespaces = list(spec.get("namespaces") or [])
        channels = list(spec.get("channels") or [])
        app_id = _new_id()
        while app_id in self._apps:
            app_id = _new_id()
        stored_keys: list[dict[str, Any]] = []
        for ks in key_specs:
            cap = Capability.parse(ks.get("capability"))  # validates; None => {"*":["*"]}
            entry: dict[str, Any] = {
                "id": _new_id(),
                "secret": _new_secret(),
                "capability": cap.to_json(),
            }
            if ks.get("privileged"):
                entry["privileged"] = True
            stored_keys.append(entry)
        self._apps[app_id] = {
            "keys": stored_keys,
            "namespaces": namespaces,
            "channels": channels,
            "created": _now_ms(),
        }
        self._index_keys()
        self._save()
        return {
            "appId": app_id,
            "accountId": "local",
            "status": "enabled",
            "keys": [self._key_response(app_id, k) for k in stored_keys],
            "namespaces": namespaces,
            "channels": channels,
        }

    @staticmethod
    def _key_response(app_id: str, k: Mapping[str, Any]) -> dict[str, Any]:
        name = f"{app_id}.{k['id']}"
        # "id"/"value" are what ably-python's TestApp reads; "keyStr" is what ably-js reads.
        return {
            "id": k["id"],
            "value": k["secret"],
            "keyName": name,
            "keySecret": k["secret"],
            "keyStr": f"{name}:{k['secret']}",
            "capability": k["capability"],
            "privileged": bool(k.get("privileged", False)),
        }

    def delete_app(self, app_id: str) -> bool:
        if app_id == self.app_id or app_id not in self._apps:
            return False
        del self._apps[app_id]
        self._index_keys()
        self._nonces = OrderedDict(
            (k, ts) for k, ts in self._nonces.items() if not k[0].startswith(f"{app_id}.")
        )
        self._save()
        return True

    def app_ids(self) -> list[str]:
        return list(self._apps)

    def app_namespaces(self, app_id: str) -> list[dict[str, Any]]:
        """Namespaces given at create_app (e.g. {"id": "persisted", "persisted": true})."""
        app = self._apps.get(app_id)
        return list(app["namespaces"]) if app else []

    def app_channels(self, app_id: str) -> list[dict[str, Any]]:
        """Channel fixtures given at create_app (e.g. presence fixtures), for the hub to seed."""
        app = self._apps.get(app_id)
        return list(app["channels"]) if app else []


# --- reading another process's keys ---------------------------------------------------------


def read_root_key(data_dir: Path) -> str:
    """The root key of the hub whose data dir this is, for a client on the same machine.

    Read-only: unlike `AuthStore(data_dir)`, it never creates or changes ``keys.json``, so a
    terminal reading it while the hub starts cannot race the hub into two different keys.
    Raises OSError when the file is absent or unreadable, ValueError when it is malformed.
    """
    path = Path(data_dir) / KEYS_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    try:
        return _root_key(data["defaultApp"], data["apps"])
    except (KeyError, IndexError, TypeError) as exc:
        raise ValueError(f"{path} holds no root key ({exc!r})") from exc


class NoRootKey(ValueError):
    """This machine's hub key cannot be read; the message says why, for a person."""


def root_key_for_client(data_dir: Path) -> str:
    """`read_root_key`, its failures said in one sentence (NoRootKey) for `chat`, `invite`."""
    try:
        return read_root_key(data_dir)
    except FileNotFoundError:
        raise NoRootKey(f"no hub has run with data dir {data_dir} (no keys there)") from None
    except (OSError, ValueError) as err:
        raise NoRootKey(f"cannot read the hub's key from {data_dir}: {err}") from None


def _root_key(app_id: str, apps: Mapping[str, Any]) -> str:
    first = apps[app_id]["keys"][0]
    return f"{app_id}.{first['id']}:{first['secret']}"
