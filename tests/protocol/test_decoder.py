"""docs/wire.md §2.8 decoding table, version guards, first contact, and §7.11 replacement."""

from __future__ import annotations

from tui_session.protocol import Action, StreamStatus, new_decoder

from .helpers import message

OUT = {
    "role": "assistant",
    "codec-message-id": "A",
    "run-id": "R",
    "stream": "true",
    "stream-id": "m:0",
}
CODEC = {"kind": "output_text", "item_id": "m", "output_index": "0", "content_index": "0"}


def stream(serial="s5", status="streaming", data="", action=0, version=None, name="ai-output"):
    return message(
        serial, name, {**OUT, "status": status}, CODEC, data, action=action, version=version
    )


def types(decoded) -> list[str]:
    return [e["type"] for e in decoded.events] if decoded else []


def test_message_without_extras_ai_is_foreign_and_ignored() -> None:
    d = new_decoder()
    assert (
        d.decode({"serial": "s1", "name": "chat", "data": "x", "extras": {"headers": {}}}) is None
    )
    assert d.decode({"serial": "s1", "name": "chat", "data": "x"}) is None


def test_stream_create_opens_and_ignores_its_data() -> None:
    d = new_decoder()
    decoded = d.decode(stream(data="ignored"))
    assert types(decoded) == ["response.output_item.added", "response.content_part.added"]
    assert d.stream_text("s5") == "" and decoded.stream_status == StreamStatus.STREAMING


def test_append_emits_a_delta_then_complete_emits_the_end_events() -> None:
    d = new_decoder()
    d.decode(stream())
    decoded = d.decode(stream(data="Hel", action=5, version="s6"))
    assert decoded.events == (
        {
            "type": "response.output_text.delta",
            "item_id": "m",
            "output_index": 0,
            "content_index": 0,
            "delta": "Hel",
        },
    )
    end = d.decode(stream(status="complete", action=5, version="s7"))
    assert types(end) == ["response.output_text.done"] and end.events[0]["text"] == "Hel"
    assert end.stream_status == StreamStatus.COMPLETE


def test_cancelled_append_closes_silently() -> None:
    d = new_decoder()
    d.decode(stream())
    d.decode(stream(data="Once", action=5, version="s6"))
    decoded = d.decode(stream(status="cancelled", action=5, version="s7"))
    assert decoded is not None and decoded.events == ()
    assert decoded.stream_status == StreamStatus.CANCELLED


def test_non_string_append_data_counts_as_empty() -> None:
    d = new_decoder()
    d.decode(stream())
    assert d.decode(stream(data={"x": 1}, action=5, version="s6")).events == ()
    assert d.stream_text("s5") == ""


def test_first_contact_update_opens_with_one_delta_of_the_whole_text() -> None:
    d = new_decoder()
    decoded = d.decode(stream(data="Hello wor", action=1, version="s8"))
    assert decoded.first_contact
    assert types(decoded) == [
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
    ]
    assert decoded.events[-1]["delta"] == "Hello wor"


def test_first_contact_complete_also_emits_the_end_events() -> None:
    d = new_decoder()
    decoded = d.decode(stream(status="complete", data="Hello", action=1, version="s9"))
    assert types(decoded)[-1] == "response.output_text.done"


def test_stray_append_of_unknown_serial_is_treated_as_first_contact() -> None:
    d = new_decoder()
    decoded = d.decode(stream(data="lo", action=5, version="s7"))
    assert decoded.first_contact and decoded.events[-1]["delta"] == "lo"


def test_first_contact_without_a_name_still_decodes() -> None:
    """Leniency beyond 0.8.0: the role tells the side; the hub should send the name anyway."""
    d = new_decoder()
    m = stream(data="x", action=1, version="s6")
    del m["name"]
    decoded = d.decode(m)
    assert decoded.name == "ai-output" and decoded.events[-1]["delta"] == "x"


def test_update_of_known_serial_extending_the_text_emits_only_the_tail() -> None:
    d = new_decoder()
    d.decode(stream())
    d.decode(stream(data="Hel", action=5, version="s6"))
    decoded = d.decode(stream(data="Hello", action=1, version="s7"))
    assert [e.get("delta") for e in decoded.events] == ["lo"]


def test_update_that_does_not_extend_the_text_replaces_it() -> None:
    """§7.11: ours re-renders (0.8.0 replaced silently)."""
    d = new_decoder()
    d.decode(stream())
    d.decode(stream(data="Helworld", action=5, version="s6"))
    decoded = d.decode(stream(data="Hello world", action=1, version="s7"))
    assert decoded.events == (
        {
            "type": "stream.replace",
            "kind": "output_text",
            "item_id": "m",
            "index": 0,
            "text": "Hello world",
        },
    )
    assert d.stream_text("s5") == "Hello world"


def test_version_at_or_below_the_absorbed_one_is_a_replay() -> None:
    d = new_decoder()
    d.decode(stream())
    d.decode(stream(data="a", action=5, version="s6"))
    assert d.decode(stream(data="a", action=5, version="s6")) is None
    assert d.decode(stream(data="a", action=1, version="s6")) is None
    assert d.stream_text("s5") == "a"


def test_newer_update_of_a_closed_stream_replaces_its_text() -> None:
    """§7.11: a late recovery update applies, also after the stream closed."""
    d = new_decoder()
    d.decode(stream())
    d.decode(stream(data="Helworld", action=5, version="s6"))
    d.decode(stream(status="complete", action=5, version="s7"))
    decoded = d.decode(stream(status="complete", data="Hello world", action=1, version="s8"))
    assert types(decoded) == ["stream.replace"]
    assert d.decode(stream(status="complete", data="Hello world", action=1, version="s9")) is None


def test_appends_to_a_closed_stream_decode_to_nothing() -> None:
    d = new_decoder()
    d.decode(stream())
    d.decode(stream(status="complete", action=5, version="s6"))
    assert d.decode(stream(data="late", action=5, version="s7")) is None


def test_delete_closes_the_stream() -> None:
    d = new_decoder()
    d.decode(stream())
    assert d.decode(stream(action=2, version="s6")) is None
    assert d.decode(stream(data="x", action=5, version="s7")) is None


def test_discrete_message_decodes_once_by_serial() -> None:
    d = new_decoder()
    m = message(
        "s4",
        "ai-output",
        {**OUT, "stream": "false"},
        {"kind": "response.output_item.added"},
        {"item": {"id": "m", "type": "message"}},
    )
    assert types(d.decode(m)) == ["response.output_item.added"]
    assert d.decode(m) is None  # history overlap
    assert d.decode({**m, "action": 1, "version": {"serial": "s9"}}) is None  # edits ignored


def test_lifecycle_messages_decode_with_headers_and_no_events() -> None:
    d = new_decoder()
    decoded = d.decode(message("s2", "ai-run-start", {"run-id": "R"}))
    assert decoded.name == "ai-run-start" and decoded.events == () and not decoded.streamed
    assert decoded.action == Action.CREATE and decoded.version == "s2"


def test_message_without_version_uses_its_serial_for_creates() -> None:
    d = new_decoder()
    m = stream()
    del m["version"]
    assert d.decode(m).version == "s5"


def test_string_actions_are_accepted() -> None:
    d = new_decoder()
    d.decode(stream(action="message.create"))
    decoded = d.decode(stream(data="x", action="message.append", version="s6"))
    assert decoded.action == Action.APPEND and decoded.events[0]["delta"] == "x"
