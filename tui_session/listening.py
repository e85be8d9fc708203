"""Where the hub and the agent service of a data dir listen, as they started.

Each writes `<data_dir>/listening/<role>.json` ({host, port, tls, pid}) once it listens and
removes it when it stops, so `tui-session invite` describes the servers actually running (the
flags they were started with, not the config's defaults). A record whose process is gone is
ignored.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from tui_session.credentials.files import write_private_json

DIR = "listening"
_WILDCARD = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


@dataclass(frozen=True)
class Listening:
    role: str  # "hub" or "agent"
    host: str
    port: int
    tls: bool
    pid: int


def _path(data_dir: Path, role: str) -> Path:
    return Path(data_dir) / DIR / f"{role}.json"


def record(data_dir: Path, role: str, host: str, port: int, tls: bool) -> None:
    data = {"host": host, "port": port, "tls": tls, "pid": os.getpid()}
    write_private_json(_path(data_dir, role), data)


def read(data_dir: Path, role: str) -> Listening | None:
    try:
        data = json.loads(_path(data_dir, role).read_text(encoding="utf-8"))
        found = Listening(
            role, str(data["host"]), int(data["port"]), bool(data["tls"]), int(data["pid"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return found if _alive(found.pid) else None


def forget(data_dir: Path, role: str) -> None:
    """Remove this process's record (a record another process wrote is left alone)."""
    found = read(data_dir, role)
    if found is not None and found.pid == os.getpid():
        with contextlib.suppress(OSError):
            _path(data_dir, role).unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def local_host(host: str) -> str:
    """The address this machine reaches a server bound to `host` at (a wildcard: loopback)."""
    return _WILDCARD.get(host, host)


def url_host(host: str) -> str:
    """A host as it goes in a URL ("::1" -> "[::1]")."""
    return f"[{host}]" if ":" in host else host
