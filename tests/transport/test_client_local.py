"""ClientSession against the real hub without an agent: publish failures, pure helpers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.client import Recorder, close_opened, open_session
from tests.support.hub import HubEndpoint
from tui_session.protocol import ErrorCode, ProtocolError
from tui_session.transport.client import ClientSession
from tui_session.transport.client_events import PromptAdded, PromptRemoved
from tui_session.transport.owned_inputs import OwnedInputs

CHANNEL = "session:local"


@pytest.fixture(autouse=True)
async def cleanup_sessions(hub: HubEndpoint) -> AsyncIterator[None]:
    yield
    await close_opened()


async def test_failed_publish_removes_the_optimistic_prompt(hub: HubEndpoint):
    """§9.28 / §3.2.7: a refused publish withdraws the prompt and reports 40160."""
    capability = json.dumps({"session:*": ["subscribe", "presence", "history"]})
    realtime = hub.realtime("mallory", default_token_params={"capability": capability})
    events = Recorder()
    session = await ClientSession.connect(
        realtime, CHANNEL, agent_url=None, device="laptop", listener=events.add
    )
    try:
        with pytest.raises(ProtocolError) as refused:
            await session.send("hello?")
        assert refused.value.code == ErrorCode.INSUFFICIENT_CAPABILITY
        (added,) = events.of(PromptAdded)
        (removed,) = events.of(PromptRemoved)
        assert removed.cmid == added.cmid and removed.error
        assert session.transcript() == [] and session.prompt(added.cmid) is None
        assert session.active_turns() == {}
    finally:
        await session.close()


async def test_connect_needs_a_concrete_client_id(hub: HubEndpoint):
    with pytest.raises(ValueError):
        await ClientSession.connect(hub.realtime(None), CHANNEL, agent_url=None, device="d")


async def test_own_prompt_is_pending_until_a_run_starts(hub: HubEndpoint):
    session, events = await open_session(hub, "alice", CHANNEL)
    handle = await session.send("anyone?", invoke=False)
    await events.until(lambda: not session.prompt(handle.input_codec_message_id).optimistic)
    assert session.active_turns() == {"alice": {handle.input_codec_message_id: "pending"}}
    assert session.prompt(handle.input_codec_message_id).status == "sent"
    assert session.invocation(handle) == {
        "inputEventId": handle.input_event_id,
        "sessionName": CHANNEL,
    }


def test_owned_inputs_persist_per_session(tmp_path: Path):
    path = tmp_path / "owned" / "session.ids"
    owned = OwnedInputs(path)
    owned.add("U1")
    owned.add("U1")
    owned.add("G2")
    again = OwnedInputs(path)
    assert "U1" in again and "G2" in again and len(again) == 2
    assert path.read_text().splitlines() == ["U1", "G2"]
    assert "U1" not in OwnedInputs(None)
