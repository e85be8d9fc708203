"""A socket cut for 5 s mid-stream (docs/wire.md §7.13, §9.38): one ClientSession reaches the hub
through a loopback proxy that resets its socket and then holds every reconnection for 5 s (a
dead network), while the run goes on and ends. Afterwards the client has resumed and its
transcript is identical to an observer's that never lost its socket and to a fresh reader's.

The 5 s outage is the scenario, implemented as a bounded hold in tests/proxy.py; every other
wait is on an event, with a timeout.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from tests.proxy import CuttableProxy
from tests.support.client import Recorder, close_opened, open_session
from tests.support.forms import grew_by_appending, transcript_form
from tests.support.hub import HubEndpoint
from tests.transport.agent_helpers import realtime, source, text_events
from tui_session.transport.agent import AgentSession
from tui_session.transport.client import ClientSession
from tui_session.transport.client_events import ConnectionChanged, TurnUpdated
from tui_session.transport.connect import hub_realtime

OUTAGE_S = 5.0
CHUNKS = [f"part {i:02d}, " for i in range(40)]
BEFORE_CUT = 15  # deltas the client sees before its socket is cut


@pytest.fixture(autouse=True)
async def cleanup_sessions(hub: HubEndpoint) -> AsyncIterator[None]:
    yield
    await close_opened()


@pytest.fixture
async def proxy(hub: HubEndpoint) -> AsyncIterator[CuttableProxy]:
    running = CuttableProxy(hub.host, hub.port)
    await running.start()
    yield running
    await running.stop()


async def test_socket_cut_for_five_seconds_mid_stream_resumes_identically(
    hub: HubEndpoint, proxy: CuttableProxy
) -> None:
    channel = f"session:cut-{uuid.uuid4().hex[:6]}"
    agent = await AgentSession.connect(await realtime(hub, "agent"), channel)
    bob, bob_events = await open_session(hub, "bob", channel, device="desktop")

    # alice's realtime client (socket and REST calls) goes through the proxy
    via_proxy = hub_realtime(hub.host, proxy.port, hub.key, "alice")
    hub.clients.append(via_proxy)
    events = Recorder()
    alice = await ClientSession.connect(
        via_proxy, channel, agent_url=None, device="laptop", listener=events.add
    )
    try:
        handle = await alice.send("Tell me a story", invoke=False)
        run = await agent.create_run(alice.invocation(handle))
        await run.start()
        run_id = run.run_id
        go = asyncio.Event()
        pipe = asyncio.create_task(
            run.pipe(source(text_events("msg_1", CHUNKS), hold=go, hold_after=2 + BEFORE_CUT))
        )
        so_far, full = "".join(CHUNKS[:BEFORE_CUT]), "".join(CHUNKS)
        await events.until(lambda: alice.turn(run_id) and alice.turn(run_id).text == so_far)
        seen: list[str] = [so_far]  # every text alice shows from now on

        def note_text(event: object) -> None:
            if isinstance(event, TurnUpdated) and event.run_id == run_id:
                text = alice.turn(run_id).text
                if text != seen[-1]:
                    seen.append(text)

        alice.listen(note_text)

        loop = asyncio.get_running_loop()
        cut_at = loop.time()
        assert proxy.outage(OUTAGE_S) >= 1
        states = lambda: [e.state for e in events.of(ConnectionChanged)]  # noqa: E731
        await events.until(lambda: "disconnected" in states(), what="alice notices the cut")

        go.set()  # the rest of the answer and the run's end happen while alice is cut off
        assert (await pipe).reason == "complete"
        await run.end()
        await bob_events.until(lambda: bob.turn(run_id).terminal, what="bob sees the end")
        assert not alice.turn(run_id).terminal and alice.turn(run_id).text == so_far

        await events.until(
            lambda: alice.turn(run_id).terminal, timeout=OUTAGE_S + 15, what="alice resumes"
        )
        back_after = loop.time() - cut_at
        after_cut = states()[states().index("disconnected") :]
        print(
            f"\nsocket cut for {OUTAGE_S:.0f} s: alice back after {back_after:.2f} s "
            f"({proxy.held} connection(s) held); states {after_cut}"
        )
        assert back_after >= OUTAGE_S - 0.5 and proxy.held >= 1
        assert "connected" in after_cut

        carol, _ = await open_session(hub, "carol", channel, device="tablet")
        assert alice.turn(run_id).text == bob.turn(run_id).text == full
        assert transcript_form(alice) == transcript_form(bob) == transcript_form(carol)
        assert [e.kind for e in alice.transcript()] == ["prompt", "turn"]
        assert alice.turn(run_id).status == "complete" and not alice.turn(run_id).streaming
        assert grew_by_appending(seen) and seen[-1] == full
        assert alice.messages() == bob.messages()
        assert alice.active_turns() == {}

        # and the session goes on: alice's next prompt is answered and seen by everyone
        second = await alice.send("And another one", invoke=False)
        again = await agent.create_run(alice.invocation(second))
        await again.start()
        await again.pipe(source(text_events("msg_2", ["The ", "end."])))
        await again.end()
        await events.until(lambda: alice.turn(again.run_id) and alice.turn(again.run_id).terminal)
        await bob_events.until(lambda: bob.turn(again.run_id) and bob.turn(again.run_id).terminal)
        assert transcript_form(alice) == transcript_form(bob)
        assert alice.turn(again.run_id).text == "The end."
    finally:
        await alice.close()
        await agent.end()
