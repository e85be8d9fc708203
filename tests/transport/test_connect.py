"""connect.py and ably_port_fix.py against a real (tiny) server on a non-default port.

The recording server speaks just enough of the Ably protocol for a client to reach
CONNECTED: the WebSocket replies CONNECTED, requestToken returns TokenDetails (hub clients no
longer ask for one: they sign their own JWTs), and history returns an empty page. It answers
in whatever format the client asks for (JSON or msgpack).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import inspect
import json
import time
import tomllib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgpack
import pytest
from ably import AblyRealtime
from ably.transport.websockettransport import WebSocketTransport
from ably.types.connectionstate import ConnectionState
from ably.util.exceptions import AblyAuthException
from aiohttp import WSMsgType, web

from tui_session.config import ClientSettings, HubSettings, Settings
from tui_session.credentials import jwt
from tui_session.transport import ably_port_fix
from tui_session.transport.connect import (
    cloud_options,
    cloud_realtime,
    fixed_token_source,
    hub_options,
    hub_realtime,
    hub_rest,
    realtime_from_settings,
)

PINNED_ABLY = "3.1.4"
KEY_NAME = "app.key1"
KEY = f"{KEY_NAME}:secret"
TIMEOUT_S = 10.0
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RecordingHub:
    port: int = 0
    ws_requests: list[str] = field(default_factory=list)  # path + query of each upgrade
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    sockets: set[web.WebSocketResponse] = field(default_factory=set)


def _reply(request: web.Request, payload: Any, status: int = 200) -> web.Response:
    # Exact content types, no charset suffix: the SDK switches on them (docs/hub.md, REST).
    if "application/x-msgpack" in request.headers.get("Accept", ""):
        body, content_type = msgpack.packb(payload), "application/x-msgpack"
    else:
        body, content_type = json.dumps(payload).encode(), "application/json"
    return web.Response(status=status, body=body, headers={"Content-Type": content_type})


def _make_app(hub: RecordingHub) -> web.Application:
    async def websocket(request: web.Request) -> web.WebSocketResponse:
        hub.ws_requests.append(request.path_qs)
        binary = request.query.get("format") == "msgpack"  # no format parameter means JSON
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        hub.sockets.add(ws)

        async def send(frame: dict[str, Any]) -> None:
            if binary:
                await ws.send_bytes(msgpack.packb(frame))
            else:
                await ws.send_str(json.dumps(frame))

        connected = {
            "action": 4,
            "connectionId": "c1",
            "connectionDetails": {
                "connectionKey": "c1!k",
                "clientId": request.query.get("clientId", "*"),
                "connectionStateTtl": 120000,
                "maxIdleInterval": 15000,
                "maxMessageSize": 65536,
            },
        }
        await send(connected)
        async for msg in ws:
            if msg.type is WSMsgType.BINARY:
                frame = msgpack.unpackb(msg.data)
            elif msg.type is WSMsgType.TEXT:
                frame = json.loads(msg.data)
            else:
                break
            if frame.get("action") == 17:
                # AUTH -> a fresh CONNECTED. ably-python sends AUTH before every REST call a
                # token-auth realtime client makes (history included) and waits for this.
                await send(connected)
            elif frame.get("action") == 7:  # CLOSE -> CLOSED
                await send({"action": 8})
                break
        hub.sockets.discard(ws)
        return ws

    async def request_token(request: web.Request) -> web.Response:
        raw = await request.read()
        if request.content_type == "application/x-msgpack":
            token_request = msgpack.unpackb(raw)
        else:
            token_request = json.loads(raw)
        hub.token_requests.append(token_request)
        now = int(time.time() * 1000)
        return _reply(
            request,
            {
                "token": "t1",
                "keyName": request.match_info["key_name"],
                "issued": now,
                "expires": now + 3_600_000,
                "capability": '{"*":["*"]}',
                "clientId": token_request.get("clientId"),
            },
        )

    async def history(request: web.Request) -> web.Response:
        return _reply(request, [])

    app = web.Application()
    app.router.add_get("/", websocket)
    app.router.add_post("/keys/{key_name}/requestToken", request_token)
    app.router.add_get("/channels/{channel}/messages", history)
    return app


@pytest.fixture
async def recording_hub() -> AsyncIterator[RecordingHub]:
    hub = RecordingHub()
    runner = web.AppRunner(_make_app(hub))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    hub.port = runner.addresses[0][1]
    assert hub.port not in (80, 443)
    try:
        yield hub
    finally:
        for ws in list(hub.sockets):
            await ws.close()
        await runner.cleanup()


async def _wait_connected(client: AblyRealtime) -> None:
    connection = client.connection
    if connection.state == ConnectionState.CONNECTED:
        return
    try:
        await asyncio.wait_for(connection.once_async(ConnectionState.CONNECTED), TIMEOUT_S)
    except TimeoutError:
        pytest.fail(
            f"not CONNECTED after {TIMEOUT_S}s: state={connection.state}, "
            f"error={connection.error_reason}"
        )


async def _close(client: Any) -> None:
    await asyncio.wait_for(client.close(), TIMEOUT_S)


@pytest.mark.parametrize("binary", [True, False], ids=["msgpack", "json"])
async def test_hub_client_connects_on_non_default_port(
    recording_hub: RecordingHub, binary: bool
) -> None:
    client = hub_realtime("127.0.0.1", recording_hub.port, KEY, "alice", use_binary_protocol=binary)
    try:
        await _wait_connected(client)

        assert len(recording_hub.ws_requests) == 1
        query = parse_qs(urlsplit(recording_hub.ws_requests[0]).query)
        assert query["clientId"] == ["alice"]
        assert query.get("format") == (["msgpack"] if binary else None)
        # The token is a JWT the client signed itself, for alice: the key never went on the
        # wire, and no token request was made.
        [token] = query["accessToken"]
        claims = jwt.verify(token, {KEY_NAME: "secret"}.get)
        assert (claims.key_name, claims.client_id) == (KEY_NAME, "alice")
        assert recording_hub.token_requests == []
        # The fix rewrote only the URL: the host the SDK keeps for its bookkeeping is intact...
        assert client.connection.connection_manager.transport.host == "127.0.0.1"
        # ...so a REST call from the realtime client still works (it broke when the host
        # itself carried the port: "list.remove(x): x not in list").
        page = await asyncio.wait_for(client.channels.get("s").history(), TIMEOUT_S)
        assert page.items == []
    finally:
        await _close(client)


async def test_hub_rest_uses_token_auth_over_plain_http(recording_hub: RecordingHub) -> None:
    rest = hub_rest("127.0.0.1", recording_hub.port, KEY, "alice")
    try:
        token = await asyncio.wait_for(rest.auth.authorize(), TIMEOUT_S)
        assert jwt.verify(token.token, {KEY_NAME: "secret"}.get).client_id == "alice"
        assert token.client_id == "alice"
        page = await asyncio.wait_for(rest.channels.get("s").history(), TIMEOUT_S)
        assert page.items == []
    finally:
        await _close(rest)


async def test_unpatched_sdk_still_omits_the_port(recording_hub: RecordingHub) -> None:
    """The URL the SDK itself builds, before our wrapper sees it. Shadowing ws_connect on
    this one instance captures it without touching the class (where the fix lives)."""
    client = hub_realtime("127.0.0.1", recording_hub.port, KEY, "alice", auto_connect=False)
    seen: list[str] = []

    async def record(ws_url: str, headers: Any) -> None:
        seen.append(ws_url)

    try:
        manager = client.connection.connection_manager
        transport = WebSocketTransport(manager, client.options.get_host(), {"v": "5"})
        transport.ws_connect = record  # type: ignore[method-assign]
        transport.connect()
        await asyncio.wait_for(transport.ws_connect_task, TIMEOUT_S)
    finally:
        await _close(client)

    assert len(seen) == 1
    parts = urlsplit(seen[0])
    if parts.port is not None:
        pytest.fail(
            f"ably-python {importlib.metadata.version('ably')} now puts the port in its "
            f"WebSocket URL ({seen[0]}): the fix in tui_session/transport/ably_port_fix.py is "
            "no longer needed and must be removed (with this test)."
        )
    assert parts.hostname == "127.0.0.1"
    # And our rewrite of exactly that URL points at the hub's port.
    assert urlsplit(ably_port_fix.with_port(seen[0], recording_hub.port)).port == (
        recording_hub.port
    )


def test_the_wrapped_sdk_method_is_still_there() -> None:
    # The fix wraps WebSocketTransport.ws_connect(self, ws_url, headers); a renamed or
    # re-shaped method means the fix silently stopped applying.
    original = ably_port_fix.original_ws_connect()
    assert inspect.iscoroutinefunction(original)
    assert list(inspect.signature(original).parameters) == ["self", "ws_url", "headers"]


def test_install_is_idempotent() -> None:
    ably_port_fix.install()
    first = WebSocketTransport.ws_connect
    ably_port_fix.install()
    assert WebSocketTransport.ws_connect is first
    assert ably_port_fix.is_installed()
    # Exactly one layer of wrapping.
    assert not getattr(ably_port_fix.original_ws_connect(), "_tui_session_port_fix", False)


@pytest.mark.parametrize(
    ("url", "port", "expected"),
    [
        ("ws://127.0.0.1?v=5&format=msgpack", 8470, "ws://127.0.0.1:8470/?v=5&format=msgpack"),
        ("wss://localhost?v=5", 8443, "wss://localhost:8443/?v=5"),
        ("ws://127.0.0.1?v=5", 80, "ws://127.0.0.1?v=5"),  # scheme default: untouched
        ("wss://main.realtime.ably.net?v=5", 443, "wss://main.realtime.ably.net?v=5"),
        ("ws://localhost:9000?v=5", 8470, "ws://localhost:9000?v=5"),  # already explicit
        ("ws://::1?v=5", 8470, "ws://[::1]:8470/?v=5"),
    ],
)
def test_with_port(url: str, port: int, expected: str) -> None:
    assert ably_port_fix.with_port(url, port) == expected


def test_installed_ably_is_the_pinned_version() -> None:
    installed = importlib.metadata.version("ably")
    assert installed == PINNED_ABLY, (
        f"ably {installed} is installed, {PINNED_ABLY} expected: re-check "
        "tui_session/transport/ably_port_fix.py and the quirks in "
        "docs/hub.md (the Ably protocol, Connecting), then update PINNED_ABLY"
    )
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert f"ably=={PINNED_ABLY}" in pyproject["project"]["dependencies"]


def test_hub_options() -> None:
    opts = hub_options("127.0.0.1", 8470, KEY, "alice")
    source = opts.pop("auth_callback")
    assert opts == {"endpoint": "127.0.0.1", "tls": False, "port": 8470, "client_id": "alice"}
    assert "key" not in opts  # the key signs tokens here; the SDK never sees it
    details = asyncio.run(source({}))
    claims = jwt.verify(details.token, {KEY_NAME: "secret"}.get)
    assert claims.client_id == details.client_id == "alice"
    assert details.expires == claims.expires_ms
    tls = hub_options("localhost", 8443, KEY, tls=True, auto_connect=False)
    assert tls["tls_port"] == 8443 and "port" not in tls and "client_id" not in tls
    assert tls["auto_connect"] is False
    with pytest.raises(ValueError, match="routing policy"):
        hub_options("myhub", 8470, KEY)


def test_a_scoped_key_token_grants_only_its_channel() -> None:
    source = hub_options("127.0.0.1", 8470, KEY, "bob", capability={"session:a": ["publish"]})
    claims = jwt.verify(asyncio.run(source["auth_callback"]({})).token, {KEY_NAME: "secret"}.get)
    assert claims.capability is not None
    assert claims.capability.allows("session:a", "publish")
    assert not claims.capability.allows("session:b", "publish")


def test_a_fixed_token_is_handed_out_until_it_expires() -> None:
    source = fixed_token_source(
        "a.b.c", expires_ms=jwt.now_ms() + 60_000, client_id="ada", expired="ask again"
    )
    assert asyncio.run(source({})).token == "a.b.c"
    expired = fixed_token_source("a.b.c", expires_ms=1, client_id="ada", expired="ask again")
    with pytest.raises(AblyAuthException, match="ask again"):
        asyncio.run(expired({}))


async def test_cloud_options_and_client() -> None:
    with pytest.raises(ValueError, match="key, an auth_url or an auth_callback"):
        cloud_options()
    assert cloud_options(auth_url="https://example.com/token", client_id="bob") == {
        "auth_url": "https://example.com/token",
        "client_id": "bob",
    }
    client = cloud_realtime(key=KEY, auto_connect=False)
    try:
        assert client.options.tls is True
        assert client.options.get_host() == "main.realtime.ably.net"
    finally:
        await _close(client)


async def test_realtime_from_settings_local(recording_hub: RecordingHub) -> None:
    settings = Settings(
        hub=HubSettings(host="0.0.0.0", port=recording_hub.port, data_dir=Path("unused")),
        client=ClientSettings(user="alice", device="laptop"),
    )
    client = realtime_from_settings(settings, "alice", hub_key=KEY)
    try:
        await _wait_connected(client)  # 0.0.0.0 was mapped to loopback
    finally:
        await _close(client)
