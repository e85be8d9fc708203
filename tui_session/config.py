"""One typed settings object for every process: hub, terminal client, agent service.

Precedence, lowest first: dataclass defaults < config file (TOML) < environment < flags.

- File: sections ``[hub]``, ``[client]``, ``[agent]``; keys are the field names below.
  Unknown sections or keys are an error naming the key, so a typo never silently falls
  back to a default. Relative paths in the file are relative to the file's directory.
- Environment: ``TUI_SESSION_<SECTION>_<FIELD>`` (e.g. ``TUI_SESSION_HUB_PORT``), plus the
  conventional aliases in ``ENV_ALIASES`` (``OPENAI_API_KEY``...). The project-specific
  name wins over an alias when both are set. Empty variables count as unset.
- Flags: a mapping ``{"hub": {"port": 9000}}`` or ``{"hub.port": 9000}``; ``None`` values
  mean "flag not given" and are skipped, so the CLI can pass every option through.

The file format is documented, with every setting, in ``config.example.toml``.
"""

from __future__ import annotations

import dataclasses
import difflib
import getpass
import os
import socket
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui_session import paths

ENV_PREFIX = "TUI_SESSION_"


class ConfigError(ValueError):
    """A setting could not be read: unknown key, wrong type, unreadable file."""


def _default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (some containers): still start
        return "user"


def _default_device() -> str:
    # The short host name: readable in a presence bar, stable across reboots.
    return socket.gethostname().split(".")[0] or "terminal"


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True)
class HubSettings:
    """The local Ably-protocol hub."""

    host: str = "127.0.0.1"
    port: int = 8470
    data_dir: Path = field(default_factory=paths.data_dir)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # Off loopback the hub (and the agent service of `serve`) serves TLS, with a self-signed
    # certificate it makes in data_dir/tls when none is given; insecure = true serves plaintext.
    insecure: bool = False
    presence_grace_s: float = 15.0
    connection_state_ttl_ms: int = 120_000
    max_message_size: int = 65_536
    # Must stay below the maxIdleInterval the hub advertises: ably-python ignores WebSocket
    # pings, so only protocol HEARTBEAT frames keep its idle timer from firing.
    heartbeat_interval_s: float = 9.0
    # Open WebSocket connections at once; one more is told DISCONNECTED 40111 (retry later).
    max_connections: int = 10_000
    # Messages one connection may publish per second (a burst of this many, then this rate);
    # beyond it a publish is NACKed with 42911. Advertised as maxInboundRate.
    max_inbound_rate: int = 1000

    def __post_init__(self) -> None:
        _check(0 <= self.port <= 65535, f"hub.port must be 0..65535, got {self.port}")
        _check(
            (self.tls_cert is None) == (self.tls_key is None),
            "hub.tls_cert and hub.tls_key must be given together",
        )
        _check(self.presence_grace_s >= 0, "hub.presence_grace_s must be >= 0")
        _check(self.connection_state_ttl_ms > 0, "hub.connection_state_ttl_ms must be > 0")
        _check(self.max_message_size > 0, "hub.max_message_size must be > 0")
        _check(self.heartbeat_interval_s > 0, "hub.heartbeat_interval_s must be > 0")
        _check(self.max_connections > 0, "hub.max_connections must be > 0")
        _check(self.max_inbound_rate > 0, "hub.max_inbound_rate must be > 0")

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None


NOTIFY_MODES = ("auto", "bell", "off")  # client.notify (tui/terminal_notify.py)


@dataclass(frozen=True)
class ClientSettings:
    """A terminal (and how any process reaches the session channel)."""

    user: str = field(default_factory=_default_user)
    device: str = field(default_factory=_default_device)
    # "local": the hub described by [hub]. Anything else is handed to the ably SDK as its
    # `endpoint` option (e.g. "main" for Ably's production cloud), with ably_key or auth_url.
    endpoint: str = "local"
    agent_url: str = "http://127.0.0.1:8471"
    ably_key: str | None = None
    auth_url: str | None = None
    # Notifications while the terminal is unfocused (a turn of mine ended, an approval or a
    # request for a human waits): "auto" (the terminal's own sequence), "bell", or "off".
    notify: str = "auto"

    def __post_init__(self) -> None:
        _check(
            self.notify in NOTIFY_MODES,
            f"client.notify must be one of {NOTIFY_MODES}, got {self.notify!r}",
        )


AGENT_APIS = ("responses", "chat")


@dataclass(frozen=True)
class AgentSettings:
    """The agent service and the model it talks to."""

    host: str = "127.0.0.1"
    port: int = 8471
    model: str = "gpt-4.1-mini"
    # "responses": OpenAI Responses streaming; "chat": the Chat Completions adapter for
    # servers without /v1/responses (llama.cpp, LM Studio, older vLLM/Ollama).
    api: str = "responses"
    base_url: str | None = None
    api_key: str | None = None
    # Seconds without an event from the model before its call counts as failed.
    model_timeout_s: float = 60.0
    # Tokens per second of the offline demo model (0: as fast as it can).
    demo_pace: float = 40.0
    # The agent's own clientId on the channel, and the name it shows in presence.
    client_id: str = "agent"
    name: str = "tui-session agent"
    # Turns one session may run at once; one more is refused with HTTP 429.
    max_runs_per_session: int = 4
    # Seconds the service looks for the input a POST names before answering 404 (104010).
    trigger_deadline_s: float = 10.0
    # Model deltas are coalesced into one append per stream for this long (first goes at once).
    append_window_ms: int = 40
    # "continue", or "stop": cancel a turn when no user device has watched its session for
    # unwatched_grace_s seconds.
    when_unwatched: str = "continue"
    unwatched_grace_s: float = 30.0
    # ClientIds (comma-separated) of operators: they may cancel anyone's turn, answer a
    # request for a human, take over a session and hand it back (docs/handover.md).
    operators: str = ""
    # The channel where the agent lists what needs a human across sessions (the desk).
    desk_channel: str = "desk:main"
    # Seconds an operator in control may be absent from the session before control returns
    # to the agent by itself.
    operator_grace_s: float = 120.0
    # Seconds without progress (no model event, no output) before a turn shows on the desk.
    stall_after_s: float = 60.0
    # ClientIds (comma-separated) that may approve or deny anyone's tool calls, besides the
    # turn's owner; "*": anyone.
    approvers: str = ""
    # A service credential (Authorization: Bearer <secret>) for trusted servers; terminals
    # send their own Ably token instead (agent/callers.py).
    auth_secret: str | None = None
    # ClientIds (comma-separated) /api/token issues tokens for; empty: any.
    token_client_ids: str = ""
    # Pushes when a user's turn ends or needs them and none of their devices is present: a
    # webhook (JSON POST) and an ntfy topic URL; "{user}" in a URL becomes the user's name.
    # Empty: off. Checked when the agent starts (agent/notifier.py).
    notify_webhook: str = ""
    notify_webhook_secret: str | None = None  # signs the body: X-Tui-Session-Signature
    notify_ntfy: str = ""
    notify_ntfy_token: str | None = None  # ntfy access token (Authorization: Bearer)
    notify_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        _check(0 <= self.port <= 65535, f"agent.port must be 0..65535, got {self.port}")
        _check(self.api in AGENT_APIS, f"agent.api must be one of {AGENT_APIS}, got {self.api!r}")
        _check(self.max_runs_per_session >= 1, "agent.max_runs_per_session must be >= 1")
        _check(
            self.when_unwatched in ("continue", "stop"),
            f"agent.when_unwatched must be 'continue' or 'stop', got {self.when_unwatched!r}",
        )
        _check(self.model_timeout_s > 0, "agent.model_timeout_s must be > 0")
        _check(self.demo_pace >= 0, "agent.demo_pace must be >= 0")
        _check(self.operator_grace_s >= 0, "agent.operator_grace_s must be >= 0")
        _check(self.stall_after_s > 0, "agent.stall_after_s must be > 0")
        _check(
            bool(self.desk_channel.strip()) and not self.desk_channel.startswith("session:"),
            f"agent.desk_channel must be a channel name outside session:*, "
            f"got {self.desk_channel!r}",
        )


@dataclass(frozen=True)
class Settings:
    hub: HubSettings = field(default_factory=HubSettings)
    client: ClientSettings = field(default_factory=ClientSettings)
    agent: AgentSettings = field(default_factory=AgentSettings)


SECTIONS: dict[str, type] = {
    "hub": HubSettings,
    "client": ClientSettings,
    "agent": AgentSettings,
}

# Conventional variable names other tools already use. Lower precedence than our own names.
ENV_ALIASES: dict[str, tuple[str, str]] = {
    paths.ENV_DATA_DIR: ("hub", "data_dir"),
    "ABLY_KEY": ("client", "ably_key"),
    "OPENAI_API_KEY": ("agent", "api_key"),
    "OPENAI_BASE_URL": ("agent", "base_url"),
}

_Layer = dict[str, dict[str, Any]]


def env_name(section: str, key: str) -> str:
    return f"{ENV_PREFIX}{section}_{key}".upper()


def _field_types(section: str) -> dict[str, Any]:
    return typing.get_type_hints(SECTIONS[section])


def _unknown_key_error(section: str, key: str, origin: str) -> ConfigError:
    known = list(_field_types(section))
    hint = difflib.get_close_matches(key, known, n=1)
    did_you_mean = f" (did you mean '{section}.{hint[0]}'?)" if hint else ""
    return ConfigError(
        f"unknown setting '{section}.{key}' in {origin}{did_you_mean}; "
        f"known [{section}] settings: {', '.join(known)}"
    )


def _unknown_section_error(section: str, origin: str) -> ConfigError:
    return ConfigError(
        f"unknown section '{section}' in {origin}; known sections: {', '.join(SECTIONS)}"
    )


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"not a boolean: {text!r}")


def _coerce(
    value: Any, hint: Any, origin: str, *, from_text: bool = True, base_dir: Path | None = None
) -> Any:
    """Check one value against its type; with `from_text`, convert strings first.

    Environment variables are always text; a TOML file is typed, so `port = "80"` there is
    a mistake to report, not to guess at. `base_dir` anchors relative paths (the config
    file's directory); None means the current directory.
    """
    args = typing.get_args(hint)
    optional = type(None) in args
    target = next((a for a in args if a is not type(None)), hint) if args else hint
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{origin}: a value is required")
    try:
        if from_text and isinstance(value, str) and target is not str:
            if target is bool:
                return _parse_bool(value)
            if target in (int, float):
                return target(value.strip())
        if target is Path:
            if not isinstance(value, str | os.PathLike):
                raise TypeError
            path = Path(value).expanduser()
            return base_dir / path if base_dir is not None and not path.is_absolute() else path
        # bool is an int subclass: `port = true` in TOML must not read as port 1.
        if isinstance(value, bool) and target is not bool:
            raise TypeError
        if target is float and isinstance(value, int):
            return float(value)
        if not isinstance(value, target):
            raise TypeError
        return value
    except (TypeError, ValueError):
        expected = getattr(target, "__name__", str(target))
        raise ConfigError(f"{origin}: expected {expected}, got {value!r}") from None


def resolve_config_file(config_file: Path | None = None) -> tuple[Path, bool]:
    """The config file to read, and whether it must exist.

    An explicit path (flag or TUI_SESSION_CONFIG) must exist; the platform default may not,
    which just means "all defaults".
    """
    if config_file is not None:
        return Path(config_file).expanduser(), True
    return paths.config_file(), paths.config_file_is_explicit()


def read_config_file(path: Path) -> _Layer:
    """Parse and check a TOML config file into {section: {key: value}}."""
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror or err}") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"invalid TOML in config file {path}: {err}") from err
    layer: _Layer = {}
    for section, table in raw.items():
        if section not in SECTIONS:
            if not isinstance(table, dict):
                raise ConfigError(
                    f"unknown setting '{section}' at the top level of {path}; settings belong "
                    f"in a section: {', '.join(f'[{s}]' for s in SECTIONS)}"
                )
            raise _unknown_section_error(section, str(path))
        if not isinstance(table, dict):
            raise ConfigError(f"'{section}' in {path} must be a table ([{section}])")
        types = _field_types(section)
        for key, value in table.items():
            if key not in types:
                raise _unknown_key_error(section, key, str(path))
            origin = f"{section}.{key} in {path}"
            layer.setdefault(section, {})[key] = _coerce(
                value, types[key], origin, from_text=False, base_dir=path.parent
            )
    return layer


def read_env(env: Mapping[str, str]) -> _Layer:
    """Settings from environment variables; our own names override the aliases."""
    layer: _Layer = {}
    for name, (section, key) in ENV_ALIASES.items():
        if env.get(name, "").strip():
            hint = _field_types(section)[key]
            layer.setdefault(section, {})[key] = _coerce(env[name], hint, f"env {name}")
    for section in SECTIONS:
        for key, hint in _field_types(section).items():
            name = env_name(section, key)
            if env.get(name, "").strip():
                layer.setdefault(section, {})[key] = _coerce(env[name], hint, f"env {name}")
    return layer


def read_overrides(overrides: Mapping[str, Any]) -> _Layer:
    """Flag values, nested ({"hub": {"port": 1}}) or dotted ({"hub.port": 1})."""
    layer: _Layer = {}

    def put(section: str, key: str, value: Any) -> None:
        if section not in SECTIONS:
            raise _unknown_section_error(section, "overrides")
        types = _field_types(section)
        if key not in types:
            raise _unknown_key_error(section, key, "overrides")
        if value is not None:  # None: the flag was not given
            layer.setdefault(section, {})[key] = _coerce(value, types[key], f"flag {section}.{key}")

    for name, value in overrides.items():
        if isinstance(value, Mapping):
            for key, inner in value.items():
                put(name, key, inner)
        elif "." in name:
            section, key = name.split(".", 1)
            put(section, key, value)
        else:
            raise ConfigError(f"override '{name}' must be 'section.key' or a section mapping")
    return layer


def load_settings(
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Build the Settings: defaults < config file < environment < overrides (flags).

    `config_file` None means the default location (see `resolve_config_file`).
    `env` defaults to os.environ; tests pass their own.
    """
    path, required = resolve_config_file(config_file)
    layers: list[_Layer] = []
    if path.exists() or required:
        layers.append(read_config_file(path))
    layers.append(read_env(os.environ if env is None else env))
    layers.append(read_overrides(overrides or {}))

    merged: _Layer = {section: {} for section in SECTIONS}
    for layer in layers:
        for section, values in layer.items():
            merged[section].update(values)

    built: dict[str, Any] = {}
    for section, cls in SECTIONS.items():
        try:
            built[section] = cls(**merged[section])
        except ValueError as err:  # raised by __post_init__ checks
            raise ConfigError(str(err)) from err
    return Settings(**built)


def field_names(section: str) -> list[str]:
    return [f.name for f in dataclasses.fields(SECTIONS[section])]
