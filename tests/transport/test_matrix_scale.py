"""Many runs on one session, on a real hub with the real ably-python SDK
(docs/wire.md §9.37, §9.48):

- three ClientSessions (three users, three devices); two of them send 20 prompts at once to our
  agent service (the offline demo model): every device, and a fresh one reading history, ends
  with the identical transcript;
- 1,000 completed runs of history, seeded through a real ably client with the pure encoder:
  a ClientSession opens on the newest page and pages back, in order, to the first run.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from ably.types.message import Message

from tests.support.agent import demo_settings, running_agent
from tests.support.client import close_opened, open_session
from tests.support.forms import transcript_form
from tests.support.hub import HubEndpoint, hub_settings, wait_state
from tui_session.agent.models.demo import demo_answer
from tui_session.hub.server import start_hub
from tui_session.protocol import (
    Append,
    InputHeaders,
    Publish,
    ResponsesEncoder,
    RunHeaders,
    RunReason,
    Step,
    default_step_id,
    user_text,
)
from tui_session.transport.client_events import ActiveTurnsChanged

from .agent_helpers import text_events


@pytest.fixture(autouse=True)
async def cleanup_sessions(hub: HubEndpoint) -> AsyncIterator[None]:
    yield
    await close_opened()


# --- three devices, twenty concurrent runs ------------------------------------------------------


async def test_three_devices_twenty_concurrent_runs_identical_transcripts(
    hub: HubEndpoint, tmp_path: Path
) -> None:
    channel = f"session:crowd-{uuid.uuid4().hex[:6]}"
    settings = demo_settings(max_runs_per_session=20)
    async with running_agent(hub, settings, tmp_path) as agent:
        url = f"http://127.0.0.1:{agent.port}"
        sessions = [
            await open_session(hub, user, channel, device=device, agent_url=url)
            for user, device in (("alice", "laptop"), ("bob", "desktop"), ("carol", "tablet"))
        ]
        (alice, _), (bob, _), (carol, _) = sessions
        active: list[int] = [0]  # how many turns carol saw active at once

        def count_active(event: object) -> None:
            if isinstance(event, ActiveTurnsChanged):
                active.append(sum(len(turns) for turns in event.turns.values()))

        carol.listen(count_active)
        loop = asyncio.get_running_loop()
        started = loop.time()
        handles = await asyncio.gather(
            *(alice.send(f"question {i} from alice") for i in range(10)),
            *(bob.send(f"question {i} from bob") for i in range(10)),
        )
        run_ids = await asyncio.wait_for(asyncio.gather(*(h.started for h in handles)), 20)
        for session, events in sessions:
            await events.until(
                lambda s=session: all(s.turn(r) and s.turn(r).terminal for r in run_ids),
                timeout=30,
                what=f"20 ended runs on {session.device}",
            )
        elapsed = loop.time() - started
        late, _ = await open_session(hub, "dave", channel, device="phone", initial_messages=100)

    print(
        f"\n20 concurrent runs answered on 3 devices in {elapsed:.2f} s; peak active {max(active)}"
    )
    assert len(set(run_ids)) == 20
    assert max(active) >= 2  # the runs overlapped
    forms = [transcript_form(s) for s in (alice, bob, carol, late)]
    assert forms[0] == forms[1] == forms[2] == forms[3]
    turns = [e for e in forms[0] if e[0] == "turn"]
    assert len(turns) == 20 and len(forms[0]) == 40
    assert {t[1] for t in turns} == set(run_ids)
    assert {t[3] for t in turns} == {"complete"}
    prompts = {e[1]: e[3] for e in forms[0] if e[0] == "prompt"}
    for handle, run_id in zip(handles, run_ids, strict=True):
        turn = alice.turn(run_id)
        assert turn.input_codec_message_id == handle.input_codec_message_id
        assert turn.text == demo_answer(prompts[handle.input_codec_message_id])
    # own turns: exactly what each device sent; the observer owns none
    assert {t.run_id for t in alice.all_turns() if t.own} == set(run_ids[:10])
    assert {t.run_id for t in bob.all_turns() if t.own} == set(run_ids[10:])
    assert not any(t.own for t in carol.all_turns())
    assert alice.active_turns() == bob.active_turns() == carol.active_turns() == {}


# --- 1,000 runs of history ----------------------------------------------------------------------


@dataclass(frozen=True)
class SeededRun:
    prompt_cmid: str
    run_id: str
    answer_cmid: str
    prompt: str
    answer: str


def _id() -> str:
    return str(uuid.uuid4())


def as_message(op: Publish, client_id: str) -> Message:
    return Message(name=op.name, data=op.data, extras=op.extras, client_id=client_id)


async def seed_history(hub: HubEndpoint, channel: str, count: int, window: int) -> list[SeededRun]:
    """Publish `count` short completed runs (a linear conversation: alice asks, the agent
    answers) as our client and agent would, with the pure encoder, through one real ably client
    holding a wildcard token (each message names its clientId). Runs go in windows; each phase
    of a window is one batched publish (or one round of concurrent appends), so a window's
    prompts and run starts alternate on the channel, as in a live session, and its outputs
    follow them."""
    seeder = hub.realtime(None, default_token_params={"client_id": "*"})
    await wait_state(seeder)
    target = seeder.channels.get(channel)
    await target.attach()
    runs: list[SeededRun] = []
    parent: str | None = None
    for start in range(0, count, window):
        batch = []
        for i in range(start, min(count, start + window)):
            run = SeededRun(_id(), _id(), _id(), f"prompt {i}", f"answer {i}")
            headers = RunHeaders(
                run.run_id, _id(), run.prompt_cmid, "alice", "alice", parent=run.prompt_cmid
            )
            batch.append((run, parent, headers))
            parent = run.answer_cmid
            runs.append(run)
        # 1. per run: the prompt (alice), the run start and the step start (the agent)
        opening = []
        for run, parent_id, h in batch:
            prompt = InputHeaders(run.prompt_cmid, _id(), run_client_id="alice", parent=parent_id)
            opening += [as_message(op, "alice") for op in user_text(prompt, run.prompt)]
            opening.append(as_message(h.run_start(), "agent"))
            step_start = h.step_start(default_step_id(h.invocation_id, 0), "alice")
            opening.append(as_message(step_start, "agent"))
        serials = (await target.publish(opening)).serials
        steps = [
            Step(default_step_id(h.invocation_id, 0), "alice", serials[3 * n + 2])
            for n, (*_, h) in enumerate(batch)
        ]
        # 2. each answer: creates, then appends, then closing appends, then the tail
        encoded = []
        for (run, _, headers), step in zip(batch, steps, strict=True):
            encoder = ResponsesEncoder(headers.output_encoder(run.answer_cmid, step))
            ops = [
                op for event in text_events("msg_1", [run.answer]) for op in encoder.encode(event)
            ]
            first_append = next(i for i, op in enumerate(ops) if isinstance(op, Append))
            last_append = max(i for i, op in enumerate(ops) if isinstance(op, Append))
            encoded.append(
                (ops[:first_append], ops[first_append : last_append + 1], ops[last_append + 1 :])
            )
        creates = [op for head, _, _ in encoded for op in head]
        messages = [as_message(op, "agent") for op in creates]
        create_serials = (await target.publish(messages)).serials
        refs = {
            op.stream_ref: serial
            for op, serial in zip(creates, create_serials, strict=True)
            if isinstance(op, Publish) and op.stream_ref
        }
        appends = [list(body) for _, body, _ in encoded]
        while any(appends):  # one round per append position: appends of one stream stay ordered
            await asyncio.gather(
                *(
                    target.append_message(
                        Message(
                            data=ops[0].data,
                            extras=ops[0].extras,
                            serial=refs[ops[0].stream_ref],
                            client_id="agent",
                        )
                    )
                    for ops in appends
                    if ops
                )
            )
            appends = [ops[1:] for ops in appends]
        tail = [
            as_message(op, "agent")
            for (run, _, headers), step, (_, _, rest) in zip(batch, steps, encoded, strict=True)
            for op in (*rest, headers.step_end(step), headers.run_end(RunReason.COMPLETE))
        ]
        await target.publish(tail)
    await seeder.close()
    return runs


@pytest.fixture
async def bulk_hub(tmp_path: Path) -> AsyncIterator[HubEndpoint]:
    """A real hub whose per-connection publish rate (1,000 messages/s by default) lets the
    seeding of 10,000 messages go at full speed."""
    running = await start_hub(hub_settings(tmp_path / "bulk", max_inbound_rate=1_000_000))
    endpoint = HubEndpoint("127.0.0.1", running.port, running.hub.auth.root_key(), tmp_path)
    yield endpoint
    await close_opened()
    await endpoint.close_clients()
    await running.stop()


async def test_a_thousand_runs_open_on_the_newest_page_and_page_back_in_order(
    bulk_hub: HubEndpoint,
) -> None:
    hub = bulk_hub
    channel = f"session:long-{uuid.uuid4().hex[:6]}"
    loop = asyncio.get_running_loop()
    started = loop.time()
    runs = await seed_history(hub, channel, 1000, window=20)
    seeded = loop.time() - started

    started = loop.time()
    reader, _ = await open_session(hub, "reader", channel, device="laptop")
    opened = loop.time() - started
    first = reader.transcript()
    assert first and first[-1].kind == "turn" and first[-1].run_id == runs[-1].run_id
    assert len(first) <= 60  # the newest page only: about 50 messages, not the channel
    assert reader.has_older()

    started = loop.time()
    loads = 0
    keys = [e.cmid if e.kind == "prompt" else e.run_id for e in first]
    while reader.has_older():
        revealed = await reader.load_older(50)
        loads += 1
        now = [e.cmid if e.kind == "prompt" else e.run_id for e in reader.transcript()]
        assert revealed > 0 and now[len(now) - len(keys) :] == keys  # only older ones added
        keys = now
    paged = loop.time() - started
    print(
        f"\n1,000 runs: seeded in {seeded:.2f} s, opened on the newest page in {opened:.3f} s "
        f"({len(first)} entries), paged back in {loads} load_older(50) calls, {paged:.2f} s"
    )

    entries = reader.transcript()
    assert [e.kind for e in entries] == ["prompt", "turn"] * 1000
    assert [e.cmid for e in entries[::2]] == [r.prompt_cmid for r in runs]
    assert [e.text for e in entries[::2]] == [r.prompt for r in runs]
    turns = entries[1::2]
    assert [t.run_id for t in turns] == [r.run_id for r in runs]
    assert [t.text for t in turns] == [r.answer for r in runs]
    assert {t.status for t in turns} == {"complete"}
    assert not any(t.streaming or t.interrupted or t.trimmed for t in turns)
    assert len(reader.messages()) == 2000
    assert reader.active_turns() == {}
