"""`tui-session export`: the conversation as Markdown and the channel log as JSON lines, read
back from a real hub after a real agent service answered (offline demo model)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from tests.support.agent import demo_settings, post, running_agent
from tests.support.hub import HubEndpoint
from tests.transport.agent_helpers import Client, invocation, recorder
from tui_session.transport import export

CHANNEL = "session:exported"


async def answered_session(hub: HubEndpoint, tmp_path: Path) -> str:
    """A session with one answered prompt; returns the run id."""
    wire = await recorder(hub, CHANNEL)
    alice = await Client.connect(hub, CHANNEL, "alice")
    async with running_agent(hub, demo_settings(), tmp_path / "agent") as agent:
        _cmid, event_id = await alice.prompt("What is a durable session?")
        _, ids = await post(agent, invocation(event_id, CHANNEL))
        await wire.wait_for(lambda _m: wire.run_end(ids["runId"]))
    return ids["runId"]


async def test_markdown_and_jsonl_show_the_conversation_and_the_log(
    hub: HubEndpoint, tmp_path: Path
) -> None:
    run_id = await answered_session(hub, tmp_path)
    reader = hub.realtime("exporter")
    log = await export.read_log(reader.channels.get(CHANNEL))

    markdown = export.to_markdown(log, CHANNEL)
    assert markdown.startswith(f"# Session `{CHANNEL}`")
    assert "## alice\n\nWhat is a durable session?" in markdown
    assert "### assistant, turn of alice (complete)" in markdown
    assert "offline demo model" in markdown

    records = [json.loads(line) for line in export.to_jsonl(log).splitlines()]
    assert [r["serial"] for r in records] == sorted(r["serial"] for r in records), "oldest first"
    names = [r["name"] for r in records]
    assert names[0] == "ai-input" and names[-1] == "ai-run-end"
    [end] = [r for r in records if r["name"] == "ai-run-end"]
    assert end["headers"]["run-id"] == run_id and end["headers"]["run-reason"] == "complete"
    assert end["clientId"] == "agent" and end["time"].endswith("+00:00")
    streamed = [r for r in records if r["headers"].get("stream") == "true"]
    assert streamed and all(r["action"] == "update" for r in streamed), (
        "a streamed answer is one record at its latest version, not one per token"
    )


async def test_the_export_command_prints_the_conversation(hub: HubEndpoint, tmp_path: Path) -> None:
    await answered_session(hub, tmp_path)
    config = tmp_path / "export.toml"
    config.write_text(f'[hub]\nport = {hub.port}\ndata_dir = "{hub.data_dir}"\n')
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tui_session.cli",
        "export",
        "--channel",
        CHANNEL,
        "--config",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "TUI_SESSION_CLIENT_USER": "auditor"},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    assert "What is a durable session?" in out.decode()
    assert "(complete)" in out.decode()


async def test_export_of_an_unreachable_hub_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "export.toml"
    config.write_text(f'[hub]\nport = 9\ndata_dir = "{tmp_path / "nothing"}"\n')
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tui_session.cli",
        "export",
        "--session",
        "x",
        "--config",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2  # no hub ever ran there: no credentials, said before connecting
    assert err.decode().startswith("error: ") and "Traceback" not in err.decode()
    assert "no hub has run with data dir" in err.decode()
