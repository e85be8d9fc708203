"""What a `ClientSession` command returns: its record plus the futures the session resolves.

`RunHandle` (a prompt, edit, regenerate or approval): `started` resolves with the run id at
its `ai-run-start` / `ai-run-resume`, `ended` with the run's terminal status. `SteerHandle`:
`outcome` resolves "consumed", "not consumed" or "unknown" (docs/wire.md §3.6). Handles are
plain records: cancelling, retrying or steering a send are session methods (`cancel_send`,
`retry`, `steer_send`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from .client_records import Send, Steer


def _future() -> asyncio.Future[str]:
    return asyncio.get_running_loop().create_future()


@dataclass(eq=False, repr=False)
class RunHandle(Send):
    started: asyncio.Future[str] = field(default_factory=_future)
    ended: asyncio.Future[str] = field(default_factory=_future)


@dataclass(eq=False, repr=False)
class SteerHandle(Steer):
    outcome: asyncio.Future[str] = field(default_factory=_future)
