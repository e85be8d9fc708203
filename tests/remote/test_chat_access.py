"""`tui-session chat` decides how it reaches its session before the UI opens: a hub elsewhere
or Ably's cloud without credentials, or a bad join string, is one sentence and exit code 2,
and a terminal never picks up the local data dir's root key for a hub elsewhere."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.remote.machines import clean_env
from tests.support.hub import wait_until
from tui_session.access import AccessError, for_settings
from tui_session.config import (
    AgentSettings,
    ClientSettings,
    HubSettings,
    Settings,
    load_settings,
)
from tui_session.hub.auth import AuthStore
from tui_session.invite import make_invite
from tui_session.launch import session_factory
from tui_session.serve import start_serve


def chat(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The real command, with a fresh user's environment (this HOME, no ABLY_KEY)."""
    return subprocess.run(
        [sys.executable, "-m", "tui_session.cli", "chat", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        env=clean_env(home, **env),
    )


def one_sentence(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: ")
    return line


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A user whose default data dir holds a hub key (that a hub elsewhere must not use)."""
    AuthStore(tmp_path / ".local" / "share" / "tui-session")
    return tmp_path


def test_a_hub_elsewhere_without_credentials_is_refused_before_the_ui(home: Path) -> None:
    line = one_sentence(chat(home, "--endpoint", "192.0.2.9:9000", "--session", "demo"))
    assert "a hub elsewhere (192.0.2.9:9000) needs credentials" in line
    assert "--join" in line and "client.auth_url" in line and "ABLY_KEY" in line


def test_ably_without_credentials_names_what_to_set(home: Path) -> None:
    line = one_sentence(chat(home, "--endpoint", "ably", "--session", "demo"))
    assert "Ably's cloud needs credentials" in line
    assert "client.auth_url" in line and "ABLY_KEY" in line


def unreachable_invite(**overrides: int) -> str:
    """A well-formed invite to a hub nobody listens for (port 9)."""
    return make_invite(
        "appX.k1:s",
        hub_host="127.0.0.1",
        hub_port=9,
        tls=None,
        agent_url=None,
        channel="session:a",
        user="ada",
        **{"ttl_ms": 60_000, **overrides},
    ).encode()


def test_bad_or_contradicted_join_strings_are_refused(home: Path) -> None:
    assert "not a join string" in one_sentence(chat(home, "--join", "hello"))
    made = unreachable_invite()
    assert "drop --session" in one_sentence(chat(home, "--join", made, "--session", "b"))
    assert "cannot reach the hub at 127.0.0.1:9" in one_sentence(chat(home, "--join", made))
    expired = unreachable_invite(ttl_ms=1000, now=1_000)
    assert "expired" in one_sentence(chat(home, "--join", expired))


async def test_terminals_on_ablys_cloud_use_the_token_endpoint_not_a_key() -> None:
    settings = load_settings(
        None,
        {"client.endpoint": "main", "client.auth_url": "https://agent.example/api/token"},
        env={"ABLY_KEY": "app.key:secret"},
    )
    access = for_settings(settings, hub_elsewhere=False)
    client = access.realtime("ada", "session:a")
    try:
        assert client.options.auth_url == "https://agent.example/api/token"
        assert client.options.auth_params == {"clientId": "ada"}
        assert client.options.key_secret is None  # the key is not handed to the terminal
    finally:
        await client.close()


def test_a_key_is_used_only_when_given() -> None:
    given = load_settings(None, {"client.endpoint": "main"}, env={"ABLY_KEY": "app.key:secret"})
    assert "API key" in for_settings(given, hub_elsewhere=False).label
    with pytest.raises(AccessError):
        for_settings(load_settings(None, {"client.endpoint": "main"}, env={}), hub_elsewhere=False)


async def test_the_laptops_own_terminal_follows_a_hub_serving_tls_on_the_lan(
    tmp_path: Path,
) -> None:
    """`serve --host 0.0.0.0` then a plain `chat` on the same machine: the terminal finds the
    hub and the agent as they were started (TLS, https) and its prompt is answered."""
    data = tmp_path / "data"
    served = await start_serve(
        Settings(
            hub=HubSettings(host="0.0.0.0", port=0, data_dir=data),
            agent=AgentSettings(port=0, model="offline-demo", demo_pace=0),
        )
    )
    try:
        assert served.hub.tls is not None and served.agent.tls is not None
        # What `chat` loads with only the data dir and port: host and agent URL at defaults.
        settings = Settings(
            hub=HubSettings(port=served.hub.port, data_dir=data),
            client=ClientSettings(user="ada", device="laptop"),
        )
        access = for_settings(settings, hub_elsewhere=False)
        assert access.ssl_context is not None and "(TLS)" in access.label
        assert access.agent_url == f"https://127.0.0.1:{served.agent.port}"
        opened = await session_factory(settings, access=access)("session:lan")
        try:
            handle = await opened.session.send("hello over TLS")
            await wait_until(lambda: bool(handle.run_id), 20, "the turn to start")
            await wait_until(
                lambda: (t := opened.session.turn(handle.run_id)) is not None and t.terminal, 20
            )
            assert opened.session.turn(handle.run_id).status == "complete"
        finally:
            await opened.close()  # type: ignore[misc]
    finally:
        await served.stop()


async def test_a_terminal_with_a_token_endpoint_needs_no_key(tmp_path: Path) -> None:
    """`client.auth_url` = the agent's GET /api/token (what a terminal uses on Ably's cloud,
    played here by the hub): the SDK fetches an Ably JWT there, connects with it, and the agent
    accepts the same token for the prompt."""
    served = await start_serve(
        Settings(
            hub=HubSettings(port=0, data_dir=tmp_path / "data"),
            agent=AgentSettings(port=0, model="offline-demo", demo_pace=0),
        )
    )
    try:
        agent = f"http://127.0.0.1:{served.agent.port}"
        settings = Settings(
            hub=HubSettings(port=served.hub.port, data_dir=tmp_path / "elsewhere"),
            client=ClientSettings(
                user="ada", device="tablet", agent_url=agent, auth_url=f"{agent}/api/token"
            ),
        )
        access = for_settings(settings, hub_elsewhere=True)
        assert "token endpoint" in access.label
        opened = await session_factory(settings, access=access)("session:token-endpoint")
        try:
            assert opened.session.client_id == "ada"
            handle = await opened.session.send("hello with a fetched token")
            await wait_until(lambda: bool(handle.run_id), 20, "the turn to start")
            await wait_until(
                lambda: (t := opened.session.turn(handle.run_id)) is not None and t.terminal, 20
            )
            assert opened.session.turn(handle.run_id).status == "complete"
        finally:
            await opened.close()  # type: ignore[misc]
        # The terminal's own data dir holds only its own records: no key was read or made.
        assert not (tmp_path / "elsewhere" / "keys.json").exists()
    finally:
        await served.stop()
