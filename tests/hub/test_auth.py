"""Unit tests for the hub's pure authentication module."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
from pathlib import Path
from typing import Any

import pytest
from ably import AblyRest

from tui_session.hub.auth import (
    MAX_TTL_MS,
    TIMESTAMP_WINDOW_MS,
    AuthError,
    AuthStore,
    Capability,
    token_request_mac,
)

NOW = 1_750_000_000_000

# Key capabilities from the SDKs' sandbox app specs (ably-python testAppSpec.json and
# ably-common test-app-setup.json), which their capability tests intersect against.
PY_KEY_TESTCHANNEL = '{"testchannel":["publish"]}'
PY_KEY_WILDCARDS = (
    '{"*":["subscribe"],"canpublish:*":["publish"],"canpublish:andpresence":["presence","publish"]}'
)
KEY_CHANNELS = (
    '{"channel0":["publish"],"channel1":["publish"],"channel2":["publish","subscribe"],'
    '"channel3":["subscribe"],"channel4":["presence","publish","subscribe"],'
    '"channel5":["presence"],"channel6":["*"]}'
)
JS_KEY_NAMESPACES = (
    '{ "cansubscribe:*":["subscribe"], "canpublish:*":["publish"], '
    '"canpublish:andpresence":["presence","publish"] }'
)
JS_KEY_SUBSCRIBE_ALL = '{ "*":["subscribe"] }'


@pytest.fixture
def store(tmp_path: Path) -> AuthStore:
    return AuthStore(tmp_path / "hub")


def split_key(key_str: str) -> tuple[str, str]:
    name, _, secret = key_str.partition(":")
    return name, secret


def signed_request(key_str: str, now: int = NOW, **fields: Any) -> dict[str, Any]:
    """A TokenRequest signed the ably-js way (capability as compact JSON.stringify output)."""
    name, secret = split_key(key_str)
    req: dict[str, Any] = {
        "keyName": name,
        "ttl": None,
        "capability": None,
        "clientId": None,
        "timestamp": now,
        "nonce": "n" + hashlib.sha1(repr(sorted(fields.items())).encode()).hexdigest(),
    }
    req.update(fields)
    req["mac"] = token_request_mac(secret, req)
    return req


def app_key(store: AuthStore, capability: str) -> str:
    return store.create_app({"keys": [{"capability": capability}]})["keys"][0]["keyStr"]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(key_str: str, claims: dict[str, Any], alg: str = "HS256", secret: str = "") -> str:
    name, key_secret = split_key(key_str)
    header = b64url(json.dumps({"typ": "JWT", "alg": alg, "kid": name}).encode())
    body = b64url(json.dumps(claims).encode())
    sig = hmac.new((secret or key_secret).encode(), f"{header}.{body}".encode(), hashlib.sha256)
    return f"{header}.{body}.{b64url(sig.digest())}"


def assert_auth_error(exc: pytest.ExceptionInfo[AuthError], code: int, status: int) -> None:
    assert (exc.value.code, exc.value.status) == (code, status)


# --- AuthError ------------------------------------------------------------------------------


def test_auth_error_to_dict_has_ably_error_shape() -> None:
    err = AuthError(40142, 401, "Token expired")
    assert err.to_dict() == {
        "code": 40142,
        "statusCode": 401,
        "message": "Token expired",
        "href": "https://help.ably.io/error/40142",
    }


# --- key store ------------------------------------------------------------------------------


def test_new_store_creates_private_keys_file_and_root_key(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "hub"
    store = AuthStore(data_dir)
    assert stat.S_IMODE((data_dir / "keys.json").stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    name, secret = split_key(store.root_key())
    assert name.startswith(store.app_id + ".")
    assert secret and ":" not in secret
    assert store.key_names() == [name]
    principal = store.authenticate_key(store.root_key())
    assert principal.key_name == name and principal.client_id is None
    assert principal.capability == Capability.parse({"*": ["*"]})
    assert principal.app_id == store.app_id
    assert not principal.via_token and principal.expires_ms is None


def test_store_reloads_same_keys(tmp_path: Path) -> None:
    first = AuthStore(tmp_path)
    second = AuthStore(tmp_path)
    assert second.app_id == first.app_id
    assert second.root_key() == first.root_key()


def test_corrupt_keys_file_is_an_error_not_silently_replaced(tmp_path: Path) -> None:
    (tmp_path / "keys.json").write_text("{not json")
    with pytest.raises(RuntimeError, match=r"keys\.json"):
        AuthStore(tmp_path)
    assert (tmp_path / "keys.json").read_text() == "{not json"


@pytest.mark.parametrize(
    "bad",
    [
        lambda k: k.rsplit(":", 1)[0] + ":wrong",
        lambda k: "nope.nope:" + k.split(":", 1)[1],
        lambda k: k.split(":", 1)[0],
    ],
    ids=["wrong-secret", "unknown-name", "no-secret"],
)
def test_authenticate_key_rejects_bad_credentials(store: AuthStore, bad: Any) -> None:
    with pytest.raises(AuthError) as exc:
        store.authenticate_key(bad(store.root_key()))
    assert_auth_error(exc, 40101, 401)


# --- TokenRequest MAC -----------------------------------------------------------------------


def test_mac_matches_ably_python_published_vector() -> None:
    # Expected value asserted by ably-python's own test_hmac.
    req = {
        "keyName": "a_key_name",
        "ttl": 1000,
        "capability": None,
        "clientId": "a_id",
        "timestamp": 1000,
        "nonce": "abcde100",
    }
    assert token_request_mac("a_secret", req) == "sYkCH0Un+WgzI7/Nhy0BoQIKq9HmjKynCRs4E3qAbGQ="


async def test_request_token_accepts_real_ably_python_token_request(store: AuthStore) -> None:
    rest = AblyRest(key=store.root_key())
    try:
        token_request = await rest.auth.create_token_request(
            {
                "capability": {"chat:*": ["publish", "subscribe"]},
                "client_id": "alice",
                "ttl": 60_000,
            }
        )
    finally:
        await rest.close()
    body = token_request.to_dict()
    assert ", " in body["capability"]  # ably-python's spaced json.dumps form, signed as sent
    details = store.request_token(body, now_ms=body["timestamp"])
    assert details["keyName"] == body["keyName"]
    assert details["clientId"] == "alice"
    assert details["expires"] - details["issued"] == 60_000
    assert json.loads(details["capability"]) == {"chat:*": ["publish", "subscribe"]}
    principal = store.authenticate_token(details["token"], now_ms=body["timestamp"])
    assert principal.client_id == "alice" and principal.via_token
    assert principal.capability.allows("chat:room1", "publish")
    assert not principal.capability.allows("other", "subscribe")


async def test_request_token_with_ably_python_defaults(store: AuthStore) -> None:
    rest = AblyRest(key=store.root_key())
    try:
        body = (await rest.auth.create_token_request()).to_dict()
    finally:
        await rest.close()
    details = store.request_token(body, now_ms=body["timestamp"])
    assert details["capability"] == '{"*":["*"]}'
    assert details["expires"] - details["issued"] == 3_600_000
    assert "clientId" not in details


def test_request_token_accepts_ably_js_compact_capability(store: AuthStore) -> None:
    cap = '{"chat:*":["publish","subscribe"]}'  # JSON.stringify output, no spaces
    req = signed_request(store.root_key(), capability=cap, clientId="bob", ttl=5000)
    details = store.request_token(req, now_ms=NOW)
    assert details["clientId"] == "bob"
    assert (details["issued"], details["expires"]) == (NOW, NOW + 5000)
    assert details["capability"] == cap


def test_request_token_verifies_capability_exactly_as_sent(store: AuthStore) -> None:
    req = signed_request(store.root_key(), capability='{"a":["publish"]}')
    req["capability"] = '{"a": ["publish"]}'  # same meaning, different bytes
    with pytest.raises(AuthError) as exc:
        store.request_token(req, now_ms=NOW)
    assert_auth_error(exc, 40101, 401)


def test_request_token_rejects_wrong_mac(store: AuthStore) -> None:
    req = signed_request(store.root_key())
    req["mac"] = "thisisnotavalidmac"
    with pytest.raises(AuthError) as exc:
        store.request_token(req, now_ms=NOW)
    assert_auth_error(exc, 40101, 401)


def test_request_token_rejects_mac_signed_with_other_secret(store: AuthStore) -> None:
    name, _ = split_key(store.root_key())
    req = signed_request(f"{name}:someothersecret")
    with pytest.raises(AuthError) as exc:
        store.request_token(req, now_ms=NOW)
    assert_auth_error(exc, 40101, 401)


def test_request_token_unknown_key_is_404(store: AuthStore) -> None:
    req = signed_request("app.unknown:secret")
    with pytest.raises(AuthError) as exc:
        store.request_token(req, now_ms=NOW)
    assert_auth_error(exc, 40400, 404)


def test_request_token_path_key_must_match_body(store: AuthStore) -> None:
    req = signed_request(store.root_key())
    with pytest.raises(AuthError) as exc:
        store.request_token(req, now_ms=NOW, key_name="other.key")
    assert_auth_error(exc, 40101, 401)
    assert store.request_token(req, now_ms=NOW, key_name=req["keyName"])["token"]


@pytest.mark.parametrize("offset", [30 * 60 * 1000, -(TIMESTAMP_WINDOW_MS + 1)])
def test_request_token_rejects_stale_timestamp(store: AuthStore, offset: int) -> None:
    req = signed_request(store.root_key(), now=NOW - offset)
    with pytest.raises(AuthError) as exc:
        store.request_token(req, now_ms=NOW)
    assert_auth_error(exc, 40104, 401)


def test_request_token_rejects_replayed_nonce(store: AuthStore) -> None:
    req = signed_request(store.root_key(), nonce="1234567890123456")
    assert store.request_token(req, now_ms=NOW)["token"]
    with pytest.raises(AuthError) as exc:
        store.request_token(dict(req), now_ms=NOW + 1)
    assert_auth_error(exc, 40101, 401)


def test_failed_request_does_not_consume_nonce(store: AuthStore) -> None:
    bad = signed_request(store.root_key(), nonce="samenonce0000000", ttl=MAX_TTL_MS + 1)
    with pytest.raises(AuthError):
        store.request_token(bad, now_ms=NOW)
    good = signed_request(store.root_key(), nonce="samenonce0000000")
    assert store.request_token(good, now_ms=NOW)["token"]


def test_request_token_specified_ttl_sets_expiry(store: AuthStore) -> None:
    details = store.request_token(signed_request(store.root_key(), ttl=100), now_ms=NOW)
    assert details["expires"] == details["issued"] + 100


@pytest.mark.parametrize("ttl", [365 * 24 * 60 * 60 * 1000, MAX_TTL_MS + 1, -1])
def test_request_token_rejects_out_of_range_ttl(store: AuthStore, ttl: int) -> None:
    with pytest.raises(AuthError) as exc:
        store.request_token(signed_request(store.root_key(), ttl=ttl), now_ms=NOW)
    assert_auth_error(exc, 40003, 400)


def test_request_token_accepts_max_ttl(store: AuthStore) -> None:
    details = store.request_token(signed_request(store.root_key(), ttl=MAX_TTL_MS), now_ms=NOW)
    assert details["expires"] == NOW + MAX_TTL_MS


@pytest.mark.parametrize(
    "capability",
    ['{"channel0":["publish_"]}', '{"channel0":["*","publish"]}', '{"channel0":[]}', "[1]", "{"],
)
def test_request_token_rejects_invalid_capability(store: AuthStore, capability: str) -> None:
    with pytest.raises(AuthError) as exc:
        store.request_token(signed_request(store.root_key(), capability=capability), now_ms=NOW)
    assert_auth_error(exc, 40000, 400)


def test_request_token_empty_intersection_is_40160(store: AuthStore) -> None:
    key = app_key(store, PY_KEY_TESTCHANNEL)
    req = signed_request(key, capability='{"testchannel":["subscribe"]}')
    with pytest.raises(AuthError) as exc:
        store.request_token(req, now_ms=NOW)
    assert_auth_error(exc, 40160, 401)


def test_request_token_without_capability_gets_key_capability(store: AuthStore) -> None:
    key = app_key(store, KEY_CHANNELS)
    details = store.request_token(signed_request(key), now_ms=NOW)
    assert Capability.parse(details["capability"]) == Capability.parse(KEY_CHANNELS)


# --- tokens ---------------------------------------------------------------------------------


def test_token_expiry(store: AuthStore) -> None:
    name, _ = split_key(store.root_key())
    details = store.issue_token(name, "alice", ttl_ms=1000, now_ms=NOW)
    assert store.authenticate_token(details["token"], now_ms=NOW + 999).expires_ms == NOW + 1000
    with pytest.raises(AuthError) as exc:
        store.authenticate_token(details["token"], now_ms=NOW + 1000)
    assert_auth_error(exc, 40142, 401)


def test_token_survives_hub_restart(tmp_path: Path) -> None:
    first = AuthStore(tmp_path)
    details = first.request_token(
        signed_request(first.root_key(), clientId="*", capability='{"s:*":["presence"]}'),
        now_ms=NOW,
    )
    principal = AuthStore(tmp_path).authenticate_token(details["token"], now_ms=NOW + 1)
    assert principal.client_id == "*"
    assert principal.capability == Capability.parse({"s:*": ["presence"]})
    assert principal.key_name == details["keyName"]


def test_issue_token_narrows_to_key_capability(store: AuthStore) -> None:
    key = app_key(store, PY_KEY_TESTCHANNEL)
    details = store.issue_token(split_key(key)[0], None, Capability.parse(None))
    assert json.loads(details["capability"]) == {"testchannel": ["publish"]}


def test_tokens_are_unique(store: AuthStore) -> None:
    name, _ = split_key(store.root_key())
    assert store.issue_token(name, "a", now_ms=NOW) != store.issue_token(name, "a", now_ms=NOW)


def _tamper(token: str) -> str:
    body, sig = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["cap"] = '{"*":["*"]}'
    payload["c"] = "mallory"
    return f"{b64url(json.dumps(payload).encode())}.{sig}"


@pytest.mark.parametrize(
    "make_bad",
    [
        _tamper,
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
        lambda t: "garbage",
        lambda t: "",
    ],
    ids=["tampered-payload", "bad-signature", "garbage", "empty"],
)
def test_invalid_tokens_are_refused(store: AuthStore, make_bad: Any) -> None:
    name, _ = split_key(store.root_key())
    token = store.issue_token(name, "alice", Capability.parse({"x": ["subscribe"]}))["token"]
    with pytest.raises(AuthError) as exc:
        store.authenticate_token(make_bad(token))
    assert_auth_error(exc, 40144, 401)


def test_token_signed_by_other_hub_is_refused(tmp_path: Path) -> None:
    a = AuthStore(tmp_path / "a")
    b = AuthStore(tmp_path / "b")
    token = a.issue_token(split_key(a.root_key())[0], None)["token"]
    with pytest.raises(AuthError) as exc:
        b.authenticate_token(token)
    assert_auth_error(exc, 40144, 401)


# --- JWT ------------------------------------------------------------------------------------


def test_jwt_signed_with_key_secret_is_accepted(store: AuthStore) -> None:
    claims = {
        "iat": NOW // 1000,
        "exp": NOW // 1000 + 60,
        "x-ably-clientId": "carol",
        "x-ably-capability": '{"room:*":["publish","subscribe"]}',
    }
    principal = store.authenticate_token(make_jwt(store.root_key(), claims), now_ms=NOW)
    assert principal.client_id == "carol"
    assert principal.via_token and principal.expires_ms == NOW + 60_000
    assert principal.capability.allows("room:1", "publish")
    assert not principal.capability.allows("room:1", "presence")


def test_jwt_capability_cannot_exceed_key(store: AuthStore) -> None:
    key = app_key(store, PY_KEY_TESTCHANNEL)
    claims = {"iat": NOW // 1000, "exp": NOW // 1000 + 60, "x-ably-capability": '{"*":["*"]}'}
    principal = store.authenticate_token(make_jwt(key, claims), now_ms=NOW)
    assert principal.capability == Capability.parse(PY_KEY_TESTCHANNEL)
    assert principal.client_id is None


def test_jwt_with_wrong_signature_is_refused(store: AuthStore) -> None:
    claims = {"iat": NOW // 1000, "exp": NOW // 1000 + 60}
    jwt = make_jwt(store.root_key(), claims, secret="not-the-secret")
    with pytest.raises(AuthError) as exc:
        store.authenticate_token(jwt, now_ms=NOW)
    assert_auth_error(exc, 40140, 401)


def test_jwt_with_alg_none_is_refused(store: AuthStore) -> None:
    jwt = make_jwt(store.root_key(), {"iat": NOW // 1000, "exp": NOW // 1000 + 60}, alg="none")
    with pytest.raises(AuthError) as exc:
        store.authenticate_token(jwt.rsplit(".", 1)[0] + ".", now_ms=NOW)
    assert_auth_error(exc, 40144, 401)
    with pytest.raises(AuthError) as exc:
        store.authenticate_token(jwt, now_ms=NOW)
    assert_auth_error(exc, 40144, 401)


def test_expired_jwt_is_40142(store: AuthStore) -> None:
    jwt = make_jwt(store.root_key(), {"iat": NOW // 1000 - 60, "exp": NOW // 1000})
    with pytest.raises(AuthError) as exc:
        store.authenticate_token(jwt, now_ms=NOW)
    assert_auth_error(exc, 40142, 401)


@pytest.mark.parametrize("claims", [{"iat": 1}, {"exp": 4_000_000_000}], ids=["no-exp", "no-iat"])
def test_jwt_without_exp_or_iat_is_refused(store: AuthStore, claims: dict[str, int]) -> None:
    with pytest.raises(AuthError) as exc:
        store.authenticate_token(make_jwt(store.root_key(), claims), now_ms=NOW)
    assert_auth_error(exc, 40144, 401)


# --- capabilities ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("capability", "channel", "op", "allowed"),
    [
        ({"*": ["*"]}, "anything:at:all", "publish", True),
        ({"*": ["subscribe"]}, "a", "publish", False),
        ({"*": ["subscribe"]}, "a:b:c", "subscribe", True),
        ({"canpublish:*": ["publish"]}, "canpublish:a", "publish", True),
        ({"canpublish:*": ["publish"]}, "canpublish:a:b", "publish", True),
        ({"canpublish:*": ["publish"]}, "canpublish", "publish", False),
        ({"canpublish:*": ["publish"]}, "cansubscribe:a", "publish", False),
        ({"a:*:c": ["history"]}, "a:b:c", "history", True),
        ({"a:*:c": ["history"]}, "a:b:x:c", "history", False),
        ({"exact": ["presence"]}, "exact", "presence", True),
        ({"exact": ["presence"]}, "exactly", "presence", False),
        ({"s:*": ["message-update-any"]}, "s:1", "message-update-any", True),
        ({"s:*": ["message-update-own"]}, "s:1", "message-update-any", False),
        ({"*": ["subscribe"]}, "[?rewind=1]chan", "subscribe", True),
        ({"*": ["subscribe"]}, "[meta]log", "subscribe", False),
        ({"[*]*": ["*"]}, "[meta]log", "subscribe", True),
        ({"[*]*": ["*"]}, "plain", "subscribe", True),
    ],
)
def test_capability_allows(capability: dict, channel: str, op: str, allowed: bool) -> None:
    assert Capability.parse(capability).allows(channel, op) is allowed


def test_capability_parse_forms() -> None:
    assert Capability.parse(None).to_json() == '{"*":["*"]}'
    spaced = Capability.parse('{"b": ["subscribe", "publish"], "a": ["history"]}')
    assert spaced.to_json() == '{"a":["history"],"b":["publish","subscribe"]}'
    assert spaced == Capability.parse({"a": ["history"], "b": ["publish", "subscribe"]})
    assert hash(spaced) == hash(Capability.parse(spaced.to_json()))
    assert Capability.parse("{}").is_empty()
    assert not spaced.is_empty()


@pytest.mark.parametrize(
    ("key", "requested", "expected"),
    [
        # ably-python restcapability_test.py / ably-js rest/capability.test.js cases
        (PY_KEY_TESTCHANNEL, PY_KEY_TESTCHANNEL, {"testchannel": ["publish"]}),
        (PY_KEY_TESTCHANNEL, '{"testchannel":["subscribe"]}', {}),
        (PY_KEY_TESTCHANNEL, '{"testchannelx":["publish"]}', {}),
        (KEY_CHANNELS, '{"channel2":["presence","subscribe"]}', {"channel2": ["subscribe"]}),
        (
            KEY_CHANNELS,
            '{"channel2":["presence","subscribe"],"channelx":["presence","subscribe"]}',
            {"channel2": ["subscribe"]},
        ),
        (KEY_CHANNELS, '{"channel2":["*"]}', {"channel2": ["publish", "subscribe"]}),
        (
            KEY_CHANNELS,
            '{"channel6":["publish","subscribe"]}',
            {"channel6": ["publish", "subscribe"]},
        ),
        (KEY_CHANNELS, '{"channelx":["publish"]}', {}),
        (PY_KEY_WILDCARDS, '{"cansubscribe":["subscribe"]}', {"cansubscribe": ["subscribe"]}),
        (
            PY_KEY_WILDCARDS,
            '{"cansubscribe:check":["subscribe"]}',
            {"cansubscribe:check": ["subscribe"]},
        ),
        (PY_KEY_WILDCARDS, '{"cansubscribe:*":["subscribe"]}', {"cansubscribe:*": ["subscribe"]}),
        (JS_KEY_SUBSCRIBE_ALL, '{"cansubscribe":["subscribe"]}', {"cansubscribe": ["subscribe"]}),
        (
            JS_KEY_SUBSCRIBE_ALL,
            '{"cansubscribe:*":["subscribe"]}',
            {"cansubscribe:*": ["subscribe"]},
        ),
        (JS_KEY_NAMESPACES, '{"canpublish:check":["publish"]}', {"canpublish:check": ["publish"]}),
        (JS_KEY_NAMESPACES, '{"canpublish:test":["subscribe"]}', {}),
        # ours: the narrower side wins and grants from several key rules are unioned
        (
            PY_KEY_WILDCARDS,
            '{"canpublish:x":["publish","subscribe","presence"]}',
            {"canpublish:x": ["publish", "subscribe"]},
        ),
        (
            '{"a:*":["publish"]}',
            '{"*":["*"]}',
            {"a:*": ["publish"]},
        ),
        ('{"a:b":["*"]}', '{"a:*":["history"]}', {"a:b": ["history"]}),
        ('{"*":["*"]}', '{"[*]*":["subscribe"]}', {"*": ["subscribe"]}),
    ],
)
def test_capability_intersection(key: str, requested: str, expected: dict) -> None:
    result = Capability.parse(key).intersect(Capability.parse(requested))
    assert result.to_dict() == expected
    assert result.is_empty() is (expected == {})


def test_capability_intersection_is_symmetric() -> None:
    a = Capability.parse(PY_KEY_WILDCARDS)
    b = Capability.parse('{"canpublish:andpresence":["*"],"zzz":["subscribe","history"]}')
    assert a.intersect(b) == b.intersect(a)
    assert a.intersect(b).to_dict() == {
        "canpublish:andpresence": ["presence", "publish", "subscribe"],
        "zzz": ["subscribe"],
    }


# --- WebSocket and HTTP credentials ---------------------------------------------------------


def _token(store: AuthStore, client_id: str | None) -> str:
    return store.issue_token(split_key(store.root_key())[0], client_id)["token"]


def test_ws_without_credentials_is_40101(store: AuthStore) -> None:
    with pytest.raises(AuthError) as exc:
        store.authenticate_ws({"format": "json", "v": "5"})
    assert_auth_error(exc, 40101, 401)
    assert exc.value.message == "No authentication information provided"


def test_ws_key_auth_takes_client_id_param(store: AuthStore) -> None:
    assert store.authenticate_ws({"key": store.root_key()}).client_id is None
    principal = store.authenticate_ws({"key": store.root_key(), "clientId": "dave"})
    assert principal.client_id == "dave" and not principal.via_token


@pytest.mark.parametrize("param", ["accessToken", "access_token"])
def test_ws_token_param_spellings(store: AuthStore, param: str) -> None:
    principal = store.authenticate_ws({param: _token(store, "erin")})
    assert principal.client_id == "erin" and principal.via_token


def test_ws_token_client_id_conflict_is_40102(store: AuthStore) -> None:
    token = _token(store, "erin")
    assert store.authenticate_ws({"accessToken": token, "clientId": "erin"}).client_id == "erin"
    with pytest.raises(AuthError) as exc:
        store.authenticate_ws({"accessToken": token, "clientId": "mallory"})
    assert_auth_error(exc, 40102, 401)


def test_ws_anonymous_token_cannot_claim_client_id(store: AuthStore) -> None:
    with pytest.raises(AuthError) as exc:
        store.authenticate_ws({"access_token": _token(store, None), "clientId": "x"})
    assert_auth_error(exc, 40102, 401)


def test_ws_wildcard_token_acts_as_requested_client(store: AuthStore) -> None:
    token = _token(store, "*")
    assert store.authenticate_ws({"accessToken": token}).client_id == "*"
    assert store.authenticate_ws({"accessToken": token, "clientId": "frank"}).client_id == "frank"


def test_ws_bad_key_is_40101(store: AuthStore) -> None:
    with pytest.raises(AuthError) as exc:
        store.authenticate_ws({"key": store.root_key() + "x"})
    assert_auth_error(exc, 40101, 401)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_http_basic_auth_with_client_id_header(store: AuthStore) -> None:
    headers = {"Authorization": f"Basic {_b64(store.root_key())}"}
    assert store.authenticate_http(headers).client_id is None
    principal = store.authenticate_http({**headers, "X-Ably-ClientId": _b64("gina")})
    assert principal.client_id == "gina" and not principal.via_token


def test_http_headers_are_case_insensitive(store: AuthStore) -> None:
    headers = {"authorization": f"Basic {_b64(store.root_key())}", "x-ably-clientid": _b64("h")}
    assert store.authenticate_http(headers).client_id == "h"


def test_http_bearer_base64_and_raw_tokens(store: AuthStore) -> None:
    token = _token(store, "ivan")
    assert store.authenticate_http({"Authorization": f"Bearer {_b64(token)}"}).client_id == "ivan"
    assert store.authenticate_http({"Authorization": f"Bearer {token}"}).client_id == "ivan"


def test_http_bearer_jwt(store: AuthStore) -> None:
    claims = {"iat": NOW // 1000, "exp": 4_000_000_000, "x-ably-clientId": "jo"}
    jwt = make_jwt(store.root_key(), claims)
    assert store.authenticate_http({"Authorization": f"Bearer {_b64(jwt)}"}).client_id == "jo"


def test_http_client_id_header_conflicting_with_token_is_40102(store: AuthStore) -> None:
    headers = {"Authorization": f"Bearer {_b64(_token(store, 'ivan'))}"}
    with pytest.raises(AuthError) as exc:
        store.authenticate_http({**headers, "X-Ably-ClientId": _b64("mallory")})
    assert_auth_error(exc, 40102, 401)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Digest abc"}, {"Authorization": "Basic %%%"}],
    ids=["missing", "unknown-scheme", "malformed-basic"],
)
def test_http_missing_or_malformed_credentials_are_40101(store: AuthStore, headers: dict) -> None:
    with pytest.raises(AuthError) as exc:
        store.authenticate_http(headers)
    assert_auth_error(exc, 40101, 401)


def test_http_wrong_basic_secret_is_40101(store: AuthStore) -> None:
    name, _ = split_key(store.root_key())
    with pytest.raises(AuthError) as exc:
        store.authenticate_http({"Authorization": f"Basic {_b64(name + ':wrong')}"})
    assert_auth_error(exc, 40101, 401)


# --- sandbox apps ---------------------------------------------------------------------------


APP_SPEC = {
    "keys": [
        {},
        {"capability": PY_KEY_TESTCHANNEL},
        {"privileged": True, "capability": KEY_CHANNELS},
    ],
    "namespaces": [
        {"id": "persisted", "persisted": True},
        {"id": "mutable", "mutableMessages": True},
    ],
    "channels": [{"name": "persisted:presence_fixtures", "presence": [{"clientId": "c"}]}],
}


def test_create_app_returns_sandbox_shaped_response(store: AuthStore) -> None:
    app = store.create_app(APP_SPEC)
    assert app["appId"] != store.app_id
    assert app["namespaces"] == APP_SPEC["namespaces"]
    assert len(app["keys"]) == 3
    for key in app["keys"]:
        assert key["keyName"] == f"{app['appId']}.{key['id']}"
        assert key["keySecret"] == key["value"]
        assert key["keyStr"] == f"{key['keyName']}:{key['keySecret']}"
        assert key["keyName"] in store.key_names()
    assert json.loads(app["keys"][0]["capability"]) == {"*": ["*"]}
    assert json.loads(app["keys"][1]["capability"]) == {"testchannel": ["publish"]}
    assert app["keys"][2]["privileged"] is True
    assert store.app_namespaces(app["appId"]) == APP_SPEC["namespaces"]
    assert store.app_channels(app["appId"]) == APP_SPEC["channels"]


def test_created_app_keys_work_like_root_key(store: AuthStore) -> None:
    app = store.create_app(APP_SPEC)
    limited = app["keys"][1]["keyStr"]
    principal = store.authenticate_ws({"key": limited})
    assert principal.app_id == app["appId"]
    assert principal.capability.allows("testchannel", "publish")
    assert not principal.capability.allows("testchannel", "subscribe")
    details = store.request_token(signed_request(limited), now_ms=NOW)
    assert store.authenticate_token(details["token"], now_ms=NOW).key_name == details["keyName"]


def test_created_app_persists_across_restart(tmp_path: Path) -> None:
    app = AuthStore(tmp_path).create_app(APP_SPEC)
    reloaded = AuthStore(tmp_path)
    assert reloaded.authenticate_key(app["keys"][0]["keyStr"]).key_name == app["keys"][0]["keyName"]
    assert stat.S_IMODE((tmp_path / "keys.json").stat().st_mode) == 0o600


def test_create_app_rejects_invalid_key_capability(store: AuthStore) -> None:
    with pytest.raises(AuthError) as exc:
        store.create_app({"keys": [{"capability": '{"x":["fly"]}'}]})
    assert_auth_error(exc, 40000, 400)
    assert store.app_ids() == [store.app_id]


def test_delete_app_revokes_its_keys_and_tokens(tmp_path: Path) -> None:
    store = AuthStore(tmp_path)
    app = store.create_app(APP_SPEC)
    key = app["keys"][0]
    token = store.issue_token(key["keyName"], None)["token"]
    assert store.delete_app(app["appId"]) is True
    assert store.delete_app(app["appId"]) is False
    with pytest.raises(AuthError) as exc:
        store.authenticate_key(key["keyStr"])
    assert_auth_error(exc, 40101, 401)
    with pytest.raises(AuthError) as exc:
        store.authenticate_token(token)
    assert_auth_error(exc, 40144, 401)
    assert AuthStore(tmp_path).app_ids() == [store.app_id]


def test_default_app_cannot_be_deleted(store: AuthStore) -> None:
    assert store.delete_app(store.app_id) is False
    assert store.delete_app("no-such-app") is False
    assert store.authenticate_key(store.root_key()).app_id == store.app_id


def test_nonce_memory_is_bounded_by_the_timestamp_window(store: AuthStore) -> None:
    first = signed_request(store.root_key(), nonce="reusednonce00000")
    store.request_token(first, now_ms=NOW)
    later = NOW + TIMESTAMP_WINDOW_MS + 1
    # The old request can no longer be replayed (stale timestamp), so its nonce is forgotten.
    with pytest.raises(AuthError) as exc:
        store.request_token(first, now_ms=later)
    assert_auth_error(exc, 40104, 401)
    fresh = signed_request(store.root_key(), now=later, nonce="reusednonce00000")
    assert store.request_token(fresh, now_ms=later)["token"]
