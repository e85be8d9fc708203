"""ably-python messages <-> the plain dicts the protocol package reads and writes."""

from __future__ import annotations

from typing import Any

from ably.types.message import Message

from tui_session.protocol import Publish
from tui_session.protocol.wire import read_envelope

from .channel_io import ably_message, message_dict

__all__ = ["message_dict", "outbound", "tiers"]


def outbound(op: Publish) -> Message:
    """A protocol `Publish` as an ably `Message` (lifecycle and cancels carry no data)."""
    return ably_message(op.data, op.extras, name=op.name)


def tiers(message: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """The transport and codec tiers of a message dict ({} for a foreign message)."""
    return read_envelope(message.get("extras")) or ({}, {})
