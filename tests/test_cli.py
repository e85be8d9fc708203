"""The typer app: help (every command, as the README lists them), `where`, `hub` flag plumbing,
and bad session, user and device names refused before anything starts."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tests.support.hub import HubProcess
from tui_session.cli import app

# Wide and colourless, so help text is not wrapped or styled mid-word.
runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"})


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Isolate from the developer's settings: an empty config file and a private data dir."""
    for name in list(os.environ):
        if name.startswith("TUI_SESSION_") or name.startswith("OPENAI_") or name == "ABLY_KEY":
            monkeypatch.delenv(name)
    config = tmp_path / "config.toml"
    config.write_text("")
    monkeypatch.setenv("TUI_SESSION_CONFIG", str(config))
    monkeypatch.setenv("TUI_SESSION_DATA_DIR", str(tmp_path / "data"))
    return config


def help_commands(output: str) -> list[str]:
    """The command names in the Commands panel of `--help` (a wrapped description's next
    line starts with spaces, not a name)."""
    panel = output.split("─ Commands ─", 1)[1].split("╰", 1)[0]
    names = []
    for line in panel.splitlines()[1:]:
        row = line.strip().removeprefix("│").removesuffix("│")
        if row.startswith(" ") and not row.startswith("  "):
            names.append(row.split()[0])
    return names


def readme_commands() -> set[str]:
    """The commands in the README's "Other commands" block, plus `chat` (its walkthrough)."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("## Other commands", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    return {"chat"} | {line.split()[1] for line in block.splitlines() if line.strip()}


def test_help_lists_every_command_and_the_readme_too() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    registered = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    listed = help_commands(result.output)
    assert len(listed) == len(set(listed))
    assert set(listed) == registered, "a command is hidden from --help, or the parse broke"
    assert {"hub", "agent", "serve", "chat", "export", "where"} <= registered
    assert readme_commands() == registered


def test_hub_help_lists_its_flags() -> None:
    result = runner.invoke(app, ["hub", "--help"])
    assert result.exit_code == 0, result.output
    for flag in ("--host", "--port", "--data-dir", "--tls-cert", "--tls-key", "--config"):
        assert flag in result.output


def test_where_honours_env_overrides(tmp_path: Path, clean_env: Path) -> None:
    result = runner.invoke(app, ["where"])
    assert result.exit_code == 0, result.output
    lines = dict(line.split(":", 1) for line in result.output.splitlines())
    assert lines["config file"].strip() == str(clean_env)
    assert lines["data dir"].strip() == str(tmp_path / "data")
    assert lines["log dir"].strip() == str(tmp_path / "data" / "logs")


def test_where_reads_data_dir_from_the_config_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TUI_SESSION_DATA_DIR")
    config = tmp_path / "other.toml"
    config.write_text('[hub]\ndata_dir = "hubdata"\n')
    result = runner.invoke(app, ["where", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert f"config file: {config}\n" in result.output
    assert f"data dir:    {tmp_path / 'hubdata'}\n" in result.output


def test_where_reports_a_missing_config_file_plainly(tmp_path: Path) -> None:
    result = runner.invoke(app, ["where", "--config", str(tmp_path / "missing.toml")])
    assert result.exit_code == 2
    assert "cannot read config file" in result.output
    assert "Traceback" not in result.output


def test_hub_command_serves_on_the_given_port_and_data_dir(tmp_path: Path) -> None:
    """The real `tui-session hub` process: flags reach the server, which answers REST."""
    hub = HubProcess(tmp_path / "d")
    hub.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{hub.port}/time", timeout=5) as response:
            assert response.headers["Content-Type"] == "application/json"
            [server_ms] = json.loads(response.read())
        assert abs(server_ms - time.time() * 1000) < 60_000
        assert (tmp_path / "d" / "keys.json").exists(), "the data dir flag was honoured"
        assert (tmp_path / "d" / "hub.sqlite3").exists()
    finally:
        hub.stop()


def test_hub_rejects_a_bad_setting_without_a_traceback() -> None:
    result = runner.invoke(app, ["hub", "--port", "70000"])
    assert result.exit_code == 2
    assert "hub.port must be 0..65535" in result.output


@pytest.mark.parametrize(
    ("args", "cause"),
    [
        (["--session", "my session"], "session id 'my session' is not valid"),
        (["--session", "x" * 300], "the session id is 300 characters long; at most 248 allowed"),
        (["--channel", "a[b"], "channel name 'a[b' is not valid"),
        (["--user", ""], "the user name is empty"),
        (["--user", "*"], "'*' is not a valid user name"),
        (["--device", "x" * 65], "the device name is 65 characters long; at most 64 allowed"),
        (["--session", "a", "--channel", "b"], "give --session or --channel, not both"),
    ],
)
def test_chat_refuses_a_bad_name_before_anything_starts(
    args: list[str], cause: str, tmp_path: Path
) -> None:
    """One sentence naming the cause and exit code 2, before any hub is started or reached."""
    result = runner.invoke(app, ["chat", *args, "--endpoint", "127.0.0.1:9"])
    assert result.exit_code == 2, result.output
    [line] = result.output.splitlines()  # one sentence, no traceback
    assert line.startswith(f"error: {cause}")
    assert not (tmp_path / "data" / "keys.json").exists(), "no server was started"


def test_export_refuses_a_bad_session_id() -> None:
    result = runner.invoke(app, ["export", "--session", "my session"])
    assert result.exit_code == 2
    assert result.output.startswith("error: session id 'my session' is not valid")
