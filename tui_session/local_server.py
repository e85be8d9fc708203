"""The `tui-session serve` that `chat` starts in the background when the default local hub is
not running: started with its output appended to the log dir's `serve.log`, and described
honestly afterwards (still running, or exited with the last lines it logged).

It outlives the terminal that started it (a new session, not a child that dies with the
terminal), so a second terminal reuses it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tui_session import paths
from tui_session.config import Settings

COMMAND = "serve"
LOG_TAIL_LINES = 8


@dataclass
class StartedServer:
    """A `tui-session serve` this terminal started; its log lines from `log_offset` on are
    this run's."""

    process: subprocess.Popen[bytes]
    log_path: Path
    log_offset: int
    command: str = COMMAND

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def started_line(self) -> str:
        return (
            f"started `tui-session {self.command}` in the background "
            f"(pid {self.pid}; log: {self.log_path})"
        )

    def exit_report(self) -> str | None:
        """None while it runs; else that it exited, with the last lines it logged."""
        code = self.process.poll()
        if code is None:
            return None
        how = f"exited (code {code})" if code >= 0 else f"was stopped by {_signal_name(-code)}"
        lines = self.log_tail()
        said = "\n".join(f"  {line}" for line in lines) if lines else "  (it logged nothing)"
        return (
            f"the `tui-session {self.command}` started here {how}; "
            f"the last lines of {self.log_path}:\n{said}"
        )

    def log_tail(self, count: int = LOG_TAIL_LINES) -> list[str]:
        try:
            with self.log_path.open("rb") as log:
                log.seek(self.log_offset)
                text = log.read().decode("utf-8", errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if line.strip()][-count:]


def start_serve(settings: Settings, *, agent_port: int, config: Path | None) -> StartedServer:
    """Start `tui-session serve` for the hub in `settings.hub`, its agent on `agent_port`."""
    log_dir = paths.log_dir()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{COMMAND}.log"
    args = [sys.executable, "-m", "tui_session.cli", COMMAND]
    if config is not None:
        args += ["--config", str(config)]
    hub = settings.hub
    args += ["--host", hub.host, "--port", str(hub.port)]
    args += ["--agent-port", str(agent_port), "--data-dir", str(hub.data_dir)]
    with log_path.open("ab") as log:
        offset = log.tell()
        process = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "_TYPER_STANDARD_TRACEBACK": "1"},  # plain lines in the log
            start_new_session=True,  # outlives this terminal; a second terminal reuses it
        )
    return StartedServer(process, log_path, offset)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
