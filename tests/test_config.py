"""Settings: defaults < config file < environment < flags, and clear errors."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import pytest

from tui_session import config, paths
from tui_session.config import ConfigError, Settings, load_settings

EXAMPLE = Path(__file__).resolve().parents[1] / "config.example.toml"
REAL_CONFIG_FILE = paths.config_file
ALIASES = ("TUI_SESSION_DATA_DIR", "TUI_SESSION_CONFIG", "TUI_SESSION_LOG_DIR", "ABLY_KEY")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting may leak in from the developer's shell or config file."""
    for name in list(os.environ):
        if name.startswith("TUI_SESSION_") or name.startswith("OPENAI_") or name in ALIASES:
            monkeypatch.delenv(name)
    monkeypatch.setattr(paths, "config_file", lambda: tmp_path / "absent" / "config.toml")


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_without_a_config_file() -> None:
    settings = load_settings(None, {}, env={})
    assert settings.hub.host == "127.0.0.1"
    assert settings.hub.port == 8470
    assert settings.hub.data_dir == paths.data_dir()
    assert settings.hub.tls_cert is None and settings.hub.tls_key is None
    assert settings.hub.presence_grace_s == 15.0
    assert settings.hub.connection_state_ttl_ms == 120000
    assert settings.hub.max_message_size == 65536
    assert settings.hub.heartbeat_interval_s == 9.0
    assert settings.client.endpoint == "local"
    assert settings.client.user and settings.client.device
    assert settings.agent.port == 8471
    assert settings.agent.api_key is None


def test_precedence_defaults_file_env_flags(tmp_path: Path) -> None:
    file = write(
        tmp_path,
        '[hub]\nhost = "0.0.0.0"\nport = 1000\npresence_grace_s = 1\n'
        '[agent]\nmodel = "from-file"\n',
    )
    env = {"TUI_SESSION_HUB_PORT": "2000", "TUI_SESSION_HUB_PRESENCE_GRACE_S": "2.5"}
    flags = {"hub": {"presence_grace_s": 3.0, "port": None}}  # None: flag not given

    settings = load_settings(file, flags, env=env)
    assert settings.hub.host == "0.0.0.0"  # file over default
    assert settings.hub.port == 2000  # env over file
    assert settings.hub.presence_grace_s == 3.0  # flag over env
    assert settings.agent.model == "from-file"
    assert settings.hub.max_message_size == 65536  # untouched default

    assert load_settings(file, {}, env={}).hub.port == 1000
    assert load_settings(file, {"hub.port": 3000}, env=env).hub.port == 3000


def test_env_aliases_and_their_precedence(tmp_path: Path) -> None:
    file = write(tmp_path, '[hub]\ndata_dir = "from-file"\n[agent]\napi_key = "file-key"\n')
    env = {
        "OPENAI_API_KEY": "sk-alias",
        "OPENAI_BASE_URL": "http://localhost:11434/v1",
        "ABLY_KEY": "app.key:secret",
        "TUI_SESSION_DATA_DIR": str(tmp_path / "data"),
    }
    settings = load_settings(file, {}, env=env)
    assert settings.agent.api_key == "sk-alias"
    assert settings.agent.base_url == "http://localhost:11434/v1"
    assert settings.client.ably_key == "app.key:secret"
    assert settings.hub.data_dir == tmp_path / "data"

    env["TUI_SESSION_AGENT_API_KEY"] = "sk-own"  # our own name wins over the alias
    assert load_settings(file, {}, env=env).agent.api_key == "sk-own"
    env["OPENAI_API_KEY"] = ""  # empty counts as unset
    del env["TUI_SESSION_AGENT_API_KEY"]
    assert load_settings(file, {}, env=env).agent.api_key == "file-key"


def test_config_file_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(paths, "config_file", REAL_CONFIG_FILE)
    file = write(tmp_path, "[hub]\nport = 4242\n")
    monkeypatch.setenv("TUI_SESSION_CONFIG", str(file))
    assert load_settings(None, {}, env={}).hub.port == 4242
    # Named by the user, so it must exist (the platform default may be absent).
    monkeypatch.setenv("TUI_SESSION_CONFIG", str(tmp_path / "typo.toml"))
    with pytest.raises(ConfigError, match=r"typo\.toml"):
        load_settings(None, {}, env={})


def test_unknown_key_is_an_error_naming_it(tmp_path: Path) -> None:
    file = write(tmp_path, "[hub]\nprot = 8000\n")
    with pytest.raises(ConfigError, match=r"unknown setting 'hub\.prot'.*did you mean 'hub\.port'"):
        load_settings(file, {}, env={})


def test_unknown_section_and_top_level_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown section 'hubb'"):
        load_settings(write(tmp_path, "[hubb]\nport = 1\n"), {}, env={})
    with pytest.raises(ConfigError, match="unknown setting 'port' at the top level"):
        load_settings(write(tmp_path, "port = 1\n"), {}, env={})


def test_unknown_override_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"hub\.prot"):
        load_settings(None, {"hub.prot": 1}, env={})


@pytest.mark.parametrize(
    ("text", "env", "match"),
    [
        ('[hub]\nport = "8000"\n', {}, r"hub\.port in .*expected int"),
        ("[hub]\nport = true\n", {}, r"hub\.port in .*expected int"),
        ("", {"TUI_SESSION_HUB_PORT": "eighty"}, "env TUI_SESSION_HUB_PORT: expected int"),
        ("[hub]\nport = 70000\n", {}, r"hub\.port must be 0\.\.65535"),
        ('[hub]\ntls_cert = "c.pem"\n', {}, "tls_cert and hub.tls_key must be given together"),
        ('[agent]\napi = "soap"\n', {}, "agent.api must be one of"),
        ('[client]\nnotify = "loud"\n', {}, r"client\.notify must be one of \('auto', 'bell'"),
        ("[hub\n", {}, "invalid TOML"),
    ],
)
def test_bad_values_are_clear_errors(
    tmp_path: Path, text: str, env: dict[str, str], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        load_settings(write(tmp_path, text), {}, env=env)


def test_explicit_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "nope.toml", {}, env={})


def test_relative_paths_in_the_file_are_relative_to_it(tmp_path: Path) -> None:
    file = write(tmp_path, '[hub]\ndata_dir = "data"\ntls_cert = "c.pem"\ntls_key = "k.pem"\n')
    hub = load_settings(file, {}, env={}).hub
    assert hub.data_dir == tmp_path / "data"
    assert hub.tls_cert == tmp_path / "c.pem"
    assert hub.tls


def test_settings_are_frozen() -> None:
    settings = load_settings(None, {}, env={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.hub.port = 1  # type: ignore[misc]


def test_example_file_parses_and_equals_defaults(tmp_path: Path) -> None:
    assert load_settings(EXAMPLE, {}, env={}) == load_settings(None, {}, env={}) == Settings()


def test_example_file_documents_every_setting() -> None:
    text = EXAMPLE.read_text()
    sections = re.split(r"^\[(\w+)\]$", text, flags=re.MULTILINE)
    bodies = dict(zip(sections[1::2], sections[2::2], strict=True))
    assert set(bodies) == set(config.SECTIONS)
    for section, body in bodies.items():
        for name in config.field_names(section):
            assert re.search(rf"^(# )?{name} = ", body, flags=re.MULTILINE), (
                f"config.example.toml does not document {section}.{name}"
            )
