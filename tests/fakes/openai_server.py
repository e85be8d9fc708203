"""A local stand-in for an OpenAI-compatible model server: the only fake at the machine's edge.

It serves ``POST /v1/responses`` and ``POST /v1/chat/completions`` with ``stream: true`` as
Server-Sent Events, from scripts the test hands it (one script per request, in order):

    server = FakeOpenAI()
    await server.start()
    server.script([Event({...}), Event({...}), Done()])     # a list: played at once
    queue = server.script_queue()                           # or paced by the test:
    await queue.put(Event({...}))                           #   each action when the test says
    ...
    record = server.requests[0]      # body, path, headers; whether and when the client closed

Actions: `Event` (one SSE event), `Done` (``data: [DONE]``), `Raw` (bytes as they are, e.g.
garbage), `Pause` (sleep), `Stall` (send nothing until the client goes away), `Drop` (cut the
TCP connection mid-stream), `Status` (an HTTP error status with a JSON error body) and `Reply`
(a whole non-SSE body, e.g. an HTML page); the last two only as the first action.
A script ends with its last action: the body is finished cleanly (unless it dropped or stalled).

Client disconnects are noticed while writing and, when idle, by aiohttp's handler cancellation
plus a watcher on the socket, so `closed_at` is when the server saw the close.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

WATCH_INTERVAL_S = 0.005


@dataclass(frozen=True)
class Event:
    """One SSE event. `data` dicts are JSON-encoded; `event` defaults to data["type"] for
    Responses requests (OpenAI names its Responses events) and to none for chat."""

    data: dict[str, Any] | str
    event: str | None = None


@dataclass(frozen=True)
class Done:
    """The ``data: [DONE]`` terminator that Chat Completions servers send."""


@dataclass(frozen=True)
class Raw:
    data: bytes


@dataclass(frozen=True)
class Pause:
    seconds: float


@dataclass(frozen=True)
class Stall:
    """Send nothing more; keep the connection open until the client closes it."""


@dataclass(frozen=True)
class Drop:
    """Abort the TCP connection without finishing the body."""


@dataclass(frozen=True)
class Status:
    status: int
    message: str = "scripted error"
    body: Any = None  # overrides the default {"error": {...}} body when given


@dataclass(frozen=True)
class Reply:
    """A whole non-streamed answer (e.g. an HTML page where SSE was expected); first only."""

    text: str
    status: int = 200
    content_type: str = "text/html"


Action = Event | Done | Raw | Pause | Stall | Drop | Status | Reply
END = None  # put on a script queue to finish the body cleanly


@dataclass
class RecordedRequest:
    path: str
    body: Any
    headers: dict[str, str]
    received_at: float  # time.monotonic()
    client_closed: bool = False
    closed_at: float | None = None  # time.monotonic() when the server noticed the close
    finished: bool = False  # the server ended the body itself
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    def note_client_close(self) -> None:
        if not self.client_closed and not self.finished:
            self.client_closed = True
            self.closed_at = time.monotonic()
            self.closed.set()

    async def wait_closed(self, timeout: float = 5.0) -> float:
        """Wait until the server noticed the client closing; returns that time."""
        await asyncio.wait_for(self.closed.wait(), timeout)
        assert self.closed_at is not None
        return self.closed_at


class _Script:
    def __init__(self, actions: Iterable[Action] | None, delay: float) -> None:
        self.queue: asyncio.Queue[Action | None] = asyncio.Queue()
        self.delay = delay
        if actions is not None:
            for action in actions:
                self.queue.put_nowait(action)
            self.queue.put_nowait(END)


class FakeOpenAI:
    """The stand-in server. `base_url` is what the SDK takes (ends in /v1)."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._scripts: deque[_Script] = deque()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.request_seen = asyncio.Event()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, actions: Iterable[Action], *, delay: float = 0.0) -> None:
        """Queue the answer to the next request; `delay` seconds before each action."""
        self._scripts.append(_Script(list(actions), delay))

    def script_queue(self, *, delay: float = 0.0) -> asyncio.Queue[Action | None]:
        """Queue an answer paced by the test: put actions, then END (None) to finish."""
        script = _Script(None, delay)
        self._scripts.append(script)
        return script.queue

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/responses", self._handle)
        app.router.add_post("/v1/chat/completions", self._handle)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[union-attr]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_request(self, count: int = 1, timeout: float = 5.0) -> RecordedRequest:
        async def enough() -> None:
            while len(self.requests) < count:
                self.request_seen.clear()
                await self.request_seen.wait()

        await asyncio.wait_for(enough(), timeout)
        return self.requests[count - 1]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        record = RecordedRequest(
            path=request.path,
            body=body,
            headers=dict(request.headers),
            received_at=time.monotonic(),
        )
        self.requests.append(record)
        self.request_seen.set()
        if not self._scripts:
            record.finished = True
            return web.json_response(
                {"error": {"message": "no script for this request", "type": "fake"}}, status=500
            )
        script = self._scripts.popleft()
        responses = request.path.endswith("/responses")
        watcher = asyncio.create_task(self._watch(request, record))
        try:
            return await self._play(request, record, script, responses)
        except (asyncio.CancelledError, ConnectionResetError):
            record.note_client_close()
            raise
        finally:
            watcher.cancel()

    async def _watch(self, request: web.Request, record: RecordedRequest) -> None:
        """Notice a client close while the handler is idle (stalled or paced by the test)."""
        while True:
            transport = request.transport
            if transport is None or transport.is_closing():
                record.note_client_close()
                return
            await asyncio.sleep(WATCH_INTERVAL_S)

    async def _play(
        self, request: web.Request, record: RecordedRequest, script: _Script, responses: bool
    ) -> web.StreamResponse:
        response: web.StreamResponse | None = None
        while True:
            action = await script.queue.get()
            if script.delay:
                await asyncio.sleep(script.delay)
            if isinstance(action, Status):
                if response is not None:
                    raise AssertionError("Status must be the first action of a script")
                record.finished = True
                body = action.body
                if body is None:
                    body = {"error": {"message": action.message, "type": "fake", "code": None}}
                return web.json_response(body, status=action.status)
            if isinstance(action, Reply):
                if response is not None:
                    raise AssertionError("Reply must be the first action of a script")
                record.finished = True
                return web.Response(
                    text=action.text, status=action.status, content_type=action.content_type
                )
            if response is None:
                response = web.StreamResponse(
                    headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
                )
                await response.prepare(request)
            if action is END:
                record.finished = True
                await response.write_eof()
                return response
            if isinstance(action, Pause):
                await asyncio.sleep(action.seconds)
            elif isinstance(action, Stall):
                await asyncio.Event().wait()  # until the handler is cancelled by the close
            elif isinstance(action, Drop):
                record.finished = True
                transport = request.transport
                if transport is not None:
                    transport.abort()
                return response
            elif isinstance(action, Raw):
                await response.write(action.data)
            elif isinstance(action, Done):
                await response.write(b"data: [DONE]\n\n")
            elif isinstance(action, Event):
                await response.write(_sse(action, responses))
            else:  # pragma: no cover - a typo in a test
                raise AssertionError(f"unknown action {action!r}")


def _sse(action: Event, responses: bool) -> bytes:
    data = action.data
    name = action.event
    if isinstance(data, dict):
        if name is None and responses:
            name = data.get("type")
        data = json.dumps(data)
    lines = f"event: {name}\n" if name else ""
    lines += "".join(f"data: {line}\n" for line in data.split("\n"))
    return (lines + "\n").encode()


# ---------------------------------------------------------------------------------------------
# Script builders: what real servers send


def response_created(response_id: str = "resp_1", model: str = "fake-model") -> dict[str, Any]:
    return {
        "type": "response.created",
        "response": {
            "id": response_id,
            "object": "response",
            "status": "in_progress",
            "model": model,
            "output": [],
        },
    }


def response_completed(
    output: list[dict[str, Any]] | None = None, response_id: str = "resp_1"
) -> dict[str, Any]:
    return {
        "type": "response.completed",
        "response": {
            "id": response_id,
            "object": "response",
            "status": "completed",
            "model": "fake-model",
            "output": output or [],
        },
    }


def responses_message(
    item_id: str, chunks: list[str], output_index: int = 0
) -> list[dict[str, Any]]:
    """The Responses events of one assistant message with one output_text part, as OpenAI
    sends them (including the content_part.done that the codec drops)."""
    text = "".join(chunks)
    base = {"item_id": item_id, "output_index": output_index, "content_index": 0}
    events: list[dict[str, Any]] = [
        {
            "type": "response.output_item.added",
            "output_index": output_index,
            "item": {
                "id": item_id,
                "type": "message",
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            },
        },
        {
            "type": "response.content_part.added",
            **base,
            "part": {"type": "output_text", "text": "", "annotations": []},
        },
    ]
    events += [
        {"type": "response.output_text.delta", **base, "delta": c, "logprobs": []} for c in chunks
    ]
    part = {"type": "output_text", "text": text, "annotations": []}
    events += [
        {"type": "response.output_text.done", **base, "text": text, "logprobs": []},
        {"type": "response.content_part.done", **base, "part": part},
        {
            "type": "response.output_item.done",
            "output_index": output_index,
            "item": {
                "id": item_id,
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [part],
            },
        },
    ]
    return events


def responses_function_call(
    item_id: str, call_id: str, name: str, arg_chunks: list[str], output_index: int = 0
) -> list[dict[str, Any]]:
    arguments = "".join(arg_chunks)
    item = {
        "id": item_id,
        "type": "function_call",
        "status": "in_progress",
        "call_id": call_id,
        "name": name,
        "arguments": "",
    }
    events: list[dict[str, Any]] = [
        {"type": "response.output_item.added", "output_index": output_index, "item": item}
    ]
    events += [
        {
            "type": "response.function_call_arguments.delta",
            "item_id": item_id,
            "output_index": output_index,
            "delta": c,
        }
        for c in arg_chunks
    ]
    events += [
        {
            "type": "response.function_call_arguments.done",
            "item_id": item_id,
            "output_index": output_index,
            "arguments": arguments,
            "name": name,
        },
        {
            "type": "response.output_item.done",
            "output_index": output_index,
            "item": {**item, "status": "completed", "arguments": arguments},
        },
    ]
    return events


def chat_chunk(
    delta: dict[str, Any] | None = None,
    finish_reason: str | None = None,
    *,
    chunk_id: str = "chatcmpl-1",
    usage: dict[str, Any] | None = None,
    no_choices: bool = False,
) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "id": chunk_id,
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "fake-model",
        "choices": []
        if no_choices
        else [{"index": 0, "delta": delta or {}, "finish_reason": finish_reason}],
    }
    if usage is not None:
        chunk["usage"] = usage
    return chunk


def chat_tool_delta(
    index: int, *, call_id: str | None = None, name: str | None = None, arguments: str = ""
) -> dict[str, Any]:
    call: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if call_id is not None:
        call["id"] = call_id
        call["type"] = "function"
    if name is not None:
        call["function"]["name"] = name
    return call


def chat_text_script(chunks: list[str]) -> list[Action]:
    actions: list[Action] = [Event(chat_chunk({"role": "assistant", "content": ""}))]
    actions += [Event(chat_chunk({"content": c})) for c in chunks]
    actions += [Event(chat_chunk({}, "stop")), Done()]
    return actions


async def close_quietly(server: FakeOpenAI) -> None:
    with suppress(Exception):
        await server.stop()
