"""The hub's realtime protocol frame by frame, with a raw WebSocket client (no SDK in between)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import msgpack
import pytest

from tests.support.hub import HubEndpoint
from tui_session.hub.frames import Action, Flag

WAIT_S = 5.0


class RawClient:
    """A bare protocol client: sends frames, waits for frames of a given action."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, fmt: str) -> None:
        self.ws, self.fmt = ws, fmt

    async def send(self, frame: dict[str, Any]) -> None:
        if self.fmt == "msgpack":
            await self.ws.send_bytes(msgpack.packb(frame, use_bin_type=True))
        else:
            await self.ws.send_str(json.dumps(frame))

    async def receive(self) -> dict[str, Any]:
        msg = await asyncio.wait_for(self.ws.receive(), WAIT_S)
        if msg.type == aiohttp.WSMsgType.BINARY:
            return msgpack.unpackb(msg.data, raw=False)
        if msg.type == aiohttp.WSMsgType.TEXT:
            return json.loads(msg.data)
        raise AssertionError(f"socket ended: {msg.type}")

    async def expect(self, action: int) -> dict[str, Any]:
        """The next frame of `action`, skipping heartbeats and presence chatter."""
        while True:
            frame = await self.receive()
            if frame["action"] == action:
                return frame
            assert frame["action"] in (Action.HEARTBEAT, Action.SYNC, Action.PRESENCE), frame


async def open_raw(
    session: aiohttp.ClientSession, hub: HubEndpoint, fmt: str = "json", **query: str
) -> tuple[RawClient, dict]:
    params = {"key": hub.key, "v": "6", **query}
    if fmt == "msgpack":
        params["format"] = "msgpack"
    ws = await session.ws_connect(f"ws://{hub.host}:{hub.port}/", params=params)
    client = RawClient(ws, fmt)
    return client, await client.expect(Action.CONNECTED)


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
async def test_connected_carries_connection_details(hub: HubEndpoint, http, fmt: str) -> None:
    _client, connected = await open_raw(http, hub, fmt, clientId="raw", agent="x/1", unknown="1")
    details = connected["connectionDetails"]
    assert connected["connectionId"] and details["connectionKey"].startswith(
        connected["connectionId"]
    )
    assert details["clientId"] == "raw"
    assert details["maxMessageSize"] == 65536
    assert details["connectionStateTtl"] == 120000
    assert details["maxIdleInterval"] > hub.running.hub.settings.heartbeat_interval_s * 1000


async def test_ping_is_echoed_with_its_id(hub: HubEndpoint, http) -> None:
    client, _ = await open_raw(http, hub)
    await client.send({"action": Action.HEARTBEAT, "id": "ping-1"})
    reply = await client.expect(Action.HEARTBEAT)
    assert reply.get("id") == "ping-1"


async def test_attached_grants_modes_and_echoes_only_known_params(hub: HubEndpoint, http) -> None:
    client, _ = await open_raw(http, hub)
    await client.send(
        {"action": Action.ATTACH, "channel": "session:p", "params": {"rewind": "1", "agent": "a"}}
    )
    attached = await client.expect(Action.ATTACHED)
    for mode in (Flag.PUBLISH, Flag.SUBSCRIBE, Flag.PRESENCE, Flag.PRESENCE_SUBSCRIBE):
        assert attached["flags"] & mode
    assert not attached["flags"] & Flag.HAS_PRESENCE, "no members, so no SYNC is promised"
    assert attached["params"] == {"rewind": "1"}
    assert attached["channelSerial"] is not None


async def test_publish_ack_res_and_echo_false(hub: HubEndpoint, http) -> None:
    quiet, _ = await open_raw(http, hub, echo="false")
    loud, _ = await open_raw(http, hub)
    for client in (quiet, loud):
        await client.send({"action": Action.ATTACH, "channel": "session:echo"})
        await client.expect(Action.ATTACHED)
    await quiet.send(
        {
            "action": Action.MESSAGE,
            "channel": "session:echo",
            "msgSerial": 0,
            "messages": [{"name": "a", "data": "1"}, {"name": "b", "data": "2"}],
        }
    )
    ack = await quiet.expect(Action.ACK)
    assert ack["msgSerial"] == 0 and ack["count"] == 1
    serials = ack["res"][0]["serials"]
    assert len(serials) == 2 and serials[0] < serials[1]
    delivered = await loud.expect(Action.MESSAGE)
    assert [m["serial"] for m in delivered["messages"]] == serials
    assert delivered["channelSerial"] == serials[-1]
    # The quiet publisher gets no echo: the next frame it sees is the ACK of its next publish.
    await quiet.send(
        {
            "action": Action.MESSAGE,
            "channel": "session:echo",
            "msgSerial": 1,
            "messages": [{"data": "3"}],
        }
    )
    frame = await quiet.receive()
    while frame["action"] == Action.HEARTBEAT:
        frame = await quiet.receive()
    assert frame["action"] == Action.ACK and frame["msgSerial"] == 1


async def test_resent_msg_serial_is_acked_again_but_stored_once(hub: HubEndpoint, http) -> None:
    client, _ = await open_raw(http, hub)
    frame = {
        "action": Action.MESSAGE,
        "channel": "session:dup",
        "msgSerial": 0,
        "messages": [{"data": "once"}],
    }
    await client.send(frame)
    first = await client.expect(Action.ACK)
    await client.send(frame)
    second = await client.expect(Action.ACK)
    assert first["res"] == second["res"]
    rest = hub.rest("reader")
    history = await rest.channels.get("session:dup").history()
    assert [m.data for m in history.items] == ["once"]
    await rest.close()


async def test_duplicate_message_id_gets_a_null_serial(hub: HubEndpoint, http) -> None:
    client, _ = await open_raw(http, hub)
    for serial in (0, 1):
        await client.send(
            {
                "action": Action.MESSAGE,
                "channel": "session:id",
                "msgSerial": serial,
                "messages": [{"id": "fixed:0", "data": "x"}],
            }
        )
    first = await client.expect(Action.ACK)
    second = await client.expect(Action.ACK)
    assert first["res"][0]["serials"][0] is not None
    assert second["res"][0]["serials"] == [None]


async def test_resume_with_unknown_key_fails_with_80018(hub: HubEndpoint, http) -> None:
    _client, connected = await open_raw(http, hub, resume="nope!nope")
    assert connected["error"]["code"] == 80018 and connected["error"]["statusCode"] == 400


async def test_disconnect_keeps_state_and_resume_replays(hub: HubEndpoint, http) -> None:
    client, connected = await open_raw(http, hub)
    await client.send({"action": Action.ATTACH, "channel": "session:r"})
    attached = await client.expect(Action.ATTACHED)
    await client.send({"action": Action.DISCONNECT})
    await client.ws.receive()  # the hub closes the socket
    other, _ = await open_raw(http, hub)
    await other.send(
        {
            "action": Action.MESSAGE,
            "channel": "session:r",
            "msgSerial": 0,
            "messages": [{"data": "missed"}],
        }
    )
    await other.expect(Action.ACK)

    key = connected["connectionDetails"]["connectionKey"]
    again, resumed = await open_raw(http, hub, resume=key)
    assert resumed["connectionId"] == connected["connectionId"] and "error" not in resumed
    await again.send(
        {
            "action": Action.ATTACH,
            "channel": "session:r",
            "channelSerial": attached["channelSerial"],
            "flags": Flag.ATTACH_RESUME,
        }
    )
    reattached = await again.expect(Action.ATTACHED)
    assert reattached["flags"] & Flag.RESUMED
    replayed = await again.expect(Action.MESSAGE)
    assert [m["data"] for m in replayed["messages"]] == ["missed"]


async def test_close_answers_closed_and_forgets_the_connection(hub: HubEndpoint, http) -> None:
    client, connected = await open_raw(http, hub)
    await client.send({"action": Action.CLOSE})
    await client.expect(Action.CLOSED)
    _again, after = await open_raw(
        http, hub, resume=connected["connectionDetails"]["connectionKey"]
    )
    assert after["error"]["code"] == 80018, "a closed connection cannot be resumed"


async def test_detach_answers_detached(hub: HubEndpoint, http) -> None:
    client, _ = await open_raw(http, hub)
    await client.send({"action": Action.ATTACH, "channel": "session:d"})
    await client.expect(Action.ATTACHED)
    await client.send({"action": Action.DETACH, "channel": "session:d"})
    detached = await client.expect(Action.DETACHED)
    assert detached["channel"] == "session:d"


async def test_frames_resent_out_of_order_are_applied_in_msg_serial_order(
    hub: HubEndpoint, http
) -> None:
    """A resume that resends frames out of order: stored in msgSerial order, each ACK in the
    order its frame arrived (the SDKs settle ACKs against their send queue from its head)."""
    client, _ = await open_raw(http, hub)
    for msg_serial, text in ((1, "second"), (0, "first")):
        await client.send(
            {
                "action": Action.MESSAGE,
                "channel": "session:order",
                "msgSerial": msg_serial,
                "messages": [{"data": text}],
            }
        )
    acks = [await client.expect(Action.ACK), await client.expect(Action.ACK)]
    assert [a["msgSerial"] for a in acks] == [1, 0], "ACKs in arrival order"
    second_serial, first_serial = (a["res"][0]["serials"][0] for a in acks)
    assert first_serial < second_serial, "applied in msgSerial order"
    rest = hub.rest("reader")
    history = await rest.channels.get("session:order").history(direction="forwards")
    assert [m.data for m in history.items] == ["first", "second"]
    await rest.close()
