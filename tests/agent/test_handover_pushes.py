"""docs/handover.md "Notifications away from every terminal" on the real agent service: pushes
to a real local receiver when the user has no device in the session, none while one is there,
again when their last device leaves while something still waits for them, escalations to the
operators who are neither on the desk nor in the session; a receiver that is down leaves the
turn unaffected."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from tests.agent.test_service import run_end
from tests.support.agent import demo_settings, post, running_agent
from tests.support.handover import DESK, snapshot_event
from tests.support.hub import Collector, HubEndpoint, wait_until
from tests.support.receiver import HttpReceiver, closed_port
from tests.transport.agent_helpers import Client, Wire, invocation, recorder, transport
from tui_session.transport.presence import client_presence_data

CHANNEL = "session:pushes"
LEAVE = 3  # presence action


def pushed(receiver: HttpReceiver) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in receiver.requests]


async def leave_and_wait(root: Client, watcher: Client) -> None:
    """root's only device leaves; once a watcher saw it, so did the agent: the hub sends the
    leave to every member before anything published after it."""
    seen = Collector()
    await watcher.channel.presence.subscribe(seen.add)
    await root.channel.presence.leave()
    await wait_until(
        lambda: any(m.client_id == "root" and m.action == LEAVE for m in seen.items),
        what="root's leave",
    )
    watcher.channel.presence.unsubscribe(seen.add)


async def turn(agent: Any, root: Client, wire: Wire, text: str) -> dict[str, Any]:
    _, event_id = await root.prompt(text)
    status, ids = await post(agent, invocation(event_id, CHANNEL))
    assert status == 200
    return ids


async def test_a_turn_that_ends_with_its_user_away_is_pushed_once_and_never_while_present(
    hub: HubEndpoint, receiver: HttpReceiver, tmp_path: Path
) -> None:
    wire = await recorder(hub, CHANNEL)
    root = await Client.connect(hub, CHANNEL, "root")
    watcher = await Client.connect(hub, CHANNEL, "watcher")
    await root.channel.presence.enter(client_presence_data("root", "laptop", "user"))
    settings = demo_settings(notify_webhook=receiver.url("/hook/{user}"))
    async with running_agent(hub, settings, tmp_path) as agent:
        present = await turn(agent, root, wire, "hello while I watch")
        assert transport(await run_end(wire, present["runId"]))["run-reason"] == "complete"
        await leave_and_wait(root, watcher)
        away = await turn(agent, root, wire, "hello, I left")
        assert transport(await run_end(wire, away["runId"]))["run-reason"] == "complete"
        await wait_until(lambda: len(receiver.requests) >= 1, what="the push")
    [push] = pushed(receiver)  # nothing for the turn that ended while root's device was there
    assert receiver.requests[0].path == "/hook/root"
    assert (push["event"], push["state"], push["outcome"]) == ("turn.ended", "ended", "complete")
    assert (push["user"], push["session"], push["run_id"]) == ("root", "pushes", away["runId"])
    assert push["join"] == "tui-session chat --session pushes"


async def test_an_approval_is_pushed_when_its_users_last_device_leaves(
    hub: HubEndpoint, receiver: HttpReceiver, tmp_path: Path
) -> None:
    wire = await recorder(hub, CHANNEL)
    root = await Client.connect(hub, CHANNEL, "root")
    watcher = await Client.connect(hub, CHANNEL, "watcher")
    await root.channel.presence.enter(client_presence_data("root", "laptop", "user"))
    settings = demo_settings(notify_webhook=receiver.url("/hook"))
    async with running_agent(hub, settings, tmp_path) as agent:
        ids = await turn(agent, root, wire, "please delete my temp files")
        await wire.wait_for(lambda m: any(x["name"] == "ai-run-suspend" for x in m))
        assert receiver.requests == [], "root's device is there: its terminal tells them"
        await leave_and_wait(root, watcher)
        await wait_until(lambda: len(receiver.requests) >= 1, what="the approval push")
    [push] = pushed(receiver)
    assert (push["state"], push["user"], push["run_id"]) == ("approval", "root", ids["runId"])
    assert push["title"] == "pushes: approve delete_files?"


async def test_an_escalation_is_pushed_to_operators_away_from_the_desk_and_the_session(
    hub: HubEndpoint, receiver: HttpReceiver, tmp_path: Path
) -> None:
    wire = await recorder(hub, CHANNEL)
    root = await Client.connect(hub, CHANNEL, "root")
    bob = hub.realtime("bob")  # bob has the desk open
    await bob.channels.get(DESK).presence.enter({"kind": "client", "role": "operator"})
    settings = demo_settings(operators="ada,bob,carol", notify_ntfy=receiver.url("/t-{user}"))
    async with running_agent(hub, settings, tmp_path) as agent:
        carol = await Client.connect(hub, CHANNEL, "carol")  # carol watches the session
        await carol.channel.presence.enter(client_presence_data("carol", "pc", "operator"))
        await turn(agent, root, wire, "I want to talk to a human")
        await snapshot_event(wire, "escalated")
        await wait_until(lambda: len(receiver.requests) >= 1, what="the escalation push")
    [push] = receiver.requests
    assert push.path == "/t-ada"
    assert push.headers["Tags"] == "sos" and push.headers["Priority"] == "4"
    assert push.headers["Title"] == "pushes: the assistant asked for a human"
    assert push.body.decode().startswith("root in pushes: The user asked for a human")


async def test_a_receiver_that_is_down_leaves_the_turn_unaffected(
    hub: HubEndpoint, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wire = await recorder(hub, CHANNEL)
    root = await Client.connect(hub, CHANNEL, "root")
    settings = demo_settings(notify_webhook=f"http://127.0.0.1:{closed_port()}/hook")
    with caplog.at_level(logging.INFO, logger="tui_session.agent.notifier"):
        async with running_agent(hub, settings, tmp_path) as agent:
            for n in range(2):
                ids = await turn(agent, root, wire, f"question {n}")
                assert transport(await run_end(wire, ids["runId"]))["run-reason"] == "complete"
            await wait_until(lambda: bool(caplog.records), what="the failure to be logged")
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    assert len(failures) == 1, "logged once, not once per push"
    assert "/hook" not in failures[0].getMessage(), "the URL's path is not logged"
