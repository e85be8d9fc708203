"""The agent service: an npm SDK client as the other side, many sessions, and a SIGKILLed agent."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.openai_server import (
    Event,
    FakeOpenAI,
    Stall,
    close_quietly,
    response_created,
    responses_message,
)
from tests.support.agent import demo_settings, post, running_agent, streamed_text
from tests.support.forms import npm_message_summaries, npm_run_summaries
from tests.support.hub import (
    Collector,
    HubEndpoint,
    free_port,
    hub_settings,
    wait_state,
    wait_until,
)
from tests.support.npm import npm_client
from tests.transport.agent_helpers import Client, invocation, recorder, transport
from tui_session.hub.server import start_hub


async def test_npm_client_sees_the_services_answer_as_the_model_wrote_it(
    hub: HubEndpoint, tmp_path: Path
) -> None:
    """The npm SDK client sends, our service answers (offline demo model), and the npm client's
    view, live and from history, equals what the wire holds."""
    channel = f"session:{uuid.uuid4().hex[:8]}"
    settings = demo_settings()
    wire = await recorder(hub, channel)
    async with running_agent(hub, settings, tmp_path) as agent:
        npm = await npm_client(hub, channel, "plain")
        try:
            first = await npm.next("invocation")
            status, ids = await post(agent, first["invocation"])
            assert status == 200
            result = await npm.next("result")
            history = await npm.next("history")
        finally:
            await npm.close()
    text = streamed_text(wire, ids["runId"])
    assert "offline demo" in text.lower()
    [npm_answer] = [m for m in npm_message_summaries(result) if m[1] == "assistant"]
    npm_text = "".join(item[2] for item in npm_answer[2] if item[0] == "message")
    assert npm_text == text, "the npm client shows exactly what the model streamed"
    assert npm_message_summaries(history) == npm_message_summaries(result)
    assert [r[2] for r in npm_run_summaries(result)] == ["complete"]


async def test_ten_sessions_with_three_concurrent_runs_each(
    hub: HubEndpoint, tmp_path: Path
) -> None:
    settings = demo_settings()
    async with running_agent(hub, settings, tmp_path) as agent:
        channels = [f"session:many-{i}" for i in range(10)]
        wires = {name: await recorder(hub, name) for name in channels}
        users = {
            name: await Client.connect(hub, name, f"user{i}") for i, name in enumerate(channels)
        }
        prompts = [(name, n) for name in channels for n in range(3)]
        events = await asyncio.gather(
            *(users[name].prompt(f"question {n} in {name}") for name, n in prompts)
        )
        answers = await asyncio.gather(
            *(
                post(agent, invocation(event_id, name))
                for (name, _), (_, event_id) in zip(prompts, events, strict=True)
            )
        )
        assert all(status == 200 for status, _ in answers)
        for (name, n), (_, ids) in zip(prompts, answers, strict=True):
            wire = wires[name]
            end = await wire.wait_for(lambda _m, w=wire, r=ids["runId"]: w.run_end(r), timeout=30)
            assert transport(end)["run-reason"] == "complete", (name, n)
            assert f"question {n} in {name}" in streamed_text(wire, ids["runId"])


async def test_sigkilled_agent_leaves_presence_and_its_restart_ends_the_orphaned_run(
    tmp_path: Path,
) -> None:
    model = FakeOpenAI()
    await model.start()
    queue = model.script_queue()
    await queue.put(Event(response_created()))
    for event in responses_message("msg_1", ["Half an answer"])[:3]:
        await queue.put(Event(event))
    await queue.put(Stall())
    running = await start_hub(hub_settings(tmp_path / "hub", presence_grace_s=1.0))
    hub = HubEndpoint("127.0.0.1", running.port, running.hub.auth.root_key(), tmp_path / "hub")
    channel = "session:crash"
    agent_port = free_port()
    env = {
        **os.environ,
        "OPENAI_API_KEY": "test-key",
        "TUI_SESSION_CONFIG": str(tmp_path / "none.toml"),
        "TUI_SESSION_AGENT_MODEL_TIMEOUT_S": "30",
    }
    (tmp_path / "none.toml").write_text("")
    command = [
        sys.executable,
        "-m",
        "tui_session.cli",
        "agent",
        "--hub",
        f"127.0.0.1:{running.port}",
        "--data-dir",
        str(tmp_path / "hub"),
        "--port",
        str(agent_port),
        "--model",
        "fake-model",
        "--base-url",
        model.base_url,
    ]

    async def start_agent_process() -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert b"tui-session agent on" in line, line
        return proc

    try:
        agent = await start_agent_process()
        watcher = hub.realtime("watcher")
        await wait_state(watcher)
        presence = Collector()
        await watcher.channels.get(channel).presence.subscribe(presence.add)
        wire = await recorder(hub, channel)
        alice = await Client.connect(hub, channel, "alice")
        _cmid, event_id = await alice.prompt("Start something long")
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{agent_port}/api/chat"
            async with http.post(url, json=invocation(event_id, channel)) as response:
                ids = await response.json()
        await wire.wait_for(lambda msgs: any(m.get("data") == "Half an answer" for m in msgs))

        agent.send_signal(signal.SIGKILL)
        await agent.wait()
        leave = 3  # presence action
        await wait_until(
            lambda: any(m.client_id == "agent" and m.action == leave for m in presence.items),
            timeout=10,
            what="every client to see the agent leave within the grace period",
        )
        assert wire.run_end(ids["runId"]) is None, "the killed agent ended nothing"

        agent = await start_agent_process()
        end = await wire.wait_for(lambda _m: wire.run_end(ids["runId"]), timeout=20)
        assert transport(end)["run-reason"] == "error"
        assert transport(end)["error-message"] == "agent restarted"
        assert transport(end)["run-client-id"] == "alice", "the run keeps its owner"
        agent.send_signal(signal.SIGTERM)
        await asyncio.wait_for(agent.wait(), 15)
    finally:
        for proc_name in ("agent",):
            proc = locals().get(proc_name)
            if proc is not None and proc.returncode is None:
                proc.kill()
        await hub.close_clients()
        await running.stop()
        await close_quietly(model)


pytestmark = pytest.mark.timeout(120)
