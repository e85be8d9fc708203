"""docs/handover.md on the real agent service over real HTTP and the real hub: escalations (by
the model and by "ask for a human"), the desk, taking over and handing back, the refusals, the
automatic hand-back, and the model context after an operator's replies."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from ably.util.exceptions import AblyException

from tests.agent.test_callers import CHANNEL as CALLERS
from tests.agent.test_callers import agent_on, call, token
from tests.agent.test_service import agent_settings, run_end, text_answer
from tests.fakes.openai_server import (
    Event,
    FakeOpenAI,
    Stall,
    response_completed,
    response_created,
    responses_function_call,
)
from tests.support.agent import demo_settings, post, running_agent, streamed_text
from tests.support.handover import (
    AGENT,
    DESK,
    Desk,
    answer,
    ask,
    handover_view,
    health,
    post_handover,
    request,
    request_human_call,
    runs_answering,
    send_reply,
    snapshot_event,
    snapshots,
)
from tests.support.hub import HubEndpoint, wait_until
from tests.transport.agent_helpers import Client, Wire, invocation, publish, recorder, transport
from tui_session.protocol import InputHeaders, RunReason, user_text
from tui_session.protocol.desk import item_id
from tui_session.protocol.handover import ESCALATE_HEADER, answer_output, takeover_output
from tui_session.protocol.operator_reply import OperatorReply, ReplyTarget
from tui_session.transport.agent import AgentSession
from tui_session.transport.client_wire import with_app_headers
from tui_session.transport.connect import hub_realtime
from tui_session.transport.presence import client_presence_data

CHANNEL = "session:handover"


async def present(client: Client, role: str = "user") -> Client:
    """The client's device enters the session's presence, as a terminal does."""
    await client.channel.presence.enter(client_presence_data(client.client_id, "laptop", role))
    return client


async def agent_status(watcher: Client) -> dict[str, Any]:
    members = await watcher.channel.presence.get()
    [agent] = [m for m in members if m.client_id == AGENT]
    return agent.data


async def status_becomes(watcher: Client, status: str, timeout: float = 10.0) -> dict[str, Any]:
    """Wait (on presence events) until the agent's presence status is `status`."""
    seen: dict[str, Any] = {}

    def check(message: Any = None) -> None:
        if message is not None and message.client_id == AGENT:
            seen.update(data=message.data)

    await watcher.channel.presence.subscribe(check)
    try:
        data = await agent_status(watcher)
        if data.get("status") == status:
            return data
        await wait_until(
            lambda: seen.get("data", {}).get("status") == status, timeout, f"status {status}"
        )
        return seen["data"]
    finally:
        watcher.channel.presence.unsubscribe(check)


async def escalate_by_model(
    hub: HubEndpoint, agent: Any, root: Client, wire: Wire, text: str = "I want to talk to a human"
) -> tuple[str, str, str]:
    """root asks; the demo model calls request_human; returns (run id, call message, call id)."""
    _, event_id = await root.prompt(text)
    status, ids = await post(agent, invocation(event_id, CHANNEL))
    assert status == 200
    await snapshot_event(wire, "escalated")
    call_message, call_id, _ = request_human_call(wire, ids["runId"])
    return ids["runId"], call_message, call_id


def human_call(reason: str, call_id: str = "call_h") -> list[Event]:
    """A model answer that calls request_human."""
    arguments = json.dumps({"reason": reason})
    events = responses_function_call("fc_1", call_id, "request_human", [arguments])
    return [Event(response_created()), *map(Event, events), Event(response_completed())]


# --- escalating -------------------------------------------------------------------------------


async def test_a_model_escalation_is_on_the_channel_on_the_desk_and_answered_by_an_operator(
    hub: HubEndpoint, tmp_path: Path
) -> None:
    wire, desk = await recorder(hub, CHANNEL), await Desk.watch(hub)
    root = await present(await Client.connect(hub, CHANNEL, "root"))
    ada = await Client.connect(hub, CHANNEL, "ada")
    async with running_agent(hub, demo_settings(operators="ada"), tmp_path) as agent:
        run_id, call_message, call_id = await escalate_by_model(hub, agent, root, wire)
        [escalated] = [s for s in snapshots(wire)]
        [open_one] = escalated.open
        assert (open_one.id, open_one.run_id, open_one.message_id) == (
            call_id,
            run_id,
            call_message,
        )
        assert (open_one.user, open_one.asked_by) == ("root", "model")
        assert open_one.reason.startswith("The user asked for a human")
        assert escalated.event is not None and escalated.event.by == "model"
        suspend = wire.named("ai-run-suspend")[-1]
        assert wire.items.index(suspend) < wire.items.index(wire.named("handover.state")[0])
        data = await status_becomes(root, "waiting for a human")
        assert data["handover"] == {
            "in_control": None,
            "since": None,
            "grace_s": 120.0,
            "open_escalations": 1,
        }
        key = item_id("escalation", CHANNEL, call_id)  # type: ignore[arg-type]
        item = await desk.until(key, "open")
        assert (item.session, item.user, item.by, item.run_id) == (
            "handover",
            "root",
            "model",
            run_id,
        )
        assert item.why == open_one.reason

        event_id = await answer(ada, run_id, call_message, call_id, "Refund approved, ref 42.")
        status, resumed = await post(agent, invocation(event_id, CHANNEL))
        assert status == 200 and resumed["runId"] == run_id
        answered = await snapshot_event(wire, "answered")
        [done] = answered.resolved
        assert (done.resolution, done.resolved_by, done.answer_event_id) == (
            "answered",
            "ada",
            event_id,
        )
        assert answered.open == ()
        resolved = await desk.until(key, "resolved")
        assert (resolved.resolution, resolved.resolved_by) == ("answered", "ada")
        assert transport(await run_end(wire, run_id))["run-reason"] == "complete"
        assert "Refund approved, ref 42." in streamed_text(wire, run_id)
        await status_becomes(root, "idle")


async def test_ask_for_a_human_escalates_without_a_model_pass(
    hub: HubEndpoint, model: FakeOpenAI, tmp_path: Path
) -> None:
    """A prompt with `extras.headers.escalate`: the agent publishes the call itself."""
    wire = await recorder(hub, CHANNEL)
    root = await Client.connect(hub, CHANNEL, "root")
    settings = agent_settings(model, operators="ada")
    async with running_agent(hub, settings, tmp_path) as agent:
        cmid, event_id = str(uuid.uuid4()), str(uuid.uuid4())
        headers = InputHeaders(cmid, event_id, run_client_id="root")
        for op in user_text(headers, "My order never arrived, I need a person"):
            await publish(root.channel, with_app_headers(op, {ESCALATE_HEADER: "user"}))
        status, ids = await post(agent, invocation(event_id, CHANNEL))
        assert status == 200
        escalated = await snapshot_event(wire, "escalated")
        [open_one] = escalated.open
        assert (open_one.asked_by, open_one.user, open_one.run_id) == ("user", "root", ids["runId"])
        assert open_one.reason == "My order never arrived, I need a person"
        assert escalated.event is not None and escalated.event.by == "root"
        _, call_id, call = request_human_call(wire, ids["runId"])
        assert json.loads(call["arguments"]) == {"reason": open_one.reason}
        assert open_one.id == call_id
        assert wire.tree().run(ids["runId"]).status == "suspended"  # type: ignore[union-attr]
        assert model.requests == [], "no model pass"


async def test_request_human_is_offered_to_the_model_only_with_operators(
    hub: HubEndpoint, model: FakeOpenAI, tmp_path: Path
) -> None:
    root = await Client.connect(hub, CHANNEL, "root")
    for operators, offered in (("", False), ("ada", True)):
        model.script(text_answer(["ok"]))
        async with running_agent(hub, agent_settings(model, operators=operators), tmp_path) as a:
            _, event_id = await root.prompt("hello")
            assert (await post(a, invocation(event_id, CHANNEL)))[0] == 200
            body = (await model.wait_request(len(model.requests) + 1)).body
            names = [t["name"] for t in body["tools"]]
            assert ("request_human" in names) is offered


async def test_health_names_the_handover_authority_and_the_operators(
    hub: HubEndpoint, tmp_path: Path
) -> None:
    settings = demo_settings(operators="ada, bob", operator_grace_s=30.0)
    async with running_agent(hub, settings, tmp_path) as agent:
        got = await health(agent)
    assert got["clientId"] == "agent"
    assert got["operators"] == ["ada", "bob"]
    assert got["deskChannel"] == "desk:main"
    assert got["operatorGraceS"] == 30.0


# --- taking over and handing back --------------------------------------------------------------


async def test_a_take_over_ends_the_escalation_stops_the_agent_and_holds_prompts(
    hub: HubEndpoint, model: FakeOpenAI, tmp_path: Path
) -> None:
    wire, desk = await recorder(hub, CHANNEL), await Desk.watch(hub)
    root = await present(await Client.connect(hub, CHANNEL, "root"))
    ada = await present(await Client.connect(hub, CHANNEL, "ada"), "operator")
    model.script(human_call("refund"))
    queue = model.script_queue()  # the second turn streams, then stalls: still running
    for event in text_answer(["Working on it"])[:4]:
        await queue.put(event)
    await queue.put(Stall())
    async with running_agent(hub, agent_settings(model, operators="ada"), tmp_path) as agent:
        _, first = await root.prompt("I want a refund, get me a human")
        escalated = (await post(agent, invocation(first, CHANNEL)))[1]["runId"]
        await snapshot_event(wire, "escalated")
        _, second = await root.prompt("Also, where is my parcel?")
        running = (await post(agent, invocation(second, CHANNEL)))[1]["runId"]
        await wire.wait_for(lambda m: any(x.get("data") == "Working on it" for x in m))

        status, body = await ask(agent, ada, "take")
        assert status == 200
        taken = await snapshot_event(wire, "took-over")
        assert body["state"] == taken.to_json()
        assert taken.control is not None and taken.control.operator == "ada"
        assert taken.control.grace_s == 120.0
        [resolved] = taken.resolved
        assert (resolved.id, resolved.resolution, resolved.resolved_by) == (
            "call_h",
            "taken-over",
            "ada",
        )

        end = await run_end(wire, escalated)
        assert transport(end)["run-reason"] == "complete"
        assert transport(end)["input-client-id"] == "ada"
        node = wire.tree().run(escalated)
        assert node is not None
        outputs = [
            i["output"]
            for _, m in node.messages()
            for i in m["items"]
            if i["type"] == "function_call_output"
        ]
        assert outputs == [takeover_output("ada")]
        assert "ada took over and answers from here." in streamed_text(wire, escalated)
        stopped = await run_end(wire, running)
        assert transport(stopped)["run-reason"] == "cancelled"
        text = streamed_text(wire, running)
        assert "Working on it" in text
        assert "Stopped: ada (operator) took over this session." in text

        data = await status_becomes(root, "operator ada in control")
        assert data["handover"]["in_control"] == "ada"
        assert data["handover"]["since"] == taken.control.since_ms

        _, third = await root.prompt("Hello? Anyone?")
        status, held = await post(agent, invocation(third, CHANNEL))
        assert status == 202
        assert held == {
            "runId": None,
            "invocationId": None,
            "handledBy": "operator",
            "operator": "ada",
            "message": "operator ada is in control of this session; ada answers",
        }
        requests_before = len(model.requests)
        control = await desk.until(item_id("control", CHANNEL, str(taken.control.since_ms)), "open")  # type: ignore[arg-type]
        assert (control.user, control.by) == ("ada", "ada")
        escalation_item = await desk.until(item_id("escalation", CHANNEL, "call_h"), "resolved")  # type: ignore[arg-type]
        assert (escalation_item.resolution, escalation_item.resolved_by) == ("taken-over", "ada")
        waiting = [i for i in desk.items().values() if i.kind == "waiting"]
        assert [(w.user, w.why, w.state) for w in waiting] == [("root", "Hello? Anyone?", "open")]
        assert len(model.requests) == requests_before, "the agent answered nothing"


@pytest.mark.parametrize(
    ("operators", "message"),
    [
        ("ada", "bob is not an operator (agent.operators)"),
        ("", "no operators are configured (agent.operators)"),
    ],
)
async def test_a_non_operator_cannot_take_over(
    hub: HubEndpoint, tmp_path: Path, operators: str, message: str
) -> None:
    wire, desk = await recorder(hub, CHANNEL), await Desk.watch(hub)
    root = await present(await Client.connect(hub, CHANNEL, "root"))
    bob = await present(await Client.connect(hub, CHANNEL, "bob"))
    async with running_agent(hub, demo_settings(operators=operators), tmp_path) as agent:
        status, body = await ask(agent, bob, "take")
        assert status == 403
        assert body["error"] == {"code": 40330, "statusCode": 403, "message": message}
        refused = await snapshot_event(wire, "refused")
        assert refused.event is not None and refused.event.code == 40330
        assert refused.event.by == "bob" and refused.control is None
        assert body["state"] == refused.to_json()
        _, event_id = await root.prompt("still the agent?")
        status, ids = await post(agent, invocation(event_id, CHANNEL))
        assert status == 200 and ids["runId"]
        assert transport(await run_end(wire, ids["runId"]))["run-reason"] == "complete"
        data = await status_becomes(root, "idle")
        assert data["handover"] is None
        assert desk.items() == {}


async def test_refusals_name_what_changed_and_a_retried_post_gets_the_same_answer(
    hub: HubEndpoint, tmp_path: Path
) -> None:
    wire = await recorder(hub, CHANNEL)
    ada = await present(await Client.connect(hub, CHANNEL, "ada"), "operator")
    bob = await present(await Client.connect(hub, CHANNEL, "bob"), "operator")
    settings = demo_settings(operators="ada,bob", trigger_deadline_s=1.0)
    async with running_agent(hub, settings, tmp_path) as agent:
        status, body = await ask(agent, ada, "return")
        assert (status, body["error"]["code"]) == (409, 40931)
        taken_id = await request(ada, "take")
        status, first = await post_handover(agent, taken_id, CHANNEL)
        assert status == 200
        assert await post_handover(agent, taken_id, CHANNEL) == (200, first)  # a retry
        status, body = await ask(agent, bob, "take")
        assert (status, body["error"]["code"]) == (409, 40930)
        assert (
            body["error"]["message"] == "ada is already in control; take over from ada explicitly"
        )
        status, body = await ask(agent, bob, "return", expect="carol")
        assert (status, body["error"]["code"]) == (409, 40932)
        status, body = await ask(agent, bob, "take", expect="ada")  # a forced take-over
        assert status == 200 and body["state"]["control"]["operator"] == "bob"
        assert body["state"]["event"]["previous"] == "ada"
        status, body = await post_handover(agent, "no-such-request", CHANNEL)
        assert (status, body["error"]["code"]) == (404, 40430)
        status, body = await ask(agent, ada, "return")  # any operator may hand back
        assert status == 200 and body["state"]["control"] is None
        assert body["state"]["event"]["previous"] == "bob"
    kinds = [s.event.kind for s in snapshots(wire) if s.event]
    assert kinds == ["refused", "took-over", "refused", "refused", "took-over", "handed-back"]


async def test_hand_back_answers_the_newest_prompt_with_the_operators_reply_in_context(
    hub: HubEndpoint, model: FakeOpenAI, tmp_path: Path
) -> None:
    wire, desk = await recorder(hub, CHANNEL), await Desk.watch(hub)
    root = await present(await Client.connect(hub, CHANNEL, "root"))
    ada = await present(await Client.connect(hub, CHANNEL, "ada"), "operator")
    model.script(text_answer(["Glad to help again."]))
    async with running_agent(hub, agent_settings(model, operators="ada"), tmp_path) as agent:
        assert (await ask(agent, ada, "take"))[0] == 200
        first, first_event = await root.prompt("Where is my parcel?")
        assert (await post(agent, invocation(first_event, CHANNEL)))[0] == 202
        first_item = item_id("waiting", CHANNEL, first)  # type: ignore[arg-type]
        await desk.until(first_item, "open")
        reply = OperatorReply.plan("ada", ReplyTarget.prompt(first, "root", "root"))
        await send_reply(ada, reply, "It ships tomorrow, sorry for the wait.")
        answered = await desk.until(first_item, "resolved")
        assert (answered.resolution, answered.resolved_by) == ("answered", "ada")

        second, second_event = await root.prompt(
            "Thanks! Can the agent check the size?", parent=reply.message_id
        )
        assert (await post(agent, invocation(second_event, CHANNEL)))[0] == 202
        second_item = item_id("waiting", CHANNEL, second)  # type: ignore[arg-type]
        await desk.until(second_item, "open")
        assert model.requests == []

        status, body = await ask(agent, ada, "return")
        assert status == 200 and body["state"]["event"]["kind"] == "handed-back"
        request = await model.wait_request(1)
        runs = await runs_answering(wire, second_event)
        assert [r.client_id for r in runs] == ["root"]  # root's turn, answered by the agent
        assert transport(await run_end(wire, runs[0].run_id))["run-reason"] == "complete"
        back = await desk.until(second_item, "resolved")
        assert (back.resolution, back.resolved_by) == ("handed-back", "ada")

    context = request.body["input"]
    texts = [
        (item.get("role"), part.get("text"))
        for item in context
        if item.get("type") == "message"
        for part in item["content"]
    ]
    note = (
        "system",
        "The next assistant message was written by ada, a human operator who was in control "
        "of this conversation, not by you.",
    )
    assert texts == [
        ("user", "Where is my parcel?"),
        note,
        ("assistant", "It ships tomorrow, sorry for the wait."),
        ("user", "Thanks! Can the agent check the size?"),
    ]
    assert handover_view(wire).operator_runs[reply.run_id].verification == "verified"


async def test_control_returns_by_itself_when_the_operator_is_gone_for_the_grace(
    hub: HubEndpoint, tmp_path: Path
) -> None:
    wire, desk = await recorder(hub, CHANNEL), await Desk.watch(hub)
    root = await present(await Client.connect(hub, CHANNEL, "root"))
    ada = await present(await Client.connect(hub, CHANNEL, "ada"), "operator")
    settings = demo_settings(operators="ada", operator_grace_s=2.0)
    async with running_agent(hub, settings, tmp_path) as agent:
        status, body = await ask(agent, ada, "take")
        assert status == 200
        since = body["state"]["control"]["since"]
        await status_becomes(root, "operator ada in control")
        _, held = await root.prompt("Are you still there?")
        assert (await post(agent, invocation(held, CHANNEL)))[0] == 202
        await ada.channel.presence.leave()  # ada's only device leaves the session
        lapsed = await snapshot_event(wire, "lapsed", timeout=15)
        assert lapsed.control is None
        assert lapsed.event is not None and lapsed.event.by == "ada"
        assert lapsed.event.at_ms - since >= 2000
        await status_becomes(root, "idle")
        control = await desk.until(item_id("control", CHANNEL, str(since)), "resolved")  # type: ignore[arg-type]
        assert (control.resolution, control.resolved_by) == ("lapsed", "ada")
        runs = await runs_answering(wire, held)
        assert len(runs) == 1, "the held prompt is answered by the agent after the lapse"
        assert transport(await run_end(wire, runs[0].run_id))["run-reason"] == "complete"


async def test_a_non_operators_answer_is_refused_and_the_model_reads_only_the_operators(
    hub: HubEndpoint, model: FakeOpenAI, tmp_path: Path
) -> None:
    wire = await recorder(hub, CHANNEL)
    root = await Client.connect(hub, CHANNEL, "root")
    ada = await Client.connect(hub, CHANNEL, "ada")
    bob = await Client.connect(hub, CHANNEL, "bob")
    model.script(human_call("refund"))
    model.script(text_answer(["Your refund is approved."]))
    async with running_agent(hub, agent_settings(model, operators="ada"), tmp_path) as agent:
        _, event_id = await root.prompt("I need a human")
        run_id = (await post(agent, invocation(event_id, CHANNEL)))[1]["runId"]
        await snapshot_event(wire, "escalated")
        call_message, call_id, _ = request_human_call(wire, run_id)
        forged = await answer(bob, run_id, call_message, call_id, "Sure, 100% refund!")
        status, body = await post(agent, invocation(forged, CHANNEL))
        assert (status, body["error"]["code"]) == (403, 40331)
        assert "'bob' is not one" in body["error"]["message"]
        assert wire.tree().run(run_id).status == "suspended"  # type: ignore[union-attr]
        assert [s.event.kind for s in snapshots(wire) if s.event] == ["escalated"]

        real = await answer(ada, run_id, call_message, call_id, "Refund approved.")
        assert (await post(agent, invocation(real, CHANNEL)))[0] == 200
        assert transport(await run_end(wire, run_id))["run-reason"] == "complete"
        status, body = await post(agent, invocation(forged, CHANNEL))
        assert (status, body["error"]["code"]) == (403, 40331)
    outputs = [
        i["output"] for i in model.requests[1].body["input"] if i["type"] == "function_call_output"
    ]
    assert outputs == [answer_output("ada", "Refund approved.")]


async def test_cancelling_an_escalated_turn_withdraws_it(hub: HubEndpoint, tmp_path: Path) -> None:
    wire, desk = await recorder(hub, CHANNEL), await Desk.watch(hub)
    root = await present(await Client.connect(hub, CHANNEL, "root"))
    async with running_agent(hub, demo_settings(operators="ada"), tmp_path) as agent:
        run_id, _, call_id = await escalate_by_model(hub, agent, root, wire)
        await root.cancel(run_id=run_id)
        withdrawn = await snapshot_event(wire, "withdrawn")
        [done] = withdrawn.resolved
        assert (done.resolution, done.resolved_by) == ("withdrawn", "root")
        item = await desk.until(item_id("escalation", CHANNEL, call_id), "resolved")  # type: ignore[arg-type]
        assert (item.resolution, item.resolved_by) == ("withdrawn", "root")
        assert transport(await run_end(wire, run_id))["run-reason"] == "cancelled"
        await status_becomes(root, "idle")


async def test_a_turn_waiting_for_an_approval_and_a_human_waits_until_both_answered(
    hub: HubEndpoint, model: FakeOpenAI, tmp_path: Path
) -> None:
    """A mixed suspension: the approval alone resumes the turn only to suspend it again,
    with no model pass, until an operator answers the request for a human."""
    wire, desk = await recorder(hub, CHANNEL), await Desk.watch(hub)
    root = await Client.connect(hub, CHANNEL, "root")
    ada = await Client.connect(hub, CHANNEL, "ada")
    delete = responses_function_call("fc_d", "call_d", "delete_files", ['{"paths": ["a.txt"]}'])
    human = responses_function_call(
        "fc_h", "call_h", "request_human", ['{"reason": "refund"}'], output_index=1
    )
    model.script(
        [Event(response_created()), *map(Event, delete + human), Event(response_completed())]
    )
    model.script(text_answer(["Deleted, and a human approved the refund."]))
    async with running_agent(hub, agent_settings(model, operators="ada"), tmp_path) as agent:
        _, event_id = await root.prompt("delete a.txt and get me a human for my refund")
        run_id = (await post(agent, invocation(event_id, CHANNEL)))[1]["runId"]
        await snapshot_event(wire, "escalated")
        await status_becomes(root, "waiting for a human")
        call_message, _, _ = request_human_call(wire, run_id)
        approval_key = item_id("approval", CHANNEL, "call_d")  # type: ignore[arg-type]
        await desk.until(approval_key, "open")

        approval = await root.approve(call_message, run_id, "call_d")
        assert (await post(agent, invocation(approval, CHANNEL)))[0] == 200
        decided = await desk.until(approval_key, "resolved")
        assert (decided.resolution, decided.resolved_by) == ("approved", "root")
        suspends = lambda m: [x for x in m if x["name"] == "ai-run-suspend"]  # noqa: E731
        await wire.wait_for(lambda m: len(suspends(m)) == 2)
        assert len(model.requests) == 1, "suspended again without a model pass"
        assert wire.run_end(run_id) is None

        event = await answer(ada, run_id, call_message, "call_h", "Refund approved.")
        assert (await post(agent, invocation(event, CHANNEL)))[0] == 200
        assert transport(await run_end(wire, run_id))["run-reason"] == "complete"
    outputs = {
        i["call_id"]: i["output"]
        for i in model.requests[1].body["input"]
        if i["type"] == "function_call_output"
    }
    assert outputs["call_h"] == answer_output("ada", "Refund approved.")
    assert outputs["call_d"].startswith("Simulated: approved deletion of 1 file(s): a.txt.")


async def test_an_answer_to_an_escalation_that_was_taken_over_is_refused_40933(
    hub: HubEndpoint, tmp_path: Path
) -> None:
    wire = await recorder(hub, CHANNEL)
    root = await Client.connect(hub, CHANNEL, "root")
    ada = await present(await Client.connect(hub, CHANNEL, "ada"), "operator")
    bob = await Client.connect(hub, CHANNEL, "bob")
    async with running_agent(hub, demo_settings(operators="ada,bob"), tmp_path) as agent:
        run_id, call_message, call_id = await escalate_by_model(hub, agent, root, wire)
        assert (await ask(agent, ada, "take"))[0] == 200
        assert transport(await run_end(wire, run_id))["run-reason"] == "complete"
        late = await answer(bob, run_id, call_message, call_id, "I can help!")
        status, body = await post(agent, invocation(late, CHANNEL))
        assert (status, body["error"]["code"]) == (409, 40933)
        assert body["error"]["message"] == (
            "this request for a human no longer waits: it was taken-over by ada"
        )


async def test_only_the_requests_publisher_may_post_it_with_their_token(
    hub: HubEndpoint, tmp_path: Path
) -> None:
    """Beyond loopback every caller shows an Ably token (agent/callers.py): an operator's
    request is posted with the operator's token; anyone else's is refused 40302 and decides
    nothing."""
    wire = await recorder(hub, CALLERS)
    ada = await Client.connect(hub, CALLERS, "ada")
    async with agent_on(hub, tmp_path, operators="ada") as agent:
        request_id = await request(ada, "take")
        body = {"requestId": request_id, "sessionName": CALLERS}
        bob = token(hub, "bob")
        status, got, _ = await call(agent, "POST", "/api/handover", bearer=bob, body=body)
        assert (status, got["error"]["code"]) == (403, 40302)
        status, got, _ = await call(agent, "POST", "/api/handover", body=body)
        assert (status, got["error"]["code"]) == (401, 40101)
        assert snapshots(wire) == []
        status, got, _ = await call(
            agent, "POST", "/api/handover", bearer=token(hub, "ada"), body=body
        )
        assert status == 200 and got["state"]["control"]["operator"] == "ada"


async def test_an_operators_token_reads_the_desk_and_nobody_gets_the_agents_clientid(
    hub: HubEndpoint, tmp_path: Path
) -> None:
    """`/api/token` (docs/handover.md "Who may"): an operator's token also covers the desk
    channel (subscribe, presence, history), anyone else's only session channels; the hub
    enforces it. The agent's own clientId (the one a fold trusts) is never issued."""
    async with running_agent(hub, demo_settings(operators="ada"), tmp_path) as agent:
        for user, allowed in (("ada", True), ("bob", False)):
            status, issued, _ = await call(agent, "GET", "/api/token", params={"clientId": user})
            assert status == 200
            client = hub_realtime(hub.host, hub.port, None, user, token=issued["token"])
            hub.clients.append(client)
            desk = client.channels.get(DESK)
            if allowed:
                await desk.attach()
                await desk.presence.enter({"kind": "client", "role": "operator"})
            else:
                with pytest.raises(AblyException) as refused:
                    await desk.attach()
                assert refused.value.code == 40160
        status, body, _ = await call(agent, "GET", "/api/token", params={"clientId": AGENT})
        assert (status, body["error"]["code"]) == (403, 40160)


async def test_an_escalated_turn_ended_otherwise_ends_its_escalation(
    hub: HubEndpoint, tmp_path: Path
) -> None:
    """Whoever ends the suspended run (here another process with the agent's clientId, ending
    it with an error), the agent reads the end from the channel and resolves `ended`."""
    wire, desk = await recorder(hub, CHANNEL), await Desk.watch(hub)
    root = await Client.connect(hub, CHANNEL, "root")
    async with running_agent(hub, demo_settings(operators="ada"), tmp_path) as agent:
        run_id, _, call_id = await escalate_by_model(hub, agent, root, wire)
        other = await AgentSession.connect(hub.realtime(AGENT), CHANNEL)
        try:
            await other.end_unheld_run(
                run_id,
                RunReason.ERROR,
                owner="root",
                input_codec_message_id=run_id,
                error_message="ended elsewhere",
            )
        finally:
            await other.detach()
        ended = await snapshot_event(wire, "ended")
        [done] = ended.resolved
        assert (done.id, done.resolution, done.resolved_by) == (call_id, "ended", AGENT)
        item = await desk.until(item_id("escalation", CHANNEL, call_id), "resolved")  # type: ignore[arg-type]
        assert item.resolution == "ended"


async def test_a_bad_handover_body_is_refused_40000(hub: HubEndpoint, tmp_path: Path) -> None:
    async with running_agent(hub, demo_settings(operators="ada"), tmp_path) as agent:
        status, body, _ = await call(agent, "POST", "/api/handover", body={"requestId": "r1"})
    assert (status, body["error"]["code"]) == (400, 40000)
    assert body["error"]["message"] == "bad handover body: sessionName must be a non-empty string"
