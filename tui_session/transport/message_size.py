"""How large a message the session takes, and whether a prompt or a steer fits, checked before
anything is folded or published: a long paste is refused in words, never with a raw 40009.

- **The limit** is the connection's `maxMessageSize`, which the server advertises in the
  CONNECTED frame's `connectionDetails` (Ably's TO3l8; the hub's `hub.max_message_size`).
  ably-python reads `connectionDetails` but drops that field, and checks every publish against
  `options.max_message_size`, read with a fixed 65536 default (RSL1i). `install()` keeps the
  advertised value on the SDK's `ConnectionDetails`; `limit()` reads it there and hands it to
  the SDK's own check, so the SDK, the server and this module agree.
- **No splitting:** a prompt's parts are one atomic batch (docs/wire.md §3.2), and the limit
  applies to the whole batch (Ably sums a publish's messages; ably-python measures the encoded
  batch), so more parts would not make a long prompt fit. What fits is what the limit allows,
  counted exactly.
- **The size** is counted both ways a publish is measured, and the larger counts: Ably's rule
  (name, clientId, data, and extras as JSON, summed over the batch) and the SDK's (the batch as
  it encodes it).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

import msgpack
from ably.types.connectiondetails import ConnectionDetails

from tui_session.protocol import ErrorCode, InputHeaders, ProtocolError, Publish, user_text

from .channel_io import outbound
from .client_records import new_id
from .client_wire import DEVICE_HEADER, with_app_headers

SDK_DEFAULT_LIMIT = 65_536  # what ably-python checks when nothing was advertised (RSL1i)


def install() -> None:
    """Keep `maxMessageSize` on the SDK's ConnectionDetails (process-wide, idempotent)."""
    original = ConnectionDetails.from_dict
    if getattr(original, "keeps_max_message_size", False):
        return

    @functools.wraps(original)
    def from_dict(json_dict: dict[str, Any]) -> ConnectionDetails:
        details = original(json_dict)
        details.max_message_size = (json_dict or {}).get("maxMessageSize")  # type: ignore[attr-defined]
        return details

    from_dict.keeps_max_message_size = True  # type: ignore[attr-defined]
    ConnectionDetails.from_dict = staticmethod(from_dict)  # type: ignore[method-assign]


def limit(realtime: Any) -> int:
    """The bytes one publish may hold on this connection: as advertised by the server, else
    the SDK's default. The SDK's own check is set to the same value."""
    details = realtime.connection.connection_details
    advertised = getattr(details, "max_message_size", None)
    if isinstance(advertised, int) and advertised > 0:
        realtime.options.max_message_size = advertised  # what the SDK's publish check reads
        return advertised
    return int(getattr(realtime.options, "max_message_size", SDK_DEFAULT_LIMIT))


def publish_size(ops: list[Publish], *, binary: bool) -> int:
    """The size of publishing `ops` at once, the larger of Ably's count and the SDK's."""
    messages = [outbound(op) for op in ops]
    encoded = [message.as_dict(binary=binary) for message in messages]
    if binary:
        by_sdk = len(msgpack.packb(encoded, use_bin_type=True))
    else:
        by_sdk = len(json.dumps(encoded, separators=(",", ":")).encode())
    return max(by_sdk, sum(_ably_size(message) for message in messages))


def _ably_size(message: Any) -> int:
    """Ably's size of one message: its name, clientId, data and extras (as JSON), in bytes."""
    texts = [message.name, message.client_id, message.data]
    size = sum(len(text.encode()) for text in texts if isinstance(text, str))
    if isinstance(message.data, bytes | bytearray):
        size += len(message.data)
    if message.extras is not None:
        size += len(json.dumps(message.extras, separators=(",", ":")).encode())
    return size


@dataclass(frozen=True)
class Oversize:
    """A text too long for one message: its size, and the room this message has for text
    (the limit less its headers), both in bytes of UTF-8."""

    text_bytes: int
    room: int

    def words(self) -> str:
        size, room = _amount(self.text_bytes), _amount(self.room)
        if size == room:  # both round to the same figure: say it in bytes
            size, room = f"{self.text_bytes:,} bytes", f"{self.room:,} bytes"
        return (
            f"This message is {size}, over the session's limit of {room} per message. "
            "Shorten it or split it."
        )


def _amount(count: int) -> str:
    if count < 1024:
        return f"{count:,} bytes"
    return f"{count / 1024:.1f}".removesuffix(".0") + " KB"


class MessageTooLarge(ProtocolError):
    """A prompt or steer refused before publishing: it would exceed the message size limit."""

    def __init__(self, oversize: Oversize) -> None:
        super().__init__(ErrorCode.INVALID_ARGUMENT, oversize.words())
        self.oversize = oversize


def oversize(realtime: Any, ops: list[Publish], text: str) -> Oversize | None:
    """None when `ops` (a message whose text is `text`) fit in one publish."""
    binary = bool(getattr(realtime.options, "use_binary_protocol", True))
    size, most = publish_size(ops, binary=binary), limit(realtime)
    if size <= most:
        return None
    text_bytes = len(text.encode())
    return Oversize(text_bytes, max(most - (size - text_bytes), 0))


def ensure_fits(realtime: Any, ops: list[Publish], text: str) -> None:
    """Raise `MessageTooLarge` when `ops` would not fit (the session calls this before it
    folds or publishes a prompt or a steer)."""
    found = oversize(realtime, ops, text)
    if found is not None:
        raise MessageTooLarge(found)


def draft_oversize(session: Any, text: str) -> Oversize | None:
    """Whether a composer's text fits as a prompt or a steer of `session` (a ClientSession),
    measured with every optional header a prompt or steer may carry, so a draft that passes
    here passes `check` when it is sent."""
    some_id = new_id()  # every id on the wire is a UUID of this length
    headers = InputHeaders(
        some_id,
        some_id,
        run_client_id=session.client_id,
        parent=some_id,
        fork_of=some_id,
        run_id=some_id,
    )
    ops = [with_app_headers(op, {DEVICE_HEADER: session.device}) for op in user_text(headers, text)]
    return oversize(session.realtime, ops, text)


install()  # at import (the client session imports this module), before any client connects
