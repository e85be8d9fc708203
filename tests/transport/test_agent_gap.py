"""§7.13 on the agent side: after a re-attach without RESUMED, the agent reads the gap from
history, so a cancel published while its channel was detached still reaches the run."""

from __future__ import annotations

import asyncio

from tests.support.hub import HubEndpoint, wait_until
from tests.transport.agent_helpers import (
    Client,
    invocation,
    realtime,
    recorder,
    source,
    text_events,
    transport,
)
from tui_session.transport.agent import AgentSession

CHANNEL = "session:gap"


async def test_a_cancel_published_during_continuity_loss_is_honoured(hub: HubEndpoint) -> None:
    wire = await recorder(hub, CHANNEL)
    alice = await Client.connect(hub, CHANNEL, "alice")
    _, event_id = await alice.prompt("Tell a long story")
    session = await AgentSession.connect(await realtime(hub, "agent"), CHANNEL)
    run = await session.create_run(invocation(event_id, CHANNEL))
    await run.start()
    never = asyncio.Event()  # the model stalls after its first words
    piping = asyncio.ensure_future(
        run.pipe(source(text_events("msg_1", ["Once ", "upon"]), hold=never, hold_after=3))
    )
    await wire.wait_for(lambda items: any(m.get("data") == "Once " for m in items))

    # Continuity lost: detached (its channelSerial forgotten), the cancel goes by meanwhile.
    await session.channel.detach()
    await alice.cancel(run_id=run.run_id)
    assert not run.cancelled, "a detached agent cannot have seen the cancel live"
    await session.channel.attach()  # attached again, without RESUMED

    await wait_until(lambda: run.cancelled, what="the cancel read from the gap")
    result = await asyncio.wait_for(piping, 5)
    assert result.reason == "cancelled"
    await run.end()
    end = await wire.wait_for(lambda items: wire.run_end(run.run_id))
    assert transport(end)["run-reason"] == "cancelled"
    await session.end()
