"""ably-python messages <-> the plain dicts the protocol package reads and writes."""

from __future__ import annotations

from typing import Any

from ably.types.message import Message

from tui_session.protocol import Publish
from tui_session.protocol.wire import read_envelope


def message_dict(message: Any) -> dict[str, Any]:
    """An inbound ably `Message` shaped as the decoder expects (an Ably message as a dict)."""
    action = message.action
    version = message.version
    out: dict[str, Any] = {
        "name": message.name,
        "data": message.data,
        "extras": message.extras,
        "serial": message.serial,
        "action": int(action) if action is not None else 0,
        "clientId": message.client_id,
        "connectionId": message.connection_id,
        "timestamp": message.timestamp,
    }
    if version is not None and getattr(version, "serial", None):
        out["version"] = {"serial": version.serial}
    return out


def outbound(op: Publish) -> Message:
    """A protocol `Publish` as an ably `Message` (lifecycle and cancels carry no data)."""
    return Message(name=op.name, data=op.data, extras=op.extras)


def tiers(message: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """The transport and codec tiers of a message dict ({} for a foreign message)."""
    return read_envelope(message.get("extras")) or ({}, {})
