"""docs/wire.md §4.7 and §7.5: what the model sees, and when the ancestor chain is loaded;
§5.4 / §7.16: which model events the codec cannot carry."""

from __future__ import annotations

from tui_session.protocol import RunReason
from tui_session.protocol.context import ancestor_chain, context_input, context_messages
from tui_session.protocol.responses import normalise_event, unsupported_event

from .helpers import Script, Session, text_events


def texts(messages: list[dict]) -> list[tuple[str, str]]:
    out = []
    for message in messages:
        chunks = [
            part.get("text", "")
            for item in message["items"]
            if item.get("type") == "message"
            for part in item.get("content", [])
        ]
        out.append((message["role"], "".join(chunks)))
    return out


def conversation() -> tuple[Script, str]:
    """U1 -> R1 complete (A2); U3 -> R3 cancelled (A4); U5 answers the cancelled run."""
    script = Script()
    script.prompt("U1", "Hi")
    script.answer("R1", "U1", "Hello")
    a2 = script.hub.live[-3]["extras"]["ai"]["transport"]["codec-message-id"]
    script.prompt("U3", "Tell a story", parent=a2)
    run = script.run_headers("R3", "U3", parent="U3")
    script.start(run)
    script.pipe(run, "A4", text_events("msg_9", "Once upon"), close=False)
    script.hub.send(run.run_end(RunReason.CANCELLED))
    script.prompt("U5", "A short poem instead", parent="A4")
    return script, a2


def test_cancelled_ancestor_run_and_its_prompt_are_left_out() -> None:
    script, _ = conversation()
    session = Session()
    session.feed(script.hub.live)
    messages = context_messages(session.tree, start="U5")
    assert texts(messages) == [
        ("user", "Hi"),
        ("assistant", "Hello"),
        ("user", "A short poem instead"),
    ]
    items = context_input(session.tree, start="U5")
    assert [i["type"] for i in items] == ["message", "message", "message"]


def test_chain_is_incomplete_until_older_history_is_loaded() -> None:
    script, _ = conversation()
    history = script.hub.history()
    session = Session()
    session.feed(history[-3:])  # only the newest page: U5 and the end of R3
    chain = ancestor_chain(session.tree, "U5")
    assert not chain.complete and chain.missing == "A4"
    session.feed(history)
    chain = ancestor_chain(session.tree, "U5")
    assert chain.complete and [n.key for n in chain.nodes] == ["U1", "R1", "U3", "R3", "U5"]
    assert ancestor_chain(session.tree, "U5", budget=2).nodes[0].key == "R3"


def test_current_run_comes_last_with_unanswered_steers_at_the_end() -> None:
    script = Script()
    script.prompt("U1", "Write a story")
    run = script.run_headers("R1", "U1", parent="U1")
    script.start(run)
    script.pipe(run, "A1", text_events("msg_1", "Once"))
    script.prompt("S1", "About mountains", run_id="R1")  # a steer, not yet answered
    session = Session()
    session.feed(script.hub.live)
    messages = context_messages(session.tree, start="U1", run_id="R1")
    assert texts(messages) == [
        ("user", "Write a story"),
        ("assistant", "Once"),
        ("user", "About mountains"),
    ]
    # once a pass answers it, the steer stays in serial order
    script.pipe(run, "A2", text_events("msg_2", "Peaks"), step_id="I-step-1", steer_ids=("S1",))
    session = Session()
    session.feed(script.hub.live)
    assert [t for _, t in texts(context_messages(session.tree, start="U1", run_id="R1"))] == [
        "Write a story",
        "Once",
        "About mountains",
        "Peaks",
    ]


def test_regenerate_context_stops_before_the_regenerated_message() -> None:
    script = Script()
    script.prompt("U1", "Hi")
    run = script.run_headers("R1", "U1", parent="U1")
    script.start(run)
    script.pipe(run, "A1", text_events("msg_1", "first"))
    script.pipe(run, "A2", text_events("msg_2", "second"), step_id="I-step-1")
    session = Session()
    session.feed(script.hub.live)
    messages = context_messages(session.tree, start="U1", run_id="R1", regenerates="A2")
    assert [t for _, t in texts(messages)] == ["Hi", "first"]


def test_unsupported_events_are_named_for_the_log() -> None:
    ok = [
        {"type": "response.created"},
        {"type": "response.output_item.added", "item": {"type": "message", "id": "m"}},
        {"type": "response.output_item.added", "item": {"type": "function_call", "id": "f"}},
        {"type": "response.content_part.added", "part": {"type": "output_text"}},
        {"type": "response.output_text.delta"},
        {"type": "response.reasoning_summary_text.done"},
        {"type": "response.function_call_arguments.delta"},
        {"type": "function_call_output", "item": {}},
        {"type": "tool-approval-request"},
    ]
    assert [unsupported_event(e) for e in ok] == [None] * len(ok)
    assert unsupported_event({"type": "response.output_text.annotation.added"}) == (
        "response.output_text.annotation.added"
    )
    assert unsupported_event({"type": "response.audio.delta"}) == "response.audio.delta"
    web = {"type": "response.output_item.added", "item": {"type": "web_search_call"}}
    assert unsupported_event(web) == "response.output_item.added:web_search_call"
    no_id = {"type": "response.output_item.added", "item": {"type": "function_call"}}
    assert unsupported_event(no_id) == "response.output_item.added:function_call without id"
    image = {"type": "response.content_part.added", "part": {"type": "input_image"}}
    assert unsupported_event(image) == "response.content_part.added:input_image"


def test_announced_items_get_the_lists_npm_receivers_need() -> None:
    bare = {"type": "response.output_item.added", "item": {"id": "m", "type": "message"}}
    assert normalise_event(bare)["item"] == {"id": "m", "type": "message", "content": []}
    thinking = {"type": "response.output_item.added", "item": {"id": "r", "type": "reasoning"}}
    assert normalise_event(thinking)["item"]["summary"] == []
    full = {"type": "response.output_item.added", "item": {"type": "message", "content": []}}
    assert normalise_event(full) is full
    delta = {"type": "response.output_text.delta", "delta": "x"}
    assert normalise_event(delta) is delta
