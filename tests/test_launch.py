"""`tui-session chat`'s launcher: endpoint flags, session ids, starting a hub in the
background when none is reachable, and the session factory the CLI hands to the app."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from tests.support.hub import HubEndpoint, free_port
from tests.support.squatters import SQUATTERS
from tests.tui.helpers import ready, turns, wait_for
from tui_session import hub_probe, launch
from tui_session.access import AccessError, local_hub_key
from tui_session.config import HubSettings, load_settings
from tui_session.hub.auth import AuthStore, read_root_key
from tui_session.hub.server import start_hub
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
    # a config file given to this terminal is given to the other one, wherever it starts
    configured = launch.plan(
        settings, session="demo", channel=None, endpoint_flag=None, config=Path("my.toml")
    )
    assert configured.join_command == (
        f"tui-session chat --session demo --config {Path('my.toml').absolute()}"
    )


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
        assert plan.server is not None and plan.server.exit_report() is None, "it runs"
        os.kill(plan.server.pid, signal.SIGKILL)  # as a crash would
        plan.server.process.wait(15)
        report = plan.server.exit_report()
        assert report is not None
        first, *tail = report.splitlines()
        assert first == (
            "the `tui-session serve` started here was stopped by SIGKILL; "
            f"the last lines of {tmp_path / 'logs' / 'serve.log'}:"
        )
        assert tail and all(line.startswith("  ") for line in tail)
    finally:
        if plan.server is not None and plan.server.running():
            os.kill(plan.server.pid, signal.SIGTERM)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("5m", 300), ("2h", 7200), ("1d", 86400), ("300", 300)]
)
def test_desk_thresholds_read_as_durations(text: str, seconds: float) -> None:
    assert launch.parse_duration(text) == seconds


def test_a_threshold_that_is_not_a_duration_is_a_usage_error() -> None:
    from typer.testing import CliRunner

    from tui_session.cli import app

    with pytest.raises(launch.LaunchError, match="not a duration: '5 minutes'"):
        launch.parse_duration("5 minutes")
    result = CliRunner().invoke(app, ["desk", "--approvals-after", "soon"])
    assert result.exit_code == 2 and "not a duration: 'soon'" in result.output


def test_cli_chat_flags_are_listed() -> None:
    from typer.testing import CliRunner

    from tui_session.cli import app

    result = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"}).invoke(app, ["chat", "--help"])
    assert result.exit_code == 0, result.output
    for flag in ("--session", "--channel", "--user", "--device", "--endpoint", "--agent-url"):
        assert flag in result.output
    assert "--operator" in result.output


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


async def test_the_probe_knows_a_hub_from_other_programs(hub: HubEndpoint) -> None:
    """A hub is recognised positively (its GET /tui-session); anything else is not one."""
    found = await asyncio.to_thread(hub_probe.probe_hub, hub.host, hub.port)
    assert found == hub_probe.Probe("hub")
    for name, (listen, detail) in SQUATTERS.items():
        with listen() as port:
            other = await asyncio.to_thread(hub_probe.probe_hub, "127.0.0.1", port)
        assert other.found == "other" and other.detail.startswith(detail), name
    nothing = hub_probe.probe_hub("127.0.0.1", free_port())
    assert nothing == hub_probe.Probe("nothing", "connection refused: nothing listens there")
    found = await asyncio.to_thread(hub_probe.probe_hub, hub.host, hub.port, tls=True)
    assert found.is_hub, "asked over TLS first, a plain hub answers in plain HTTP"


async def test_the_probe_knows_a_hub_that_serves_tls(tmp_path: Path) -> None:
    """Off loopback the hub serves TLS (its own certificate): asked in plain HTTP first, it is
    recognised over TLS."""
    running = await start_hub(HubSettings(host="0.0.0.0", port=0, data_dir=tmp_path / "hub"))
    try:
        assert running.tls is not None
        found = await asyncio.to_thread(hub_probe.probe_hub, "127.0.0.1", running.port)
        assert found.is_hub
    finally:
        await running.stop()


async def test_an_endpoint_elsewhere_is_checked_and_never_started(
    hub: HubEndpoint, tmp_path: Path
) -> None:
    def plan_for(port: int) -> launch.Launch:
        flag = f"127.0.0.1:{port}"
        settings = load_settings(
            None, {"hub.data_dir": str(tmp_path / "data"), **launch.endpoint_overrides(flag)}
        )
        return launch.plan(settings, session="demo", channel=None, endpoint_flag=flag)

    ours = plan_for(hub.port)
    assert ours.hub_elsewhere
    reached = await asyncio.to_thread(launch.reach_endpoint, ours, config=None)
    assert reached is ours and reached.server is None
    port = free_port()
    with pytest.raises(launch.EndpointError, match=f"no tui-session hub at 127.0.0.1:{port}"):
        launch.reach_endpoint(plan_for(port), config=None)
    assert not hub_probe.accepts("127.0.0.1", port), "nothing was started there"
    assert not (tmp_path / "logs").exists()


def test_the_agent_of_a_started_serve_listens_where_the_terminal_looks() -> None:
    def address(**overrides: object) -> tuple[str, int]:
        return launch.served_agent_address(load_settings(None, overrides, env={}))

    assert address() == ("127.0.0.1", 8471)
    assert address(**{"client.agent_url": "http://localhost:9001"}) == ("localhost", 9001)
    # the terminal posts to client.agent_url: a serve whose agent listened elsewhere would
    # leave every prompt "agent not reached"
    assert address(**{"agent.port": 9002}) == ("127.0.0.1", 8471)
    elsewhere = {"client.agent_url": "http://10.1.2.3:9003", "agent.port": 9004}
    assert address(**elsewhere) == ("127.0.0.1", 9004)
