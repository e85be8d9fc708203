"""The token checks the hub and the agent service share (tui_session/credentials): each way a
token can be wrong has its own code, and revocation follows Ably's revokeTokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
from pathlib import Path

import pytest

from tui_session.credentials import jwt
from tui_session.credentials.capability import Capability
from tui_session.credentials.errors import AuthError
from tui_session.credentials.revocation import REAUTH_MARGIN_MS, Revocations, TokenFacts

KEY = "appA.key1:s3cret"
OTHER_KEY = "appB.key9:another"
SECRETS = {"appA.key1": "s3cret"}
NOW = 1_750_000_000_000
CHANNEL = {"session:a": ["publish", "subscribe", "presence", "history"]}


def issue(**overrides: object) -> str:
    args: dict = {"client_id": "ada", "capability": CHANNEL, "ttl_ms": 60_000, "now": NOW}
    args.update(overrides)
    return jwt.issue(args.pop("key", KEY), **args)  # type: ignore[arg-type]


def verify(token: str, now: int = NOW) -> jwt.TokenClaims:
    return jwt.verify(token, SECRETS.get, now=now)


def code_of(token: str, now: int = NOW) -> int:
    with pytest.raises(AuthError) as refused:
        verify(token, now)
    assert refused.value.status == 401
    return refused.value.code


def b64url_json(obj: object) -> str:
    return jwt.b64url(json.dumps(obj).encode())


def edit_claims(token: str, **changes: object) -> str:
    header, body, signature = token.split(".")
    claims = json.loads(jwt.b64url_decode(body))
    claims.update(changes)
    return f"{header}.{b64url_json(claims)}.{signature}"


def test_a_genuine_token_says_who_what_and_until_when() -> None:
    claims = verify(issue(revocation_key="invite:x"))
    assert (claims.key_name, claims.client_id) == ("appA.key1", "ada")
    assert (claims.issued_ms, claims.expires_ms) == (NOW, NOW + 60_000)
    assert claims.revocation_key == "invite:x"
    assert claims.capability is not None
    assert claims.capability.allows("session:a", "publish")
    assert not claims.capability.allows("session:b", "subscribe")


def test_forged_without_a_key_is_40144() -> None:
    """alg none (no signature at all), or another algorithm: a token made without the key."""
    claims = {"iat": NOW // 1000, "exp": NOW // 1000 + 60, "x-ably-clientId": "ada"}
    unsigned = f"{b64url_json({'alg': 'none', 'kid': 'appA.key1'})}.{b64url_json(claims)}."
    assert code_of(unsigned) == 40144
    other_alg = f"{b64url_json({'alg': 'HS512', 'kid': 'appA.key1'})}.{b64url_json(claims)}.AA"
    assert code_of(other_alg) == 40144
    for garbage in ("", "a.b", "not.a.jwt", "x.y.z.w"):
        assert code_of(garbage) == 40144


def test_expired_is_40142() -> None:
    assert code_of(issue(), now=NOW + 60_000) == 40142
    assert verify(issue(), now=NOW + 59_999).client_id == "ada"


def test_signed_by_another_key_is_40143() -> None:
    assert code_of(issue(key=OTHER_KEY)) == 40143


def test_tampered_capability_is_40140() -> None:
    widened = edit_claims(issue(), **{"x-ably-capability": json.dumps({"*": ["*"]})})
    assert code_of(widened) == 40140


def test_tampered_client_id_or_expiry_and_a_guessed_secret_are_40140() -> None:
    assert code_of(edit_claims(issue(), **{"x-ably-clientId": "root"})) == 40140
    assert code_of(edit_claims(issue(), exp=NOW // 1000 + 10**6)) == 40140
    assert code_of(issue(key="appA.key1:guessed")) == 40140


def test_missing_or_malformed_claims_are_40144() -> None:
    header = b64url_json({"typ": "JWT", "alg": "HS256", "kid": "appA.key1"})
    for claims in (
        {"exp": NOW // 1000 + 60},  # no iat (Ably requires it)
        {"iat": NOW // 1000},  # no exp
        {"iat": NOW // 1000, "exp": NOW // 1000 + 60, "x-ably-capability": ""},
        {"iat": NOW // 1000, "exp": NOW // 1000 + 60, "x-ably-capability": '{"a":["fly"]}'},
        {"iat": NOW // 1000, "exp": NOW // 1000 + 60, "x-ably-revocation-key": 7},
    ):
        body = b64url_json(claims)
        signature = hmac.new(b"s3cret", f"{header}.{body}".encode(), hashlib.sha256).digest()
        assert code_of(f"{header}.{body}.{jwt.b64url(signature)}") == 40144, claims


def test_bearer_values_are_read_raw_or_base64() -> None:
    token = issue()
    assert jwt.bearer_token(token) == token
    assert jwt.bearer_token(base64.b64encode(token.encode()).decode()) == token
    assert jwt.bearer_token("  secret-without-dots ") == "secret-without-dots"


# ---- revocation ----------------------------------------------------------------------------


def facts(**overrides: object) -> TokenFacts:
    base: dict = {
        "key_name": "appA.key1",
        "client_id": "ada",
        "revocation_key": "invite:x",
        "resources": frozenset({"session:a"}),
        "issued_ms": NOW - 1000,
    }
    base.update(overrides)
    return TokenFacts(**base)


@pytest.mark.parametrize("target", ["clientId:ada", "revocationKey:invite:x", "channel:session:a"])
def test_each_target_type_revokes_the_tokens_it_names(tmp_path: Path, target: str) -> None:
    revocations = Revocations(tmp_path / "revocations.json")
    result = revocations.revoke("appA.key1", {"targets": [target]}, NOW)
    assert result == {
        "successCount": 1,
        "failureCount": 0,
        "results": [{"target": target, "issuedBefore": NOW, "appliesAt": NOW}],
    }
    assert revocations.revoked(facts(), NOW)
    with pytest.raises(AuthError) as refused:
        revocations.check(facts(), NOW)
    assert (refused.value.code, refused.value.status) == (40141, 401)
    # Not: a token issued after the revocation, another key's, another client's.
    assert not revocations.revoked(facts(issued_ms=NOW), NOW)
    assert not revocations.revoked(facts(key_name="appA.key2"), NOW)
    assert not revocations.revoked(
        facts(client_id="bob", revocation_key="invite:y", resources=frozenset({"session:b"})),
        NOW,
    )


def test_a_channel_target_matches_the_capability_string_exactly(tmp_path: Path) -> None:
    """As on Ably: `channel:session:*` revokes tokens granting "session:*", not "session:a"."""
    revocations = Revocations(tmp_path / "r.json")
    revocations.revoke("appA.key1", {"targets": ["channel:session:*"]}, NOW)
    assert not revocations.revoked(facts(), NOW)
    assert revocations.revoked(facts(resources=frozenset({"session:*"})), NOW)


def test_a_reauth_margin_postpones_enforcement_by_30_s(tmp_path: Path) -> None:
    revocations = Revocations(tmp_path / "r.json")
    result = revocations.revoke(
        "appA.key1", {"targets": ["clientId:ada"], "allowReauthMargin": True}, NOW
    )
    assert result["results"][0]["appliesAt"] == NOW + REAUTH_MARGIN_MS
    assert revocations.pending_times(NOW) == [NOW + REAUTH_MARGIN_MS]
    assert not revocations.revoked(facts(), NOW + REAUTH_MARGIN_MS - 1)
    assert revocations.revoked(facts(), NOW + REAUTH_MARGIN_MS)


def test_revocations_survive_a_restart_in_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "revocations.json"
    Revocations(path).revoke("appA.key1", {"targets": ["clientId:ada"]}, NOW)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Revocations(path).revoked(facts(), NOW)


def test_a_damaged_revocation_file_stops_the_hub_instead_of_forgetting(tmp_path: Path) -> None:
    path = tmp_path / "revocations.json"
    path.write_text("{not json")
    with pytest.raises(RuntimeError, match="cannot load token revocations"):
        Revocations(path)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, 40000),
        ({"targets": []}, 40000),
        ({"targets": ["clientId:a"] * 101}, 40000),
        ({"targets": ["clientId:a"], "issuedBefore": NOW + 1}, 40003),
        ({"targets": ["clientId:a"], "issuedBefore": NOW - 3_600_001}, 40003),
        ({"targets": ["clientId:a"], "issuedBefore": "soon"}, 40003),
        ({"targets": ["clientId:a"], "allowReauthMargin": "yes"}, 40003),
    ],
)
def test_bad_revocation_requests_are_refused(tmp_path: Path, body: dict, code: int) -> None:
    with pytest.raises(AuthError) as refused:
        Revocations(tmp_path / "r.json").revoke("appA.key1", body, NOW)
    assert refused.value.code == code


def test_a_bad_target_fails_alone_in_the_batch(tmp_path: Path) -> None:
    revocations = Revocations(tmp_path / "r.json")
    result = revocations.revoke(
        "appA.key1", {"targets": ["device:x", "clientId:ada", "clientId:"]}, NOW
    )
    assert (result["successCount"], result["failureCount"]) == (1, 2)
    assert [("error" in r) for r in result["results"]] == [True, False, True]
    assert result["results"][0]["error"]["code"] == 40000
    assert revocations.revoked(facts(), NOW)


def test_capability_is_shared_not_copied() -> None:
    """The hub re-exports the one Capability (no second copy to drift)."""
    from tui_session.hub import auth

    assert auth.Capability is Capability and auth.AuthError is AuthError
