"""The scenario stack for docs/handover.md: the hub and the agent service as two processes
(`tui-session hub`, `tui-session agent`), so a test can SIGKILL the agent alone and start it
again on the same data dir, while the terminals stay open.

The agent lists `ada` and `bob` as operators, hands control back after 2 s without the
operator in the session (`agent.operator_grace_s`), and the hub lets a dropped connection's
presence go after 1 s (`hub.presence_grace_s`): the automatic hand-back of a killed operator
terminal shows within seconds. The offline demo model answers.
"""

from __future__ import annotations

import signal
import subprocess
import threading
from pathlib import Path

from .stack import START_S, TUI_SESSION, Server, stop_process

OPERATORS = "ada,bob"
GRACE_S = 2.0


class Process:
    """A child process whose output is drained, ready once it printed `ready`."""

    def __init__(self, argv: list[str], env: dict[str, str], ready: str) -> None:
        self.argv, self.env, self.ready_line = argv, env, ready
        self.log: list[str] = []
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> Process:
        ready = threading.Event()
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

        def drain(process: subprocess.Popen[str]) -> None:
            assert process.stdout is not None
            for line in process.stdout:
                self.log.append(line)
                if self.ready_line in line:
                    ready.set()
            ready.set()  # ended: start() sees the exit

        threading.Thread(target=drain, args=(self.process,), daemon=True).start()
        if not ready.wait(START_S) or self.process.poll() is not None:
            self.stop()
            raise RuntimeError(f"{self.argv[1]} did not start:\n" + "".join(self.log))
        return self

    def kill(self) -> None:
        """SIGKILL: nothing is ended, nothing is left (a crash, a power cut)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(START_S)

    def stop(self) -> None:
        stop_process(self.process)


class SplitServer(Server):
    """`Server`'s environment and helpers, with the hub and the agent as two processes."""

    def __init__(self, root: Path, *, demo_pace: float) -> None:
        super().__init__(root, demo_pace=demo_pace)
        self.env.update(
            {
                "TUI_SESSION_AGENT_OPERATORS": OPERATORS,
                "TUI_SESSION_AGENT_OPERATOR_GRACE_S": str(GRACE_S),
                "TUI_SESSION_HUB_PRESENCE_GRACE_S": "1",
            }
        )
        self.hub_process = Process([TUI_SESSION, "hub"], self.env, "tui-session hub on")
        agent = [TUI_SESSION, "agent", "--hub", f"127.0.0.1:{self.port}"]
        self.agent = Process(agent, self.env, "tui-session agent on")

    def start(self) -> SplitServer:
        self.hub_process.start()
        self.agent.start()
        return self

    def restart_agent(self) -> None:
        self.agent.start()

    def stop(self) -> None:
        self.agent.stop()
        self.hub_process.stop()

    def logs(self) -> str:
        return "".join([*self.hub_process.log, *self.agent.log])
