"""Model backends against a local OpenAI-compatible server (the only stand-in), the §5.5
adapter (exact sequences and invariants over random chunkings), the offline demo model, and
the built-in tools."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fakes.openai_server import (
    END,
    Done,
    Drop,
    Event,
    FakeOpenAI,
    Raw,
    Reply,
    Stall,
    Status,
    chat_chunk,
    chat_text_script,
    chat_tool_delta,
    response_completed,
    response_created,
    responses_function_call,
    responses_message,
)
from tui_session.agent.models import (
    CARRIED_EVENTS,
    LIFECYCLE_EVENTS,
    ChatAdapter,
    ChatBackend,
    DemoBackend,
    ModelBackend,
    ModelError,
    ResponsesBackend,
    backend_from_settings,
    sequential_ids,
)
from tui_session.agent.models.demo import chunk_text, demo_answer
from tui_session.agent.tools import (
    CURRENT_TIME,
    DELETE_FILES,
    ToolError,
    builtin_tools,
    get_tool,
)
from tui_session.config import AgentSettings

CLOSE_WITHIN_S = 0.2
USER_HI = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}]


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def make_backend() -> AsyncIterator[Callable[..., Any]]:
    made: list[Any] = []

    def make(api: str, base_url: str, **kwargs: Any) -> ResponsesBackend | ChatBackend:
        kwargs.setdefault("api_key", "sk-test")
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("timeout", 5.0)
        if api == "chat":
            kwargs.setdefault("new_id", sequential_ids())
            backend: Any = ChatBackend("fake-model", base_url=base_url, **kwargs)
        else:
            backend = ResponsesBackend("fake-model", base_url=base_url, **kwargs)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        await backend.aclose()


async def collect(stream: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    async with aclosing(stream) as events:  # type: ignore[type-var]
        return [event async for event in events]


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def free_closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# The invariants every backend's stream keeps (§5.5), and the text it spells


def check_invariants(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Assert the §5.5 invariants; return the reconstructed items by id, in order."""
    items: dict[str, dict[str, Any]] = {}  # id -> {type, open, parts, arguments, args_open}
    parts: dict[tuple[str, int], dict[str, Any]] = {}
    next_index = 0
    text_kinds = {
        "response.output_text": "output_text",
        "response.refusal": "refusal",
        "response.reasoning_text": "reasoning_text",
    }
    for event in events:
        kind = event["type"]
        assert kind in CARRIED_EVENTS or kind in LIFECYCLE_EVENTS, kind
        if kind == "response.output_item.added":
            item = event["item"]
            assert item["id"] not in items, f"duplicate item id {item['id']}"
            assert event["output_index"] == next_index
            next_index += 1
            items[item["id"]] = {
                "type": item["type"],
                "open": True,
                "index": event["output_index"],
                "arguments": "",
                "args_open": item["type"] == "function_call",
                "call_id": item.get("call_id"),
                "name": item.get("name"),
            }
        elif kind == "response.content_part.added":
            item = items[event["item_id"]]
            assert item["open"] and event["output_index"] == item["index"]
            key = (event["item_id"], event["content_index"])
            assert key not in parts, f"part {key} opened twice"
            parts[key] = {"type": event["part"]["type"], "text": "", "open": True}
        elif kind.rsplit(".", 1)[0] in text_kinds:
            prefix, suffix = kind.rsplit(".", 1)
            part = parts[(event["item_id"], event["content_index"])]  # opener came first
            assert part["open"], f"{kind} after the part closed"
            assert part["type"] == text_kinds[prefix]
            assert items[event["item_id"]]["index"] == event["output_index"]
            if suffix == "delta":
                part["text"] += event["delta"]
            else:
                assert suffix == "done"
                field = "refusal" if prefix == "response.refusal" else "text"
                assert event[field] == part["text"]
                part["open"] = False
        elif kind.startswith("response.function_call_arguments."):
            item = items[event["item_id"]]
            assert item["type"] == "function_call" and item["args_open"]
            if kind.endswith(".delta"):
                item["arguments"] += event["delta"]
            else:
                assert event["arguments"] == item["arguments"]
                item["args_open"] = False
        elif kind == "response.output_item.done":
            item = items[event["item"]["id"]]
            assert item["open"], "item closed twice"
            assert not item["args_open"], "function call closed before its arguments"
            assert all(
                not p["open"] for (iid, _), p in parts.items() if iid == event["item"]["id"]
            ), "item closed before its parts"
            if item["type"] == "function_call":
                assert event["item"]["arguments"] == item["arguments"]
            item["open"] = False
    assert all(not i["open"] for i in items.values()), "an item was never closed"
    assert all(not p["open"] for p in parts.values()), "a part was never closed"
    for (item_id, _), part in sorted(parts.items(), key=lambda kv: kv[0][1]):
        items[item_id].setdefault("parts", []).append(part)
    return items


def spelled(items: dict[str, Any], part_type: str) -> str:
    return "".join(
        p["text"]
        for item in items.values()
        for p in item.get("parts", [])
        if p["type"] == part_type
    )


# ---------------------------------------------------------------------------------------------
# Responses backend


async def test_responses_backend_streams_text_and_function_call(server, make_backend):
    message = responses_message("msg_a", ["Hel", "lo ", "there"], output_index=0)
    call = responses_function_call(
        "fc_b", "call_1", "current_time", ['{"time', 'zone": "UTC"}'], output_index=1
    )
    script = [
        response_created(),
        {"type": "response.in_progress", "response": {"id": "resp_1"}},
        *message,
        *call,
        response_completed(),
    ]
    server.script([Event(e) for e in script])
    backend = make_backend("responses", server.base_url)
    assert isinstance(backend, ModelBackend)
    events = await collect(backend.stream(USER_HI, tools=[CURRENT_TIME]))

    dropped = {"response.in_progress", "response.content_part.done"}
    assert events == [e for e in script if e["type"] not in dropped]
    items = check_invariants(events)
    assert spelled(items, "output_text") == "Hello there"
    assert items["fc_b"]["arguments"] == '{"timezone": "UTC"}'

    body = server.requests[0].body
    assert body["model"] == "fake-model" and body["stream"] is True
    assert body["input"] == USER_HI
    assert body["tools"] == [CURRENT_TIME.responses_tool()]
    assert body["tools"][0]["name"] == "current_time"
    assert server.requests[0].headers["Authorization"] == "Bearer sk-test"


async def test_responses_backend_drops_what_the_codec_cannot_carry(server, make_backend, caplog):
    search = {"id": "ws_1", "type": "web_search_call", "status": "in_progress"}
    script = [
        response_created(),
        {"type": "response.output_item.added", "output_index": 0, "item": search},
        {"type": "response.web_search_call.in_progress", "item_id": "ws_1", "output_index": 0},
        {"type": "response.web_search_call.completed", "item_id": "ws_1", "output_index": 0},
        {"type": "response.output_item.done", "output_index": 0, "item": search},
        *responses_message("msg_1", ["a", "b"], output_index=1),
        {
            "type": "response.output_text.annotation.added",
            "item_id": "msg_1",
            "output_index": 1,
            "content_index": 0,
            "annotation_index": 0,
            "annotation": {"type": "url_citation", "url": "https://example.com"},
        },
        {
            "type": "response.output_text.annotation.added",
            "item_id": "msg_1",
            "output_index": 1,
            "content_index": 0,
            "annotation_index": 1,
            "annotation": {"type": "url_citation", "url": "https://example.org"},
        },
        response_completed(),
    ]
    server.script([Event(e) for e in script])
    backend = make_backend("responses", server.base_url)
    with caplog.at_level(logging.INFO, logger="tui_session.agent.models"):
        events = await collect(backend.stream(USER_HI))
    assert types(events) == [
        "response.created",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert all(e.get("item", {}).get("type") != "web_search_call" for e in events)
    annotation_logs = [r for r in caplog.records if "annotation.added" in r.getMessage()]
    assert len(annotation_logs) == 1  # each dropped kind is logged once


async def test_responses_failed_and_error_events_raise(server, make_backend):
    backend = make_backend("responses", server.base_url)
    failed = {
        "type": "response.failed",
        "response": {"id": "resp_1", "status": "failed", "error": {"message": "overloaded"}},
    }
    server.script([Event(response_created()), Event(failed)])
    with pytest.raises(ModelError, match="model failed: overloaded"):
        await collect(backend.stream(USER_HI))
    server.script([Event({"type": "error", "code": "server_error", "message": "kaput"})])
    with pytest.raises(ModelError, match="model reported an error: kaput"):
        await collect(backend.stream(USER_HI))


# ---------------------------------------------------------------------------------------------
# Closing the stream closes the upstream request at once (both backends)


def _opening(api: str) -> list[Event]:
    if api == "responses":
        return [Event(e) for e in [response_created(), *responses_message("m", ["a", "b"])[:3]]]
    return [Event(chat_chunk({"role": "assistant"})), Event(chat_chunk({"content": "Hi"}))]


@pytest.mark.parametrize("api", ["responses", "chat"])
async def test_aclose_mid_answer_closes_the_upstream_request(server, make_backend, api):
    queue = server.script_queue()
    for action in _opening(api):
        await queue.put(action)
    stream = make_backend(api, server.base_url).stream(USER_HI)
    first = await anext(stream)
    assert first["type"] == "response.created"
    await anext(stream)
    record = server.requests[0]
    assert not record.client_closed

    started = time.monotonic()
    await stream.aclose()
    closed_at = await record.wait_closed(timeout=2)
    assert closed_at - started < CLOSE_WITHIN_S
    assert record.client_closed and not record.finished


@pytest.mark.parametrize("api", ["responses", "chat"])
async def test_cancelling_the_consumer_closes_the_upstream_request(server, make_backend, api):
    queue = server.script_queue()
    for action in _opening(api):
        await queue.put(action)
    await queue.put(Stall())  # the model is "thinking": nothing arrives
    stream = make_backend(api, server.base_url).stream(USER_HI)
    received: list[dict[str, Any]] = []
    got_text = asyncio.Event()

    async def consume() -> None:
        async for event in stream:
            received.append(event)
            if "delta" in event:
                got_text.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got_text.wait(), 5)
    await asyncio.sleep(0.05)  # the consumer is now blocked reading the socket
    record = server.requests[0]
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    closed_at = await record.wait_closed(timeout=2)
    assert closed_at - started < CLOSE_WITHIN_S


# ---------------------------------------------------------------------------------------------
# Failures become ModelError with a clear message (both backends)


def _text_event(api: str) -> Event:
    if api == "responses":
        return Event(response_created())
    return Event(chat_chunk({"content": "partial"}))


@pytest.mark.parametrize("api", ["responses", "chat"])
async def test_dead_endpoint_is_unreachable(make_backend, api):
    url = f"http://127.0.0.1:{free_closed_port()}/v1"
    backend = make_backend(api, url)
    with pytest.raises(ModelError) as caught:
        await collect(backend.stream(USER_HI))
    assert str(caught.value) == f"model endpoint {url} unreachable"


@pytest.mark.parametrize("api", ["responses", "chat"])
@pytest.mark.parametrize(
    ("status", "message"),
    [(500, "The server had an error"), (401, "Incorrect API key provided"), (404, "no model")],
)
async def test_http_errors(server, make_backend, api, status, message):
    server.script([Status(status, message)])
    with pytest.raises(ModelError) as caught:
        await collect(make_backend(api, server.base_url).stream(USER_HI))
    assert str(caught.value) == f"model returned HTTP {status}: {message}"


@pytest.mark.parametrize("api", ["responses", "chat"])
async def test_http_error_with_a_plain_text_body(server, make_backend, api):
    server.script([Reply("upstream gateway exploded", status=502, content_type="text/plain")])
    with pytest.raises(ModelError, match="model returned HTTP 502: upstream gateway exploded"):
        await collect(make_backend(api, server.base_url).stream(USER_HI))


@pytest.mark.parametrize("api", ["responses", "chat"])
@pytest.mark.parametrize(
    "garbage", [b"data: {this is not json\n\n", b"data: 42\n\n", b'data: {"no": "type"}\n\n']
)
async def test_garbage_is_malformed_data(server, make_backend, api, garbage):
    if api == "chat" and garbage.startswith(b'data: {"no"'):
        garbage = b'data: {"choices": "not a list"}\n\n'
    server.script([Raw(garbage)])
    with pytest.raises(ModelError, match=r"^model sent malformed data"):
        await collect(make_backend(api, server.base_url).stream(USER_HI))


@pytest.mark.parametrize("api", ["responses", "chat"])
async def test_html_instead_of_an_event_stream(server, make_backend, api):
    server.script([Reply("<html><body>Welcome to nginx!</body></html>")])
    with pytest.raises(ModelError) as caught:
        await collect(make_backend(api, server.base_url).stream(USER_HI))
    assert str(caught.value) == (
        "model sent malformed data (expected an event stream, got text/html; charset=utf-8)"
    )


@pytest.mark.parametrize("api", ["responses", "chat"])
async def test_connection_dropped_mid_stream(server, make_backend, api):
    server.script([*_opening(api), Drop()])
    received: list[dict[str, Any]] = []
    with pytest.raises(ModelError) as caught:
        async with aclosing(make_backend(api, server.base_url).stream(USER_HI)) as stream:
            async for event in stream:
                received.append(event)
    assert received  # the start arrived before the cut
    assert str(caught.value) == f"model connection to {server.base_url} was lost mid-stream"


@pytest.mark.parametrize("api", ["responses", "chat"])
async def test_stream_ending_without_a_response(server, make_backend, api):
    # A clean end of the body before response.completed / a finish_reason (chat: even [DONE]).
    tail = [] if api == "responses" else [Done()]
    server.script([*_opening(api), *tail])
    with pytest.raises(ModelError, match=r"^model stream ended without a response$"):
        await collect(make_backend(api, server.base_url).stream(USER_HI))


@pytest.mark.parametrize("api", ["responses", "chat"])
async def test_stall_hits_the_configured_timeout(server, make_backend, api):
    server.script([*_opening(api), Stall()])
    backend = make_backend(api, server.base_url, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(ModelError) as caught:
        await collect(backend.stream(USER_HI))
    elapsed = time.monotonic() - started
    assert str(caught.value) == (
        f"model endpoint {server.base_url} stopped sending (timed out mid-stream)"
    )
    assert 0.25 <= elapsed < 3
    await server.requests[0].wait_closed(timeout=2)  # and the request was closed


@pytest.mark.parametrize("api", ["responses", "chat"])
async def test_stall_before_the_first_event(server, make_backend, api):
    server.script([Stall()])
    with pytest.raises(ModelError, match=f"^model endpoint {server.base_url} timed out$"):
        await collect(make_backend(api, server.base_url, timeout=0.3).stream(USER_HI))


async def test_chat_error_object_in_the_stream(server, make_backend):
    server.script([_text_event("chat"), Event({"error": {"message": "context too long"}})])
    with pytest.raises(ModelError, match="context too long"):
        await collect(make_backend("chat", server.base_url).stream(USER_HI))


# ---------------------------------------------------------------------------------------------
# Chat backend over HTTP


async def test_chat_backend_streams_text_and_tool_call(server, make_backend):
    context = [
        {"type": "message", "role": "system", "content": "Be brief."},
        *USER_HI,
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Hello!"}],
        },
        {"type": "reasoning", "id": "rs_0", "summary": []},
        {"type": "function_call", "call_id": "c0", "name": "current_time", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c0", "output": "12:00"},
        {"role": "user", "content": "and now?"},
    ]
    server.script(
        [
            Event(chat_chunk({"role": "assistant", "content": ""})),
            Event(chat_chunk({"content": "Let me check."})),
            Event(
                chat_chunk({"tool_calls": [chat_tool_delta(0, call_id="c1", name="current_time")]})
            ),
            Event(chat_chunk({"tool_calls": [chat_tool_delta(0, arguments="{}")]})),
            Event(chat_chunk({}, "tool_calls")),
            Event(chat_chunk(no_choices=True, usage={"prompt_tokens": 7, "completion_tokens": 3})),
            Done(),
        ]
    )
    backend = make_backend("chat", server.base_url)
    events = await collect(backend.stream(context, tools=builtin_tools()))
    assert types(events) == [
        "response.created",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    items = check_invariants(events)
    call = next(i for i in items.values() if i["type"] == "function_call")
    assert (call["call_id"], call["name"], call["arguments"]) == ("c1", "current_time", "{}")

    body = server.requests[0].body
    assert body["stream"] is True and body["model"] == "fake-model"
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": "Hello!",
            "tool_calls": [
                {
                    "id": "c0",
                    "type": "function",
                    "function": {"name": "current_time", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c0", "content": "12:00"},
        {"role": "user", "content": "and now?"},
    ]
    assert body["tools"] == [t.chat_tool() for t in builtin_tools()]
    assert body["tools"][1]["function"]["name"] == "delete_files"


async def test_chat_backend_plain_text(server, make_backend):
    server.script(chat_text_script(["Hi", " there", "!"]))
    events = await collect(make_backend("chat", server.base_url).stream(USER_HI))
    assert events[0]["type"] == "response.created" and events[-1]["type"] == "response.completed"
    assert spelled(check_invariants(events), "output_text") == "Hi there!"


async def test_chat_backend_length_finish_is_incomplete(server, make_backend):
    server.script(
        [
            Event(chat_chunk({"content": "Once upon"})),
            Event(chat_chunk({}, "length")),
            Done(),
        ]
    )
    events = await collect(make_backend("chat", server.base_url).stream(USER_HI))
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    check_invariants(events)


async def test_chat_backend_paced_by_the_test(server, make_backend):
    queue = server.script_queue()
    stream = make_backend("chat", server.base_url).stream(USER_HI)
    async with aclosing(stream):
        await queue.put(Event(chat_chunk({"content": "one"})))
        assert (await anext(stream))["type"] == "response.created"
        assert (await anext(stream))["type"] == "response.output_item.added"
        assert (await anext(stream))["type"] == "response.content_part.added"
        assert (await anext(stream))["delta"] == "one"
        await queue.put(Event(chat_chunk({"content": " two"})))
        assert (await anext(stream))["delta"] == " two"
        await queue.put(Event(chat_chunk({}, "stop")))
        await queue.put(Done())
        await queue.put(END)
        rest = [event async for event in stream]
    assert types(rest) == [
        "response.output_text.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert rest[0]["text"] == "one two"


# ---------------------------------------------------------------------------------------------
# The §5.5 adapter, exact sequences


def feed_all(chunks: list[dict[str, Any]], *, finish: bool = False) -> list[dict[str, Any]]:
    adapter = ChatAdapter(sequential_ids())
    events = [e for chunk in chunks for e in adapter.feed(chunk)]
    if finish:
        events += adapter.finish()
    return events


def test_adapter_text_sequence():
    events = feed_all(
        [
            chat_chunk({"role": "assistant"}),
            chat_chunk({"content": "Hel"}),
            chat_chunk({"content": "lo"}),
            chat_chunk({}, "stop"),
            chat_chunk(no_choices=True, usage={"prompt_tokens": 1, "completion_tokens": 2}),
        ]
    )
    loc = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    assert events == [
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "status": "in_progress",
                "content": [],
            },
        },
        {
            "type": "response.content_part.added",
            **loc,
            "part": {"type": "output_text", "text": "", "annotations": []},
        },
        {"type": "response.output_text.delta", **loc, "delta": "Hel"},
        {"type": "response.output_text.delta", **loc, "delta": "lo"},
        {"type": "response.output_text.done", **loc, "text": "Hello"},
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": "Hello", "annotations": []}],
            },
        },
    ]


def test_adapter_parallel_tool_calls_with_split_arguments():
    events = feed_all(
        [
            chat_chunk({"role": "assistant", "content": None}),
            chat_chunk({"tool_calls": [chat_tool_delta(0, call_id="call_a", name="current_time")]}),
            chat_chunk({"tool_calls": [chat_tool_delta(0, arguments='{"timez')]}),
            chat_chunk({"tool_calls": [chat_tool_delta(1, name="delete_files", arguments='{"pa')]}),
            chat_chunk(
                {
                    "tool_calls": [
                        chat_tool_delta(0, arguments='one": "UTC"}'),
                        chat_tool_delta(1, arguments='ths": ["a"]}'),
                    ]
                }
            ),
            chat_chunk({}, "tool_calls"),
        ]
    )
    fc0 = {"item_id": "fc_1", "output_index": 0}
    fc1 = {"item_id": "fc_2", "output_index": 1}
    assert events == [
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {
                "id": "fc_1",
                "type": "function_call",
                "call_id": "call_a",
                "name": "current_time",
                "arguments": "",
                "status": "in_progress",
            },
        },
        {"type": "response.function_call_arguments.delta", **fc0, "delta": '{"timez'},
        {
            "type": "response.output_item.added",
            "output_index": 1,
            "item": {
                "id": "fc_2",
                "type": "function_call",
                "call_id": "call_3",  # minted: the server sent no id
                "name": "delete_files",
                "arguments": "",
                "status": "in_progress",
            },
        },
        {"type": "response.function_call_arguments.delta", **fc1, "delta": '{"pa'},
        {"type": "response.function_call_arguments.delta", **fc0, "delta": 'one": "UTC"}'},
        {"type": "response.function_call_arguments.delta", **fc1, "delta": 'ths": ["a"]}'},
        {
            "type": "response.function_call_arguments.done",
            **fc0,
            "arguments": '{"timezone": "UTC"}',
            "name": "current_time",
        },
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {
                "id": "fc_1",
                "type": "function_call",
                "call_id": "call_a",
                "name": "current_time",
                "arguments": '{"timezone": "UTC"}',
                "status": "completed",
            },
        },
        {
            "type": "response.function_call_arguments.done",
            **fc1,
            "arguments": '{"paths": ["a"]}',
            "name": "delete_files",
        },
        {
            "type": "response.output_item.done",
            "output_index": 1,
            "item": {
                "id": "fc_2",
                "type": "function_call",
                "call_id": "call_3",
                "name": "delete_files",
                "arguments": '{"paths": ["a"]}',
                "status": "completed",
            },
        },
    ]


def test_adapter_whole_call_in_one_chunk_yields_one_delta():
    events = feed_all(
        [
            chat_chunk(
                {"tool_calls": [chat_tool_delta(0, call_id="c", name="f", arguments='{"x": 1}')]},
                "tool_calls",
            )
        ]
    )
    assert types(events) == [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
    ]


@pytest.mark.parametrize("key", ["reasoning_content", "reasoning"])
def test_adapter_reasoning_then_text(key):
    events = feed_all(
        [
            chat_chunk({key: "Think"}),
            chat_chunk({key: "ing."}),
            chat_chunk({"content": "Answer"}),
            chat_chunk({}, "stop"),
        ]
    )
    rs = {"item_id": "rs_1", "output_index": 0, "content_index": 0}
    msg = {"item_id": "msg_2", "output_index": 1, "content_index": 0}
    assert events == [
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"id": "rs_1", "type": "reasoning", "summary": []},
        },
        {
            "type": "response.content_part.added",
            **rs,
            "part": {"type": "reasoning_text", "text": ""},
        },
        {"type": "response.reasoning_text.delta", **rs, "delta": "Think"},
        {"type": "response.reasoning_text.delta", **rs, "delta": "ing."},
        {"type": "response.reasoning_text.done", **rs, "text": "Thinking."},
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {
                "id": "rs_1",
                "type": "reasoning",
                "summary": [],
                "content": [{"type": "reasoning_text", "text": "Thinking."}],
                "status": "completed",
            },
        },
        {
            "type": "response.output_item.added",
            "output_index": 1,
            "item": {
                "id": "msg_2",
                "type": "message",
                "role": "assistant",
                "status": "in_progress",
                "content": [],
            },
        },
        {
            "type": "response.content_part.added",
            **msg,
            "part": {"type": "output_text", "text": "", "annotations": []},
        },
        {"type": "response.output_text.delta", **msg, "delta": "Answer"},
        {"type": "response.output_text.done", **msg, "text": "Answer"},
        {
            "type": "response.output_item.done",
            "output_index": 1,
            "item": {
                "id": "msg_2",
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": "Answer", "annotations": []}],
            },
        },
    ]


def test_adapter_refusal_and_text_share_one_message():
    events = feed_all(
        [
            chat_chunk({"content": "Sorry: "}),
            chat_chunk({"refusal": "I can't"}),
            chat_chunk({"refusal": " help."}),
            chat_chunk({}, "stop"),
        ]
    )
    assert types(events) == [
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.added",
        "response.refusal.delta",
        "response.refusal.delta",
        "response.refusal.done",
        "response.output_item.done",
    ]
    assert events[4]["part"] == {"type": "refusal", "refusal": ""}
    assert events[4]["content_index"] == 1
    assert events[7]["refusal"] == "I can't help."
    assert events[-1]["item"]["content"] == [
        {"type": "output_text", "text": "Sorry: ", "annotations": []},
        {"type": "refusal", "refusal": "I can't help."},
    ]
    check_invariants(events)


def test_adapter_ignores_usage_and_role_only_chunks():
    adapter = ChatAdapter(sequential_ids())
    assert adapter.feed(chat_chunk({"role": "assistant"})) == []
    assert adapter.feed(chat_chunk({"role": "assistant", "content": ""})) == []
    assert adapter.feed(chat_chunk(no_choices=True, usage={"prompt_tokens": 3})) == []
    assert adapter.usage == {"prompt_tokens": 3}
    assert adapter.finish() == []


def test_adapter_stream_end_without_finish_reason_closes_everything():
    events = feed_all(
        [chat_chunk({"content": "a"}), chat_chunk({"tool_calls": [chat_tool_delta(0, name="f")]})],
        finish=True,
    )
    check_invariants(events)
    assert types(events)[-2:] == [
        "response.function_call_arguments.done",
        "response.output_item.done",
    ]


def test_adapter_error_chunk_raises():
    with pytest.raises(ModelError, match="rate limited"):
        ChatAdapter().feed({"error": {"message": "rate limited"}})


def test_adapter_default_ids_are_unique_across_passes():
    first = ChatAdapter().feed(chat_chunk({"content": "x"}, "stop"))
    second = ChatAdapter().feed(chat_chunk({"content": "x"}, "stop"))
    assert first[0]["item"]["id"] != second[0]["item"]["id"]
    assert first[0]["item"]["id"].startswith("msg_")


# ---------------------------------------------------------------------------------------------
# The §5.5 adapter, invariants over random chunkings


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
_segment = st.one_of(
    st.tuples(st.sampled_from(["content", "refusal", "reasoning_content", "reasoning"]), _text)
)
_call = st.tuples(
    st.text("abcdef_", min_size=1, max_size=6),  # name
    st.text(min_size=0, max_size=20),  # arguments
    st.booleans(),  # whether the server sends an id
)


def _split(data: st.DataObject, text: str) -> list[str]:
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=4)))
    cuts = [c for c in cuts if 0 < c < len(text)]
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    segments=st.lists(_segment, max_size=6),
    calls=st.lists(_call, max_size=3),
    finish=st.sampled_from(["stop", "tool_calls", None]),
)
def test_adapter_invariants_over_random_chunkings(data, segments, calls, finish):
    chunks: list[dict[str, Any]] = [chat_chunk({"role": "assistant"})]
    for key, text in segments:
        for piece in _split(data, text):
            chunks.append(chat_chunk({key: piece}))
            if data.draw(st.booleans()):
                chunks.append(chat_chunk(no_choices=True, usage={"total_tokens": 1}))
    # Tool calls: each call's fragments in order, calls interleaved at random.
    pending = []
    for index, (name, arguments, has_id) in enumerate(calls):
        pieces = _split(data, arguments) if arguments else []
        first = chat_tool_delta(index, call_id=f"id{index}" if has_id else None, name=name)
        if pieces and data.draw(st.booleans()):
            first["function"]["arguments"] = pieces.pop(0)
        pending.append([first] + [chat_tool_delta(index, arguments=p) for p in pieces])
    opened: list[int] = []  # call indexes in the order their first fragment goes out
    while any(pending):
        live = [p for p in pending if p]
        batch = []
        for queue in data.draw(st.lists(st.sampled_from(live), min_size=1, max_size=2)):
            if queue:
                batch.append(queue.pop(0))
                if batch[-1]["index"] not in opened:
                    opened.append(batch[-1]["index"])
        chunks.append(chat_chunk({"tool_calls": batch}))
    if finish:
        chunks.append(chat_chunk({}, finish))
    events = feed_all(chunks, finish=finish is None)

    items = check_invariants(events)
    by_kind = {"content": "", "refusal": "", "reasoning": ""}
    for key, text in segments:
        by_kind["reasoning" if key.startswith("reasoning") else key] += text
    assert spelled(items, "output_text") == by_kind["content"]
    assert spelled(items, "refusal") == by_kind["refusal"]
    assert spelled(items, "reasoning_text") == by_kind["reasoning"]
    got_calls = [i for i in items.values() if i["type"] == "function_call"]
    expected = [(i, *calls[i]) for i in opened]
    assert [(c["name"], c["arguments"]) for c in got_calls] == [(n, a) for _, n, a, _ in expected]
    for call, (index, _, _, has_id) in zip(got_calls, expected, strict=True):
        assert call["call_id"] == f"id{index}" if has_id else call["call_id"].startswith("call_")
    assert len({c["call_id"] for c in got_calls}) == len(got_calls)


# ---------------------------------------------------------------------------------------------
# The offline demo model


def user(text: str) -> list[dict[str, Any]]:
    return [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}]


def demo(pace: float = 0) -> DemoBackend:
    return DemoBackend(pace=pace, new_id=sequential_ids())


def text_of(events: list[dict[str, Any]]) -> str:
    return "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")


def calls_of(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        e["item"]
        for e in events
        if e["type"] == "response.output_item.done" and e["item"]["type"] == "function_call"
    ]


async def test_demo_answers_in_markdown_and_says_what_it_is():
    backend = demo()
    assert (backend.name, backend.is_demo) == ("offline-demo", True)
    assert isinstance(backend, ModelBackend)
    events = await collect(backend.stream(user("Explain event sourcing briefly")))
    assert events[0]["type"] == "response.created" and events[-1]["type"] == "response.completed"
    check_invariants(events[1:-1])
    text = text_of(events)
    assert text == demo_answer("Explain event sourcing briefly")
    assert "offline demo model" in text and "not a language model" in text
    assert "Explain event sourcing briefly" in text
    assert "\n- " in text and "```python\n" in text and text.rstrip().endswith("```")
    assert len([e for e in events if e["type"] == "response.output_text.delta"]) > 20
    assert calls_of(events) == []


async def test_demo_is_deterministic():
    context = user("What is a durable session?")
    first = await collect(demo().stream(context))
    second = await collect(demo().stream(context))
    assert first == second
    other = await collect(demo().stream(user("Something else entirely")))
    assert text_of(other) != text_of(first)


async def test_demo_uses_the_last_user_message():
    context = [
        *user("first question"),
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "x"}]},
        {"role": "user", "content": "second question"},
    ]
    text = text_of(await collect(demo().stream(context)))
    assert "second question" in text and "first question" not in text


async def test_demo_calls_current_time_and_answers_with_its_output():
    context = user("What time is it?")
    events = await collect(demo().stream(context, tools=builtin_tools()))
    check_invariants(events[1:-1])
    [call] = calls_of(events)
    assert call["name"] == "current_time" and json.loads(call["arguments"]) == {"timezone": "UTC"}
    assert "current_time" in text_of(events)  # a short note before the call

    output = CURRENT_TIME.run(call["arguments"])
    context += [
        {k: call[k] for k in ("type", "call_id", "name", "arguments")},
        {"type": "function_call_output", "call_id": call["call_id"], "output": output},
    ]
    answer = await collect(demo().stream(context, tools=builtin_tools()))
    assert calls_of(answer) == []
    assert output in text_of(answer) and "offline demo model" in text_of(answer)


@pytest.mark.parametrize("prompt", ["please delete notes.txt and /tmp/a.log", "Approve this"])
async def test_demo_calls_a_tool_that_needs_approval(prompt):
    events = await collect(demo().stream(user(prompt)))  # tools=None: the built-ins
    [call] = calls_of(events)
    assert call["name"] == "delete_files" and get_tool("delete_files").needs_approval
    paths = json.loads(call["arguments"])["paths"]
    expected = ["notes.txt", "/tmp/a.log"] if "delete" in prompt else ["example.txt"]
    assert paths == expected
    assert "needs your approval" in text_of(events)


async def test_demo_calls_only_offered_tools():
    events = await collect(demo().stream(user("what time is it"), tools=[]))
    assert calls_of(events) == []
    assert "offline demo model" in text_of(events)


async def test_demo_honours_its_pace():
    # Lower bound only: the configured delay is really slept between deltas.
    pace = 200.0
    started = time.monotonic()
    events = await collect(DemoBackend(pace=pace).stream(user("time")))
    elapsed = time.monotonic() - started
    deltas = [e for e in events if e["type"].endswith(".delta")]
    assert elapsed >= 0.9 * len(deltas) / pace
    # and pace 0 does not sleep between tokens (generous bound)
    started = time.monotonic()
    await collect(DemoBackend(pace=0).stream(user("a much longer prompt " * 20)))
    assert time.monotonic() - started < 1.0


async def test_demo_stream_can_be_cancelled_mid_answer():
    stream = DemoBackend(pace=5).stream(user("hello"))
    await anext(stream)
    started = time.monotonic()
    await stream.aclose()
    assert time.monotonic() - started < 0.1


def test_chunk_text_joins_back():
    text = "Hello,  world\n\n- item\n```py\nx = 1\n```"
    assert "".join(chunk_text(text)) == text
    assert len(chunk_text(text)) >= 6


# ---------------------------------------------------------------------------------------------
# backend_from_settings


async def test_backend_from_settings():
    chosen = [
        backend_from_settings(AgentSettings()),
        backend_from_settings(AgentSettings(model="")),
        backend_from_settings(AgentSettings(model="offline-demo", api_key="sk")),
        backend_from_settings(AgentSettings(base_url="http://127.0.0.1:9/v1")),
        backend_from_settings(AgentSettings(base_url="http://127.0.0.1:9/v1", api="chat")),
        backend_from_settings(AgentSettings(api_key="sk-x")),
    ]
    try:
        assert [type(b).__name__ for b in chosen] == [
            "DemoBackend",
            "DemoBackend",
            "DemoBackend",
            "ResponsesBackend",
            "ChatBackend",
            "ResponsesBackend",
        ]
        assert chosen[0].name == "offline-demo" and chosen[0].is_demo
        assert chosen[3].name == "gpt-4.1-mini" and not chosen[3].is_demo
        assert chosen[3].endpoint == "http://127.0.0.1:9/v1"
        assert chosen[5].endpoint.startswith("https://")
    finally:
        for backend in chosen:
            await backend.aclose()


# ---------------------------------------------------------------------------------------------
# Built-in tools


def test_tool_specs_in_both_formats():
    for tool in builtin_tools():
        assert tool.responses_tool() == {
            "type": "function",
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
            "strict": False,
        }
        assert tool.chat_tool()["function"]["parameters"] == tool.parameters
        assert tool.parameters["type"] == "object"
    assert not CURRENT_TIME.needs_approval and DELETE_FILES.needs_approval
    assert get_tool("nope") is None


def test_current_time_tool():
    out = CURRENT_TIME.run("{}")
    assert out.endswith("(UTC)") and "T" in out and "+00:00" in out
    assert CURRENT_TIME.run({"timezone": "Europe/Paris"}).endswith("(Europe/Paris)")
    assert CURRENT_TIME.run("").endswith("(UTC)") and CURRENT_TIME.run(None).endswith("(UTC)")
    with pytest.raises(ToolError, match="unknown time zone"):
        CURRENT_TIME.run('{"timezone": "Mars/Olympus"}')
    with pytest.raises(ToolError, match="not valid JSON"):
        CURRENT_TIME.run("{")


def test_delete_files_is_a_simulation(tmp_path):
    victim = tmp_path / "keep.txt"
    victim.write_text("still here")
    out = DELETE_FILES.run(json.dumps({"paths": [str(victim)]}))
    assert "nothing was deleted" in out and str(victim) in out
    assert victim.read_text() == "still here"
    with pytest.raises(ToolError, match="paths"):
        DELETE_FILES.run("{}")
