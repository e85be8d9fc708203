"""Three terminals behind a proxy that resets, closes, stalls and black-holes their connections
(mid-frame, at seeded random points) while the agent service streams 50 turns: every terminal
ends with exactly what the model produced, byte for byte, every turn ended, none left active.

The terminals are real `ClientSession`s on real ably-python clients, connected to the hub
through `ChaosProxy` (WebSocket and REST alike: history, token requests). The agent service
(offline demo model, paced so its answers stream as many appends) talks to the hub directly, and
the terminals wake it with POST /api/chat directly, as the fault is between terminal and hub.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.faults.chaos_proxy import ChaosProxy, FaultPlan
from tests.faults.helpers import RecordingBackend, divergence, prompt_text, turn_text
from tests.support.agent import demo_settings, running_agent
from tests.support.hub import HubEndpoint, wait_until
from tui_session.agent.models.demo import demo_answer
from tui_session.transport.client import ClientSession
from tui_session.transport.client_model import TurnView
from tui_session.transport.connect import hub_realtime

CHANNEL = "session:chaos"
CLIENTS = ("alice", "bob", "carol")
TURNS = int(os.environ.get("CHAOS_TURNS", "50"))
SEED = int(os.environ.get("CHAOS_SEED", "20240611"))
TURN_TIMEOUT_S = 60.0
FIGURES = os.environ.get("CHAOS_FIGURES")  # a path: write the measured figures there as JSON


def fault_plan(seed: int, max_faults: int) -> FaultPlan:
    return FaultPlan(seed=seed, max_faults=max_faults, window_s=90.0)


async def open_terminal(proxy: ChaosProxy, hub: HubEndpoint, client_id: str, agent_url: str):
    # Short SDK retry timings, so a dropped connection comes back in well under a second.
    realtime = hub_realtime(
        "127.0.0.1",
        proxy.port,
        hub.key,
        client_id,
        disconnected_retry_timeout=250,
        realtime_request_timeout=3_000,
    )
    hub.clients.append(realtime)
    session = await ClientSession.connect(
        realtime, CHANNEL, agent_url=agent_url, device=f"{client_id}-laptop", start_timeout=60
    )
    return session


async def run_chaos(
    hub: HubEndpoint, tmp_path: Path, turns: int, seed: int, max_faults: int = 100
) -> dict[str, Any]:
    settings = demo_settings(demo_pace=800, append_window_ms=10, trigger_deadline_s=20)
    async with running_agent(hub, settings, tmp_path / "agent") as agent:
        recording = RecordingBackend(agent.service.driver.backend)
        agent.service.driver.backend = recording
        proxy = ChaosProxy("127.0.0.1", hub.port, fault_plan(seed, max_faults))
        await proxy.start()
        sessions: list[ClientSession] = []
        try:
            agent_url = f"http://127.0.0.1:{agent.port}"
            for client_id in CLIENTS:
                sessions.append(await open_terminal(proxy, hub, client_id, agent_url))
            proxy.arm()
            started = asyncio.get_running_loop().time()
            ended: list[str] = []
            send_retries = 0

            async def lane(session: ClientSession, numbers: range) -> None:
                nonlocal send_retries
                for number in numbers:
                    text = f"turn {number:02d} from {session.client_id}"
                    for _attempt in range(5):
                        try:
                            handle = await asyncio.wait_for(session.send(text), TURN_TIMEOUT_S)
                            break
                        except Exception:
                            # ably-python may raise a dropped socket's error to a publish it
                            # then resends itself; the prompt is either on the channel (the
                            # check below counts answers per prompt) or not: send again.
                            send_retries += 1
                            if any(prompt_text(session, t) == text for t in session.all_turns()):
                                handle = None
                                break
                    else:
                        raise AssertionError(f"{text!r} could not be sent")
                    if handle is not None:
                        status = await asyncio.wait_for(
                            asyncio.shield(handle.ended), TURN_TIMEOUT_S
                        )
                        ended.append(status)

            lanes = [
                lane(session, range(i, turns, len(sessions))) for i, session in enumerate(sessions)
            ]
            await asyncio.gather(*lanes)
            turns_ms = int((asyncio.get_running_loop().time() - started) * 1000)
            proxy.disarm()
            await wait_until(
                lambda: not any(divergence(s, recording.produced, turns) for s in sessions),
                timeout=30,
                what="every terminal to converge on what the agent produced",
            )
        finally:
            for session in sessions:
                await session.close()
            await proxy.stop()

    problems = [p for s in sessions for p in divergence(s, recording.produced, turns)]
    assert not problems, problems
    # The ground truth is the model's own output: one answer per prompt, as the demo writes it.
    assert len(recording.produced) == turns
    for prompt, answers in recording.produced.items():
        assert answers == [demo_answer(prompt)], prompt
    views = [sorted((t.run_id, t.status, turn_text(t)) for t in s.all_turns()) for s in sessions]
    assert views[0] == views[1] == views[2], "the three terminals see the same turns"
    for session in sessions:
        for entry in session.transcript():
            if isinstance(entry, TurnView):
                assert entry.status == "complete" and not entry.streaming
    compared = sum(len(turn_text(t)) for s in sessions for t in s.all_turns())
    figures = {
        "seed": seed,
        "turns_completed": len(views[0]),
        "handles_ended": len(ended),
        "characters_compared": compared,
        "messages_lost": 0,
        "send_retries": send_retries,
        "turns_ms": turns_ms,
        **proxy.summary(),
        "bytes_up": proxy.bytes["up"],
        "bytes_down": proxy.bytes["down"],
    }
    return figures


async def test_three_terminals_and_fifty_turns_through_a_faulty_network(
    hub: HubEndpoint, tmp_path: Path
) -> None:
    figures = await run_chaos(hub, tmp_path, TURNS, SEED)
    print("chaos figures:", json.dumps(figures))
    write_figures(figures)
    assert figures["turns_completed"] == TURNS
    assert figures["faults"] >= 10, f"too few faults landed to prove anything: {figures}"
    assert figures["mid_chunk"] >= 5


def write_figures(figures: dict[str, Any]) -> None:
    if FIGURES:
        Path(FIGURES).write_text(json.dumps(figures, indent=2))


@pytest.mark.soak
@pytest.mark.timeout(900)
@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_soak_chaos_more_seeds_and_turns(hub: HubEndpoint, tmp_path: Path, seed: int):
    """The same scenario, 150 turns per seed (run with `pytest -m soak`)."""
    figures = await run_chaos(hub, tmp_path, 150, seed, max_faults=300)
    print("chaos soak figures:", json.dumps(figures))
    assert figures["turns_completed"] == 150
