"""The hub's pure rules: framing, message folding, presence pages, the store's folded reads."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import msgpack
import pytest

from tui_session.hub import messages as m
from tui_session.hub.channels import parse_rewind
from tui_session.hub.frames import AblyError, decode_frame, encode_frame
from tui_session.hub.presence import ENTER, LEAVE, PRESENT, UPDATE, PresenceSet
from tui_session.hub.store import Store, serial_of


def test_json_binary_data_becomes_bytes_and_goes_back_as_base64() -> None:
    raw = json.dumps({"action": 15, "messages": [{"data": "AAEC", "encoding": "utf-8/base64"}]})
    frame = decode_frame(raw, "json")
    assert frame["messages"][0] == {"data": b"\x00\x01\x02", "encoding": "utf-8"}
    out = json.loads(encode_frame(frame, "json"))
    assert out["messages"][0] == {"data": "AAEC", "encoding": "utf-8/base64"}


def test_msgpack_carries_bytes_natively_and_other_encodings_pass_through() -> None:
    frame = {"action": 15, "messages": [{"data": b"\xff", "encoding": "cipher+aes-128-cbc"}]}
    decoded = decode_frame(encode_frame(frame, "msgpack"), "msgpack")
    assert decoded == frame


@pytest.mark.parametrize(
    ("raw", "fmt"),
    [
        ("{not json", "json"),
        ("[1, 2]", "json"),
        ('{"action": "15"}', "json"),
        ('{"action": 15, "messages": "x"}', "json"),
        ('{"action": 15, "messages": [{"data": "%%%", "encoding": "base64"}]}', "json"),
        (b"\xc1\xc1", "msgpack"),
        (msgpack.packb([1, 2]), "msgpack"),
    ],
)
def test_malformed_frames_raise_a_specific_error(raw: str | bytes, fmt: str) -> None:
    with pytest.raises(AblyError) as caught:
        decode_frame(raw, fmt)  # type: ignore[arg-type]
    assert caught.value.code in (40000, 40013)


def test_normalize_keeps_known_fields_and_numeric_actions() -> None:
    msg = m.normalize({"name": "n", "action": "message.append", "serial": "s", "junk": 1})
    assert msg == {"name": "n", "action": m.APPEND, "serial": "s"}
    with pytest.raises(AblyError):
        m.normalize({"action": m.UPDATE})  # a mutation must name its serial
    with pytest.raises(AblyError):
        m.normalize({"action": 9})


def test_update_replaces_present_fields_and_keeps_absent_ones() -> None:
    current = {"serial": "s", "name": "note", "data": "a", "extras": {"x": 1}, "action": 0}
    folded = m.fold_update(current, {"action": m.UPDATE, "data": "b"}, {"serial": "v"})
    assert folded == {
        "serial": "s",
        "name": "note",
        "data": "b",
        "extras": {"x": 1},
        "action": m.UPDATE,
        "version": {"serial": "v"},
    }


def test_append_concatenates_text_and_bytes_and_replaces_extras() -> None:
    current = {"serial": "s", "data": "ab", "extras": {"h": {"a": "1"}}, "action": 0}
    folded = m.fold_append(current, {"data": "cd", "extras": {"h": {"b": "2"}}}, {"serial": "v"})
    assert folded["data"] == "abcd" and folded["extras"] == {"h": {"b": "2"}}
    assert folded["action"] == m.UPDATE
    binary = m.fold_append({"serial": "s", "data": b"\x00"}, {"data": b"\x01"}, {"serial": "v"})
    assert binary["data"] == b"\x00\x01"
    with pytest.raises(AblyError):
        m.fold_append({"serial": "s", "data": "text"}, {"data": b"\x01"}, {"serial": "v"})
    with pytest.raises(AblyError):
        m.fold_append({"serial": "s", "data": "x", "action": m.DELETE}, {"data": "y"}, {})


def test_fragment_carries_the_original_name_and_the_append_version() -> None:
    current = {"serial": "s", "name": "response", "data": "ab", "clientId": "agent"}
    fragment = m.fragment_of(current, {"id": "op", "data": "c"}, {"serial": "v", "timestamp": 5})
    assert fragment == {
        "action": m.APPEND,
        "serial": "s",
        "data": "c",
        "name": "response",
        "clientId": "agent",
        "id": "op",
        "version": {"serial": "v", "timestamp": 5},
        "timestamp": 5,
    }


def test_message_size_counts_data_name_client_id_and_extras() -> None:
    assert m.size_of({"name": "ab", "data": "cde", "clientId": "f"}) == 6
    assert m.size_of({"data": b"\x00" * 10, "extras": {"a": 1}}) == 10 + len('{"a":1}')


def test_presence_members_and_broadcasts() -> None:
    members = PresenceSet()
    enter = {"action": ENTER, "clientId": "a", "connectionId": "c1", "id": "c1:0:0", "data": "d"}
    assert members.apply(enter)["action"] == ENTER
    assert members.get()[0]["action"] == PRESENT, "members are stored as present"
    update = {**enter, "action": UPDATE, "id": "c1:1:0", "data": "e"}
    assert members.apply(update)["data"] == "e"
    leave = members.apply({"action": LEAVE, "clientId": "a", "connectionId": "c1", "id": "c1:2:0"})
    assert leave["data"] == "e", "a leave without data carries the member's last data"
    assert not members
    assert members.apply({**enter, "action": LEAVE}) is None, "leaving twice broadcasts nothing"


def test_synthesized_leaves_do_not_look_like_real_presence_ids() -> None:
    members = PresenceSet()
    members.apply({"action": ENTER, "clientId": "a", "connectionId": "c1", "id": "c1:0:0"})
    [leave] = members.remove_connection("c1", timestamp=99)
    assert leave["action"] == LEAVE and not leave["id"].startswith("c1:")
    assert leave["timestamp"] == 99


def test_sync_pages_end_with_an_empty_cursor() -> None:
    members = PresenceSet()
    for i in range(250):
        members.apply({"action": ENTER, "clientId": f"u{i}", "connectionId": "c", "id": f"c:{i}:0"})
    pages = members.sync_pages("s1")
    assert [len(p) for _, p in pages] == [100, 100, 50]
    assert [serial for serial, _ in pages] == ["s1:1", "s1:2", "s1:"]
    assert PresenceSet().sync_pages("s2") == [("s2:", [])]


def test_rewind_parses_counts_and_durations() -> None:
    assert parse_rewind("10") == (10, None)
    assert parse_rewind("500")[0] == 100, "rewind is capped at 100 messages"
    count, since = parse_rewind("2m")
    assert count == 100 and since is not None
    with pytest.raises(AblyError):
        parse_rewind("yesterday")


async def test_store_folds_a_message_as_of_a_channel_position(tmp_path: Path) -> None:
    store = Store(tmp_path / "hub.sqlite3")
    await store.start()
    create = {"serial": serial_of(1), "data": "a", "action": 0, "version": {"serial": serial_of(1)}}
    statements = [
        Store.put_event("app", "ch", 1, serial_of(1), "id1", create),
        Store.put_message("app", "ch", 1, 0, create),
        Store.put_version("app", "ch", 1, 1, create),
    ]
    for seq, text in ((2, "b"), (3, "c")):
        fragment = {
            "serial": serial_of(1),
            "data": text,
            "action": 5,
            "version": {"serial": serial_of(seq)},
        }
        statements.append(Store.put_event("app", "ch", seq, serial_of(1), None, fragment))
    done = asyncio.get_running_loop().create_future()
    store.submit(statements, done.set_result)
    assert await done is None, "the commit succeeded"
    assert store.message_as_of("app", "ch", 1, 1)["data"] == "a"
    as_of_2 = store.message_as_of("app", "ch", 1, 2)
    assert as_of_2["data"] == "ab" and as_of_2["version"]["serial"] == serial_of(2)
    assert store.message_as_of("app", "ch", 1, 3)["data"] == "abc"
    assert [s for s, _ in store.events_between("app", "ch", 1, 3)] == [2, 3]
    assert store.serial_for_id("app", "ch", "id1") == serial_of(1)
    await store.close()
