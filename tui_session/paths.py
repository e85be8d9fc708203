"""Where tui-session keeps its data, its config file and its logs.

Every location comes from platformdirs (so it follows each OS's conventions) unless an
environment variable says otherwise. The variables are read on every call, not at import, so
tests and wrapper scripts can redirect a process after it started.

- ``TUI_SESSION_DATA_DIR``: the data directory (hub database, keys).
- ``TUI_SESSION_CONFIG``: the config file itself (not its directory).
- ``TUI_SESSION_LOG_DIR``: the log directory. When unset but ``TUI_SESSION_DATA_DIR`` is set,
  logs go to ``<data dir>/logs``, so one variable is enough to isolate a whole instance.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "tui-session"

ENV_DATA_DIR = "TUI_SESSION_DATA_DIR"
ENV_CONFIG = "TUI_SESSION_CONFIG"
ENV_LOG_DIR = "TUI_SESSION_LOG_DIR"

CONFIG_FILE_NAME = "config.toml"


def _env_path(name: str) -> Path | None:
    # An empty variable counts as unset: `TUI_SESSION_DATA_DIR= cmd` should not mean "cwd".
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser() if value else None


def data_dir() -> Path:
    """The directory for persistent data. Not created here: callers create it when writing."""
    return _env_path(ENV_DATA_DIR) or platformdirs.user_data_path(APP_NAME, appauthor=False)


def config_file() -> Path:
    """The config file to read when none is given explicitly. It may not exist."""
    override = _env_path(ENV_CONFIG)
    if override is not None:
        return override
    return platformdirs.user_config_path(APP_NAME, appauthor=False) / CONFIG_FILE_NAME


def config_file_is_explicit() -> bool:
    """True when the config file location was chosen by the user (so a missing file is an
    error), rather than being the platform default (where a missing file just means defaults)."""
    return _env_path(ENV_CONFIG) is not None


def log_dir() -> Path:
    """The directory for log files."""
    override = _env_path(ENV_LOG_DIR)
    if override is not None:
        return override
    data_override = _env_path(ENV_DATA_DIR)
    if data_override is not None:
        return data_override / "logs"
    return platformdirs.user_log_path(APP_NAME, appauthor=False)
