"""docs/handover.md "The desk" on the real agent service: the agent's presence on the desk, stalled
turns (opened, recovered, resolved with how the turn ended), items read back after a restart
(and their sessions served again), and the daily re-announcement of what is still open."""

from __future__ import annotations

from pathlib import Path

from tests.agent.test_service import agent_settings, run_end, text_answer
from tests.fakes.openai_server import END, FakeOpenAI
from tests.support.agent import demo_settings, post, running_agent
from tests.support.handover import AGENT, DESK, Desk, request_human_call, snapshot_event
from tests.support.hub import HubEndpoint, wait_until
from tests.transport.agent_helpers import Client, invocation, recorder, transport
from tui_session.agent.desk_publisher import DAY_MS, due_for_reannounce
from tui_session.protocol.desk import DeskItem, DeskKind, DeskState, item_id

CHANNEL = "session:desk"


async def test_a_stalled_turn_shows_on_the_desk_recovers_and_resolves_with_its_end(
    hub: HubEndpoint, model: FakeOpenAI, tmp_path: Path
) -> None:
    wire, desk = await recorder(hub, CHANNEL), await Desk.watch(hub)
    root = await Client.connect(hub, CHANNEL, "root")
    queue = model.script_queue()
    events = text_answer(["Thinking", " hard"])
    for event in events[:4]:  # created, item added, part added, the first delta
        await queue.put(event)
    settings = agent_settings(model, stall_after_s=1.0)
    async with running_agent(hub, settings, tmp_path) as agent:
        _, event_id = await root.prompt("a slow question")
        run_id = (await post(agent, invocation(event_id, CHANNEL)))[1]["runId"]
        key = item_id(DeskKind.STALL, CHANNEL, run_id)
        stalled = await desk.until(key, "open")
        assert (stalled.user, stalled.run_id, stalled.session) == ("root", run_id, "desk")
        assert stalled.why.startswith("no progress for 1 s")
        for event in events[4:]:
            await queue.put(event)
        recovered = await desk.until(key, "resolved")
        assert (recovered.resolution, recovered.resolved_by) == ("recovered", AGENT)
        await queue.put(END)
        assert transport(await run_end(wire, run_id))["run-reason"] == "complete"

        queue = model.script_queue()  # the next turn stalls and is cancelled while stalled
        await queue.put(events[0])
        _, event_id = await root.prompt("another slow one")
        run_id = (await post(agent, invocation(event_id, CHANNEL)))[1]["runId"]
        key = item_id(DeskKind.STALL, CHANNEL, run_id)
        await desk.until(key, "open")
        await root.cancel(run_id=run_id)
        ended = await desk.until(key, "resolved")
        assert (ended.resolution, ended.resolved_by) == ("cancelled", AGENT)
        await queue.put(END)


async def test_after_a_restart_the_agent_knows_its_open_items_and_serves_their_sessions(
    hub: HubEndpoint, tmp_path: Path
) -> None:
    wire, desk = await recorder(hub, CHANNEL), await Desk.watch(hub)
    root = await Client.connect(hub, CHANNEL, "root")
    watcher = await Client.connect(hub, CHANNEL, "watcher")
    settings = demo_settings(operators="ada")
    async with running_agent(hub, settings, tmp_path) as agent:
        _, event_id = await root.prompt("I want to talk to a human")
        run_id = (await post(agent, invocation(event_id, CHANNEL)))[1]["runId"]
        await snapshot_event(wire, "escalated")
        _, call_id, _ = request_human_call(wire, run_id)
        key = item_id(DeskKind.ESCALATION, CHANNEL, call_id)
        opened = await desk.until(key, "open")
    (tmp_path / "agent-handover.json").unlink()  # only the desk remembers the session now
    async with running_agent(hub, settings, tmp_path) as agent:
        await wait_until(lambda: CHANNEL in agent.service.sessions, what="the session served again")
        members = await watcher.channel.presence.get()
        [present] = [m.data for m in members if m.client_id == AGENT]
        assert present["status"] == "waiting for a human"
        publisher = agent.service.handover.desk
        assert publisher.open == {key: opened}
        operator = hub.realtime("ada")
        on_desk = await operator.channels.get(DESK).presence.get()
        assert [m.data["kind"] for m in on_desk if m.client_id == AGENT] == ["agent"]

        count = len(desk.wire.named("desk.item"))
        again = await publisher.reannounce_due(opened.at_ms + DAY_MS)
        assert [i.id for i in again] == [key]
        await desk.wire.wait_for(lambda m: len([x for x in m if x["name"] == "desk.item"]) > count)
        latest = desk.items()[key]
        assert (latest.state, latest.since_ms) == ("open", opened.since_ms)
        assert latest.at_ms == opened.at_ms + DAY_MS


def test_only_open_items_a_day_old_are_announced_again() -> None:
    base = DeskItem(
        id="i",
        kind=DeskKind.ESCALATION,
        state=DeskState.OPEN,
        session="s",
        channel="session:s",
        user="root",
        why="help",
        since_ms=0,
        at_ms=1_000,
    )
    fresh = DeskItem(**{**base.__dict__, "id": "fresh", "at_ms": 1_000 + DAY_MS - 1})
    closed = base.resolved("answered", "ada", 2_000)
    assert due_for_reannounce([base, fresh, closed], 1_000 + DAY_MS) == [base]
