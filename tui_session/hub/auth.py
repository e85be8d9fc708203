"""Ably-compatible authentication for the local hub: keys, tokens, JWTs and capabilities.

Pure module (no network): the hub server feeds it query strings, headers and request bodies.
Tokens are self-verifying (signed with the issuing key's secret) so they survive a hub restart
without any token table; only keys and apps are persisted, in ``<data_dir>/keys.json``.
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
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

DEFAULT_TTL_MS = 60 * 60 * 1000
MAX_TTL_MS = 24 * 60 * 60 * 1000
# TokenRequest timestamps further than this from the hub clock are refused; nonces are
# remembered for the same window, which is what makes replay detection sufficient.
TIMESTAMP_WINDOW_MS = 10 * 60 * 1000
MAX_REMEMBERED_NONCES = 100_000

KEYS_FILE = "keys.json"
_FILE_VERSION = 1
_ALNUM = string.ascii_letters + string.digits
_B64URL_CHARS = frozenset(_ALNUM + "-_")
# Domain-separates our token signatures from TokenRequest MACs and JWTs made with the same secret.
_TOKEN_KEY_LABEL = b"tui-session-hub/token/v1"

# Operations Ably documents; anything else is rejected like Ably does (40000), so typos surface.
KNOWN_OPERATIONS = frozenset(
    {
        "publish",
        "subscribe",
        "presence",
        "history",
        "stats",
        "channel-metadata",
        "push-subscribe",
        "push-admin",
        "privileged-headers",
        "object-subscribe",
        "object-publish",
        "annotation-publish",
        "annotation-subscribe",
        "message-update-own",
        "message-update-any",
        "message-delete-own",
        "message-delete-any",
    }
)
ALL_OPS = "*"
ANSWERS_KEPT = 4096  # remembered capability answers per capability


def _now_ms() -> int:
    return int(time.time() * 1000)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    if not text or not _B64URL_CHARS.issuperset(text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class AuthError(Exception):
    """An Ably error (code, HTTP status, message) the hub turns into an ERROR frame or REST body."""

    def __init__(self, code: int, status: int, message: str) -> None:
        super().__init__(f"{code} {status} {message}")
        self.code = code
        self.status = status
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "statusCode": self.status,
            "message": self.message,
            "href": f"https://help.ably.io/error/{self.code}",
        }


def _invalid_capability(why: str) -> AuthError:
    return AuthError(40000, 400, f"invalid capability: {why}")


# --- capability resource patterns -------------------------------------------------------------


def _split_qualifier(resource: str) -> tuple[str | None, str]:
    """Split "[qualifier]name" into (qualifier, name); "[?params]" is not part of identity."""
    if resource.startswith("["):
        end = resource.find("]")
        if end > 0:
            qualifier = resource[1:end].split("?", 1)[0]
            return (qualifier or None), resource[end + 1 :]
    return None, resource


def _segments_match(pattern: list[str], name: list[str]) -> bool:
    """A "*" segment matches one whole segment; a trailing "*" matches one or more."""
    if pattern[-1] == "*":
        fixed = pattern[:-1]
        if len(name) < len(pattern):
            return False
    else:
        fixed = pattern
        if len(name) != len(pattern):
            return False
    return all(p == "*" or p == n for p, n in zip(fixed, name, strict=False))


def _pattern_matches(pattern: str, channel: str) -> bool:
    p_qual, p_name = _split_qualifier(pattern)
    c_qual, c_name = _split_qualifier(channel)
    if p_qual != "*" and p_qual != c_qual:
        return False
    return _segments_match(p_name.split(":"), c_name.split(":"))


def _pattern_covers(wide: str, narrow: str) -> bool:
    """True if every channel matched by ``narrow`` is also matched by ``wide``.

    Treating ``narrow``'s "*" segments as literals and matching them against ``wide`` is exact
    here: a literal "*" in ``narrow`` is only accepted where ``wide`` also has "*", and a trailing
    "*" in ``narrow`` (unbounded) is only accepted under a trailing "*" in ``wide``.
    """
    w_qual, w_name = _split_qualifier(wide)
    n_qual, n_name = _split_qualifier(narrow)
    if w_qual != "*" and w_qual != n_qual:
        return False
    return _segments_match(w_name.split(":"), n_name.split(":"))


def _intersect_ops(a: frozenset[str], b: frozenset[str]) -> frozenset[str]:
    if ALL_OPS in a:
        return b
    if ALL_OPS in b:
        return a
    return a & b


@dataclass(frozen=True)
class Capability:
    """Resource pattern -> granted operations. "*" as the only op grants every operation."""

    rules: Mapping[str, frozenset[str]]

    def __post_init__(self) -> None:
        # Drop empty grants and freeze, so equality and emptiness are structural.
        frozen = {res: frozenset(ops) for res, ops in self.rules.items() if ops}
        object.__setattr__(self, "rules", MappingProxyType(frozen))
        # Checked on every publish and append: remember answers (bounded) instead of matching
        # the patterns again each time.
        object.__setattr__(self, "_answers", {})

    def __hash__(self) -> int:
        return hash(self.to_json())

    @classmethod
    def parse(cls, text_or_dict: str | Mapping[str, Any] | None) -> Capability:
        if text_or_dict is None:
            return cls({"*": frozenset({ALL_OPS})})
        data: Any = text_or_dict
        if isinstance(text_or_dict, str):
            try:
                data = json.loads(text_or_dict)
            except json.JSONDecodeError:
                raise _invalid_capability("not valid JSON") from None
        if not isinstance(data, Mapping):
            raise _invalid_capability("must be a JSON object")
        rules: dict[str, frozenset[str]] = {}
        for resource, ops in data.items():
            if not isinstance(resource, str) or not resource:
                raise _invalid_capability("resource names must be non-empty strings")
            if isinstance(ops, str):
                ops = [ops]
            if not isinstance(ops, list | tuple | set | frozenset) or not ops:
                raise _invalid_capability(f"no operations for {resource!r}")
            opset = frozenset(ops)
            for op in opset:
                if not isinstance(op, str) or (op != ALL_OPS and op not in KNOWN_OPERATIONS):
                    raise _invalid_capability(f"unknown operation {op!r}")
            if ALL_OPS in opset and len(opset) > 1:
                raise _invalid_capability(f"'*' combined with other operations on {resource!r}")
            rules[resource] = opset
        return cls(rules)

    def to_dict(self) -> dict[str, list[str]]:
        return {res: sorted(ops) for res, ops in sorted(self.rules.items())}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def allows(self, channel: str, op: str) -> bool:
        answers: dict[tuple[str, str], bool] = self._answers  # type: ignore[attr-defined]
        answer = answers.get((channel, op))
        if answer is None:
            answer = any(
                (ALL_OPS in ops or op in ops) and _pattern_matches(res, channel)
                for res, ops in self.rules.items()
            )
            if len(answers) < ANSWERS_KEPT:
                answers[(channel, op)] = answer
        return answer

    def intersect(self, other: Capability) -> Capability:
        """Ably intersection: where one resource covers the other, keep the narrower one with
        the common operations; results for the same resource are unioned."""
        out: dict[str, frozenset[str]] = {}

        def add(resource: str, ops: frozenset[str]) -> None:
            if not ops:
                return
            merged = out.get(resource, frozenset()) | ops
            out[resource] = frozenset({ALL_OPS}) if ALL_OPS in merged else merged

        for res_a, ops_a in self.rules.items():
            for res_b, ops_b in other.rules.items():
                ops = _intersect_ops(ops_a, ops_b)
                if _pattern_covers(res_a, res_b):
                    add(res_b, ops)
                elif _pattern_covers(res_b, res_a):
                    add(res_a, ops)
        return Capability(out)

    def is_empty(self) -> bool:
        return not self.rules


ROOT_CAPABILITY = Capability.parse(None)


@dataclass(frozen=True)
class Principal:
    """Who a connection or request acts as."""

    key_name: str
    client_id: str | None  # None = anonymous (key auth without clientId), "*" = wildcard
    capability: Capability
    expires_ms: int | None  # token expiry; None for key auth
    via_token: bool

    @property
    def app_id(self) -> str:
        # Channels are scoped per app, exactly as on Ably.
        return self.key_name.split(".", 1)[0]


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
    return Principal(
        principal.key_name,
        requested,
        principal.capability,
        principal.expires_ms,
        principal.via_token,
    )


class AuthStore:
    """Keys and apps persisted in ``<data_dir>/keys.json`` (0600), plus token logic."""

    def __init__(self, data_dir: Path) -> None:
        self._dir = Path(data_dir)
        self._path = self._dir / KEYS_FILE
        self._apps: dict[str, dict[str, Any]] = {}
        self._keys: dict[str, _Key] = {}
        # (keyName, nonce) -> timestamp; insertion order lets us evict the oldest cheaply.
        self._nonces: OrderedDict[tuple[str, str], int] = OrderedDict()
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
        tmp = self._path.with_name(f".{KEYS_FILE}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        # Create with 0600 from the start so the secrets are never world-readable, then swap in.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=2, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self._path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

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
        parts = token.split(".")
        if len(parts) == 3:
            return self._authenticate_jwt(parts, now)
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
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise _invalid_token() from None
        if now >= expires:
            raise AuthError(40142, 401, "Token expired")
        return Principal(key.name, client_id, capability, expires, True)

    def _authenticate_jwt(self, parts: list[str], now: int) -> Principal:
        try:
            header = json.loads(_b64url_decode(parts[0]))
            claims = json.loads(_b64url_decode(parts[1]))
            signature = _b64url_decode(parts[2])
            if not isinstance(header, dict) or not isinstance(claims, dict):
                raise ValueError("not objects")
        except (ValueError, binascii.Error):
            raise _invalid_token() from None
        # Only HS256: accepting "none" or other algs would let anyone forge tokens.
        key = self._keys.get(header.get("kid")) if isinstance(header.get("kid"), str) else None
        if header.get("alg") != "HS256" or key is None:
            raise _invalid_token("Token invalid: unknown key or unsupported JWT algorithm")
        signed = f"{parts[0]}.{parts[1]}".encode("ascii")
        expected = hmac.new(key.secret.encode(), signed, hashlib.sha256).digest()
        if not hmac.compare_digest(signature, expected):
            raise _invalid_token("Token invalid: bad JWT signature")
        exp = claims.get("exp")
        if isinstance(exp, bool) or not isinstance(exp, int | float):
            raise _invalid_token("Token invalid: JWT has no exp claim")
        expires = int(exp * 1000)
        if now >= expires:
            raise AuthError(40142, 401, "Token expired")
        client_id = claims.get("x-ably-clientId")
        if client_id is not None and not isinstance(client_id, str):
            raise _invalid_token("Token invalid: x-ably-clientId must be a string")
        raw_cap = claims.get("x-ably-capability")
        try:
            # A JWT can narrow the key's capability, never widen it.
            cap = key.capability
            if raw_cap not in (None, ""):
                cap = cap.intersect(Capability.parse(raw_cap))
        except AuthError:
            raise _invalid_token("Token invalid: bad x-ably-capability") from None
        if cap.is_empty():
            raise AuthError(40160, 401, "JWT capability is not permitted by the key")
        return Principal(key.name, client_id or None, cap, expires, True)

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
            principal = self.authenticate_token(self._bearer_token(value))
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

    @staticmethod
    def _bearer_token(value: str) -> str:
        # The SDKs base64 the token; our tokens and JWTs always contain "." which base64 never
        # does, so a value that decodes to something with a "." is the encoded form.
        try:
            decoded = base64.b64decode(value, validate=True).decode("ascii")
        except (binascii.Error, UnicodeDecodeError):
            return value
        return decoded if "." in decoded and decoded.isprintable() else value

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


def _root_key(app_id: str, apps: Mapping[str, Any]) -> str:
    first = apps[app_id]["keys"][0]
    return f"{app_id}.{first['id']}:{first['secret']}"
