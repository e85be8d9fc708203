"""The handover for tests (docs/handover.md): an operator's terminal's publishes (requests,
answers, replies) with the real SDK, `POST /api/handover` over real HTTP, and the snapshots
and desk items read back from the wire as a terminal folds them."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp

from tests.support.hub import HubEndpoint
from tests.transport.agent_helpers import Client, Wire, publish, recorder, transport
from tui_session.agent.launch import RunningAgent
from tui_session.protocol import InputHeaders, tool_result
from tui_session.protocol.desk import DeskFold, DeskItem
from tui_session.protocol.handover import (
    Snapshot,
    answer_output,
    handover_call,
    request_publish,
)
from tui_session.protocol.handover_fold import HandoverFold, HandoverView
from tui_session.protocol.operator_reply import OperatorReply
from tui_session.transport.channel_io import ChannelWriter

AGENT = "agent"  # the agent's clientId in tests: the only trusted publisher of snapshots
DESK = "desk:main"


async def post_handover(
    agent: RunningAgent, request_id: str, channel: str
) -> tuple[int, dict[str, Any]]:
    """POST /api/handover as an operator's terminal does, after publishing the request."""
    async with aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{agent.port}/api/handover"
        async with http.post(url, json=handover_call(request_id, channel)) as response:
            return response.status, await response.json()


async def health(agent: RunningAgent) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{agent.port}/health") as response:
            return await response.json()


async def request(operator: Client, action: str, *, expect: str | None = None) -> str:
    """Publish a `handover.request` (take or return); returns its id."""
    request_id = str(uuid.uuid4())
    await publish(operator.channel, request_publish(action, expect=expect, request_id=request_id))  # type: ignore[arg-type]
    return request_id


async def ask(
    agent: RunningAgent, operator: Client, action: str, *, expect: str | None = None
) -> tuple[int, dict[str, Any]]:
    """What f7 does: the request on the channel, then the POST naming it."""
    request_id = await request(operator, action, expect=expect)
    return await post_handover(agent, request_id, operator.channel.name)


async def answer(operator: Client, run_id: str, call_message: str, call_id: str, text: str) -> str:
    """An operator's answer to an escalation (alt+a): a tool result on the call; returns its
    event id (the POST names it)."""
    event_id = str(uuid.uuid4())
    headers = InputHeaders(
        call_message, event_id, run_client_id=operator.client_id, parent=call_message, run_id=run_id
    )
    output = answer_output(operator.client_id, text)
    await publish(operator.channel, tool_result(headers, call_id, output))
    return event_id


async def send_reply(client: Client, reply: OperatorReply, text: str) -> None:
    """What the operator's terminal does to reply: the agent's channel writer, three batches."""
    writer = ChannelWriter(client.channel)
    start, step_start = reply.opening()
    await writer.submit(start)
    step_serial = await writer.publish(step_start)
    for op in [*reply.body(step_serial, text), *reply.closing(step_serial)]:
        await writer.submit(op)
    assert await writer.drain() == []


def handover_view(wire: Wire) -> HandoverView:
    fold = HandoverFold({AGENT})
    fold.apply_all(wire.items)
    return fold.view()


def snapshots(wire: Wire) -> list[Snapshot]:
    """Every snapshot the agent published, oldest first."""
    out = []
    for m in wire.items:
        snapshot = Snapshot.from_json(m.get("data")) if m["name"] == "handover.state" else None
        if snapshot is not None and m.get("clientId") == AGENT:
            out.append(snapshot)
    return out


async def snapshot_event(wire: Wire, kind: str, timeout: float = 10.0) -> Snapshot:
    """Wait for the agent's snapshot whose event is `kind` (the newest such)."""

    def found() -> Snapshot | None:
        matching = [s for s in snapshots(wire) if s.event is not None and s.event.kind == kind]
        return matching[-1] if matching else None

    return await wire.wait_for(lambda _m: found(), timeout)


def request_human_call(wire: Wire, run_id: str) -> tuple[str, str, dict[str, Any]]:
    """(call message id, call id, the call) of the run's `request_human` call, as folded."""
    node = wire.tree().run(run_id)
    assert node is not None, f"run {run_id} not on the wire"
    for cmid, message in node.messages():
        for item in message["items"]:
            if item["type"] == "function_call" and item["name"] == "request_human":
                return cmid, item["call_id"], item
    raise AssertionError(f"no request_human call in run {run_id}")


async def runs_answering(wire: Wire, event_id: str, timeout: float = 20.0) -> list[Any]:
    """Wait until some run answers the input with this event id; its runs."""

    def runs() -> list[Any]:
        cmids = [
            transport(m)["codec-message-id"]
            for m in wire.named("ai-input")
            if transport(m).get("event-id") == event_id
        ]
        return wire.tree().runs_for_input(cmids[0]) if cmids else []

    return await wire.wait_for(lambda _m: runs(), timeout)


class Desk:
    """A desk channel as `tui-session desk` reads it: every item the agent published."""

    def __init__(self, wire: Wire) -> None:
        self.wire = wire

    @classmethod
    async def watch(cls, hub: HubEndpoint, channel: str = DESK) -> Desk:
        return cls(await recorder(hub, channel))

    def items(self) -> dict[str, DeskItem]:
        fold = DeskFold({AGENT})
        fold.apply_all(self.wire.items)
        return {i.id: i for i in fold.items()}

    async def until(self, item_id: str, state: str, timeout: float = 10.0) -> DeskItem:
        def found() -> DeskItem | None:
            item = self.items().get(item_id)
            return item if item is not None and item.state == state else None

        return await self.wire.wait_for(lambda _m: found(), timeout)
