"""The client's reading of the wire beyond the protocol: transport and codec tiers of a message
dict, and the application headers (`extras.headers`) a client adds, such as the device a
prompt was typed on. Pure: dicts in, dicts out."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tui_session.protocol import Publish
from tui_session.protocol.wire import read_envelope

__all__ = ["DEVICE_HEADER", "app_header", "tiers", "with_app_headers"]


def tiers(message: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """The transport and codec tiers of a message dict ({} for a foreign message)."""
    return read_envelope(message.get("extras")) or ({}, {})


# The device a prompt was typed on travels in `extras.headers`, which the AI Transport wire
# leaves to the application (docs/wire.md §1: "extras.headers belongs to the application and is
# never read or written by the protocol"), so npm SDK clients and agents ignore it. Chosen over
# mapping the publisher's connection to a presence member because it is durable: it is in
# history, so a late joiner, an export, or a device that already left still shows it. It is
# self-asserted (unlike the hub-set clientId) and only ever shown next to the verified clientId.
DEVICE_HEADER = "device"
MAX_APP_HEADER = 64


def with_app_headers(op: Publish, headers: dict[str, str]) -> Publish:
    """`op` with application headers (`extras.headers`) merged in; the protocol tiers untouched."""
    merged = {**(op.extras.get("headers") or {}), **headers}
    return replace(op, extras={**op.extras, "headers": merged})


def app_header(message: dict[str, Any], name: str) -> str | None:
    """An application header of an inbound message dict (a short string, or None)."""
    extras = message.get("extras")
    headers = extras.get("headers") if isinstance(extras, dict) else None
    value = headers.get(name) if isinstance(headers, dict) else None
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:MAX_APP_HEADER]
