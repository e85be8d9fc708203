"""The agent service over real HTTP, on a real hub, with a local OpenAI-compatible server.

Clients publish their inputs with the real SDK (tests/transport/agent_helpers.Client) and wake
the service with POST /api/chat, exactly as a terminal does; a raw subscriber records the wire.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fakes.openai_server import (
    Event,
    FakeOpenAI,
    Raw,
    Stall,
    Status,
    close_quietly,
    response_completed,
    response_created,
    responses_function_call,
    responses_message,
)
from tests.support.agent import post, running_agent, streamed_text
from tests.support.hub import HubEndpoint, wait_until
from tests.transport.agent_helpers import Client, Wire, invocation, recorder, transport
from tui_session.agent.launch import AblyTarget, start_agent
from tui_session.config import AgentSettings

CHANNEL = "session:svc"


@pytest.fixture
async def model() -> AsyncIterator[FakeOpenAI]:
    server = FakeOpenAI()
    await server.start()
    yield server
    await close_quietly(server)


def agent_settings(server: FakeOpenAI, **overrides: Any) -> AgentSettings:
    base = AgentSettings(
        host="127.0.0.1",
        port=0,
        model="fake-model",
        base_url=server.base_url,
        api_key="test-key",
        model_timeout_s=5.0,
        trigger_deadline_s=2.0,
    )
    return replace(base, **overrides)


def text_answer(text_chunks: list[str], item_id: str = "msg_1") -> list[Event]:
    return [
        Event(response_created()),
        *(Event(e) for e in responses_message(item_id, text_chunks)),
        Event(response_completed()),
    ]


async def wait_until_async(read: Any, expected: Any, timeout: float = 10.0) -> None:
    """Re-read an async value (a presence get) until it equals `expected`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (value := await read()) != expected:
        assert loop.time() < deadline, f"still {value!r}, expected {expected!r}"
        await asyncio.sleep(0.05)  # polling a remote read, not synchronising on time


async def run_end(wire: Wire, run_id: str) -> dict[str, Any]:
    return await wire.wait_for(lambda _msgs: wire.run_end(run_id))


async def test_full_run_arrives_on_the_channel(
    hub: HubEndpoint, model: FakeOpenAI, tmp_path: Path
) -> None:
    model.script(text_answer(["Hello", ", ", "world"]))
    wire = await recorder(hub, CHANNEL)
    alice = await Client.connect(hub, CHANNEL, "alice")
    async with running_agent(hub, agent_settings(model), tmp_path) as agent:
        _cmid, event_id = await alice.prompt("Say hello")
        status, ids = await post(agent, invocation(event_id, CHANNEL))
        assert status == 200 and ids["runId"] and ids["invocationId"]
        end = await run_end(wire, ids["runId"])
        assert transport(end)["run-reason"] == "complete"
        assert streamed_text(wire, ids["runId"]) == "Hello, world"
        names = [m["name"] for m in wire.items if transport(m).get("run-id") == ids["runId"]]
        assert names[0] == "ai-run-start" and names[-1] == "ai-run-end"
        request = await model.wait_request()
        assert request.body["model"] == "fake-model"
        assert any("Say hello" in str(item) for item in request.body["input"]), (
            "the model's context is the conversation as the channel holds it"
        )
        # The agent is present, labelled with its model.
        watcher = hub.realtime("watcher")
        members = await watcher.channels.get(CHANNEL).presence.get()
        [agent_member] = [m for m in members if m.client_id == "agent"]
        assert agent_member.data["kind"] == "agent" and agent_member.data["model"] == "fake-model"


async def test_a_second_post_for_the_same_input_starts_nothing(
    hub: HubEndpoint, model: FakeOpenAI, tmp_path: Path
) -> None:
    model.script(text_answer(["once"]))
    wire = await recorder(hub, CHANNEL)
    alice = await Client.connect(hub, CHANNEL, "alice")
    async with running_agent(hub, agent_settings(model), tmp_path) as agent:
        _cmid, event_id = await alice.prompt("Once please")
        _, first = await post(agent, invocation(event_id, CHANNEL))
        await run_end(wire, first["runId"])
        status, second = await post(agent, invocation(event_id, CHANNEL))
        assert status == 200 and second == first
        starts = [m for m in wire.items if m["name"] == "ai-run-start"]
        assert len(starts) == 1


async def test_cancel_from_another_device_closes_the_model_request(
    hub: HubEndpoint, model: FakeOpenAI, tmp_path: Path
) -> None:
    queue = model.script_queue()
    await queue.put(Event(response_created()))
    for event in responses_message("msg_1", ["Once upon a time"])[:3]:  # opened, one delta
        await queue.put(Event(event))
    await queue.put(Stall())
    wire = await recorder(hub, CHANNEL)
    alice = await Client.connect(hub, CHANNEL, "alice")
    alice_phone = await Client.connect(hub, CHANNEL, "alice")  # the same user, another device
    async with running_agent(hub, agent_settings(model), tmp_path) as agent:
        _cmid, event_id = await alice.prompt("Tell a long story")
        _, ids = await post(agent, invocation(event_id, CHANNEL))
        request = await model.wait_request()
        await wire.wait_for(
            lambda msgs: any(m.get("data") == "Once upon a time" for m in msgs), timeout=5
        )
        loop = asyncio.get_running_loop()
        await alice_phone.cancel(run_id=ids["runId"])
        sent_at = loop.time()
        closed_after = await request.wait_closed() - sent_at
        assert closed_after < 0.2, f"upstream closed {closed_after * 1000:.0f} ms after cancel"
        end = await run_end(wire, ids["runId"])
        assert transport(end)["run-reason"] == "cancelled"
        assert streamed_text(wire, ids["runId"]) == "Once upon a time", "partial text kept"


async def test_steer_mid_stream_is_answered_in_the_next_pass(
    hub: HubEndpoint, model: FakeOpenAI, tmp_path: Path
) -> None:
    first = model.script_queue()
    await first.put(Event(response_created()))
    for event in responses_message("msg_1", ["Forests are"])[:3]:
        await first.put(Event(event))
    await first.put(Stall())
    model.script(text_answer(["Mountains are tall."], item_id="msg_2"))
    wire = await recorder(hub, CHANNEL)
    alice = await Client.connect(hub, CHANNEL, "alice")
    async with running_agent(hub, agent_settings(model), tmp_path) as agent:
        _cmid, event_id = await alice.prompt("Write about forests")
        _, ids = await post(agent, invocation(event_id, CHANNEL))
        request = await model.wait_request()
        await wire.wait_for(lambda msgs: any(m.get("data") == "Forests are" for m in msgs))
        steer_cmid, _ = await alice.prompt("Actually, mountains", run_id=ids["runId"])
        await request.wait_closed()  # the steer stopped the first model call
        end = await run_end(wire, ids["runId"])
        assert transport(end)["run-reason"] == "complete"
        second = await model.wait_request(2)
        assert "mountains" in str(second.body["input"]), "the steer is in the next pass's input"
        stamped = [
            m for m in wire.items if steer_cmid in transport(m).get("steer-codec-message-ids", "")
        ]
        assert stamped, "the next pass's outputs name the steer they answer"


async def test_tool_approval_from_a_second_device_resumes_the_run(
    hub: HubEndpoint, model: FakeOpenAI, tmp_path: Path
) -> None:
    model.script(
        [
            Event(response_created()),
            *(
                Event(e)
                for e in responses_function_call(
                    "fc_1", "call_1", "delete_files", ['{"paths": ', '["a.txt"]}']
                )
            ),
            Event(response_completed()),
        ]
    )
    model.script(text_answer(["Deleted (simulated)."], item_id="msg_2"))
    wire = await recorder(hub, CHANNEL)
    alice = await Client.connect(hub, CHANNEL, "alice")
    operator = await Client.connect(hub, CHANNEL, "alice")  # alice on her second device
    async with running_agent(hub, agent_settings(model), tmp_path) as agent:
        _cmid, event_id = await alice.prompt("Delete a.txt please")
        _, ids = await post(agent, invocation(event_id, CHANNEL))
        suspend = await wire.wait_for(
            lambda msgs: next((m for m in msgs if m["name"] == "ai-run-suspend"), None)
        )
        assert transport(suspend)["run-id"] == ids["runId"]
        [request] = [
            m
            for m in wire.items
            if (m.get("extras") or {}).get("ai", {}).get("codec", {}).get("kind")
            == "tool-approval-request"
        ]
        message_cmid = transport(request)["codec-message-id"]
        # Every device sees the agent waiting for the approval, not idle.
        watcher = hub.realtime("watcher")
        presence = watcher.channels.get(CHANNEL).presence

        async def agent_status() -> str:
            members = await presence.get()
            return next(m.data["status"] for m in members if m.client_id == "agent")

        await wait_until_async(agent_status, "waiting for approval")
        approval_event = await operator.approve(message_cmid, ids["runId"], "call_1")
        status, resumed = await post(agent, invocation(approval_event, CHANNEL))
        assert status == 200 and resumed["runId"] == ids["runId"]
        end = await run_end(wire, ids["runId"])
        assert transport(end)["run-reason"] == "complete"
        outputs = [
            m
            for m in wire.items
            if (m.get("extras") or {}).get("ai", {}).get("codec", {}).get("kind")
            == "function_call_output"
        ]
        assert outputs and "nothing was deleted" in str(outputs[0]["data"])
        assert any(m["name"] == "ai-run-resume" for m in wire.items)
        # The model answers with the tool's output: a pass after the approved call ran.
        assert streamed_text(wire, ids["runId"]).endswith("Deleted (simulated).")
        second = await model.wait_request(2)
        assert "nothing was deleted" in str(second.body["input"])


@pytest.mark.parametrize(
    "script",
    [
        [Status(500, "overloaded")],
        [Raw(b"data: {not json\n\n")],
        [Stall()],
    ],
    ids=["http-500", "garbage", "stall"],
)
async def test_a_failing_model_ends_the_run_with_an_error_users_understand(
    hub: HubEndpoint, model: FakeOpenAI, tmp_path: Path, script: list[Any]
) -> None:
    model.script(script)
    wire = await recorder(hub, CHANNEL)
    alice = await Client.connect(hub, CHANNEL, "alice")
    settings = agent_settings(model, model_timeout_s=0.5)
    async with running_agent(hub, settings, tmp_path) as agent:
        _cmid, event_id = await alice.prompt("Hello?")
        _, ids = await post(agent, invocation(event_id, CHANNEL))
        end = await run_end(wire, ids["runId"])
        headers = transport(end)
        assert headers["run-reason"] == "error"
        assert headers["error-message"].startswith("model"), headers["error-message"]
        # The service is still up and serves the next turn.
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{agent.port}/health") as response:
                assert response.status == 200 and (await response.json())["status"] == "ok"


async def test_a_dead_model_endpoint_is_named_in_the_error(
    hub: HubEndpoint, model: FakeOpenAI, tmp_path: Path
) -> None:
    wire = await recorder(hub, CHANNEL)
    alice = await Client.connect(hub, CHANNEL, "alice")
    settings = agent_settings(model, base_url="http://127.0.0.1:9/v1")
    async with running_agent(hub, settings, tmp_path) as agent:
        _cmid, event_id = await alice.prompt("Hello?")
        _, ids = await post(agent, invocation(event_id, CHANNEL))
        end = await run_end(wire, ids["runId"])
        assert "unreachable" in transport(end)["error-message"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, 40000),
        ({"inputEventId": "x"}, 400, 40000),
        ({"inputEventId": 5, "sessionName": CHANNEL}, 400, 40000),
        ({"inputEventId": "no-such-input", "sessionName": CHANNEL}, 404, 104010),
    ],
    ids=["malformed", "missing-session", "wrong-type", "unknown-input"],
)
async def test_bad_post_bodies_get_specific_errors(
    hub: HubEndpoint, model: FakeOpenAI, tmp_path: Path, body: Any, status: int, code: int
) -> None:
    wire = await recorder(hub, CHANNEL)
    async with running_agent(hub, agent_settings(model, trigger_deadline_s=0.3), tmp_path) as a:
        got_status, answer = await post(a, body)
        assert (got_status, answer["error"]["code"]) == (status, code)
        assert answer["error"]["message"]
        assert not [m for m in wire.items if m["name"].startswith("ai-run")], "nothing published"


async def test_per_session_limit_is_answered_with_429(
    hub: HubEndpoint, model: FakeOpenAI, tmp_path: Path
) -> None:
    for _ in range(2):
        queue = model.script_queue()
        await queue.put(Event(response_created()))
        await queue.put(Stall())
    alice = await Client.connect(hub, CHANNEL, "alice")
    settings = agent_settings(model, max_runs_per_session=2)
    async with running_agent(hub, settings, tmp_path) as agent:
        answers = []
        for i in range(3):
            _cmid, event_id = await alice.prompt(f"turn {i}")
            answers.append(await post(agent, invocation(event_id, CHANNEL)))
            if i < 2:
                await model.wait_request(i + 1)
        assert [status for status, _ in answers] == [200, 200, 429]
        assert "limit is 2" in answers[2][1]["error"]["message"]


async def test_token_endpoint_issues_an_ably_jwt_bound_to_the_client_id(
    hub: HubEndpoint, model: FakeOpenAI, tmp_path: Path
) -> None:
    async with running_agent(hub, agent_settings(model), tmp_path) as agent:
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{agent.port}/api/token"
            async with http.get(url, params={"clientId": "bob"}) as response:
                details = await response.json()
                token = details["token"]
                assert (details["clientId"], details["expires"] - details["issued"]) == (
                    "bob",
                    3_600_000,
                )
            async with http.get(url) as missing:
                assert missing.status == 400
    # The hub accepts it as bob, limited to session channels.
    principal = hub.running.hub.auth.authenticate_token(token)  # type: ignore[attr-defined]
    assert principal.client_id == "bob"
    assert principal.capability.allows("session:x", "publish")
    assert not principal.capability.allows("other", "subscribe")


async def test_when_unwatched_stop_cancels_a_run_nobody_watches(
    hub: HubEndpoint, model: FakeOpenAI, tmp_path: Path
) -> None:
    queue = model.script_queue()
    await queue.put(Event(response_created()))
    await queue.put(Stall())
    wire = await recorder(hub, CHANNEL)
    alice = await Client.connect(hub, CHANNEL, "alice")  # publishes, but never enters presence
    settings = agent_settings(model, when_unwatched="stop", unwatched_grace_s=0.3)
    async with running_agent(hub, settings, tmp_path) as agent:
        _cmid, event_id = await alice.prompt("Anyone there?")
        _, ids = await post(agent, invocation(event_id, CHANNEL))
        end = await run_end(wire, ids["runId"])
        assert transport(end)["run-reason"] == "cancelled"
        assert "nobody has watched" in streamed_text(wire, ids["runId"])


async def test_shutdown_ends_turns_in_flight(
    hub: HubEndpoint, model: FakeOpenAI, tmp_path: Path
) -> None:
    queue = model.script_queue()
    await queue.put(Event(response_created()))
    await queue.put(Stall())
    wire = await recorder(hub, CHANNEL)
    alice = await Client.connect(hub, CHANNEL, "alice")
    agent = await start_agent(
        agent_settings(model), AblyTarget(hub.key, hub.host, hub.port), tmp_path
    )
    _cmid, event_id = await alice.prompt("Hello")
    _, ids = await post(agent, invocation(event_id, CHANNEL))
    await model.wait_request()
    await agent.stop()
    end = await run_end(wire, ids["runId"])
    assert transport(end)["run-reason"] == "error"
    assert transport(end)["error-message"] == "agent shutting down"
    await wait_until(
        lambda: (
            not (tmp_path / "agent-runs.json").exists()
            or "{}" == (tmp_path / "agent-runs.json").read_text()
        ),
        what="the ledger to be empty",
    )
