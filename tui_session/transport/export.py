"""`tui-session export`: a session's conversation as Markdown, or its channel log as JSON lines.

Both read the channel's whole history through the same decoder and tree as a live client, so an
export shows exactly what a terminal shows (the selected branch; every turn with its status).
The JSON lines are an audit record: one object per channel message at its latest version, with
serial, action, name, clientId, connectionId, timestamp, version and the protocol headers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tui_session.protocol import Decoder, InputNode, ResponsesCodec, RunNode, Tree, View
from tui_session.protocol.wire import read_envelope

from .channel_io import HistoryCursor
from .connect import realtime_from_settings

if TYPE_CHECKING:
    from tui_session.config import Settings

PAGE_SIZE = 1000
ACTIONS = {0: "create", 1: "update", 2: "delete", 3: "meta", 4: "summary", 5: "append"}


def export_session(
    settings: Settings,
    channel_name: str,
    fmt: str,
    *,
    hub_key: str | None = None,
    open_realtime: Callable[[], Any] | None = None,
) -> str:
    """`tui-session export`: read the channel's whole log and render it (md or jsonl).
    `open_realtime` (called on the event loop) opens the client; default: from the settings."""

    async def read() -> list[dict[str, Any]]:
        if open_realtime is not None:
            realtime = open_realtime()
        else:
            realtime = realtime_from_settings(settings, settings.client.user, hub_key=hub_key)
        try:
            return await read_log(realtime.channels.get(channel_name))
        finally:
            await realtime.close()

    log = asyncio.run(read())
    return to_jsonl(log) if fmt == "jsonl" else to_markdown(log, channel_name)


async def read_log(channel: Any) -> list[dict[str, Any]]:
    """Every message of the channel, oldest first, at its latest version."""
    cursor = HistoryCursor(channel, PAGE_SIZE)
    pages: list[list[dict[str, Any]]] = []
    while page := await cursor.older():
        pages.append(page)
    return [message for page in reversed(pages) for message in page]


def to_jsonl(log: Iterable[dict[str, Any]]) -> str:
    lines = []
    for message in log:
        transport, codec = read_envelope(message.get("extras")) or ({}, {})
        record = {
            "serial": message.get("serial"),
            "action": ACTIONS.get(message.get("action") or 0, message.get("action")),
            "name": message.get("name"),
            "clientId": message.get("clientId"),
            "connectionId": message.get("connectionId"),
            "timestamp": message.get("timestamp"),
            "time": _iso(message.get("timestamp")),
            "version": (message.get("version") or {}).get("serial"),
            "headers": transport,
            "codec": codec,
            "data": message.get("data"),
        }
        lines.append(json.dumps(record, ensure_ascii=False, default=_bytes_as_text))
    return "\n".join(lines) + ("\n" if lines else "")


def to_markdown(log: Iterable[dict[str, Any]], channel_name: str) -> str:
    decoder, tree = Decoder(ResponsesCodec()), Tree()
    for message in log:
        decoded = decoder.decode(message)
        if decoded is not None:
            tree.apply(decoded)
    out = [f"# Session `{channel_name}`", ""]
    for node in View(tree).nodes():
        if isinstance(node, InputNode):
            out.append(f"## {node.client_id or 'someone'}")
        elif isinstance(node, RunNode):
            out.append(f"### assistant, turn of {node.client_id or 'someone'} ({_status(node)})")
        else:
            continue
        for _cmid, message in node.messages():
            out += ["", *_message_lines(message)]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _status(run: RunNode) -> str:
    status = str(run.status)
    error = run.error
    if error is not None:
        status += f": {error.message}"
    return status


def _message_lines(message: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for item in message.get("items", []):
        kind = item.get("type")
        if kind == "message":
            text = "".join(
                part.get("text") or part.get("refusal") or "" for part in item.get("content", [])
            )
            if text:
                lines.append(text)
        elif kind == "reasoning":
            summary = " ".join(p.get("text", "") for p in item.get("summary", []))
            if summary:
                lines.append(f"> reasoning: {summary}")
        elif kind == "function_call":
            lines.append(f"`{item.get('name')}({item.get('arguments', '')})`")
        elif kind == "function_call_output":
            lines.append(f"> tool output: {item.get('output')}")
    for call_id, state in (message.get("toolCallStates") or {}).items():
        if state.get("approval"):
            lines.append(f"> approval of `{state.get('name') or call_id}`: {state['approval']}")
    return lines


def _iso(timestamp: Any) -> str | None:
    if not isinstance(timestamp, int | float):
        return None
    return datetime.fromtimestamp(timestamp / 1000, UTC).isoformat(timespec="milliseconds")


def _bytes_as_text(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return value.hex()
    raise TypeError(type(value).__name__)
