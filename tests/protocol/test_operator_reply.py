"""docs/handover.md "Operator replies": runs published by the operator's terminal through the
agent's encoder, decoded by our decoder and tree exactly like an agent's answer."""

from __future__ import annotations

from tui_session.protocol import Append, Publish, RunStatus
from tui_session.protocol.context import context_messages
from tui_session.protocol.handover import OPERATOR_HEADER
from tui_session.protocol.operator_reply import (
    OperatorReply,
    ReplyTarget,
    attributed,
    message_events,
    pieces,
)
from tui_session.protocol.wire import H, Name, read_envelope

from .helpers import Script, Session


def publish_reply(script: Script, reply: OperatorReply, text: str, client: str = "ada") -> None:
    """What the operator terminal's I/O shell does: three batches, the step serial between."""
    opening = reply.opening()
    script.hub.send(opening[0], client)
    step_serial = script.hub.send(opening[1], client)
    script.hub.send_all(reply.body(step_serial, text), client)
    script.hub.send_all(reply.closing(step_serial), client)


def test_a_reply_to_a_prompt_is_a_complete_run_of_the_prompts_owner() -> None:
    script = Script()
    script.prompt("U1", "I want a refund", client="root")
    reply = OperatorReply.plan("ada", ReplyTarget.prompt("U1", "root", "root"), run_id="R9")
    publish_reply(script, reply, "Hi, I'm Ada. Refund approved.")
    session = Session()
    session.feed(script.hub.live)
    run = session.tree.run("R9")
    assert run is not None
    assert run.status == RunStatus.COMPLETE
    assert (run.client_id, run.parent, run.input_codec_message_id) == ("root", "U1", "U1")
    assert session.texts() == [
        ("U1", "user", "I want a refund"),
        (reply.message_id, "assistant", "Hi, I'm Ada. Refund approved."),
    ]
    # the same from history
    late = Session()
    late.feed(script.hub.history())
    assert late.texts() == session.texts()


def test_every_message_of_the_reply_carries_the_operator_header_and_nothing_else_changes() -> None:
    reply = OperatorReply.plan("ada", ReplyTarget.prompt("U1", "root", "root"))
    ops = [*reply.opening(), *reply.body("s5", "x" * 1000), *reply.closing("s5")]
    assert len([op for op in ops if isinstance(op, Append)]) == 4  # 3 pieces + the close
    names = [op.name for op in ops if isinstance(op, Publish)]
    assert names[:2] == [Name.RUN_START, Name.STEP_START]
    assert names[-2:] == [Name.STEP_END, Name.RUN_END]
    for op in ops:
        assert op.extras["headers"] == {OPERATOR_HEADER: "ada"}
        transport, _ = read_envelope(op.extras)
        assert transport[H.RUN_ID] == reply.run_id
        assert transport.get(H.RUN_CLIENT_ID) == "root"


def test_attributed_keeps_existing_application_headers() -> None:
    op = Publish("ai-output", "", {"ai": {"transport": {}}, "headers": {"device": "phone"}})
    assert attributed(op, "ada").extras["headers"] == {"device": "phone", "operator": "ada"}
    assert op.extras["headers"] == {"device": "phone"}  # not mutated


def test_a_spontaneous_reply_hangs_under_the_last_message_and_stays_in_the_model_context() -> None:
    script = Script()
    script.prompt("U1", "Where is my parcel?", client="root")
    _, answer = script.answer("R1", "U1", "Let me ask a human.", client="root")
    greeting = OperatorReply.plan(
        "ada", ReplyTarget.spontaneous(answer, "ada", "M1"), run_id="R2", message_id="M1"
    )
    publish_reply(script, greeting, "Ada here, checking now.")
    follow_up = OperatorReply.plan(
        "ada", ReplyTarget.spontaneous("M1", "ada", "M2"), run_id="R3", message_id="M2"
    )
    publish_reply(script, follow_up, "It ships tomorrow.")
    script.prompt("U2", "Thanks!", parent="M2", client="root")
    session = Session()
    session.feed(script.hub.live)
    assert [text for _, _, text in session.texts()] == [
        "Where is my parcel?",
        "Let me ask a human.",
        "Ada here, checking now.",
        "It ships tomorrow.",
        "Thanks!",
    ]
    assert session.tree.run("R2").input_codec_message_id == "M1"  # correlates with no send
    # after hand-back the agent answers U2: the operator's turns are in its context
    context = context_messages(session.tree, start="U2")
    texts = [_text(m) for m in context]
    assert texts == [
        "Where is my parcel?",
        "Let me ask a human.",
        "Ada here, checking now.",
        "It ships tomorrow.",
        "Thanks!",
    ]


def test_a_reply_to_a_regenerate_is_a_sibling_of_the_regenerated_run() -> None:
    script = Script()
    script.prompt("U1", "Hi", client="root")
    script.answer("R1", "U1", "Hello", client="root")
    reply = OperatorReply.plan(
        "ada", ReplyTarget.regenerate("G1", "U1", "A-old", "root", "root"), run_id="R2"
    )
    publish_reply(script, reply, "Hello from a human")
    session = Session()
    session.feed(script.hub.live)
    r1, r2 = session.tree.run("R1"), session.tree.run("R2")
    assert session.tree.group_of(r1) == session.tree.group_of(r2)
    assert r2.msg_regenerate == "A-old"
    assert session.texts()[-1][2] == "Hello from a human"  # the newest sibling shows


def test_pieces_cut_at_spaces_and_join_back() -> None:
    text = "word " * 300
    parts = pieces(text, 100)
    assert "".join(parts) == text
    assert all(len(p) <= 100 for p in parts)
    assert all(p.endswith(" ") for p in parts[:-1])
    assert pieces("", 10) == [""]
    assert pieces("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]


def test_message_events_are_one_complete_text_message() -> None:
    events = message_events("msg_1", ["Hel", "lo"])
    assert [e["type"] for e in events] == [
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.output_item.done",
    ]
    assert events[4]["text"] == "Hello"


def _text(message: dict) -> str:
    return "".join(
        p.get("text", "")
        for item in message["items"]
        if item.get("type") == "message"
        for p in item["content"]
    )
