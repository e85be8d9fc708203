"""docs/handover.md "Restarts and late joiners": a SIGKILLed agent (a real `tui-session agent`
process) during a take-over and during a pending escalation. After its restart the state is
exactly as before (no new snapshot, the same presence) and the flow continues from there."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.agent import AgentProcess, post, streamed_text
from tests.support.handover import (
    AGENT,
    Desk,
    answer,
    ask,
    request_human_call,
    runs_answering,
    snapshot_event,
    snapshots,
)
from tests.support.hub import Collector, HubEndpoint, hub_settings, wait_until
from tests.transport.agent_helpers import Client, Wire, invocation, recorder, transport
from tui_session.hub.server import start_hub
from tui_session.protocol.desk import item_id
from tui_session.transport.presence import client_presence_data

CHANNEL = "session:restart"
ENTER, LEAVE, UPDATE = 2, 3, 4  # presence actions


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[HubEndpoint]:
    """A hub whose presence forgets a killed connection after 1 s (not 15)."""
    running = await start_hub(hub_settings(tmp_path / "hub", presence_grace_s=1.0))
    endpoint = HubEndpoint("127.0.0.1", running.port, running.hub.auth.root_key(), tmp_path / "hub")
    yield endpoint
    await endpoint.close_clients()
    await running.stop()


@pytest.fixture
async def agent(hub: HubEndpoint) -> AsyncIterator[AgentProcess]:
    process = AgentProcess(hub, settings={"operators": "ada"})
    await process.start()
    yield process
    if process.proc is not None and process.proc.returncode is None:
        process.proc.kill()
        await process.proc.wait()


class AgentPresence:
    """The agent's presence in the session as a terminal sees it, event by event."""

    def __init__(self) -> None:
        self.events = Collector()

    @classmethod
    async def watch(cls, client: Client) -> AgentPresence:
        watcher = cls()
        await client.channel.presence.subscribe(watcher.events.add)
        return watcher

    def latest(self) -> Any:
        mine = [m for m in self.events.items if m.client_id == AGENT]
        return mine[-1] if mine else None

    async def until(self, status: str, *, after: int = 0) -> dict[str, Any]:
        """The agent's data once an event after the `after`-th shows `status`."""

        def shown() -> dict[str, Any] | None:
            for m in self.events.items[after:]:
                if m.client_id == AGENT and m.action in (ENTER, UPDATE) and m.data:
                    if m.data.get("status") == status:
                        return m.data
            return None

        await wait_until(lambda: shown() is not None, 20, f"agent presence {status!r}")
        found = shown()
        assert found is not None
        return found

    async def left(self, after: int) -> None:
        await wait_until(
            lambda: any(
                m.client_id == AGENT and m.action == LEAVE for m in self.events.items[after:]
            ),
            10,
            "the killed agent to leave presence",
        )


async def kill_and_restart(agent: AgentProcess, presence: AgentPresence) -> int:
    mark = len(presence.events.items)
    await agent.kill()
    await presence.left(mark)
    mark = len(presence.events.items)
    await agent.start()
    return mark


async def users(hub: HubEndpoint) -> tuple[Client, Client]:
    root = await Client.connect(hub, CHANNEL, "root")
    ada = await Client.connect(hub, CHANNEL, "ada")
    await root.channel.presence.enter(client_presence_data("root", "laptop", "user"))
    await ada.channel.presence.enter(client_presence_data("ada", "desk", "operator"))
    return root, ada


def published(wire: Wire) -> list[Any]:
    return [s.to_json() for s in snapshots(wire)]


async def test_killed_during_a_take_over_the_agent_comes_back_with_the_operator_in_control(
    hub: HubEndpoint, agent: AgentProcess
) -> None:
    wire = await recorder(hub, CHANNEL)
    root, ada = await users(hub)
    presence = await AgentPresence.watch(root)
    status, body = await ask(agent, ada, "take")  # type: ignore[arg-type]
    assert status == 200
    before = await presence.until("operator ada in control")
    state = published(wire)

    mark = await kill_and_restart(agent, presence)
    after = await presence.until("operator ada in control", after=mark)
    assert after == before, "the same presence: status and handover"
    assert published(wire) == state, "the restarted agent published no snapshot"

    _, held = await root.prompt("Is anyone there?")
    status, answer_body = await post(agent, invocation(held, CHANNEL))  # type: ignore[arg-type]
    assert status == 202 and answer_body["operator"] == "ada"
    status, body = await ask(agent, ada, "return")  # type: ignore[arg-type]
    assert status == 200 and body["state"]["event"]["kind"] == "handed-back"
    runs = await runs_answering(wire, held)  # the agent answers the held prompt
    assert len(runs) == 1
    end = await wire.wait_for(lambda _m: wire.run_end(runs[0].run_id), timeout=20)
    assert transport(end)["run-reason"] == "complete"
    await presence.until("idle", after=mark)
    await agent.stop()


async def test_killed_during_a_pending_escalation_the_request_still_waits_and_is_answered(
    hub: HubEndpoint, agent: AgentProcess
) -> None:
    wire, desk = await recorder(hub, CHANNEL), await Desk.watch(hub)
    root, ada = await users(hub)
    presence = await AgentPresence.watch(root)
    _, event_id = await root.prompt("I want to talk to a human about my refund")
    status, ids = await post(agent, invocation(event_id, CHANNEL))  # type: ignore[arg-type]
    assert status == 200
    run_id = ids["runId"]
    await snapshot_event(wire, "escalated")
    before = await presence.until("waiting for a human")
    assert before["handover"]["open_escalations"] == 1
    call_message, call_id, _ = request_human_call(wire, run_id)
    key = item_id("escalation", CHANNEL, call_id)  # type: ignore[arg-type]
    await desk.until(key, "open")
    state = published(wire)

    mark = await kill_and_restart(agent, presence)
    after = await presence.until("waiting for a human", after=mark)
    assert after == before
    assert published(wire) == state
    assert wire.tree().run(run_id).status == "suspended"  # type: ignore[union-attr]
    assert wire.run_end(run_id) is None, "a waiting turn is not an orphan"

    answer_id = await answer(ada, run_id, call_message, call_id, "Refund approved, ref 42.")
    status, resumed = await post(agent, invocation(answer_id, CHANNEL))  # type: ignore[arg-type]
    assert status == 200 and resumed["runId"] == run_id
    answered = await snapshot_event(wire, "answered", timeout=20)
    assert [(e.id, e.resolved_by) for e in answered.resolved] == [(call_id, "ada")]
    end = await wire.wait_for(lambda _m: wire.run_end(run_id), timeout=20)
    assert transport(end)["run-reason"] == "complete"
    assert "Refund approved, ref 42." in streamed_text(wire, run_id)
    item = await desk.until(key, "resolved")  # opened before the kill, resolved after it
    assert (item.resolution, item.resolved_by) == ("answered", "ada")
    await agent.stop()


pytestmark = pytest.mark.timeout(120)
