"""ProtocolMessage framing: JSON text frames and msgpack binary frames.

Inside the hub every message is canonical: binary `data` is `bytes` and its `encoding` carries no
trailing `base64` step. JSON clients send binary data as base64 text with `base64` appended to the
encoding, so decoding strips that step and encoding to JSON adds it back; msgpack carries `bytes`
natively. Every other encoding step (`json`, `utf-8`, `cipher+...`) passes through untouched.
"""

from __future__ import annotations

import base64
import binascii
import json
from enum import IntEnum
from typing import Any, Literal

import msgpack

Format = Literal["json", "msgpack"]


class Action(IntEnum):
    HEARTBEAT = 0
    ACK = 1
    NACK = 2
    CONNECT = 3
    CONNECTED = 4
    DISCONNECT = 5
    DISCONNECTED = 6
    CLOSE = 7
    CLOSED = 8
    ERROR = 9
    ATTACH = 10
    ATTACHED = 11
    DETACH = 12
    DETACHED = 13
    PRESENCE = 14
    MESSAGE = 15
    SYNC = 16
    AUTH = 17


class Flag(IntEnum):
    HAS_PRESENCE = 1 << 0
    HAS_BACKLOG = 1 << 1
    RESUMED = 1 << 2
    ATTACH_RESUME = 1 << 5
    PRESENCE = 1 << 16
    PUBLISH = 1 << 17
    SUBSCRIBE = 1 << 18
    PRESENCE_SUBSCRIBE = 1 << 19
    ANNOTATION_PUBLISH = 1 << 21
    ANNOTATION_SUBSCRIBE = 1 << 22


MODE_FLAGS = (
    Flag.PRESENCE
    | Flag.PUBLISH
    | Flag.SUBSCRIBE
    | Flag.PRESENCE_SUBSCRIBE
    | Flag.ANNOTATION_PUBLISH
    | Flag.ANNOTATION_SUBSCRIBE
)


class AblyError(Exception):
    """An error the hub answers with: an Ably error code, its HTTP status and a message."""

    def __init__(self, message: str, code: int = 40000, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        return error_body(self.code, self.status, self.message)


def error_body(code: int, status: int, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "statusCode": status,
        "message": message,
        "href": f"https://help.ably.io/error/{code}",
    }


# ---- canonical <-> wire data ---------------------------------------------------------------


def _strip_base64(item: dict[str, Any]) -> None:
    encoding = item.get("encoding")
    data = item.get("data")
    if not encoding or not isinstance(encoding, str) or not isinstance(data, str):
        return  # a non-string encoding is refused per message (normalize), not per frame
    steps = encoding.split("/")
    if steps[-1] != "base64":
        return
    try:
        item["data"] = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AblyError("data is not valid base64", 40013) from exc
    item["encoding"] = "/".join(steps[:-1]) or None
    if item["encoding"] is None:
        del item["encoding"]


def _add_base64(item: dict[str, Any]) -> dict[str, Any]:
    data = item.get("data")
    if not isinstance(data, bytes | bytearray):
        return item
    out = dict(item)
    out["data"] = base64.b64encode(data).decode("ascii")
    encoding = item.get("encoding")
    out["encoding"] = f"{encoding}/base64" if encoding else "base64"
    return out


_ITEM_LISTS = ("messages", "presence", "annotations")


def canonicalize(frame: dict[str, Any], fmt: Format) -> dict[str, Any]:
    """Bring data items of a decoded frame into canonical form (bytes, no base64 step)."""
    for key in _ITEM_LISTS:
        items = frame.get(key)
        if items is None:
            continue
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise AblyError(f"'{key}' must be a list of objects")
        if fmt == "json":
            for item in items:
                _strip_base64(item)
    return frame


def wire_items(items: list[dict[str, Any]], fmt: Format) -> list[dict[str, Any]]:
    if fmt == "json":
        return [_add_base64(i) for i in items]
    return items


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# ---- frames --------------------------------------------------------------------------------


def decode_frame(raw: str | bytes, fmt: Format) -> dict[str, Any]:
    """Decode one WebSocket frame into a canonical ProtocolMessage dict."""
    try:
        if fmt == "msgpack" and isinstance(raw, bytes | bytearray):
            frame = msgpack.unpackb(raw, raw=False, strict_map_key=False)
        else:
            frame = json.loads(raw)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise AblyError(f"malformed {fmt} frame: {exc}") from exc
    except Exception as exc:  # msgpack raises a wide family of errors on hostile input
        raise AblyError(f"malformed {fmt} frame") from exc
    if not isinstance(frame, dict):
        raise AblyError("a protocol message must be an object")
    action = frame.get("action")
    if not isinstance(action, int) or isinstance(action, bool):
        raise AblyError("a protocol message needs an integer 'action'")
    return canonicalize(frame, fmt)


def encode_frame(frame: dict[str, Any], fmt: Format) -> str | bytes:
    """Encode a canonical ProtocolMessage for the wire (str for JSON, bytes for msgpack)."""
    if fmt == "json":
        out = dict(frame)
        for key in _ITEM_LISTS:
            if key in out and out[key] is not None:
                out[key] = wire_items(out[key], fmt)
        return json.dumps(out, separators=(",", ":"), default=_json_default)
    return msgpack.packb(frame, use_bin_type=True)


def encode_body(body: Any, fmt: Format) -> bytes:
    """Encode a REST response body (items already in wire form for JSON)."""
    if fmt == "json":
        return json.dumps(body, separators=(",", ":"), default=_json_default).encode()
    return msgpack.packb(body, use_bin_type=True)


def decode_body(raw: bytes, fmt: Format) -> Any:
    try:
        if fmt == "msgpack":
            return msgpack.unpackb(raw, raw=False, strict_map_key=False)
        return json.loads(raw or b"null")
    except Exception as exc:  # hostile bodies raise many error types; all mean "malformed"
        raise AblyError(f"malformed {fmt} body") from exc
