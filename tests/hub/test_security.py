"""The hub refuses what it must, with the specific Ably error, and keeps serving everyone else.

clientId spoofing (NACK 40012), capabilities (40160), expired tokens (40142), bad keys (40101),
malformed and hostile WebSocket frames sent with a raw aiohttp client, and bad REST input. Every
refusal is checked with real ably-python clients where the SDK is the one that meets it, and on
the wire where only a raw client can produce the input.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgpack
import pytest
from ably import AblyException, AblyRealtime, AblyRest
from ably.types.message import Message

from tests.support.hub import Collector, HubEndpoint, wait_state, wait_until
from tui_session.transport import ably_port_fix

ALLOWED = "session:allowed"
OTHER = "session:other"
LIMITED = json.dumps({ALLOWED: ["*"]})


def key_name(hub: HubEndpoint) -> str:
    return hub.key.split(":", 1)[0]


def auth(hub: HubEndpoint) -> Any:
    return hub.running.hub.auth  # type: ignore[attr-defined]


async def connected(hub: HubEndpoint, client_id: str | None, **options: Any) -> AblyRealtime:
    client = hub.realtime(client_id, **options)
    await wait_state(client)
    return client


def expired_token(hub: HubEndpoint, client_id: str = "alice") -> str:
    """A genuine token (right key, right signature) that expired a minute ago."""
    issued = int(time.time() * 1000) - 120_000
    return auth(hub).issue_token(key_name(hub), client_id, ttl_ms=60_000, now_ms=issued)["token"]


def sdk_client(hub: HubEndpoint, **options: Any) -> AblyRealtime:
    """An ably-python realtime client with exactly these credentials (no key unless given)."""
    ably_port_fix.install()
    client = AblyRealtime(endpoint=hub.host, port=hub.port, tls=False, **options)
    hub.clients.append(client)
    return client


class StateLog:
    """Every connection state change of a client, to wait on and inspect."""

    def __init__(self, client: AblyRealtime) -> None:
        self.changes: list[Any] = []
        client.connection.on(self._record)

    def _record(self, change: Any) -> None:
        self.changes.append(change)

    def reached(self, state: str) -> Any | None:
        return next((c for c in self.changes if c.current.value == state), None)


# ---- raw WebSocket helpers ------------------------------------------------------------------


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class RawConnection:
    """A hand-driven protocol connection: what no SDK would ever send."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, fmt: str) -> None:
        self.ws, self.fmt = ws, fmt

    async def send(self, frame: dict[str, Any]) -> None:
        if self.fmt == "msgpack":
            await self.ws.send_bytes(msgpack.packb(frame, use_bin_type=True))
        else:
            await self.ws.send_str(json.dumps(frame))

    async def recv(self, timeout: float = 5) -> dict[str, Any]:
        """The next protocol frame other than a hub heartbeat."""
        while True:
            msg = await self.ws.receive(timeout)
            if msg.type == aiohttp.WSMsgType.TEXT:
                frame = json.loads(msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                frame = msgpack.unpackb(msg.data, raw=False)
            else:
                raise AssertionError(f"socket ended instead of a frame: {msg.type!r}")
            if frame.get("action") == 0 and "id" not in frame:
                continue
            return frame

    async def closed(self, timeout: float = 5) -> bool:
        """True once the hub has closed the socket (nothing but heartbeats before that)."""
        while True:
            msg = await self.ws.receive(timeout)
            if msg.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.CLOSING,
            ):
                return True
            if msg.type == aiohttp.WSMsgType.ERROR:
                return True


async def raw_connect(
    http: aiohttp.ClientSession, hub: HubEndpoint, fmt: str = "json", **query: str
) -> tuple[RawConnection, dict[str, Any]]:
    params = {"v": "5", **query}
    if "accessToken" not in params and "key" not in params:
        params["key"] = hub.key
    if fmt == "msgpack":
        params["format"] = "msgpack"
    ws = await http.ws_connect(f"ws://{hub.host}:{hub.port}/", params=params)
    conn = RawConnection(ws, fmt)
    return conn, await conn.recv()


# ---- clientId ------------------------------------------------------------------------------


async def test_client_id_spoofing_is_refused(hub: HubEndpoint) -> None:
    alice = await connected(hub, "alice")
    bob = await connected(hub, "bob")
    seen = Collector()
    await bob.channels.get(ALLOWED).subscribe(seen.add)
    channel = alice.channels.get(ALLOWED)
    await channel.attach()

    # The SDK refuses on its own side before anything is sent...
    with pytest.raises(AblyException) as refused:
        await channel.publish(Message(name="spoof", data="x", client_id="mallory"))
    assert refused.value.code == 40012
    # ...so put the spoofed message on the wire through the SDK's own send path: the hub's
    # NACK comes back through the SDK's ACK bookkeeping as an AblyException.
    manager = alice.connection.connection_manager
    with pytest.raises(AblyException) as nacked:
        await manager.send_protocol_message(
            {
                "action": 15,
                "channel": ALLOWED,
                "messages": [{"name": "spoof", "data": "as mallory", "clientId": "mallory"}],
            }
        )
    assert nacked.value.code == 40012
    assert nacked.value.status_code == 400

    # Presence: enter_client as someone else, refused by the SDK and (on the wire) by the hub.
    with pytest.raises(AblyException) as refused_presence:
        await channel.presence.enter_client("mallory", "hi")
    assert refused_presence.value.code == 40012
    with pytest.raises(AblyException) as nacked_presence:
        await manager.send_protocol_message(
            {"action": 14, "channel": ALLOWED, "presence": [{"action": 2, "clientId": "mallory"}]}
        )
    assert nacked_presence.value.code == 40012

    # The connection is fine and honest messages carry the verified clientId.
    await channel.publish("honest", "from alice")
    (message,) = await seen.wait_for(1)
    assert (message.name, message.client_id) == ("honest", "alice")
    assert alice.connection.state.value == "connected"
    assert await channel.presence.get() == []
    history = (await hub.rest().channels.get(ALLOWED).history()).items
    assert [(m.name, m.client_id) for m in history] == [("honest", "alice")]


# ---- capabilities --------------------------------------------------------------------------


async def test_capability_limits_publish_attach_and_history(hub: HubEndpoint) -> None:
    limited = await connected(hub, "alice", default_token_params={"capability": LIMITED})
    assert json.loads(str(limited.auth.token_details.capability)) == {ALLOWED: ["*"]}

    allowed = limited.channels.get(ALLOWED)
    await allowed.attach()
    result = await allowed.publish("ok", "inside the capability")
    assert result.serials and result.serials[0]

    with pytest.raises(AblyException) as denied_publish:
        await limited.channels.get(OTHER).publish("nope", "outside the capability")
    assert denied_publish.value.code == 40160

    other = limited.channels.get("session:elsewhere")
    with pytest.raises(AblyException) as denied_attach:
        await other.attach()
    assert denied_attach.value.code == 40160
    assert other.state.value == "failed"
    assert other.error_reason is not None and other.error_reason.code == 40160

    # A channel error only: the connection and the permitted channel carry on.
    assert limited.connection.state.value == "connected"
    assert (await allowed.publish("still", "ok")).serials

    rest = hub.rest("alice", default_token_params={"capability": LIMITED})
    assert [m.name for m in (await rest.channels.get(ALLOWED).history()).items] == [
        "still",
        "ok",
    ]
    with pytest.raises(AblyException) as denied_history:
        await rest.channels.get(OTHER).history()
    assert denied_history.value.code == 40160
    assert denied_history.value.status_code == 401
    assert (await hub.rest().channels.get(OTHER).history()).items == [], "nothing was stored"


# ---- credentials ---------------------------------------------------------------------------


async def test_expired_token_is_refused(hub: HubEndpoint, http: aiohttp.ClientSession) -> None:
    token = expired_token(hub)

    # On the wire: ERROR 40142 / 401, then the hub closes the socket.
    conn, first = await raw_connect(http, hub, accessToken=token)
    assert first["action"] == 9
    assert (first["error"]["code"], first["error"]["statusCode"]) == (40142, 401)
    assert await conn.closed()

    # An SDK whose token source keeps handing out that token: it is told 40142, asks for a new
    # token (as a token error must make it), gets the same one and stays disconnected.
    asked: list[Any] = []

    async def same_expired_token(params: Any) -> str:
        asked.append(params)
        return token

    client = sdk_client(hub, auth_callback=same_expired_token, disconnected_retry_timeout=60_000)
    log = StateLog(client)
    await wait_until(lambda: log.reached("disconnected") is not None, what="disconnected")
    change = log.reached("disconnected")
    assert change.reason is not None and change.reason.code == 40142
    assert change.reason.status_code == 401
    assert len(asked) >= 2, "a token error made the SDK renew its token"
    assert log.reached("connected") is None

    # An SDK holding only that token cannot renew it: it fails with 40171.
    only_token = sdk_client(hub, token=token)
    only_log = StateLog(only_token)
    await wait_until(lambda: only_log.reached("failed") is not None, what="failed")
    assert only_log.reached("failed").reason.code == 40171
    assert only_log.reached("connected") is None


async def test_bad_key_is_refused(hub: HubEndpoint, http: aiohttp.ClientSession) -> None:
    wrong_secret = f"{key_name(hub)}:not-the-secret"

    # Basic auth on the WebSocket: the SDK reports the hub's 40101 and fails.
    client = sdk_client(hub, key=wrong_secret)
    log = StateLog(client)
    await wait_until(lambda: log.reached("failed") is not None, what="failed")
    reason = log.reached("failed").reason
    assert (reason.code, reason.status_code) == (40101, 401)
    assert log.reached("connected") is None

    # Token auth: the signed TokenRequest's MAC does not verify.
    rest = AblyRest(key=wrong_secret, endpoint=hub.host, port=hub.port, tls=False)
    with pytest.raises(AblyException) as refused:
        await rest.auth.request_token()
    assert (refused.value.code, refused.value.status_code) == (40101, 401)
    await rest.close()

    # An unknown key name and a key with no secret, on the wire.
    for key in (f"{key_name(hub)}x:whatever", key_name(hub)):
        conn, first = await raw_connect(http, hub, key=key)
        assert first["action"] == 9
        assert first["error"]["code"] == 40101
        assert await conn.closed()


# ---- hostile frames ------------------------------------------------------------------------


async def test_malformed_frames_get_specific_errors_and_hub_stays_up(
    hub: HubEndpoint, http: aiohttp.ClientSession
) -> None:
    # A bystander on its own connection, before and after the barrage.
    sender = await connected(hub, "sender")
    receiver = await connected(hub, "receiver")
    got = Collector()
    await receiver.channels.get(ALLOWED).subscribe(got.add)
    await sender.channels.get(ALLOWED).publish("before", "1")
    await got.wait_for(1)

    # Invalid JSON: ERROR 40000 (a protocol violation fails that connection only).
    conn, connected_frame = await raw_connect(http, hub)
    assert connected_frame["action"] == 4
    await conn.ws.send_str('{"action": 15, "channel": ')
    error = await conn.recv()
    assert error["action"] == 9 and "channel" not in error
    assert error["error"]["code"] == 40000 and "json" in error["error"]["message"].lower()
    assert await conn.closed()

    # Invalid msgpack on a msgpack connection (0xc1 is never valid msgpack).
    conn, connected_frame = await raw_connect(http, hub, fmt="msgpack")
    assert connected_frame["action"] == 4
    await conn.ws.send_bytes(b"\xc1\xc1\xc1")
    error = await conn.recv()
    assert error["action"] == 9
    assert error["error"]["code"] == 40000 and "msgpack" in error["error"]["message"].lower()
    assert await conn.closed()

    # A frame that is valid JSON but not an object; and an object without an integer action.
    for bad in ("[1, 2, 3]", '"hello"', '{"action": "15"}'):
        conn, _ = await raw_connect(http, hub)
        await conn.ws.send_str(bad)
        error = await conn.recv()
        assert error["action"] == 9 and error["error"]["code"] == 40000, bad
        assert await conn.closed()

    # An AUTH whose `auth` is not an object: ERROR 40000 (the handler does not crash).
    conn, _ = await raw_connect(http, hub)
    await conn.send({"action": 17, "auth": "let me in"})
    error = await conn.recv()
    assert (error["action"], error["error"]["code"]) == (9, 40000) and "channel" not in error
    await conn.ws.close()

    # One connection for the rest: none of these may end it.
    conn, connected_frame = await raw_connect(http, hub)
    assert connected_frame["action"] == 4

    # An unknown action is ignored: no reply, and the connection stays up (a ping proves it).
    await conn.send({"action": 99, "channel": ALLOWED, "whatever": True})
    await conn.send({"action": 0, "id": "still-there"})
    assert await conn.recv() == {"action": 0, "id": "still-there"}

    # A message above maxMessageSize: NACK 40009 for that msgSerial.
    max_size = connected_frame["connectionDetails"]["maxMessageSize"]
    big = {"name": "big", "data": "x" * (max_size + 1)}
    await conn.send({"action": 15, "channel": ALLOWED, "msgSerial": 0, "messages": [big]})
    nack = await conn.recv()
    assert (nack["action"], nack["msgSerial"]) == (2, 0)
    assert (nack["error"]["code"], nack["error"]["statusCode"]) == (40009, 400)

    # An invalid channel name: a channel ERROR 40010 on attach, a NACK 40010 on publish.
    await conn.send({"action": 10, "channel": "bad channel[name]"})
    error = await conn.recv()
    assert (error["action"], error["channel"]) == (9, "bad channel[name]")
    assert error["error"]["code"] == 40010
    await conn.send(
        {"action": 15, "channel": "", "msgSerial": 1, "messages": [{"name": "n", "data": "d"}]}
    )
    nack = await conn.recv()
    assert (nack["action"], nack["msgSerial"], nack["error"]["code"]) == (2, 1, 40010)

    # Mode flags that are not a number: a channel ERROR, not a crashed handler.
    await conn.send({"action": 10, "channel": ALLOWED, "flags": "all of them"})
    error = await conn.recv()
    assert (error["action"], error["channel"], error["error"]["code"]) == (9, ALLOWED, 40000)

    # A presence member no SDK could decode (a numeric encoding): NACK 40003, never stored,
    # so it cannot stall the SYNC of every client that attaches later.
    await conn.send(
        {
            "action": 14,
            "channel": ALLOWED,
            "msgSerial": 2,
            "presence": [{"action": 2, "clientId": "raw", "data": "x", "encoding": 5}],
        }
    )
    nack = await conn.recv()
    assert (nack["action"], nack["msgSerial"], nack["error"]["code"]) == (2, 2, 40003)
    late = await connected(hub, "late")
    assert await asyncio.wait_for(late.channels.get(ALLOWED).presence.get(), 5) == []

    # Still up: a good publish on the same raw connection is ACKed with a serial.
    await conn.send(
        {"action": 15, "channel": ALLOWED, "msgSerial": 3, "messages": [{"name": "raw"}]}
    )
    ack = await conn.recv()
    assert (ack["action"], ack["msgSerial"]) == (1, 3) and ack["res"][0]["serials"][0]
    await conn.ws.close()

    # The bystanders never noticed, and nothing oversized or misaddressed was stored.
    assert sender.connection.state.value == "connected"
    assert receiver.connection.state.value == "connected"
    await sender.channels.get(ALLOWED).publish("after", "2")
    await got.wait_for(3)
    assert [m.name for m in got.items] == ["before", "raw", "after"]
    history = (await hub.rest().channels.get(ALLOWED).history(direction="forwards")).items
    assert [m.name for m in history] == ["before", "raw", "after"]


# ---- REST ----------------------------------------------------------------------------------


async def test_rest_bad_inputs_get_ably_errors(
    hub: HubEndpoint, http: aiohttp.ClientSession
) -> None:
    token = auth(hub).issue_token(key_name(hub), "alice")["token"]
    bearer = {"Authorization": f"Bearer {base64.b64encode(token.encode()).decode()}"}

    async def check(response: aiohttp.ClientResponse, status: int, codes: range | tuple) -> None:
        assert response.status == status
        assert response.headers["Content-Type"] == "application/json"
        body = await response.json()
        error = body["error"]
        assert error["code"] in codes and error["statusCode"] == status
        assert error["message"]
        assert response.headers["X-Ably-Errorcode"] == str(error["code"])
        assert response.headers["X-Ably-Errormessage"]

    url = f"{hub.base_url}/channels/{ALLOWED}/messages"
    async with http.post(
        url, data=b'{"name": "x", "data": ', headers={**bearer, "Content-Type": "application/json"}
    ) as response:
        await check(response, 400, (40000,))

    async with http.get(f"{hub.base_url}/no/such/endpoint", headers=bearer) as response:
        await check(response, 404, (40400,))

    for bad_token in ("garbage", base64.b64encode(b"not.a-token").decode(), token + "x"):
        async with http.get(url, headers={"Authorization": f"Bearer {bad_token}"}) as response:
            await check(response, 401, range(40140, 40150))

    expired = base64.b64encode(expired_token(hub).encode()).decode()
    async with http.get(url, headers={"Authorization": f"Bearer {expired}"}) as response:
        await check(response, 401, (40142,))

    # The hub is still serving: a good request with the same token works.
    async with http.post(url, json={"name": "fine", "data": "ok"}, headers=bearer) as response:
        assert response.status == 201
        assert (await response.json())["serials"][0]
    async with http.get(url, headers=bearer) as response:
        assert response.status == 200
        assert [m["name"] for m in await response.json()] == ["fine"]
