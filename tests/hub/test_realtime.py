"""The hub with the real ably-python SDK: publish, appends, mutations, history, resume."""

from __future__ import annotations

import pytest
from ably.types.message import Message, MessageAction

from tests.proxy import CuttableProxy
from tests.support.hub import Collector, HubEndpoint, wait_state, wait_until
from tui_session.transport.connect import hub_realtime


async def connected(hub: HubEndpoint, client_id: str, **options):
    client = hub.realtime(client_id, **options)
    await wait_state(client)
    return client


@pytest.mark.parametrize("binary", [True, False], ids=["msgpack", "json"])
async def test_publish_and_receive_with_serials(hub: HubEndpoint, binary: bool) -> None:
    alice = await connected(hub, "alice", use_binary_protocol=binary)
    bob = await connected(hub, "bob", use_binary_protocol=binary)
    received = Collector()
    await bob.channels.get("session:one").subscribe(received.add)

    result = await alice.channels.get("session:one").publish("greeting", "hello")
    second = await alice.channels.get("session:one").publish("bytes", b"\x00\x01binary")

    [serial], [serial2] = result.serials, second.serials
    assert serial and serial2 and serial < serial2, "serials are returned and sort in order"
    first, binary_msg = await received.wait_for(2)
    assert (first.name, first.data, first.serial, first.client_id) == (
        "greeting",
        "hello",
        serial,
        "alice",
    )
    assert binary_msg.data == b"\x00\x01binary", "binary data survives the format conversion"
    assert first.connection_id and first.timestamp


async def test_publisher_receives_its_own_messages(hub: HubEndpoint) -> None:
    alice = await connected(hub, "alice")
    own = Collector()
    channel = alice.channels.get("session:echo")
    await channel.subscribe(own.add)
    await channel.publish("mine", "echoed")
    [message] = await own.wait_for(1)
    assert message.data == "echoed"


async def test_append_stream_of_500_fragments(hub: HubEndpoint) -> None:
    agent = await connected(hub, "agent")
    early = await connected(hub, "early")
    late = await connected(hub, "late")
    name = "session:stream"
    early_seen = Collector()
    await early.channels.get(name).subscribe(early_seen.add)

    channel = agent.channels.get(name)
    created = await channel.publish("response", "")
    serial = created.serials[0]
    fragments = [f"tok{i} " for i in range(500)]
    late_seen = Collector()
    for index, fragment in enumerate(fragments):
        await channel.append_message(Message(serial=serial, data=fragment))
        if index == 249:  # a subscriber attaching midway
            await late.channels.get(name).subscribe(late_seen.add)

    # The early subscriber: the create, then every fragment exactly once, in order.
    items = await early_seen.wait_for(501)
    assert items[0].action == MessageAction.MESSAGE_CREATE
    appends = items[1:]
    assert all(m.action == MessageAction.MESSAGE_APPEND for m in appends)
    assert [m.data for m in appends] == fragments
    assert all(m.serial == serial for m in appends)
    assert len({m.version.serial for m in appends}) == 500, "each append has its own version"

    # The late subscriber: the accumulated text once, then the rest as fragments.
    await wait_until(
        lambda: (
            sum(len(m.data) for m in late_seen.items[1:]) + len(late_seen.items[0].data)
            >= len("".join(fragments))
            if late_seen.items
            else False
        ),
        what="late subscriber to catch up",
    )
    first, *rest = late_seen.items
    assert first.action == MessageAction.MESSAGE_UPDATE
    assert first.data + "".join(m.data for m in rest) == "".join(fragments)
    assert all(m.action == MessageAction.MESSAGE_APPEND for m in rest)

    # History holds one record, with the full text.
    history = await agent.channels.get(name).history()
    assert len(history.items) == 1
    assert history.items[0].serial == serial
    assert history.items[0].data == "".join(fragments)
    fetched = await channel.get_message(serial)
    assert fetched.data == "".join(fragments)


async def test_append_replaces_extras_wholesale(hub: HubEndpoint) -> None:
    agent = await connected(hub, "agent")
    channel = agent.channels.get("session:extras")
    created = await channel.publish(
        Message(name="r", data="a", extras={"headers": {"one": "1", "two": "2"}})
    )
    serial = created.serials[0]
    await channel.append_message(Message(serial=serial, data="b", extras={"headers": {"one": "x"}}))
    fetched = await channel.get_message(serial)
    assert fetched.data == "ab"
    assert fetched.extras == {"headers": {"one": "x"}}, "extras are replaced, not merged"


async def test_update_delete_and_versions(hub: HubEndpoint) -> None:
    alice = await connected(hub, "alice")
    watcher = await connected(hub, "watcher")
    seen = Collector()
    await watcher.channels.get("session:edit").subscribe(seen.add)
    channel = alice.channels.get("session:edit")
    created = await channel.publish(Message(name="note", data="first draft"))
    serial = created.serials[0]

    updated = await channel.update_message(Message(serial=serial, data="second draft"))
    deleted = await channel.delete_message(Message(serial=serial))
    assert serial < updated.version_serial < deleted.version_serial

    _create, update, delete = await seen.wait_for(3)
    assert update.action == MessageAction.MESSAGE_UPDATE and update.serial == serial
    assert update.data == "second draft" and update.name == "note", "absent fields are kept"
    assert update.version.serial == updated.version_serial
    assert delete.action == MessageAction.MESSAGE_DELETE

    latest = await channel.get_message(serial)
    assert latest.action == MessageAction.MESSAGE_DELETE
    versions = await channel.get_message_versions(serial)
    assert [v.action for v in versions.items] == [
        MessageAction.MESSAGE_DELETE,
        MessageAction.MESSAGE_UPDATE,
        MessageAction.MESSAGE_CREATE,
    ]
    history = await channel.history()
    assert [m.serial for m in history.items] == [serial], "one record, at its latest version"


async def test_history_pagination_direction_and_from_serial(hub: HubEndpoint) -> None:
    alice = await connected(hub, "alice")
    channel = alice.channels.get("session:history")
    serials = []
    for i in range(25):
        serials.append((await channel.publish("n", str(i))).serials[0])

    page = await channel.history(limit=10)
    seen = [m.data for m in page.items]
    while page.has_next():
        page = await page.next()
        seen += [m.data for m in page.items]
    assert seen == [str(i) for i in reversed(range(25))], "backwards, every message once"

    forwards = await channel.history(direction="forwards", limit=5)
    assert [m.data for m in forwards.items] == ["0", "1", "2", "3", "4"]
    second = await forwards.next()
    assert [m.data for m in second.items] == ["5", "6", "7", "8", "9"]

    rest = hub.rest("alice")
    response = await rest.request(
        "GET",
        "/channels/session:history/messages",
        version="5",
        params={"from_serial": serials[9], "limit": "100"},
    )
    assert [m["data"] for m in response.items] == [str(i) for i in reversed(range(10))]
    await rest.close()


async def test_rewind_replays_latest_versions(hub: HubEndpoint) -> None:
    alice = await connected(hub, "alice")
    channel = alice.channels.get("session:rewind")
    for i in range(5):
        await channel.publish("n", str(i))
    created = await channel.publish("streamed", "a")
    await channel.append_message(Message(serial=created.serials[0], data="bc"))

    late = await connected(hub, "late")
    got = Collector()
    rewound = late.channels.get("session:rewind", params={"rewind": "3"})
    await rewound.subscribe(got.add)
    items = await got.wait_for(3)
    assert [m.data for m in items] == ["3", "4", "abc"]
    assert items[2].action == MessageAction.MESSAGE_UPDATE


async def test_dropped_socket_resumes_and_gets_missed_messages_once(hub: HubEndpoint) -> None:
    proxy = CuttableProxy(hub.host, hub.port)
    await proxy.start()
    try:
        subscriber = hub_realtime(hub.host, proxy.port, hub.key, "phone")
        hub.clients.append(subscriber)
        await wait_state(subscriber)
        publisher = await connected(hub, "agent")
        received = Collector()
        await subscriber.channels.get("session:resume").subscribe(received.add)
        channel = publisher.channels.get("session:resume")

        stream = await channel.publish("response", "")
        serial = stream.serials[0]
        texts = [f"m{i}" for i in range(60)]
        for index, text in enumerate(texts):
            if index == 20:
                await received.wait_for(10)
                assert proxy.cut() >= 1, "the subscriber's socket was cut mid-stream"
            await channel.publish("n", text)
            await channel.append_message(Message(serial=serial, data=text))

        await wait_state(subscriber, "connected")
        await wait_until(
            lambda: (
                sum(1 for m in received.items if m.name == "n") >= len(texts)
                and sum(1 for m in received.items if m.name == "response") > len(texts)
            ),
            what="every missed message and append",
        )
        names = [m.data for m in received.items if m.name == "n"]
        assert names == texts, "each message once, in order, none missing"
        streamed = "".join(m.data for m in received.items if m.name == "response")
        assert streamed == "".join(texts), "the stream's text arrives once, without a gap"
        assert proxy.accepted >= 2, "the client reconnected by itself"
        phone = [
            c for c in hub.running.hub.connections.values() if c.principal.client_id == "phone"
        ]
        assert [c.id for c in phone] == [subscriber.connection.connection_manager.connection_id], (
            "the same connection was resumed, not replaced"
        )
    finally:
        await proxy.stop()
