"""Every way a JWT can be wrong, met by the hub over real sockets: the WebSocket connect and a
REST request each answer with the token's own code (the agent service answers the same
tokens with the same codes: tests/agent/test_callers.py)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.hub import HubEndpoint
from tui_session.credentials import jwt
from tui_session.hub.auth import AuthStore

CHANNEL = "session:jwt"
OPS = ["publish", "subscribe", "presence", "history"]


def bad_tokens(hub: HubEndpoint, elsewhere: Path) -> dict[str, str]:
    good = jwt.issue(hub.key, client_id="carol", capability={CHANNEL: OPS}, ttl_ms=60_000)
    header, claims, signature = good.split(".")
    widened = json.loads(jwt.b64url_decode(claims))
    widened["x-ably-capability"] = json.dumps({"*": ["*"]})
    unsigned = jwt.b64url(json.dumps({"alg": "none", "kid": hub.key.split(":")[0]}).encode())
    return {
        "forged": f"{unsigned}.{claims}.",
        "expired": jwt.issue(
            hub.key, client_id="carol", capability=None, ttl_ms=60_000, now=jwt.now_ms() - 120_000
        ),
        "wrong key": jwt.issue(
            AuthStore(elsewhere).root_key(), client_id="carol", capability=None, ttl_ms=60_000
        ),
        "tampered capability": f"{header}.{jwt.b64url(json.dumps(widened).encode())}.{signature}",
    }


CODES = {"forged": 40144, "expired": 40142, "wrong key": 40143, "tampered capability": 40140}


async def ws_error(hub: HubEndpoint, http: aiohttp.ClientSession, **query: str) -> dict[str, Any]:
    ws = await http.ws_connect(f"ws://{hub.host}:{hub.port}/", params={"v": "5", **query})
    try:
        frame = json.loads((await ws.receive(10)).data)
    finally:
        await ws.close()
    assert frame["action"] == 9, frame  # ERROR, then the hub closes the socket
    return frame["error"]


@pytest.mark.parametrize("case", list(CODES))
async def test_each_bad_token_gets_its_own_code_on_connect_and_over_rest(
    hub: HubEndpoint, tmp_path: Path, case: str
) -> None:
    token = bad_tokens(hub, tmp_path / "elsewhere")[case]
    async with aiohttp.ClientSession() as http:
        error = await ws_error(hub, http, accessToken=token)
        assert (error["code"], error["statusCode"]) == (CODES[case], 401)
        bearer = {"Authorization": "Bearer " + base64.b64encode(token.encode()).decode()}
        async with http.get(f"{hub.base_url}/channels/{CHANNEL}/messages", headers=bearer) as r:
            body = await r.json()
            assert (r.status, body["error"]["code"]) == (401, CODES[case])


async def test_a_token_cannot_connect_as_another_client(hub: HubEndpoint) -> None:
    carol = jwt.issue(hub.key, client_id="carol", capability={CHANNEL: OPS}, ttl_ms=60_000)
    async with aiohttp.ClientSession() as http:
        error = await ws_error(hub, http, accessToken=carol, clientId="alice")
    assert (error["code"], error["statusCode"]) == (40102, 401)
