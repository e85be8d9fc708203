"""Replay after a resume merges a run of appends to one message into one fragment."""

from __future__ import annotations

from tui_session.hub.channels import merge_fragments


def fragment(data: object, version: str, **extra: object) -> dict:
    return {"action": 5, "serial": "0000000000000001", "data": data, "id": f"op{version}",
            "version": {"serial": version, "timestamp": 1}, "timestamp": 1, **extra}  # fmt: skip


def test_text_is_concatenated_and_the_later_fields_win() -> None:
    first = fragment("Hel", "0000000000000002", extras={"ai": {"status": "streaming"}})
    then = fragment("lo", "0000000000000003", extras={"ai": {"status": "complete"}})
    merged = merge_fragments(first, then)
    assert merged is not None
    assert merged["data"] == "Hello"
    assert merged["extras"] == {"ai": {"status": "complete"}}
    assert merged["version"]["serial"] == "0000000000000003"
    assert merged["id"] == "op0000000000000003"
    assert first["data"] == "Hel"  # inputs untouched


def test_an_append_without_extras_keeps_the_earlier_ones() -> None:
    first = fragment("a", "0000000000000002", extras={"k": 1})
    then = fragment("b", "0000000000000003")
    merged = merge_fragments(first, then)
    assert merged is not None and merged["extras"] == {"k": 1} and merged["data"] == "ab"


def test_mixed_data_types_or_encodings_are_not_merged() -> None:
    assert merge_fragments(fragment("a", "2"), fragment(b"b", "3")) is None
    assert merge_fragments(fragment("a", "2", encoding="utf-8"), fragment("b", "3")) is None
