"""docs/handover.md "Escalating": the `request_human` tool, the offline demo model asking for
a human, and a turn that waits for an operator's answer on the real agent service and hub."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.agent.test_models import calls_of, check_invariants, collect, demo, text_of, user
from tests.agent.test_service import run_end
from tests.support.agent import demo_settings, post, running_agent, streamed_text
from tests.support.hub import HubEndpoint
from tests.transport.agent_helpers import Client, codec, invocation, publish, recorder, transport
from tui_session.agent.models.demo import NO_OPERATORS
from tui_session.agent.tools import (
    REQUEST_HUMAN,
    ToolError,
    builtin_tools,
    escalation_reason,
    get_tool,
)
from tui_session.protocol import InputHeaders, tool_result, unanswered_calls
from tui_session.protocol.handover import answer_output, operator_note, takeover_output

CHANNEL = "session:escalation"


# --- the tool -------------------------------------------------------------------------------------


def test_request_human_suspends_like_an_approval_but_asks_for_an_answer_not_a_yes() -> None:
    assert get_tool("request_human") is REQUEST_HUMAN
    assert REQUEST_HUMAN.suspends_turn and REQUEST_HUMAN.answered_by_human
    assert not REQUEST_HUMAN.needs_approval  # no tool-approval-request is published for it
    assert REQUEST_HUMAN.parameters["required"] == ["reason"]
    assert REQUEST_HUMAN.responses_tool()["name"] == "request_human"
    with pytest.raises(ToolError, match="cannot run in this process"):
        REQUEST_HUMAN.run('{"reason": "x"}')
    delete_files = get_tool("delete_files")
    assert delete_files is not None and delete_files.suspends_turn
    current_time = get_tool("current_time")
    assert current_time is not None and not current_time.suspends_turn


def test_request_human_is_offered_only_where_operators_can_answer() -> None:
    assert "request_human" in [t.name for t in builtin_tools()]
    assert [t.name for t in builtin_tools(escalation=False)] == ["current_time", "delete_files"]


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        ('{"reason": "  refund\\n over the limit "}', "refund over the limit"),
        ({"reason": "legal question"}, "legal question"),
        ('{"reason": ""}', "no reason given"),
        ("{}", "no reason given"),
        ("not json", "no reason given"),
        ('{"reason": 42}', "no reason given"),
        (json.dumps({"reason": "x" * 900}), "x" * 500),
    ],
)
def test_escalation_reason_never_blocks_an_escalation(arguments, reason: str) -> None:
    assert escalation_reason(arguments) == reason


# --- the offline demo model -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "prompt",
    [
        "I want to talk to a human about my refund",
        "Can I speak with a real person?",
        "please escalate this",
        "Delete everything unless I get a human, please",  # a human wins over a tool
    ],
)
async def test_the_demo_model_asks_for_a_human_when_the_prompt_does(prompt: str) -> None:
    events = await collect(demo().stream(user(prompt)))  # tools=None: the built-ins
    check_invariants(events[1:-1])
    [call] = calls_of(events)
    assert call["name"] == "request_human"
    reason = json.loads(call["arguments"])["reason"]
    assert reason.startswith("The user asked for a human: “") and prompt[:20] in reason
    assert "waits until a human operator answers or takes over" in text_of(events)


@pytest.mark.parametrize("prompt", ["What makes us human?", "Explain human-readable formats"])
async def test_mentioning_humans_is_not_asking_for_one(prompt: str) -> None:
    assert calls_of(await collect(demo().stream(user(prompt)))) == []


async def test_without_operators_the_demo_says_nobody_could_answer() -> None:
    events = await collect(
        demo().stream(user("I want to talk to a human"), tools=builtin_tools(escalation=False))
    )
    assert calls_of(events) == []
    assert text_of(events).startswith(NO_OPERATORS)


async def test_the_demo_quotes_the_operators_answer_and_the_take_over() -> None:
    events = await collect(demo().stream(user("I want a human")))
    [call] = calls_of(events)
    for output, expected in [
        (answer_output("ada", "Refund approved, ref 42."), "Refund approved, ref 42."),
        (takeover_output("ada"), "ada, a human operator, took over"),
    ]:
        context = [
            *user("I want a human"),
            {k: call[k] for k in ("type", "call_id", "name", "arguments")},
            {"type": "function_call_output", "call_id": call["call_id"], "output": output},
        ]
        text = text_of(await collect(demo().stream(context)))
        assert text.startswith("A human operator answered the request for a human:")
        assert expected in text


async def test_after_an_operators_replies_the_demo_shows_it_read_them() -> None:
    [note] = operator_note("ada")["items"]
    context = [
        *user("Where is my parcel?"),
        note,
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "It ships tomorrow, sorry for the wait."}],
        },
        *user("Thanks. Anything else I should know?"),
    ]
    text = text_of(await collect(demo().stream(context)))
    assert "Earlier, ada (a human operator) replied: “It ships tomorrow, sorry for the wait.”" in (
        text
    )
    plain = text_of(await collect(demo().stream(user("Anything else?"))))
    assert "human operator" not in plain


# --- on the real agent service --------------------------------------------------------------------


async def test_an_escalated_turn_waits_for_an_operators_answer_and_then_continues(
    hub: HubEndpoint, tmp_path: Path
) -> None:
    """Part 1 of the flow, as the wire shows it: the turn suspends with a `request_human`
    call and no approval request; an operator's tool result (and its POST) resumes the same
    turn, and the model answers with the operator's words."""
    wire = await recorder(hub, CHANNEL)
    root = await Client.connect(hub, CHANNEL, "root")
    ada = await Client.connect(hub, CHANNEL, "ada")
    async with running_agent(hub, demo_settings(operators="ada"), tmp_path) as agent:
        _, event_id = await root.prompt("I want to talk to a human about my refund")
        status, ids = await post(agent, invocation(event_id, CHANNEL))
        assert status == 200
        run_id = ids["runId"]
        suspend = await wire.wait_for(
            lambda msgs: next((m for m in msgs if m["name"] == "ai-run-suspend"), None)
        )
        assert transport(suspend)["run-id"] == run_id
        assert not [m for m in wire.items if codec(m).get("kind") == "tool-approval-request"]
        run = wire.tree().run(run_id)
        assert run is not None
        [call] = unanswered_calls([m for _, m in run.messages()])
        assert call["name"] == "request_human"
        assert "my refund" in json.loads(call["arguments"])["reason"]
        [call_message] = {  # the assistant message holding the call; the answer amends it
            transport(m)["codec-message-id"]
            for m in wire.items
            if codec(m).get("kind") == "function_call_arguments"
            and json.loads(codec(m)["item"])["name"] == "request_human"
        }

        answer_event = str(uuid.uuid4())
        headers = InputHeaders(
            call_message, answer_event, run_client_id="ada", parent=call_message, run_id=run_id
        )
        answer = answer_output("ada", "Refund approved, ref 42.")
        await publish(ada.channel, tool_result(headers, call["call_id"], answer))
        status, resumed = await post(agent, invocation(answer_event, CHANNEL))
        assert status == 200 and resumed["runId"] == run_id
        end = await run_end(wire, run_id)
        assert transport(end)["run-reason"] == "complete"
        assert any(m["name"] == "ai-run-resume" for m in wire.items)
        text = streamed_text(wire, run_id)
        assert "A human operator answered the request for a human" in text
        assert "Refund approved, ref 42." in text
