"""The typer app: help (every command, as the README lists them), `where`, `hub` flag plumbing,
and bad session, user and device names refused before anything starts."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tests.support.hub import HubProcess, free_port
from tests.support.squatters import SQUATTERS, silent_listener
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


# --- `chat` and its endpoint: real `tui-session chat` processes against real sockets --------

ENDPOINT_ERROR_BOUND_S = 3.0  # the bound: an endpoint error within 3 s, before the UI


def run_chat(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """`tui-session chat ARGS` as a person runs it (no terminal needed: every case here ends
    before the UI would open); its result and how long it took. The terminal has credentials
    for a hub elsewhere (a token endpoint), so what is checked is the endpoint itself."""
    program = Path(sys.executable).with_name("tui-session")
    env = {**os.environ, "TUI_SESSION_CLIENT_AUTH_URL": "http://127.0.0.1:9/api/token"}
    started = time.monotonic()
    done = subprocess.run(
        [str(program), "chat", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        env=env,
    )
    return done, time.monotonic() - started


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert not done.stdout, "nothing claimed on standard output (no 'started ...')"
    [line] = done.stderr.splitlines()
    return line


def nothing_started(tmp_path: Path, *ports: int) -> None:
    assert not (tmp_path / "data" / "logs" / "serve.log").exists(), "no serve was started"
    for port in ports:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_chat_to_an_endpoint_where_nothing_listens_says_so_and_starts_nothing(
    tmp_path: Path,
) -> None:
    port = free_port()
    done, took = run_chat("--session", "demo", "--endpoint", f"127.0.0.1:{port}")
    assert done.returncode == 2, done
    assert one_error_line(done) == (
        f"error: no tui-session hub at 127.0.0.1:{port} (connection refused: nothing listens "
        "there); check the address, or start `tui-session serve` there first"
    )
    assert took < ENDPOINT_ERROR_BOUND_S, f"took {took:.1f} s"
    nothing_started(tmp_path, port)


def test_chat_to_an_address_nobody_answers_on_gives_up_within_the_bound(tmp_path: Path) -> None:
    """192.0.2.9 is TEST-NET-1 (RFC 5737): never routed, so the connection gets no answer (or
    no route), never a refusal."""
    done, took = run_chat("--session", "demo", "--endpoint", "192.0.2.9:9000")
    assert done.returncode == 2, done
    assert one_error_line(done).startswith("error: no tui-session hub at 192.0.2.9:9000 (")
    assert took < ENDPOINT_ERROR_BOUND_S, f"took {took:.1f} s"
    nothing_started(tmp_path)


@pytest.mark.parametrize("squatter", SQUATTERS)
def test_chat_to_an_endpoint_held_by_another_program_says_it_is_not_a_hub(
    squatter: str, tmp_path: Path
) -> None:
    listen, detail = SQUATTERS[squatter]
    with listen() as port:
        done, took = run_chat("--session", "demo", "--endpoint", f"127.0.0.1:{port}")
    assert done.returncode == 2, done
    line = one_error_line(done)
    assert line.startswith(f"error: 127.0.0.1:{port} is not a tui-session hub: {detail}"), line
    assert took < ENDPOINT_ERROR_BOUND_S, f"took {took:.1f} s"
    nothing_started(tmp_path)


def local_ports(config: Path, hub_port: int, agent_port: int) -> None:
    """The default local endpoint on these ports (the terminal looks for the agent there)."""
    config.write_text(
        f"[hub]\nport = {hub_port}\n[agent]\nport = {agent_port}\n"
        f'[client]\nagent_url = "http://127.0.0.1:{agent_port}"\n'
    )


@pytest.mark.parametrize("squatter", SQUATTERS)
def test_chat_with_the_hub_port_held_by_another_program_starts_nothing(
    squatter: str, tmp_path: Path, clean_env: Path
) -> None:
    listen, detail = SQUATTERS[squatter]
    agent_port = free_port()
    with listen() as port:
        local_ports(clean_env, port, agent_port)
        done, took = run_chat("--session", "demo")
    assert done.returncode == 2, done
    line = one_error_line(done)
    assert line.startswith(
        f"error: the hub's port 127.0.0.1:{port} is held by another program, not a "
        f"tui-session hub: {detail}"
    ), line
    assert line.endswith(
        "; stop it, or give the hub another port (hub.port in the config file, or "
        "TUI_SESSION_HUB_PORT)"
    ), line
    assert took < ENDPOINT_ERROR_BOUND_S, f"took {took:.1f} s"
    nothing_started(tmp_path, agent_port)


def test_chat_with_the_agent_port_taken_does_not_start_serve(
    tmp_path: Path, clean_env: Path
) -> None:
    hub_port = free_port()
    with silent_listener() as agent_port:
        local_ports(clean_env, hub_port, agent_port)
        done, took = run_chat("--session", "demo")
    assert done.returncode == 2, done
    assert one_error_line(done) == (
        f"error: cannot start `tui-session serve`: its agent service cannot listen on "
        f"127.0.0.1:{agent_port} (address already in use); free it, or choose another port: "
        "tui-session chat --agent-url http://127.0.0.1:PORT"
    )
    assert took < ENDPOINT_ERROR_BOUND_S, f"took {took:.1f} s"
    nothing_started(tmp_path, hub_port)


def test_chat_reports_a_serve_that_died_with_the_end_of_its_log(
    tmp_path: Path, clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The serve `chat` started exits at once (its data dir is a file): no UI, no claim that
    it runs; the last lines of its log say why."""
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("")
    monkeypatch.setenv("TUI_SESSION_DATA_DIR", str(blocked))
    monkeypatch.setenv("TUI_SESSION_LOG_DIR", str(tmp_path / "logs"))
    hub_port, agent_port = free_port(), free_port()
    local_ports(clean_env, hub_port, agent_port)
    done, _took = run_chat("--session", "demo")
    assert done.returncode == 1, done
    assert not done.stdout, "no 'started ...' claim"
    first, *tail = done.stderr.splitlines()
    log = tmp_path / "logs" / "serve.log"
    assert first == (
        f"error: the `tui-session serve` started here exited (code 1); the last lines of {log}:"
    )
    assert tail[-1] == f"  FileExistsError: [Errno 17] File exists: '{blocked}'"
    assert len(tail) == 8 and all(line.startswith("  ") for line in tail)


@pytest.mark.parametrize("command", ["agent", "serve"])
def test_a_bad_push_receiver_is_one_sentence_before_anything_starts(
    command: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TUI_SESSION_AGENT_NOTIFY_WEBHOOK", "ftp://example.com/hook")
    result = runner.invoke(app, [command, "--port", "9"])
    assert result.exit_code == 2, result.output
    [line] = result.output.splitlines()
    assert (
        line == "error: agent.notify_webhook must be an http(s) URL, got 'ftp://example.com/hook'"
    )
    assert not (tmp_path / "data" / "keys.json").exists(), "no server was started"
