"""Late joiners attaching mid-stream, ours (ClientSession) and theirs (the npm client), against
our agent and against the npm agent (docs/wire.md §7.2, §9.3, §9.31): right after attaching they
show the prompt and the whole text so far, then the rest, with no duplicated or missing
character. test_client_npm.py covers our joiner against the npm agent's text; here the text
so far is pinned exactly (our agent holds its model mid-answer) and the npm client joins too.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from tests.support.client import close_opened, open_session
from tests.support.forms import grew_by_appending, npm_messages, our_messages
from tests.support.hub import HubEndpoint
from tests.support.npm import NpmAgent, node_or_skip, npm_observer
from tests.transport.agent_helpers import Wire, realtime, recorder, source, text_events
from tui_session.transport.agent import AgentSession
from tui_session.transport.client import ClientSession
from tui_session.transport.client_events import TurnUpdated

# Multi-byte characters and fragments that split words: any duplicated or dropped fragment shows.
CHUNKS = [f"{i:02d}·é{'✓' if i % 3 else '🙂'} " for i in range(60)]
HELD_AFTER = 30  # deltas streamed before the model stalls


@pytest.fixture(autouse=True)
async def cleanup_sessions(hub: HubEndpoint) -> AsyncIterator[None]:
    yield
    await close_opened()


def wire_text(wire: Wire, run_id: str) -> str:
    """The answer so far as a fresh reader of every delivery folds it."""
    run = wire.tree().run(run_id)
    if run is None:
        return ""
    return "".join(
        part.get("text", "")
        for _, message in run.messages()
        if message.get("role") == "assistant"
        for item in message.get("items", [])
        if item.get("type") == "message"
        for part in item.get("content", [])
    )


def texts_seen(session: ClientSession, run_id: str) -> list[str]:
    """Every distinct text of the run's turn this session showed, in order, from now on."""
    seen: list[str] = []

    def on_event(event: object) -> None:
        turn = session.turn(run_id)
        if isinstance(event, TurnUpdated) and turn and (not seen or turn.text != seen[-1]):
            seen.append(turn.text)

    session.listen(on_event)
    return seen


async def test_late_joiners_mid_stream_of_our_agent(hub: HubEndpoint) -> None:
    node_or_skip()
    channel = f"session:late-{uuid.uuid4().hex[:6]}"
    agent = await AgentSession.connect(await realtime(hub, "agent"), channel)
    wire = await recorder(hub, channel)
    alice, alice_events = await open_session(hub, "alice", channel)
    handle = await alice.send("Tell me a long story", invoke=False)
    run = await agent.create_run(alice.invocation(handle))
    await run.start()
    go = asyncio.Event()
    events = text_events("msg_1", CHUNKS)
    pipe = asyncio.create_task(run.pipe(source(events, hold=go, hold_after=2 + HELD_AFTER)))
    so_far, full = "".join(CHUNKS[:HELD_AFTER]), "".join(CHUNKS)
    # the model stalls: wait until the rollup has put everything before the stall on the wire
    await wire.wait_for(lambda _: wire_text(wire, run.run_id) == so_far)

    bob, bob_events = await open_session(hub, "bob", channel, device="phone")
    npm = await npm_observer(hub, channel)
    try:
        # right after attaching: the prompt and exactly the text so far, still streaming
        prompt, turn = bob.transcript()
        assert prompt.text == "Tell me a long story" and not prompt.own
        assert turn.run_id == run.run_id and turn.text == so_far
        assert turn.status == "active" and turn.streaming
        ready = npm.ready  # type: ignore[attr-defined]
        assert [r["status"] for r in ready["runs"]] == ["active"]
        assert [m["message"]["role"] for m in ready["messages"]] == ["user", "assistant"]
        assert ready["text"] == so_far
        bob_texts = texts_seen(bob, run.run_id)

        go.set()  # the rest of the answer
        assert (await pipe).reason == "complete"
        await run.end()
        await bob_events.until(lambda: bob.turn(run.run_id).terminal, what="bob sees the end")
        ended = await npm.command("ended", cmd="wait-end", runId=run.run_id)
    except BaseException:
        print("".join(npm.lines), await npm.stderr())
        raise
    finally:
        await npm.close()
    await alice_events.until(lambda: alice.turn(run.run_id).terminal)
    await agent.end()

    assert bob.turn(run.run_id).text == full == alice.turn(run.run_id).text
    assert ended["text"] == full
    assert grew_by_appending([so_far, *bob_texts]) and bob_texts[-1] == full
    assert grew_by_appending(ended["trace"]) and ended["trace"][0] == so_far
    assert our_messages(bob) == npm_messages(ended) == our_messages(alice)


async def test_late_joiners_mid_stream_of_the_npm_agent(hub: HubEndpoint) -> None:
    node_or_skip()
    agent = await NpmAgent.start(hub, delta_ms=60)  # the model's own pace: 40 deltas
    channel = f"session:late-npm-{uuid.uuid4().hex[:6]}"
    try:
        alice, alice_events = await open_session(hub, "alice", channel, agent_url=agent.url)
        handle = await alice.send("slow story")
        run_id = await alice_events.until(lambda: handle.run_id)
        await alice_events.until(lambda: alice.turn(run_id).text.count(" ") >= 3)

        npm, (bob, bob_events) = await asyncio.gather(
            npm_observer(hub, channel), open_session(hub, "bob", channel, device="phone")
        )
        try:
            bob_texts = texts_seen(bob, run_id)
            first = bob.transcript()
            ready = npm.ready  # type: ignore[attr-defined]
            ended = await npm.command("ended", cmd="wait-end", runId=run_id)
        except BaseException:
            print("".join(npm.lines), await npm.stderr())
            raise
        finally:
            await npm.close()
        await bob_events.until(lambda: bob.turn(run_id).terminal, timeout=15)
    finally:
        await agent.stop()

    full = "".join(f"w{i} " for i in range(40))  # what the npm agent's model streamed
    assert [e.kind for e in first] == ["prompt", "turn"]
    assert first[0].text == "slow story"
    assert first[1].status == "active" and first[1].text and full.startswith(first[1].text)
    assert [r["status"] for r in ready["runs"]] == ["active"]
    assert ready["text"] and full.startswith(ready["text"])
    assert bob.turn(run_id).text == full and ended["text"] == full
    assert grew_by_appending([first[1].text, *bob_texts])
    assert grew_by_appending(ended["trace"])
    assert our_messages(bob) == npm_messages(ended)
