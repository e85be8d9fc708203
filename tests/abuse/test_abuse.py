"""Abuse by authenticated users: cancelling someone else's turn, reading a session the token does
not cover, and capabilities widened by hand after signing (40140). Each is refused with its specific
error, end to end (real hub, real agent service, real SDK clients or raw HTTP and WebSocket).

Covered elsewhere, not repeated here: clientId spoofing, expired and forged tokens, malformed
frames, history and attach outside the capability (tests/hub/test_security.py); the cancel
policy of AgentSession itself (tests/transport/test_agent.py).
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import aiohttp
import pytest
from ably import AblyException

from tests.support.agent import demo_settings, running_agent
from tests.support.hub import HubEndpoint, wait_until
from tui_session.transport.client import ClientSession

CHANNEL = "session:abuse"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def widened_jwt(token: str) -> str:
    """The JWT with its capability edited to everything and its signature kept."""
    header, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["x-ably-capability"] = json.dumps({"*": ["*"]})
    return f"{header}.{b64url(json.dumps(claims, separators=(',', ':')).encode())}.{signature}"


async def test_only_the_owner_and_operators_cancel_a_turn(hub: HubEndpoint, tmp_path: Path):
    """Through the agent service's default on_cancel: bob's cancel of alice's turn is refused
    (the turn completes), carol (agent.operators) cancels alice's next one, alice her own."""
    settings = demo_settings(demo_pace=60, operators="carol")
    async with running_agent(hub, settings, tmp_path / "agent") as agent:
        url = f"http://127.0.0.1:{agent.port}"
        alice, bob, carol = [
            await ClientSession.connect(hub.realtime(who), CHANNEL, agent_url=url, device=who)
            for who in ("alice", "bob", "carol")
        ]
        try:
            outcomes = []
            for canceller in (bob, carol, alice):
                handle = await alice.send(f"a long answer, cancelled by {canceller.client_id}?")
                run_id = await asyncio.wait_for(asyncio.shield(handle.started), 10)
                await wait_until(
                    lambda r=run_id: bool(alice.turn(r) and alice.turn(r).streaming), what="stream"
                )
                await canceller.cancel(run_id)
                outcomes.append(await asyncio.wait_for(asyncio.shield(handle.ended), 20))
            assert outcomes == ["complete", "cancelled", "cancelled"]
            refused = alice.turn(alice.all_turns()[0].run_id)
            assert refused is not None and refused.status == "complete"
            assert "offline demo" in "".join(m.text for m in refused.messages).lower()
            await wait_until(lambda: not alice.active_turns() and not bob.active_turns())
        finally:
            for session in (alice, bob, carol):
                await session.close()


async def test_reading_a_session_the_token_does_not_cover_is_40160(hub: HubEndpoint):
    auth = hub.running.hub.auth  # type: ignore[attr-defined]
    key_name = hub.key.split(":")[0]
    mine = {"session:mine": ["publish", "subscribe", "presence", "history"]}
    token = auth.issue_token(key_name, "mallory", auth.key_capability(key_name).parse(mine))
    bearer = {"Authorization": "Bearer " + base64.b64encode(token["token"].encode()).decode()}
    owner = hub.rest()
    published = await owner.channels.get(CHANNEL).publish("secret", "not for mallory")
    serial = published.serials[0] if hasattr(published, "serials") else "0000000000000001"
    base = f"{hub.base_url}/channels/{CHANNEL}"
    reads = [
        "",
        "/messages",
        f"/messages/{serial}",
        f"/messages/{serial}/versions",
        "/presence",
        "/presence/history",
    ]
    async with aiohttp.ClientSession() as http:
        for path in reads:
            async with http.get(base + path, headers=bearer) as response:
                body = await response.json()
                assert (response.status, body["error"]["code"]) == (401, 40160), path
                assert "not permitted" in body["error"]["message"]
        # Its own session is readable with the same token.
        async with http.get(f"{hub.base_url}/channels/session:mine/messages", headers=bearer) as ok:
            assert ok.status == 200
    await owner.close()

    # A terminal on that token cannot open the other session at all.
    realtime = hub.realtime("mallory", default_token_params={"capability": json.dumps(mine)})
    with pytest.raises(AblyException) as refused:
        await ClientSession.connect(realtime, CHANNEL, agent_url=None, device="d")
    assert (refused.value.code, refused.value.status_code) == (40160, 401)


async def test_capabilities_widened_by_hand_are_refused(hub: HubEndpoint, tmp_path: Path):
    """An Ably JWT from the agent's /api/token with its capability edited to everything (its
    signature kept) fails verification (40140), on the WebSocket and over REST; the token as
    issued still works for what it grants."""
    async with (
        running_agent(hub, demo_settings(), tmp_path / "agent") as agent,
        aiohttp.ClientSession() as http,
    ):
        token_url = f"http://127.0.0.1:{agent.port}/api/token"
        async with http.get(token_url, params={"clientId": "mallory"}) as response:
            issued = (await response.json())["token"]
        forged = widened_jwt(issued)
        ws = await http.ws_connect(
            f"ws://{hub.host}:{hub.port}/", params={"v": "5", "accessToken": forged}
        )
        first = json.loads((await ws.receive(5)).data)
        assert (first["action"], first["error"]["code"], first["error"]["statusCode"]) == (
            9,
            40140,
            401,
        )
        assert (await ws.receive(5)).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        await ws.close()
        for token, path, expected in (
            (forged, "/channels/other/messages", 40140),
            (issued, "/channels/other/messages", 40160),
        ):
            bearer = {"Authorization": "Bearer " + base64.b64encode(token.encode()).decode()}
            async with http.get(f"{hub.base_url}{path}", headers=bearer) as response:
                body = await response.json()
                assert (response.status, body["error"]["code"]) == (401, expected)
        bearer = {"Authorization": "Bearer " + base64.b64encode(issued.encode()).decode()}
        async with http.get(f"{hub.base_url}/channels/{CHANNEL}/messages", headers=bearer) as ok:
            assert ok.status == 200
