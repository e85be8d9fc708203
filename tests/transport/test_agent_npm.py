"""The npm client (@ably/ai-transport 0.8.0) against our agent, over the hub (§8.4, §8.6).

tests/node/npm_client.mjs sends a prompt and prints its invocation; this test hands it to our
AgentSession in-process (no HTTP yet), pipes a scripted answer, and compares what the npm
client (live, and a fresh one from history) shows with what our tree shows.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import uuid
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

from tests.support import HubEndpoint
from tests.transport.agent_helpers import realtime, source, text_events, tool_call_events
from tui_session.protocol import View
from tui_session.transport.agent import AgentSession, Run

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
SCRIPT = NODE_DIR / "npm_client.mjs"
EVENT_TIMEOUT_S = 20.0


def node_or_skip() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not found: install node 20+ to run the npm interop tests")
    if not (NODE_DIR / "node_modules" / "@ably" / "ai-transport").is_dir():
        pytest.skip(f"{NODE_DIR}/node_modules/@ably/ai-transport is absent (npm install there)")
    return node


class NpmClient:
    """The node script as a child process that talks JSON lines."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []

    @classmethod
    async def start(cls, hub: HubEndpoint, channel: str, scenario: str) -> NpmClient:
        proc = await asyncio.create_subprocess_exec(
            node_or_skip(),
            str(SCRIPT),
            *("--host", hub.host, "--port", str(hub.port), "--key", hub.key),
            *("--channel", channel, "--scenario", scenario),
            cwd=NODE_DIR,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )
        return cls(proc)

    async def next(self, event: str) -> dict[str, Any]:
        assert self.proc.stdout is not None
        while True:
            line = await asyncio.wait_for(self.proc.stdout.readline(), EVENT_TIMEOUT_S)
            if not line:
                raise AssertionError(f"npm client exited before {event!r}: {await self.stderr()}")
            self.lines.append(line.decode())
            with suppress(json.JSONDecodeError):
                record = json.loads(line)
                if record.get("event") == "error":
                    raise AssertionError(f"npm client failed: {record['error']}")
                if record.get("event") == event:
                    return record

    async def stderr(self) -> str:
        assert self.proc.stderr is not None
        with suppress(TimeoutError):
            return (await asyncio.wait_for(self.proc.stderr.read(), 2)).decode()[-3000:]
        return ""

    async def close(self) -> None:
        if self.proc.returncode is None:
            with suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), 10)
        if self.proc.returncode is None:
            with suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()


# --- comparing projections ----------------------------------------------------------------------


def _item(item: dict[str, Any]) -> tuple:
    kind = item.get("type")
    if kind == "message":
        parts = item.get("content") or []
        return ("message", item.get("role"), "".join(p.get("text") or "" for p in parts))
    if kind == "function_call":
        return (kind, item.get("call_id"), item.get("name"), item.get("arguments"))
    if kind == "function_call_output":
        return (kind, item.get("call_id"), item.get("output"))
    return (kind, item.get("id"))


def normalise(cmid: str, message: dict[str, Any]) -> tuple:
    states = {k: v.get("approval") for k, v in (message.get("toolCallStates") or {}).items()}
    return (cmid, message["role"], [_item(i) for i in message["items"]], states)


def npm_messages(record: dict[str, Any]) -> list[tuple]:
    return [normalise(m["codecMessageId"], m["message"]) for m in record["messages"]]


def npm_runs(record: dict[str, Any]) -> list[tuple]:
    return [
        (r["runId"], r["clientId"], r["status"], [(s["stepId"], s["status"]) for s in r["steps"]])
        for r in record["runs"]
    ]


def our_messages(session: AgentSession) -> list[tuple]:
    return [normalise(cmid, m) for cmid, m in View(session.tree).messages()]


def our_runs(session: AgentSession) -> list[tuple]:
    return [
        (r.run_id, r.client_id, str(r.status), [(s, i.status) for s, i in r.steps.items()])
        for r in View(session.tree).runs()
    ]


async def converse(hub: HubEndpoint, scenario: str) -> tuple[AgentSession, dict, dict, Run]:
    """Run one scenario: the npm client drives, our agent answers."""
    name = f"session:{uuid.uuid4().hex[:8]}"
    session = await AgentSession.connect(await realtime(hub, "agent"), name)
    npm = await NpmClient.start(hub, name, scenario)
    try:
        first = await npm.next("invocation")
        model_aborted = asyncio.Event()
        run = await session.create_run(
            first["invocation"], on_steer=lambda message, run: model_aborted.set()
        )
        assert run.trigger.codec_message_id == first["inputCodecMessageId"]
        await run.start()
        if scenario == "plain":
            await run.pipe(source(text_events("msg_1", ["Hel", "lo ", "world"])))
        elif scenario == "cancel":
            stall = asyncio.Event()  # the model stalls after its first words
            result = await run.pipe(
                source(text_events("msg_1", ["Once ", "upon"]), hold=stall, hold_after=3)
            )
            assert result.reason == "cancelled"
        elif scenario == "steer":
            passes = 0
            while run.has_input():
                if passes == 0:
                    events = text_events("msg_1", ["Once ", "upon ", "a time"])
                    await run.pipe(source(events, hold=model_aborted, hold_after=3))
                else:
                    await run.pipe(source(text_events("msg_2", ["Mountains!"])))
                passes += 1
            assert passes == 2
        elif scenario == "approval":
            calls = tool_call_events("fc_1", "call_1", "delete_files", '{"path":"/tmp"}')
            await run.pipe(source(calls))
            await run.suspend()
            second = await npm.next("invocation")
            run = await session.create_run(second["invocation"])
            assert run.continuation
            await run.start()
            output = {
                "type": "function_call_output",
                "item": {"type": "function_call_output", "call_id": "call_1", "output": "done"},
            }
            await run.pipe(source([output]))
            await run.pipe(source(text_events("msg_2", ["Deleted."])))
        await run.end()
        result = await npm.next("result")
        history = await npm.next("history")
    except BaseException:
        print("".join(npm.lines), await npm.stderr())
        raise
    finally:
        await npm.close()
    await session.end()
    return session, result, history, run


def assert_same_view(session: AgentSession, result: dict, history: dict) -> None:
    ours = our_messages(session)
    assert npm_messages(result) == ours
    assert npm_messages(history) == ours
    assert npm_runs(result) == our_runs(session)
    assert npm_runs(history) == our_runs(session)


async def test_npm_client_plain_answer(hub: HubEndpoint) -> None:
    session, result, history, run = await converse(hub, "plain")
    assert_same_view(session, result, history)
    texts = [m[2] for m in npm_messages(result)]
    assert texts == [[("message", "user", "Hi there")], [("message", "assistant", "Hello world")]]
    assert npm_runs(result)[0][:3] == (run.run_id, "alice", "complete")


async def test_npm_client_cancel(hub: HubEndpoint) -> None:
    session, result, history, _ = await converse(hub, "cancel")
    assert_same_view(session, result, history)
    assert npm_runs(result)[0][2] == "cancelled"
    assert npm_messages(result)[1][2] == [("message", "assistant", "Once ")]


async def test_npm_client_steer_is_consumed(hub: HubEndpoint) -> None:
    session, result, history, run = await converse(hub, "steer")
    assert_same_view(session, result, history)
    assert result["steer"] == {"consumed": True, "runTerminalReason": "complete"}
    assert [s for s, _ in npm_runs(result)[0][3]] == [
        f"{run.invocation_id}-step-0",
        f"{run.invocation_id}-step-1",
    ]


async def test_npm_client_tool_approval(hub: HubEndpoint) -> None:
    session, result, history, _ = await converse(hub, "approval")
    assert_same_view(session, result, history)
    ((_, owner, status, steps),) = npm_runs(result)
    assert owner == "alice" and status == "complete" and len(steps) == 3
    states = [m[3] for m in npm_messages(result) if m[3]]
    assert states == [{"call_1": "approved"}]
