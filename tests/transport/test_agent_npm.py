"""The npm client (@ably/ai-transport 0.8.0) against our agent, over the hub (§8.4, §8.6).

tests/node/npm_client.mjs sends a prompt and prints its invocation; this test hands it to our
AgentSession in-process (no HTTP yet), pipes a scripted answer, and compares what the npm
client (live, and a fresh one from history) shows with what our tree shows.
"""

from __future__ import annotations

import asyncio
import uuid

from tests.support.forms import npm_message_summaries, npm_run_summaries, summary
from tests.support.hub import HubEndpoint
from tests.support.npm import npm_client
from tests.transport.agent_helpers import realtime, source, text_events, tool_call_events
from tui_session.protocol import View
from tui_session.transport.agent import AgentSession, Run


def our_messages(session: AgentSession) -> list[tuple]:
    return [summary(cmid, m) for cmid, m in View(session.tree).messages()]


def our_runs(session: AgentSession) -> list[tuple]:
    return [
        (r.run_id, r.client_id, str(r.status), [(s, i.status) for s, i in r.steps.items()])
        for r in View(session.tree).runs()
    ]


async def converse(hub: HubEndpoint, scenario: str) -> tuple[AgentSession, dict, dict, Run]:
    """Run one scenario: the npm client drives, our agent answers."""
    name = f"session:{uuid.uuid4().hex[:8]}"
    session = await AgentSession.connect(await realtime(hub, "agent"), name)
    npm = await npm_client(hub, name, scenario)
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
    assert npm_message_summaries(result) == ours
    assert npm_message_summaries(history) == ours
    assert npm_run_summaries(result) == our_runs(session)
    assert npm_run_summaries(history) == our_runs(session)


async def test_npm_client_plain_answer(hub: HubEndpoint) -> None:
    session, result, history, run = await converse(hub, "plain")
    assert_same_view(session, result, history)
    texts = [m[2] for m in npm_message_summaries(result)]
    assert texts == [[("message", "user", "Hi there")], [("message", "assistant", "Hello world")]]
    assert npm_run_summaries(result)[0][:3] == (run.run_id, "alice", "complete")


async def test_npm_client_cancel(hub: HubEndpoint) -> None:
    session, result, history, _ = await converse(hub, "cancel")
    assert_same_view(session, result, history)
    assert npm_run_summaries(result)[0][2] == "cancelled"
    assert npm_message_summaries(result)[1][2] == [("message", "assistant", "Once ")]


async def test_npm_client_steer_is_consumed(hub: HubEndpoint) -> None:
    session, result, history, run = await converse(hub, "steer")
    assert_same_view(session, result, history)
    assert result["steer"] == {"consumed": True, "runTerminalReason": "complete"}
    assert [s for s, _ in npm_run_summaries(result)[0][3]] == [
        f"{run.invocation_id}-step-0",
        f"{run.invocation_id}-step-1",
    ]


async def test_npm_client_tool_approval(hub: HubEndpoint) -> None:
    session, result, history, _ = await converse(hub, "approval")
    assert_same_view(session, result, history)
    ((_, owner, status, steps),) = npm_run_summaries(result)
    assert owner == "alice" and status == "complete" and len(steps) == 3
    states = [m[3] for m in npm_message_summaries(result) if m[3]]
    assert states == [{"call_1": "approved"}]
