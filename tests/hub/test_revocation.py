"""Ably's token revocation on the hub, over real sockets: `POST /keys/{keyName}/revokeTokens`
with Ably's request and response shapes, only with the key itself; a revoked token's live
connection is cut (40141), its next connect and its next REST request are refused (40141),
tokens issued afterwards work, and the revocation survives a restart."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from ably import AblyException

from tests.support.hub import HubEndpoint, hub_settings, wait_state
from tui_session.credentials import jwt
from tui_session.hub.server import start_hub
from tui_session.transport.connect import fixed_token_source, hub_realtime, hub_rest

CHANNEL = "session:revoked"


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(key.encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + base64.b64encode(token.encode()).decode()}


def key_name(key: str) -> str:
    return key.split(":", 1)[0]


def invite_token(key: str, client_id: str = "carol", revocation_key: str = "invite:c1") -> str:
    capability = {CHANNEL: ["publish", "subscribe", "presence", "history"]}
    return jwt.issue(
        key,
        client_id=client_id,
        capability=capability,
        ttl_ms=3_600_000,
        revocation_key=revocation_key,
        now=jwt.now_ms() - 1000,  # issued a moment ago: before the revocations below
    )


def with_token(host: str, port: int, token: str, client_id: str) -> Any:
    source = fixed_token_source(
        token, expires_ms=jwt.now_ms() + 3_600_000, client_id=client_id, expired="expired"
    )
    return hub_realtime(host, port, None, client_id, auth_callback=source)


async def revoke(
    http: aiohttp.ClientSession, base_url: str, key: str, body: dict[str, Any], auth: Any = None
) -> tuple[int, dict[str, Any]]:
    url = f"{base_url}/keys/{key_name(key)}/revokeTokens"
    headers = basic(key) if auth is None else auth
    async with http.post(url, json=body, headers=headers) as response:
        return response.status, await response.json()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_a_revoked_token_is_cut_and_refused_and_a_new_one_works(
    hub: HubEndpoint, http: aiohttp.ClientSession
) -> None:
    token = invite_token(hub.key)
    carol = with_token(hub.host, hub.port, token, "carol")
    hub.clients.append(carol)
    await wait_state(carol)
    cut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def on_state(change: Any) -> None:
        if change.current.value != "connected" and not cut.done():
            cut.set_result(change.reason)

    carol.connection.on(on_state)
    status, result = await revoke(
        http, hub.base_url, hub.key, {"targets": ["revocationKey:invite:c1"]}
    )
    assert status == 200
    assert result["successCount"] == 1 and result["failureCount"] == 0
    [entry] = result["results"]
    assert entry["target"] == "revocationKey:invite:c1"
    assert entry["appliesAt"] == entry["issuedBefore"]
    reason = await asyncio.wait_for(cut, 10)
    assert (reason.code, reason.status_code) == (40141, 401)
    # Its next connect, and its next REST request, are refused.
    again = with_token(hub.host, hub.port, token, "carol")
    hub.clients.append(again)
    refused = asyncio.get_running_loop().create_future()
    again.connection.on(
        lambda change: (
            change.reason is not None and not refused.done() and refused.set_result(change.reason)
        )
    )
    assert (await asyncio.wait_for(refused, 10)).code == 40141
    async with http.get(f"{hub.base_url}/channels/{CHANNEL}/messages", headers=bearer(token)) as r:
        assert (r.status, (await r.json())["error"]["code"]) == (401, 40141)
    # A token issued after the revocation (a new invite) works.
    fresh = jwt.issue(
        hub.key,
        client_id="carol",
        capability={CHANNEL: ["history"]},
        ttl_ms=60_000,
        revocation_key="invite:c1",
        now=jwt.now_ms() + 1000,
    )
    async with http.get(f"{hub.base_url}/channels/{CHANNEL}/messages", headers=bearer(fresh)) as r:
        assert r.status == 200


async def test_by_client_id_and_other_clients_are_untouched(
    hub: HubEndpoint, http: aiohttp.ClientSession
) -> None:
    carol = invite_token(hub.key, "carol", "invite:c")
    dave = invite_token(hub.key, "dave", "invite:d")
    status, _ = await revoke(http, hub.base_url, hub.key, {"targets": ["clientId:carol"]})
    assert status == 200
    url = f"{hub.base_url}/channels/{CHANNEL}/messages"
    async with http.get(url, headers=bearer(carol)) as r:
        assert (await r.json())["error"]["code"] == 40141
    async with http.get(url, headers=bearer(dave)) as r:
        assert r.status == 200


async def test_only_the_key_itself_revokes(hub: HubEndpoint, http: aiohttp.ClientSession) -> None:
    body = {"targets": ["clientId:carol"]}
    status, answer = await revoke(
        http, hub.base_url, hub.key, body, auth=bearer(invite_token(hub.key))
    )
    assert (status, answer["error"]["code"]) == (401, 40162)
    other = hub.running.hub.auth.create_app({})["keys"][0]["keyStr"]  # type: ignore[attr-defined]
    status, answer = await revoke(http, hub.base_url, hub.key, body, auth=basic(other))
    assert (status, answer["error"]["code"]) == (401, 40101)
    status, answer = await revoke(http, hub.base_url, hub.key, body, auth={})
    assert (status, answer["error"]["code"]) == (401, 40101)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"targets": []}, 40000),
        ({"targets": "clientId:carol"}, 40000),
        ({"targets": ["clientId:carol"], "issuedBefore": 1}, 40003),
        ({"targets": ["clientId:carol"], "allowReauthMargin": "later"}, 40003),
    ],
)
async def test_bad_revocation_requests_get_specific_errors(
    hub: HubEndpoint, http: aiohttp.ClientSession, body: dict[str, Any], code: int
) -> None:
    status, answer = await revoke(http, hub.base_url, hub.key, body)
    assert (status, answer["error"]["code"]) == (code // 100, code)


async def test_a_revocation_survives_a_restart(tmp_path: Path) -> None:
    settings = hub_settings(tmp_path / "hub")
    running = await start_hub(settings)
    key = running.hub.auth.root_key()
    token = invite_token(key)
    base = f"http://127.0.0.1:{running.port}"
    async with aiohttp.ClientSession() as http:
        status, _ = await revoke(http, base, key, {"targets": ["revocationKey:invite:c1"]})
        assert status == 200
        await running.stop()
        running = await start_hub(settings)
        base = f"http://127.0.0.1:{running.port}"
        try:
            async with http.get(f"{base}/channels/{CHANNEL}/messages", headers=bearer(token)) as r:
                assert (r.status, (await r.json())["error"]["code"]) == (401, 40141)
            source = fixed_token_source(
                token, expires_ms=jwt.now_ms() + 60_000, client_id="carol", expired="expired"
            )
            rest = hub_rest("127.0.0.1", running.port, None, "carol", auth_callback=source)
            with pytest.raises(AblyException) as refused:  # the SDK, renewing once, then failing
                await asyncio.wait_for(rest.channels.get(CHANNEL).history(), 10)
            assert refused.value.code == 40141
            await rest.close()
        finally:
            await running.stop()
