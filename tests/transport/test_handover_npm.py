"""docs/handover.md "What 0.8.0 peers do with them": an npm SDK client (the web client's view)
on a session with a take-over shows the operator's replies as assistant messages and is not
disturbed by `handover.*` messages, live or from history, while our fold reads them."""

from __future__ import annotations

from tests.support.forms import npm_messages, npm_runs
from tests.support.hub import HubEndpoint
from tests.support.npm import npm_observer
from tests.transport.agent_helpers import Client, publish, recorder
from tui_session.protocol.handover import (
    DEFAULT,
    Request,
    hand_back,
    request_publish,
    state_publish,
    take_over,
)
from tui_session.protocol.handover_fold import HandoverFold
from tui_session.protocol.operator_reply import OperatorReply, ReplyTarget
from tui_session.transport.channel_io import ChannelWriter

CHANNEL = "session:handover-npm"
T0 = 1_700_000_000_000


async def send_reply(client: Client, reply: OperatorReply, text: str) -> None:
    """What the operator's terminal does: the agent's channel writer, three batches."""
    writer = ChannelWriter(client.channel)
    start, step_start = reply.opening()
    await writer.submit(start)
    step_serial = await writer.publish(step_start)
    for op in [*reply.body(step_serial, text), *reply.closing(step_serial)]:
        await writer.submit(op)
    assert await writer.drain() == []


def assistant_text(message: dict) -> str:
    return "".join(
        part.get("text", "")
        for item in message["items"]
        if item["type"] == "message"
        for part in item["content"]
    )


async def test_npm_client_shows_operator_replies_and_ignores_handover_messages(
    hub: HubEndpoint,
) -> None:
    wire = await recorder(hub, CHANNEL)
    root = await Client.connect(hub, CHANNEL, "root")
    ada = await Client.connect(hub, CHANNEL, "ada")
    agent = await Client.connect(hub, CHANNEL, "agent")

    prompt, _ = await root.prompt("I want to talk to a human")
    await publish(ada.channel, request_publish("take", request_id="r1"))
    taken = take_over(
        DEFAULT, Request("r1", "take", "ada", T0), operators={"ada"}, grace_s=120, now_ms=T0
    )
    await publish(agent.channel, state_publish(taken))
    first = OperatorReply.plan("ada", ReplyTarget.prompt(prompt, "root", "root"))
    await send_reply(ada, first, "Hi, I'm Ada from support. " * 30)  # several appends

    observer = await npm_observer(hub, CHANNEL)  # from history
    try:
        messages = npm_messages(observer.ready)  # type: ignore[attr-defined]
        assert [cmid for cmid, _ in messages] == [prompt, first.message_id]
        assert messages[1][1]["role"] == "assistant"
        assert assistant_text(messages[1][1]) == "Hi, I'm Ada from support. " * 30
        assert npm_runs(observer.ready) == [  # type: ignore[attr-defined]
            (first.run_id, "root", "complete", ((first.step_id, "complete"),), None)
        ]

        # live: a spontaneous reply, then the hand-back, while the npm client watches
        second = OperatorReply.plan(
            "ada", ReplyTarget.spontaneous(first.message_id, "ada", "M2"), message_id="M2"
        )
        await send_reply(ada, second, "Your refund is on its way.")
        await publish(ada.channel, request_publish("return", request_id="r2"))
        back = hand_back(
            taken, Request("r2", "return", "ada", T0 + 5), operators={"ada"}, now_ms=T0 + 6
        )
        await publish(agent.channel, state_publish(back))
        await observer.command("ended", cmd="wait-end", runId=second.run_id)
        live = await observer.command("snapshot", cmd="snapshot")
        assert [cmid for cmid, _ in npm_messages(live)] == [prompt, first.message_id, "M2"]
        assert assistant_text(npm_messages(live)[2][1]) == "Your refund is on its way."
        fresh = await observer.command("history", cmd="history")
        assert npm_messages(fresh) == npm_messages(live)
    finally:
        await observer.close()

    # our fold reads what the npm client ignored
    fold = HandoverFold({"agent"})
    await wire.wait_for(lambda msgs: len([m for m in msgs if m["name"] == "handover.state"]) == 2)
    fold.apply_all(wire.items)
    view = fold.view()
    assert view.in_control is None
    assert [e.kind for _, e in view.events] == ["took-over", "handed-back"]
    assert {r.run_id: r.verification for r in view.operator_runs.values()} == {
        first.run_id: "verified",
        second.run_id: "verified",
    }
