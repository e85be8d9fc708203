"""Helpers for the agent tests: a raw wire recorder, client-side publishing with the real SDK,
and scripted Responses event sources (slow where needed, watching the run's abort event)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from ably.types.message import Message

from tests.support.hub import WAIT_S, HubEndpoint, wait_state
from tui_session.protocol import (
    Decoder,
    InputHeaders,
    Publish,
    ResponsesCodec,
    Tree,
    cancel,
    tool_approval_response,
    user_text,
)
from tui_session.transport.channel_io import message_dict


class Wire:
    """A raw ably-python subscriber that records every delivery as a plain dict."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._changed = asyncio.Event()

    def add(self, message: Any) -> None:
        self.items.append(message_dict(message))
        self._changed.set()

    async def wait_for(self, predicate: Callable[[list[dict[str, Any]]], Any], timeout=WAIT_S):
        async def poll() -> Any:
            while True:
                result = predicate(self.items)
                if result:
                    return result
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(poll(), timeout)

    # --- views of the record -------------------------------------------------------------------

    def named(self, *names: str) -> list[dict[str, Any]]:
        return [m for m in self.items if m["name"] in names]

    def by_serial(self, serial: str) -> list[dict[str, Any]]:
        return [m for m in self.items if m["serial"] == serial]

    def run_end(self, run_id: str) -> dict[str, Any] | None:
        for m in self.items:
            if m["name"] == "ai-run-end" and transport(m).get("run-id") == run_id:
                return m
        return None

    def tree(self) -> Tree:
        """What a fresh observer folds from these deliveries."""
        decoder, tree = Decoder(ResponsesCodec()), Tree()
        for raw in self.items:
            decoded = decoder.decode(raw)
            if decoded is not None:
                tree.apply(decoded)
        return tree


def transport(message: dict[str, Any]) -> dict[str, str]:
    return ((message.get("extras") or {}).get("ai") or {}).get("transport") or {}


def codec(message: dict[str, Any]) -> dict[str, str]:
    return ((message.get("extras") or {}).get("ai") or {}).get("codec") or {}


async def realtime(hub: HubEndpoint, client_id: str) -> Any:
    client = hub.realtime(client_id)
    await wait_state(client)
    return client


async def recorder(hub: HubEndpoint, channel_name: str) -> Wire:
    wire = Wire()
    client = await realtime(hub, "observer")
    await client.channels.get(channel_name).subscribe(wire.add)
    return wire


async def publish(channel: Any, op: Publish) -> str:
    result = await channel.publish(Message(name=op.name, data=op.data, extras=op.extras))
    return result.serials[0]


class Client:
    """A user publishing its own inputs with the real SDK, as the client side would."""

    def __init__(self, channel: Any, client_id: str) -> None:
        self.channel, self.client_id = channel, client_id

    @classmethod
    async def connect(cls, hub: HubEndpoint, channel_name: str, client_id: str) -> Client:
        client = await realtime(hub, client_id)
        channel = client.channels.get(channel_name)
        await channel.attach()
        return cls(channel, client_id)

    async def prompt(
        self, text: str, *, parent: str | None = None, run_id: str | None = None
    ) -> tuple[str, str]:
        """Publish a user message (a steer with `run_id`); returns (codec-message-id, event-id)."""
        cmid, event_id = str(uuid.uuid4()), str(uuid.uuid4())
        headers = InputHeaders(
            cmid, event_id, run_client_id=self.client_id, parent=parent, run_id=run_id
        )
        for op in user_text(headers, text):
            await publish(self.channel, op)
        return cmid, event_id

    async def approve(self, message_cmid: str, run_id: str, call_id: str, approved=True) -> str:
        event_id = str(uuid.uuid4())
        headers = InputHeaders(
            message_cmid,
            event_id,
            run_client_id=self.client_id,
            parent=message_cmid,
            run_id=run_id,
        )
        await publish(self.channel, tool_approval_response(headers, call_id, approved))
        return event_id

    async def cancel(self, *, run_id: str | None = None, input_id: str | None = None) -> str:
        op = cancel(str(uuid.uuid4()), run_id=run_id, input_codec_message_id=input_id)
        return await publish(self.channel, op)


def invocation(event_id: str, channel_name: str) -> dict[str, str]:
    return {"inputEventId": event_id, "sessionName": channel_name}


# --- scripted Responses sources --------------------------------------------------------------


def text_events(item_id: str, chunks: list[str], output_index: int = 0) -> list[dict[str, Any]]:
    base = {"item_id": item_id, "output_index": output_index, "content_index": 0}
    item = {
        "id": item_id,
        "type": "message",
        "role": "assistant",
        "status": "in_progress",
        "content": [],
    }
    return [
        {"type": "response.output_item.added", "output_index": output_index, "item": item},
        {
            "type": "response.content_part.added",
            **base,
            "part": {"type": "output_text", "text": "", "annotations": []},
        },
        *({"type": "response.output_text.delta", **base, "delta": c} for c in chunks),
        {"type": "response.output_text.done", **base, "text": "".join(chunks)},
        {"type": "response.content_part.done", **base},
        {
            "type": "response.output_item.done",
            "output_index": output_index,
            "item": {**item, "status": "completed", "content": []},
        },
    ]


def tool_call_events(item_id: str, call_id: str, name: str, arguments: str) -> list[dict]:
    item = {
        "id": item_id,
        "type": "function_call",
        "call_id": call_id,
        "name": name,
        "arguments": "",
        "status": "in_progress",
    }
    return [
        {"type": "response.output_item.added", "output_index": 0, "item": item},
        {
            "type": "response.function_call_arguments.delta",
            "item_id": item_id,
            "output_index": 0,
            "delta": arguments,
        },
        {
            "type": "response.function_call_arguments.done",
            "item_id": item_id,
            "output_index": 0,
            "arguments": arguments,
        },
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {**item, "arguments": arguments, "status": "completed"},
        },
        {"type": "tool-approval-request", "call_id": call_id, "name": name, "arguments": arguments},
    ]


async def source(
    events: list[dict[str, Any]],
    *,
    pace_s: float = 0.0,
    hold: asyncio.Event | None = None,
    hold_after: int | None = None,
    fail_after: int | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Yield `events`; after `hold_after` events wait for `hold` (the test's go-ahead, or a
    model call being aborted); after `fail_after` events raise, like a broken model stream."""
    for i, event in enumerate(events):
        if fail_after is not None and i == fail_after:
            raise RuntimeError("model stream broke")
        if hold is not None and hold_after is not None and i == hold_after:
            await hold.wait()
        if pace_s:
            await asyncio.sleep(pace_s)  # the model's own pace, not test synchronisation
        yield event
    if fail_after is not None and fail_after >= len(events):
        raise RuntimeError("model stream broke")
