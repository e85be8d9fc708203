"""`tui-session chat`'s launcher: endpoint flags, session ids, starting a hub in the
background when none is reachable, and the session factory the CLI hands to the app."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.support.hub import free_port
from tests.tui.helpers import ready, turns, wait_for
from tui_session import launch
from tui_session.access import AccessError, local_hub_key
from tui_session.config import load_settings
from tui_session.hub.auth import AuthStore, read_root_key
from tui_session.tui.app import make_app
from tui_session.tui.widgets import Composer, SessionHeader


def test_endpoint_flags() -> None:
    assert launch.endpoint_overrides(None) == {}
    assert launch.endpoint_overrides("ably") == {"client.endpoint": "main"}
    assert launch.endpoint_overrides("10.0.0.2:9000") == {
        "client.endpoint": "local",
        "hub.host": "10.0.0.2",
        "hub.port": 9000,
    }


def test_plan_new_session_shows_join_command(tmp_path: Path) -> None:
    settings = load_settings(None, {"hub.data_dir": str(tmp_path)}, env={})
    plan = launch.plan(settings, session=None, channel=None, endpoint_flag=None)
    assert plan.created and plan.session_id
    assert plan.channel_name == f"session:{plan.session_id}"
    assert plan.join_command == f"tui-session chat --session {plan.session_id}"
    joined = launch.plan(settings, session="demo", channel=None, endpoint_flag="ably")
    assert not joined.created
    assert joined.join_command == "tui-session chat --session demo --endpoint ably"
    with pytest.raises(launch.LaunchError):
        launch.plan(settings, session="a", channel="b", endpoint_flag=None)


def test_default_device_names_the_terminal() -> None:
    assert launch.default_device().startswith(os.uname().nodename.split(".")[0])


async def test_starts_serve_when_no_hub_is_reachable_and_the_session_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUI_SESSION_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # the offline demo model answers
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    port, agent_port = free_port(), free_port()
    settings = load_settings(
        None,
        {
            "hub.data_dir": str(tmp_path / "data"),
            "hub.port": port,
            "client.user": "carol",
            "client.device": "tablet",
            "agent.port": agent_port,
            "client.agent_url": f"http://127.0.0.1:{agent_port}",
        },
        env={},
    )
    plan = launch.plan(settings, session="demo", channel=None, endpoint_flag=None)
    plan = launch.ensure_local_server(plan, config=None)
    try:
        assert plan.started_server == "serve" and plan.server_pid
        again = launch.ensure_local_server(plan, config=None)
        assert again.server_pid == plan.server_pid  # reachable now: reused, not restarted
        app = make_app(settings, launch.session_factory(settings), launch.chat_options(plan))
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: ready(app), what="session open on the started hub")
            header = app.chat.query_one(SessionHeader)
            assert header.session_name == "session:demo"
            assert f"local hub 127.0.0.1:{port}" == header.endpoint
            assert app.chat.controller.session.client_id == "carol"
            # One command, a working session: the started agent answers with the demo model.
            app.chat.query_one(Composer).text = "hello from a fresh machine"
            await pilot.press("enter")
            await wait_for(
                pilot,
                lambda: turns(app) and turns(app)[0].view.terminal,
                timeout=30,
                what="the offline demo model's answer to end",
            )
            assert turns(app)[0].view.status == "complete"
            assert "offline demo" in turns(app)[0].rendered_text.lower()
    finally:
        if plan.server_pid:
            os.kill(plan.server_pid, signal.SIGTERM)


def test_cli_chat_flags_are_listed() -> None:
    from typer.testing import CliRunner

    from tui_session.cli import app

    result = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"}).invoke(app, ["chat", "--help"])
    assert result.exit_code == 0, result.output
    for flag in ("--session", "--channel", "--user", "--device", "--endpoint", "--agent-url"):
        assert flag in result.output


def test_the_hub_key_is_read_without_creating_it(tmp_path: Path) -> None:
    """A terminal that reads the key while the hub starts must not write a key of its own."""
    with pytest.raises(AccessError, match="no hub has run with data dir"):
        local_hub_key(tmp_path / "hub")
    with pytest.raises(OSError):
        read_root_key(tmp_path / "hub")
    assert not (tmp_path / "hub").exists(), "reading created nothing"
    written = AuthStore(tmp_path / "hub").root_key()  # what the hub does at its first start
    assert local_hub_key(tmp_path / "hub") == read_root_key(tmp_path / "hub") == written


def test_a_malformed_key_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "keys.json").write_text('{"defaultApp": "a", "apps": {}}')
    with pytest.raises(ValueError, match="holds no root key"):
        read_root_key(tmp_path)


def test_owned_inputs_file_names_stay_short(tmp_path: Path) -> None:
    settings = load_settings(None, {"hub.data_dir": str(tmp_path)}, env={})
    long_channel = "session:" + "x" * 248
    path = launch._owned_path(settings, long_channel, "phone")
    assert len(path.name) <= launch.OWNED_NAME_MAX + len(".ids")
    assert path != launch._owned_path(settings, long_channel[:-1] + "y", "phone")
    assert launch._owned_path(settings, "session:demo", "phone").name == "phone--session_demo.ids"
