"""The agent service checks every caller (tui_session/agent/callers.py), over real HTTP, with a
real hub and real SDK clients publishing the prompts. Every refusal has its own code and
starts nothing: the prompt it named is still answered when its author asks."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.agent.test_service import run_end
from tests.support.agent import demo_settings
from tests.support.hub import HubEndpoint
from tests.transport.agent_helpers import Client, invocation, recorder, transport
from tui_session.agent.launch import AblyTarget, RunningAgent, start_agent
from tui_session.credentials import jwt
from tui_session.hub.auth import AuthStore

CHANNEL = "session:callers"
PROMPT_OPS = ["publish", "subscribe", "presence", "history"]
SECRET = "a-long-service-secret"


def token(hub: HubEndpoint, client_id: str | None = "alice", **overrides: Any) -> str:
    args: dict[str, Any] = {
        "client_id": client_id,
        "capability": {CHANNEL: PROMPT_OPS},
        "ttl_ms": 60_000,
    }
    args.update(overrides)
    return jwt.issue(args.pop("key", hub.key), **args)


@contextlib.asynccontextmanager
async def agent_on(
    hub: HubEndpoint, tmp_path: Path, host: str = "0.0.0.0", **settings: Any
) -> AsyncIterator[RunningAgent]:
    """The service listening beyond loopback (so every caller needs credentials)."""
    config = replace(demo_settings(), host=host, **settings)
    agent = await start_agent(config, AblyTarget(hub.key, hub.host, hub.port), tmp_path)
    try:
        yield agent
    finally:
        await agent.stop()


async def call(
    agent: RunningAgent,
    method: str,
    path: str,
    *,
    bearer: str | None = None,
    body: Any = None,
    params: dict[str, str] | None = None,
) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer is not None else {}
    async with aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{agent.port}{path}"
        async with http.request(method, url, json=body, headers=headers, params=params) as r:
            raw = await r.text()
            parsed = json.loads(raw) if r.content_type == "application/json" else raw
            return r.status, parsed, r.headers


async def post(agent: RunningAgent, event_id: str, bearer: str | None) -> tuple[int, Any]:
    status, body, _headers = await call(
        agent, "POST", "/api/chat", bearer=bearer, body=invocation(event_id, CHANNEL)
    )
    return status, body


def refusal(answer: tuple[int, Any]) -> tuple[int, int]:
    status, body = answer
    assert body["error"]["message"]
    return status, body["error"]["code"]


@pytest.fixture
async def alice(hub: HubEndpoint) -> Client:
    return await Client.connect(hub, CHANNEL, "alice")


async def test_a_terminal_token_is_accepted_and_the_turn_runs(
    hub: HubEndpoint, tmp_path: Path, alice: Client
) -> None:
    wire = await recorder(hub, CHANNEL)
    async with agent_on(hub, tmp_path) as agent:
        _cmid, event_id = await alice.prompt("hello")
        # Raw, or base64 as the SDKs send a token: both are read.
        raw = token(hub)
        encoded = base64.b64encode(raw.encode()).decode()
        status, ids = await post(agent, event_id, encoded)
        assert status == 200, ids
        end = await run_end(wire, ids["runId"])
        assert transport(end)["run-reason"] == "complete"


async def test_beyond_loopback_even_this_machine_needs_credentials(
    hub: HubEndpoint, tmp_path: Path, alice: Client
) -> None:
    _cmid, event_id = await alice.prompt("who are you?")
    async with agent_on(hub, tmp_path) as agent:
        status, body, headers = await call(
            agent, "POST", "/api/chat", body=invocation(event_id, CHANNEL)
        )
        assert (status, body["error"]["code"]) == (401, 40101)
        assert headers["WWW-Authenticate"].startswith("Bearer")
    async with agent_on(hub, tmp_path, host="127.0.0.1") as embedded:
        # The embedded default (listening on loopback, called from loopback) needs none.
        assert (await post(embedded, event_id, None))[0] == 200


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        ("forged", (401, 40144)),
        ("expired", (401, 40142)),
        ("wrong key", (401, 40143)),
        ("tampered capability", (401, 40140)),
        ("other session", (401, 40160)),
        ("read-only", (403, 40301)),
        ("no clientId", (401, 40161)),
        ("wildcard clientId", (401, 40161)),
        ("not a token", (401, 40101)),
    ],
)
async def test_each_bad_token_is_refused_with_its_own_code(
    hub: HubEndpoint, tmp_path: Path, alice: Client, make: str, expected: tuple[int, int]
) -> None:
    other_hub_key = AuthStore(tmp_path / "elsewhere").root_key()
    good = token(hub)
    header, claims, signature = good.split(".")
    edited = json.loads(jwt.b64url_decode(claims))
    edited["x-ably-capability"] = json.dumps({"*": ["*"]})
    unsigned = json.dumps({"alg": "none", "kid": hub.key.split(":")[0]}).encode()
    bad = {
        "forged": f"{jwt.b64url(unsigned)}.{claims}.",
        "expired": token(hub, now=jwt.now_ms() - 120_000),
        "wrong key": token(hub, key=other_hub_key),
        "tampered capability": f"{header}.{jwt.b64url(json.dumps(edited).encode())}.{signature}",
        "other session": token(hub, capability={"session:other": PROMPT_OPS}),
        "read-only": token(hub, capability={CHANNEL: ["subscribe", "presence", "history"]}),
        "no clientId": token(hub, client_id=None),
        "wildcard clientId": token(hub, client_id="*"),
        "not a token": "hunter2",
    }[make]
    wire = await recorder(hub, CHANNEL)
    _cmid, event_id = await alice.prompt("are you there?")
    async with agent_on(hub, tmp_path / "agent") as agent:
        assert refusal(await post(agent, event_id, bad)) == expected
        # Nothing was started: the author's own call still gets the answer.
        status, ids = await post(agent, event_id, good)
        assert status == 200
        assert transport(await run_end(wire, ids["runId"]))["run-reason"] == "complete"


async def test_nobody_asks_for_an_answer_to_someone_elses_prompt(
    hub: HubEndpoint, tmp_path: Path, alice: Client
) -> None:
    wire = await recorder(hub, CHANNEL)
    _cmid, event_id = await alice.prompt("mine")
    async with agent_on(hub, tmp_path) as agent:
        assert refusal(await post(agent, event_id, token(hub, "bob"))) == (403, 40302)
        status, ids = await post(agent, event_id, token(hub, "alice"))
        assert status == 200
        await run_end(wire, ids["runId"])
        # Once running, bob still cannot claim it (a second POST answers with the run).
        assert refusal(await post(agent, event_id, token(hub, "bob"))) == (403, 40302)


async def test_a_revoked_token_is_refused_on_its_next_post(
    hub: HubEndpoint, tmp_path: Path, alice: Client
) -> None:
    key_name = hub.key.split(":")[0]
    ada = token(hub, revocation_key="invite:test")
    _cmid, event_id = await alice.prompt("revoked?")
    async with agent_on(hub, tmp_path) as agent:
        async with aiohttp.ClientSession() as http:
            auth = "Basic " + base64.b64encode(hub.key.encode()).decode()
            async with http.post(
                f"{hub.base_url}/keys/{key_name}/revokeTokens",
                json={"targets": ["revocationKey:invite:test"]},
                headers={"Authorization": auth},
            ) as response:
                assert (await response.json())["successCount"] == 1
        assert refusal(await post(agent, event_id, ada)) == (401, 40141)


async def test_the_service_secret_is_a_service_credential(
    hub: HubEndpoint, tmp_path: Path, alice: Client
) -> None:
    wire = await recorder(hub, CHANNEL)
    _cmid, event_id = await alice.prompt("from the backend")
    async with agent_on(hub, tmp_path, auth_secret=SECRET) as agent:
        assert refusal(await post(agent, event_id, SECRET[:-1] + "X")) == (401, 40101)
        assert refusal(await post(agent, event_id, SECRET + "X")) == (401, 40101)
        status, ids = await post(agent, event_id, SECRET)
        assert status == 200
        await run_end(wire, ids["runId"])


async def test_tokens_are_issued_to_this_machine_and_services_only(
    hub: HubEndpoint, tmp_path: Path
) -> None:
    async with agent_on(hub, tmp_path, auth_secret=SECRET) as agent:
        params = {"clientId": "carol"}
        status, body, _h = await call(agent, "GET", "/api/token", params=params)
        assert (status, body["error"]["code"]) == (401, 40101)
        status, body, _h = await call(
            agent, "GET", "/api/token", params=params, bearer=token(hub, "carol")
        )
        assert (status, body["error"]["code"]) == (403, 40300)
        status, issued, headers = await call(
            agent, "GET", "/api/token", params=params, bearer=SECRET
        )
        assert status == 200 and headers["Content-Type"].startswith("application/json")
        assert jwt.unverified_claims(issued["token"])["x-ably-clientId"] == "carol"
