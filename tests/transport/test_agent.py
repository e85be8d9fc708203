"""AgentSession and Run over the real hub and the real ably-python SDK (docs/wire.md §4, §7, §9).

A raw subscriber records the wire; clients publish their inputs with the SDK; the agent pipes
scripted Responses events. Nothing is mocked and waits are on events, with timeouts.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest

from tests.support.hub import HubEndpoint, wait_until
from tests.transport.agent_helpers import (
    Client,
    codec,
    invocation,
    publish,
    realtime,
    recorder,
    source,
    text_events,
    tool_call_events,
    transport,
)
from tui_session.protocol import (
    ErrorCode,
    InputHeaders,
    ProtocolError,
    approved_unexecuted_calls,
    user_text,
)
from tui_session.transport.agent import AgentSession, owner_or_operator

RUN_HEADERS = {
    "run-id",
    "run-client-id",
    "invocation-id",
    "input-client-id",
    "input-codec-message-id",
}
STEP_HEADERS = {
    "run-id",
    "step-id",
    "invocation-id",
    "run-client-id",
    "input-client-id",
    "step-client-id",
}
OUTPUT_HEADERS = {
    "role",
    "codec-message-id",
    "run-id",
    "run-client-id",
    "parent",
    "invocation-id",
    "input-client-id",
    "input-codec-message-id",
    "step-id",
    "step-client-id",
    "step-start-serial",
    "stream",
}


def channel_name() -> str:
    return f"session:{uuid.uuid4().hex[:8]}"


async def agent(hub: HubEndpoint, name: str, **options) -> AgentSession:
    return await AgentSession.connect(await realtime(hub, "agent"), name, **options)


def agent_messages(wire, run_id: str) -> list[dict]:
    return [
        m for m in wire.items if transport(m).get("run-id") == run_id and m["name"] != "ai-input"
    ]


# --- a plain answer (§9: 6, 7, 8, 9, 10, 11, 13, 18) ------------------------------------------


async def test_plain_answer_wire(hub: HubEndpoint) -> None:
    name = channel_name()
    wire = await recorder(hub, name)
    alice = await Client.connect(hub, name, "alice")
    prompt, event_id = await alice.prompt("Hi there")
    # the agent attaches after the prompt: it must find the trigger in history (§9.18)
    session = await agent(hub, name)
    run = await session.create_run(invocation(event_id, name))
    await run.start()
    events = [
        {"type": "response.created", "response": {}},
        {"type": "response.in_progress", "response": {}},
        *text_events("msg_1", ["Hel", "lo ", "world"])[:3],
        {"type": "response.output_text.annotation.added", "annotation": {}},  # unsupported
        *text_events("msg_1", ["Hel", "lo ", "world"])[3:],
        {"type": "response.completed", "response": {}},
    ]
    result = await run.pipe(source(events))
    assert result.reason == "complete"
    await run.end()
    await wire.wait_for(lambda items: any(m["name"] == "ai-run-end" for m in items))

    mine = agent_messages(wire, run.run_id)
    names = [m["name"] for m in mine]
    assert names[:2] == ["ai-run-start", "ai-step-start"]
    assert names[-2:] == ["ai-step-end", "ai-run-end"]
    assert set(names[2:-2]) == {"ai-output"}
    for m in mine:  # every header value a string (§9.8)
        assert all(isinstance(v, str) for v in transport(m).values()), m
        assert all(isinstance(v, str) for v in codec(m).values()), m
        assert transport(m)["run-client-id"] == "alice"
        assert transport(m)["input-client-id"] == "alice"
        assert m["clientId"] == "agent"

    start, step_start, step_end, end = mine[0], mine[1], mine[-2], mine[-1]
    assert set(transport(start)) == RUN_HEADERS | {"parent"}
    assert transport(start)["parent"] == prompt
    assert transport(start)["input-codec-message-id"] == prompt
    assert set(transport(step_start)) == STEP_HEADERS
    assert transport(step_start)["step-id"] == f"{run.invocation_id}-step-0"
    assert set(transport(step_end)) == STEP_HEADERS | {"step-start-serial", "step-reason"}
    assert transport(step_end)["step-start-serial"] == step_start["serial"]
    assert transport(step_end)["step-reason"] == "complete"
    assert transport(end)["run-reason"] == "complete"
    assert set(transport(end)) == RUN_HEADERS | {"run-reason"}

    outputs = mine[2:-2]
    cmids = {transport(m)["codec-message-id"] for m in outputs}
    assert len(cmids) == 1  # one pipe, one assistant message (§9.9)
    for m in outputs:
        t = transport(m)
        assert OUTPUT_HEADERS <= set(t) <= OUTPUT_HEADERS | {"status", "stream-id"}
        assert t["step-start-serial"] == step_start["serial"]
        assert t["parent"] == prompt
    kinds = [codec(m)["kind"] for m in outputs if m["action"] == 0]
    assert kinds == ["response.output_item.added", "output_text", "response.output_item.done"]

    create = next(m for m in outputs if codec(m)["kind"] == "output_text" and m["action"] == 0)
    assert create["data"] == ""
    assert transport(create)["status"] == "streaming"
    assert transport(create)["stream-id"] == "msg_1:0"
    assert codec(create)["output_index"] == "0" and codec(create)["content_index"] == "0"
    assert codec(create)["part"] == '{"type":"output_text","text":"","annotations":[]}'
    appends = [m for m in wire.by_serial(create["serial"]) if m["action"] == 5]
    assert "".join(m["data"] for m in appends) == "Hello world"
    assert appends[-1]["data"] == "" and transport(appends[-1])["status"] == "complete"
    for m in appends:  # appends repeat the full tiers (§2.2)
        assert codec(m) == codec(create)
        assert {k: v for k, v in transport(m).items() if k != "status"} == {
            k: v for k, v in transport(create).items() if k != "status"
        }
    done = next(m for m in outputs if codec(m)["kind"] == "response.output_item.done")
    assert done["data"] == {"item": {"type": "message", "id": "msg_1", "status": "completed"}}

    observer = wire.tree()
    node = observer.run(run.run_id)
    assert node is not None and node.status == "complete"
    assert [m["role"] for _, m in node.messages()] == ["assistant"]
    assert node.message(next(iter(cmids))).text() == "Hello world"
    assert session.tree.run(run.run_id).status == "complete"
    await session.end()


# --- locating the trigger (§9.16, §9.17) ------------------------------------------------------


async def test_unknown_trigger_times_out_and_publishes_nothing(hub: HubEndpoint) -> None:
    name = channel_name()
    wire = await recorder(hub, name)
    alice = await Client.connect(hub, name, "alice")
    await alice.prompt("Hi")
    session = await agent(hub, name)
    with pytest.raises(ProtocolError) as raised:
        await session.create_run(invocation("no-such-event", name), trigger_deadline_s=0.3)
    assert raised.value.code == ErrorCode.INPUT_EVENT_NOT_FOUND
    with pytest.raises(ProtocolError) as bad:
        await session.create_run({"inputEventId": "x"})
    assert bad.value.code == ErrorCode.BAD_REQUEST
    marker, _ = await alice.prompt("marker")  # everything before it has been delivered
    await wire.wait_for(
        lambda items: any(transport(m).get("codec-message-id") == marker for m in items)
    )
    assert all(m["clientId"] != "agent" for m in wire.items)
    await session.end()


async def test_trigger_published_after_create_run_is_awaited_live(hub: HubEndpoint) -> None:
    name = channel_name()
    session = await agent(hub, name)
    alice = await Client.connect(hub, name, "alice")
    event_id = str(uuid.uuid4())
    pending = asyncio.ensure_future(session.create_run(invocation(event_id, name)))
    # the client publishes its prompt while the agent is already waiting for it

    for op in user_text(InputHeaders(str(uuid.uuid4()), event_id, run_client_id="alice"), "Hi"):
        await publish(alice.channel, op)
    run = await asyncio.wait_for(pending, 5)
    assert run.trigger.event_id == event_id and run.owner == "alice"
    await session.end()


async def test_create_run_is_idempotent_per_input(hub: HubEndpoint) -> None:
    name = channel_name()
    alice = await Client.connect(hub, name, "alice")
    _, event_id = await alice.prompt("Hi")
    session = await agent(hub, name)
    run = await session.create_run(invocation(event_id, name))
    again = await session.create_run(invocation(event_id, name))
    assert again.duplicate and again.ids() == run.ids()
    await run.start()
    await run.pipe(source(text_events("msg_1", ["ok"])))
    await run.end()
    # another agent process (a fresh session) finds the run on the channel
    other = await agent(hub, name)
    third = await other.create_run(invocation(event_id, name))
    assert third.duplicate and third.ids() == run.ids()
    with pytest.raises(ProtocolError):
        await third.start()
    await third.end()  # a no-op
    await session.end()
    await other.end()


# --- the rollup ---------------------------------------------------------------------------------


async def test_rollup_first_delta_at_once_then_at_most_one_append_per_window(
    hub: HubEndpoint,
) -> None:
    name = channel_name()
    wire = await recorder(hub, name)
    alice = await Client.connect(hub, name, "alice")
    _, event_id = await alice.prompt("Count")
    window = 0.04
    session = await agent(hub, name, rollup_window_s=window)
    run = await session.create_run(invocation(event_id, name))
    await run.start()
    chunks = [f"t{i} " for i in range(150)]
    loop = asyncio.get_running_loop()
    began = loop.time()
    result = await run.pipe(source(text_events("msg_1", chunks), pace_s=0.002))  # ~500 tokens/s
    elapsed = loop.time() - began
    await run.end()
    await wire.wait_for(lambda items: wire.run_end(run.run_id))
    create = next(
        m for m in wire.items if m["action"] == 0 and codec(m).get("kind") == "output_text"
    )
    appends = [m for m in wire.by_serial(create["serial"]) if m["action"] == 5]
    content = [m for m in appends if m["data"]]
    assert result.reason == "complete"
    assert "".join(m["data"] for m in appends) == "".join(chunks)
    assert content[0]["data"] == chunks[0]  # the first delta goes out alone, at once
    assert len(content) <= elapsed / window + 3, (len(content), elapsed)
    assert len(content) < len(chunks) / 3
    await session.end()


# --- the error path (§7.1, §9.12) ---------------------------------------------------------------


async def test_source_error_closes_every_open_stream(hub: HubEndpoint) -> None:
    name = channel_name()
    wire = await recorder(hub, name)
    alice = await Client.connect(hub, name, "alice")
    _, event_id = await alice.prompt("Break")
    session = await agent(hub, name)
    run = await session.create_run(invocation(event_id, name))
    await run.start()
    reasoning = [
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"id": "rs_1", "type": "reasoning", "summary": []},
        },
        {
            "type": "response.reasoning_summary_part.added",
            "item_id": "rs_1",
            "output_index": 0,
            "summary_index": 0,
            "part": {"type": "summary_text", "text": ""},
        },
        {
            "type": "response.reasoning_summary_text.delta",
            "item_id": "rs_1",
            "output_index": 0,
            "summary_index": 0,
            "delta": "thinking",
        },
    ]
    text = text_events("msg_1", ["Once ", "upon"], output_index=1)[:4]
    result = await run.pipe(source(reasoning + text, fail_after=len(reasoning) + len(text)))
    assert result.reason == "error" and "model stream broke" in str(result.error)
    await run.end()
    await wire.wait_for(lambda items: wire.run_end(run.run_id))

    creates = [m for m in wire.items if m["action"] == 0 and transport(m).get("stream") == "true"]
    assert len(creates) == 2
    for create in creates:
        last = wire.by_serial(create["serial"])[-1]
        assert transport(last)["status"] == "cancelled" and last["data"] == ""
    step_end = wire.named("ai-step-end")[-1]
    assert transport(step_end)["step-reason"] == "failed"
    end = wire.run_end(run.run_id)
    assert transport(end)["run-reason"] == "error"
    assert transport(end)["error-code"] == "104008"
    assert "model stream broke" in transport(end)["error-message"]
    node = wire.tree().run(run.run_id)
    assert node.status == "error" and node.open_streams == [] and node.interrupted_streams == []
    assert node.error.code == 104008
    await session.end()


# --- cancels (§9.19, §9.20, §9.21) --------------------------------------------------------------


async def test_cancel_by_input_id_before_run_start(hub: HubEndpoint) -> None:
    name = channel_name()
    wire = await recorder(hub, name)
    alice = await Client.connect(hub, name, "alice")
    prompt, event_id = await alice.prompt("Never mind")
    session = await agent(hub, name)
    run = await session.create_run(invocation(event_id, name))
    await alice.cancel(input_id=prompt)  # the client does not know the run id yet
    await wait_until(lambda: run.cancelled, what="cancel routed by input id")
    await run.start()
    result = await run.pipe(source(text_events("msg_1", ["never sent"])))
    assert result.reason == "cancelled"
    await run.end()
    await wire.wait_for(lambda items: wire.run_end(run.run_id))
    names = [m["name"] for m in agent_messages(wire, run.run_id)]
    assert names == ["ai-run-start", "ai-run-end"]
    assert transport(wire.run_end(run.run_id))["run-reason"] == "cancelled"
    await session.end()


async def test_cancel_published_before_the_agent_attached(hub: HubEndpoint) -> None:
    name = channel_name()
    wire = await recorder(hub, name)
    alice = await Client.connect(hub, name, "alice")
    prompt, event_id = await alice.prompt("Quick, cancel")
    await alice.cancel(input_id=prompt)
    session = await agent(hub, name)  # attaches after the cancel: found in history (§7.3)
    run = await session.create_run(invocation(event_id, name))
    await run.start()
    assert run.cancelled
    assert (await run.pipe(source(text_events("msg_1", ["x"])))).reason == "cancelled"
    await run.end()
    await wire.wait_for(lambda items: wire.run_end(run.run_id))
    assert transport(wire.run_end(run.run_id))["run-reason"] == "cancelled"
    await session.end()


async def test_cancel_by_run_id_mid_stream_keeps_partial_text(hub: HubEndpoint) -> None:
    name = channel_name()
    wire = await recorder(hub, name)
    alice = await Client.connect(hub, name, "alice")
    _, event_id = await alice.prompt("Tell a story")
    session = await agent(hub, name)
    run = await session.create_run(invocation(event_id, name))
    await run.start()
    first = text_events("msg_1", ["Title"])
    second = text_events("msg_2", ["Once ", "upon ", "a time"], output_index=1)
    never = asyncio.Event()  # the model stalls after its first sentence
    piping = asyncio.ensure_future(
        run.pipe(source(first + second, hold=never, hold_after=len(first) + 3))
    )

    def streaming_msg2(items):
        return any(m["action"] == 5 and m["data"] == "Once " for m in items)

    await wire.wait_for(streaming_msg2)
    await alice.cancel(run_id=run.run_id)
    result = await asyncio.wait_for(piping, 5)
    assert result.reason == "cancelled"
    await run.end()
    await wire.wait_for(lambda items: wire.run_end(run.run_id))
    creates = [m for m in wire.items if m["action"] == 0 and codec(m).get("kind") == "output_text"]
    closing = [transport(wire.by_serial(c["serial"])[-1])["status"] for c in creates]
    assert closing == ["complete", "cancelled"]  # a completed stream is never re-marked
    assert sum(transport(m).get("status") == "cancelled" for m in wire.items) == 1
    assert transport(wire.named("ai-step-end")[-1])["step-reason"] == "cancelled"
    assert transport(wire.run_end(run.run_id))["run-reason"] == "cancelled"
    node = wire.tree().run(run.run_id)
    texts = [node.message(c).text() for c in node.codec_message_ids()]
    assert texts == ["TitleOnce "]
    await session.end()


@pytest.mark.parametrize(
    ("canceller", "operators"), [("alice", ()), ("carol", ("carol",))], ids=["phone", "operator"]
)
async def test_a_cancel_from_the_owners_other_device_ends_the_run_naming_the_canceller(
    hub: HubEndpoint, canceller: str, operators: tuple[str, ...]
) -> None:
    """Mine is my user's: alice's phone (another connection, the same verified clientId)
    cancels the turn her laptop started; an operator's cancel is named the same way."""
    name = channel_name()
    wire = await recorder(hub, name)
    laptop = await Client.connect(hub, name, "alice")
    other = await Client.connect(hub, name, canceller)  # the phone, or the operator
    _, event_id = await laptop.prompt("Tell a story")
    session = await agent(hub, name, operators=operators)
    run = await session.create_run(invocation(event_id, name))
    await run.start()
    never = asyncio.Event()
    piping = asyncio.ensure_future(
        run.pipe(source(text_events("msg_1", ["Once ", "upon"]), hold=never, hold_after=3))
    )
    await wire.wait_for(lambda items: any(m["data"] == "Once " for m in items))
    await other.cancel(run_id=run.run_id)
    assert (await asyncio.wait_for(piping, 5)).reason == "cancelled"
    await run.end()
    await wire.wait_for(lambda items: wire.run_end(run.run_id))
    end = transport(wire.run_end(run.run_id))
    assert end["run-reason"] == "cancelled" and end["run-client-id"] == "alice"
    assert end["input-client-id"] == canceller  # whose cancel it was
    await session.end()


async def test_cancel_from_non_owner_is_refused(hub: HubEndpoint, caplog) -> None:
    caplog.set_level(logging.WARNING, "tui_session.transport.agent")
    name = channel_name()
    wire = await recorder(hub, name)
    alice = await Client.connect(hub, name, "alice")
    bob = await Client.connect(hub, name, "bob")
    _, event_id = await alice.prompt("Mine")
    session = await agent(hub, name, operators={"carol"})
    run = await session.create_run(invocation(event_id, name))
    await run.start()
    go_on = asyncio.Event()
    piping = asyncio.ensure_future(
        run.pipe(source(text_events("msg_1", ["a", "b"]), hold=go_on, hold_after=3))
    )
    await bob.cancel(run_id=run.run_id)
    await wait_until(lambda: "refused cancel" in caplog.text, what="refusal logged")
    assert (
        f"run {run.run_id}" in caplog.text and "'bob'" in caplog.text and "'alice'" in caplog.text
    )
    go_on.set()
    assert (await piping).reason == "complete"
    await run.end()
    await wire.wait_for(lambda items: wire.run_end(run.run_id))
    assert transport(wire.run_end(run.run_id))["run-reason"] == "complete"
    # the default policy: the verified owner and operators may cancel, nobody else
    policy = owner_or_operator({"carol"})

    class Sender:  # the policy reads only the cancel's hub-verified clientId
        def __init__(self, client_id):
            self.client_id = client_id

    assert policy(Sender("alice"), run) and policy(Sender("carol"), run)
    assert not policy(Sender("bob"), run) and not policy(Sender(None), run)
    await session.end()


# --- tool approval, suspend, resume (§9.23, §9.11, §9.21) ---------------------------------------


async def suspended_run(hub: HubEndpoint, name: str, **options):
    alice = await Client.connect(hub, name, "alice")
    prompt, event_id = await alice.prompt("Delete my temp files")
    session = await agent(hub, name, **options)
    run = await session.create_run(invocation(event_id, name))
    await run.start()
    events = tool_call_events("fc_1", "call_1", "delete_files", '{"path":"/tmp"}')
    assert (await run.pipe(source(events))).reason == "complete"
    await run.suspend()
    return alice, session, run, prompt


async def test_tool_approval_suspend_and_resume_by_another_client(hub: HubEndpoint) -> None:
    """bob is a configured approver: the suspend names alice (the owner) and bob."""
    name = channel_name()
    wire = await recorder(hub, name)
    _, session, run, prompt = await suspended_run(hub, name, approvers=["bob"])
    await wire.wait_for(lambda items: wire.named("ai-run-suspend"))
    assert wire.named("ai-run-suspend")[0]["extras"]["headers"] == {"approvers": "alice,bob"}
    outputs = [m for m in agent_messages(wire, run.run_id) if m["name"] == "ai-output"]
    message_id = transport(outputs[0])["codec-message-id"]
    assert {transport(m)["codec-message-id"] for m in outputs} == {message_id}
    assert codec(outputs[-1])["kind"] == "tool-approval-request"
    assert codec(outputs[-1])["call_id"] == "call_1" and outputs[-1]["data"] == '{"path":"/tmp"}'
    assert session.tree.run(run.run_id).status == "suspended"

    bob = await Client.connect(hub, name, "bob")  # bob approves alice's call
    event_id = await bob.approve(message_id, run.run_id, "call_1")
    resumed = await session.create_run(invocation(event_id, name))
    assert resumed.continuation and resumed.run_id == run.run_id and resumed.owner == "alice"
    await resumed.start()
    context = await resumed.context_messages()
    calls = approved_unexecuted_calls(context)
    assert [c["call_id"] for c in calls] == ["call_1"]
    assert context[0]["role"] == "user"  # the prompt the run answers comes first
    output = {
        "type": "function_call_output",
        "item": {"type": "function_call_output", "call_id": "call_1", "output": "deleted 3 files"},
    }
    assert (await resumed.pipe(source([output]))).reason == "complete"
    assert (await resumed.pipe(source(text_events("msg_2", ["Done."])))).reason == "complete"
    await resumed.end()
    await wire.wait_for(lambda items: wire.run_end(run.run_id))

    mine = agent_messages(wire, run.run_id)
    assert all(transport(m)["run-client-id"] == "alice" for m in mine)  # §7.8
    resume = wire.named("ai-run-resume")[0]
    assert set(transport(resume)) == RUN_HEADERS  # no structural headers (§9.10)
    assert transport(resume)["input-client-id"] == "bob"
    assert transport(resume)["input-codec-message-id"] == message_id
    second = [m for m in mine if transport(m)["invocation-id"] == resumed.invocation_id]
    assert all(transport(m)["input-client-id"] == "bob" for m in second)
    assert all(transport(m)["parent"] == message_id for m in second if m["name"] == "ai-output")
    node = wire.tree().run(run.run_id)
    assert node.status == "complete" and len(node.steps) == 3
    states = [m.get("toolCallStates") for _, m in node.messages() if m.get("toolCallStates")]
    assert states == [
        {"call_1": {"approval": "approved", "name": "delete_files", "arguments": '{"path":"/tmp"}'}}
    ]
    assert prompt == transport(wire.named("ai-run-start")[0])["parent"]
    await session.end()


async def test_a_decision_by_someone_who_may_not_decide_is_refused_and_changes_nothing(
    hub: HubEndpoint,
) -> None:
    """bob (another user, not an approver) denies alice's call: the continuation is refused
    with 40380, nothing is published, the run stays suspended and the call pending for the
    agent too; alice, on another device, then approves and the run resumes."""
    name = channel_name()
    wire = await recorder(hub, name)
    _, session, run, _ = await suspended_run(hub, name)
    await wire.wait_for(lambda items: wire.named("ai-run-suspend"))
    assert wire.named("ai-run-suspend")[0]["extras"]["headers"] == {"approvers": "alice"}
    message_id = transport(wire.named("ai-output")[0])["codec-message-id"]
    bob = await Client.connect(hub, name, "bob")
    refused_id = await bob.approve(message_id, run.run_id, "call_1", approved=False)
    await session.wait_for_tree(lambda: refused_id in session._inputs, 5)
    with pytest.raises(ProtocolError) as refused:
        await session.create_run(invocation(refused_id, name))
    assert refused.value.code == ErrorCode.APPROVAL_NOT_ALLOWED == 40380
    assert "only alice" in refused.value.message
    node = session.tree.run(run.run_id)
    assert node.status == "suspended" and session.run(run.run_id) is not None
    states = [m.get("toolCallStates") for _, m in node.messages() if m.get("toolCallStates")]
    assert states[0]["call_1"]["approval"] == "pending"  # bob's denial did not fold
    assert [(d.client_id, d.counted) for d in node.decisions()] == [("bob", False)]

    phone = await Client.connect(hub, name, "alice")  # alice's other device
    event_id = await phone.approve(message_id, run.run_id, "call_1")
    resumed = await session.create_run(invocation(event_id, name))
    await resumed.start()
    assert [c["call_id"] for c in approved_unexecuted_calls(await resumed.context_messages())] == [
        "call_1"
    ]
    await resumed.end()
    await wire.wait_for(lambda items: wire.run_end(run.run_id))
    assert len(wire.named("ai-run-resume")) == 1  # only alice's decision resumed it
    await session.end()


async def test_cancel_of_a_suspended_run_ends_it(hub: HubEndpoint) -> None:
    name = channel_name()
    wire = await recorder(hub, name)
    alice, session, run, _ = await suspended_run(hub, name)
    await alice.cancel(run_id=run.run_id)
    await wire.wait_for(lambda items: wire.run_end(run.run_id))
    end = wire.run_end(run.run_id)
    t = transport(end)
    assert t["run-reason"] == "cancelled" and t["run-client-id"] == "alice"
    assert t["input-client-id"] == "alice" and t["invocation-id"] != run.invocation_id
    assert wire.tree().run(run.run_id).status == "cancelled"
    await session.end()


# --- steering (§9.22, §9.15) ------------------------------------------------------------------


async def test_steer_runs_another_pass_stamped_with_the_steer(hub: HubEndpoint) -> None:
    name = channel_name()
    wire = await recorder(hub, name)
    alice = await Client.connect(hub, name, "alice")
    _, event_id = await alice.prompt("Write a story")
    session = await agent(hub, name)
    model_call_aborted = asyncio.Event()
    steers = []

    def on_steer(message, run):
        steers.append(message.transport["codec-message-id"])
        model_call_aborted.set()  # the service aborts its own model call, not the run

    run = await session.create_run(invocation(event_id, name), on_steer=on_steer)
    await run.start()
    contexts = []
    passes = 0
    while run.has_input():
        contexts.append(await run.context_messages())
        if passes == 0:
            events = text_events("msg_1", ["Once ", "upon ", "a time"])
            hold = {"hold": model_call_aborted, "hold_after": 3}
            piping = asyncio.ensure_future(run.pipe(source(events, **hold)))
            await wire.wait_for(lambda items: any(m["data"] == "Once " for m in items))
            steer, _ = await alice.prompt("Make it about mountains", run_id=run.run_id)
            result = await piping
        else:
            result = await run.pipe(source(text_events("msg_2", ["Mountains!"])))
        assert result.reason == "complete"
        passes += 1
    await run.end()
    await wire.wait_for(lambda items: wire.run_end(run.run_id))
    assert passes == 2 and steers == [steer]
    outputs = [m for m in agent_messages(wire, run.run_id) if m["name"] == "ai-output"]
    first, second = (
        [m for m in outputs if transport(m)["step-id"] == f"{run.invocation_id}-step-{n}"]
        for n in (0, 1)
    )
    assert first and all("steer-codec-message-ids" not in transport(m) for m in first)
    assert second and all(transport(m)["steer-codec-message-ids"] == f'["{steer}"]' for m in second)
    last = contexts[1]  # the model's second pass ends with the steer
    assert last[-1]["role"] == "user"
    assert last[-1]["items"][0]["content"][0]["text"] == "Make it about mountains"
    assert [m["role"] for m in last] == ["user", "assistant", "user"]
    node = wire.tree().run(run.run_id)
    assert steer in node.steer_ids and node.status == "complete"
    await session.end()


async def test_steers_count_from_the_owners_other_device_and_not_from_someone_else(
    hub: HubEndpoint, caplog
) -> None:
    """alice's phone steers the turn her laptop started: routed, answered, stamped. bob's
    steer stays on the channel, is not routed, is logged, and is not in the model's context."""
    caplog.set_level(logging.WARNING, "tui_session.transport.agent")
    name = channel_name()
    wire = await recorder(hub, name)
    laptop = await Client.connect(hub, name, "alice")
    phone = await Client.connect(hub, name, "alice")
    bob = await Client.connect(hub, name, "bob")
    _, event_id = await laptop.prompt("Write a story")
    session = await agent(hub, name)
    steered = asyncio.Event()
    routed = []

    def on_steer(message, run):
        routed.append(message.client_id)
        steered.set()

    run = await session.create_run(invocation(event_id, name), on_steer=on_steer)
    await run.start()
    events = text_events("msg_1", ["Once ", "upon ", "a time"])
    piping = asyncio.ensure_future(run.pipe(source(events, hold=steered, hold_after=3)))
    await wire.wait_for(lambda items: any(m["data"] == "Once " for m in items))
    ignored, _ = await bob.prompt("Make it about the sea", run_id=run.run_id)
    await wait_until(lambda: "ignored a steer" in caplog.text, what="bob's steer ignored")
    assert f"run {run.run_id}" in caplog.text and "'bob'" in caplog.text
    steer, _ = await phone.prompt("Make it about mountains", run_id=run.run_id)
    assert (await piping).reason == "complete"
    assert routed == ["alice"] and run.has_input()
    context = await run.context_messages()
    texts = [m["items"][0]["content"][0]["text"] for m in context if m["role"] == "user"]
    assert texts == ["Write a story", "Make it about mountains"]  # not bob's
    assert (await run.pipe(source(text_events("msg_2", ["Mountains!"])))).reason == "complete"
    assert not run.has_input()  # bob's steer never makes another pass
    await run.end()
    await wire.wait_for(lambda items: wire.run_end(run.run_id))
    node = wire.tree().run(run.run_id)
    assert node.steer_ids == {steer} and ignored not in node.steer_ids
    await session.end()


# --- session end (§4.9) ------------------------------------------------------------------------


async def test_session_end_cancels_open_runs(hub: HubEndpoint) -> None:
    name = channel_name()
    wire = await recorder(hub, name)
    alice = await Client.connect(hub, name, "alice")
    _, event_id = await alice.prompt("Long answer")
    session = await agent(hub, name)
    run = await session.create_run(invocation(event_id, name))
    await run.start()
    never = asyncio.Event()
    piping = asyncio.ensure_future(
        run.pipe(source(text_events("msg_1", ["a", "b"]), hold=never, hold_after=3))
    )
    await wire.wait_for(lambda items: any(m["data"] == "a" for m in items))
    await session.end()
    assert (await piping).reason == "cancelled"
    await wire.wait_for(lambda items: wire.run_end(run.run_id))
    assert transport(wire.run_end(run.run_id))["run-reason"] == "cancelled"
    assert wire.tree().run(run.run_id).open_streams == []


# --- a failed append: recovery before the close (§7.11) -----------------------------------------


class FlakyChannel:
    """The real channel, except that one append fails before it is sent (fault injection)."""

    def __init__(self, channel, fail_data: str) -> None:
        self.channel, self.fail_data = channel, fail_data
        self.publish = channel.publish
        self.update_message = channel.update_message

    async def append_message(self, message):
        if message.data == self.fail_data:
            raise ConnectionError("append lost")
        return await self.channel.append_message(message)


async def test_failed_append_is_recovered_before_the_closing_append(hub: HubEndpoint) -> None:
    from tui_session.protocol import RunHeaders, Step
    from tui_session.protocol.responses import ResponsesEncoder
    from tui_session.transport.channel_io import ChannelWriter

    name = channel_name()
    wire = await recorder(hub, name)
    client = await realtime(hub, "agent")
    channel = client.channels.get(name)
    await channel.attach()
    writer = ChannelWriter(FlakyChannel(channel, "lo "), window_s=0)
    headers = RunHeaders("R", "I", "U", run_client_id="alice", parent="U")
    encoder = ResponsesEncoder(headers.output_encoder("A", Step("I-step-0", "alice", "s0")))
    for event in text_events("msg_1", ["Hel", "lo ", "world"]):
        for op in encoder.encode(event):
            await writer.submit(op)
    assert not await writer.drain() and not writer.recovery_errors
    create = await wire.wait_for(
        lambda items: next((m for m in items if codec(m).get("kind") == "output_text"), None)
    )
    await wire.wait_for(
        lambda items: transport(wire.by_serial(create["serial"])[-1]).get("status") == "complete"
    )
    deliveries = wire.by_serial(create["serial"])
    actions = [(m["action"], m["data"], transport(m)["status"]) for m in deliveries]
    assert actions == [
        (0, "", "streaming"),
        (5, "Hel", "streaming"),
        (5, "world", "streaming"),
        (1, "Hello world", "streaming"),  # the recovery, before the close
        (5, "", "complete"),
    ]
    assert wire.tree().run("R").message("A").text() == "Hello world"
