"""Message rules that need no I/O: validation, size, and folding of updates and appends.

A message's latest version is its create with every later update merged in (fields present in
the update replace the original's; absent ones are kept) and every append's data concatenated.
An append's `extras` replace the message's `extras` wholesale, as Ably does.
"""

from __future__ import annotations

import json
from typing import Any

from tui_session.hub.frames import AblyError

CREATE, UPDATE, DELETE, META, SUMMARY, APPEND = 0, 1, 2, 3, 4, 5
MUTATIONS = (UPDATE, DELETE, APPEND)

# What the hub keeps of an inbound message; unknown fields are ignored, as the protocol asks.
KEPT_FIELDS = (
    "id",
    "name",
    "data",
    "encoding",
    "clientId",
    "extras",
    "action",
    "serial",
    "version",
)
UPDATABLE_FIELDS = ("name", "data", "encoding", "extras")

_ACTION_NAMES = {
    "message.create": CREATE,
    "message.update": UPDATE,
    "message.delete": DELETE,
    "message.append": APPEND,
}


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    """The fields the hub keeps, with `action` as a number; raises AblyError on bad shapes."""
    msg = {k: raw[k] for k in KEPT_FIELDS if raw.get(k) is not None}
    action = msg.get("action", CREATE)
    if isinstance(action, str):
        action = _ACTION_NAMES.get(action, -1)
    if action not in (CREATE, *MUTATIONS):
        raise AblyError(f"unsupported message action {msg.get('action')!r}", 40003)
    msg["action"] = action
    for key in ("id", "name", "encoding", "clientId", "serial"):
        if key in msg and not isinstance(msg[key], str):
            raise AblyError(f"message '{key}' must be a string", 40003)
    if "extras" in msg and not isinstance(msg["extras"], dict):
        raise AblyError("message 'extras' must be an object", 40003)
    if "version" in msg and not isinstance(msg["version"], dict):
        raise AblyError("message 'version' must be an object", 40003)
    data = msg.get("data")
    if data is not None and not isinstance(data, str | bytes | bytearray | dict | list):
        # JSON clients may send objects; the SDKs encode them, but accept them as Ably does.
        raise AblyError("message 'data' must be a string, binary or JSON", 40013)
    if action in MUTATIONS and "serial" not in msg:
        raise AblyError("an update, delete or append must name the message 'serial'", 40003)
    return msg


def size_of(msg: dict[str, Any]) -> int:
    """Ably's message size: data, name, clientId and extras, in bytes."""
    total = 0
    for key in ("name", "clientId"):
        if isinstance(msg.get(key), str):
            total += len(msg[key].encode())
    data = msg.get("data")
    if isinstance(data, str):
        total += len(data.encode())
    elif isinstance(data, bytes | bytearray):
        total += len(data)
    elif data is not None:
        total += len(json.dumps(data, separators=(",", ":")).encode())
    if msg.get("extras") is not None:
        total += len(json.dumps(msg["extras"], separators=(",", ":"), default=str).encode())
    return total


def operation_version(
    msg: dict[str, Any], serial: str, timestamp: int, client_id: str | None
) -> dict[str, Any]:
    """The `version` the hub stamps on an update, delete or append."""
    requested = msg.get("version") or {}
    version: dict[str, Any] = {"serial": serial, "timestamp": timestamp}
    who = requested.get("clientId") or client_id
    if who:
        version["clientId"] = who
    for key in ("description", "metadata"):
        if requested.get(key) is not None:
            version[key] = requested[key]
    return version


def fold_update(current: dict[str, Any], op: dict[str, Any], version: dict) -> dict[str, Any]:
    merged = dict(current)
    for key in UPDATABLE_FIELDS:
        if key in op:
            merged[key] = op[key]
    if op["action"] == DELETE:
        merged["action"] = DELETE
    else:
        merged["action"] = UPDATE
    merged["version"] = version
    return merged


def concat_data(current: Any, fragment: Any) -> Any:
    """Concatenate append data: text to text, bytes to bytes; anything else is refused."""
    if current is None:
        return fragment
    if fragment is None:
        return current
    if isinstance(current, str) and isinstance(fragment, str):
        return current + fragment
    if isinstance(current, bytes | bytearray) and isinstance(fragment, bytes | bytearray):
        return bytes(current) + bytes(fragment)
    raise AblyError("append data must be of the same type as the message's data", 40013)


def fold_append(current: dict[str, Any], op: dict[str, Any], version: dict) -> dict[str, Any]:
    if current.get("action") == DELETE:
        raise AblyError("cannot append to a deleted message", 40003)
    if op.get("encoding", current.get("encoding")) != current.get("encoding"):
        raise AblyError("append encoding must match the message's encoding", 40013)
    merged = dict(current)
    merged["data"] = concat_data(current.get("data"), op.get("data"))
    if "extras" in op:
        merged["extras"] = op["extras"]
    merged["action"] = UPDATE
    merged["version"] = version
    return merged


def fragment_of(current: dict[str, Any], op: dict[str, Any], version: dict) -> dict[str, Any]:
    """What a subscriber that has seen the message since attaching receives for an append."""
    fragment: dict[str, Any] = {
        "action": APPEND,
        "serial": current["serial"],
        "data": op.get("data"),
        "version": version,
        "timestamp": version["timestamp"],
    }
    for key in ("name", "encoding", "clientId", "connectionId"):
        if current.get(key) is not None:
            fragment[key] = current[key]
    if op.get("id") is not None:
        fragment["id"] = op["id"]
    if "extras" in op:
        fragment["extras"] = op["extras"]
    if fragment["data"] is None:
        del fragment["data"]
    return fragment
