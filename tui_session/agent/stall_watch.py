"""Turns that stall: no progress (no model event, no output) for `agent.stall_after_s`.

One timer per turn, re-armed from the turn's last progress, so a turn that streams steadily
costs one timer per `after_s`. A stalled turn is reported once (`on_stall`), and again as
recovered at its next progress (`on_recover`); `forget` ends the watch when the turn ends and
says whether it was stalled then (the desk resolves the stall with how the turn ended).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from tui_session.agent.turns import Turn

Hook = Callable[[Any, Turn], None]  # (owner's key, turn)


class StallWatch:
    def __init__(self, after_s: float, on_stall: Hook, on_recover: Hook) -> None:
        self.after_s = after_s
        self.on_stall = on_stall
        self.on_recover = on_recover
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self.stalled: set[str] = set()

    def watch(self, key: Any, turn: Turn) -> None:
        self._arm(key, turn)

    def forget(self, turn: Turn) -> bool:
        """Stop watching `turn`; whether it was stalled."""
        timer = self._timers.pop(turn.run.run_id, None)
        if timer is not None:
            timer.cancel()
        turn.on_progress = None
        was = turn.run.run_id in self.stalled
        self.stalled.discard(turn.run.run_id)
        return was

    def _arm(self, key: Any, turn: Turn) -> None:
        delay = max(0.0, turn.last_progress + self.after_s - time.monotonic())
        loop = asyncio.get_running_loop()
        self._timers[turn.run.run_id] = loop.call_later(delay, self._check, key, turn)

    def _check(self, key: Any, turn: Turn) -> None:
        self._timers.pop(turn.run.run_id, None)
        if time.monotonic() - turn.last_progress < self.after_s:
            self._arm(key, turn)  # it progressed meanwhile: wait from its last progress
            return
        self.stalled.add(turn.run.run_id)
        turn.on_progress = lambda: self._recovered(key, turn)
        self.on_stall(key, turn)

    def _recovered(self, key: Any, turn: Turn) -> None:
        self.stalled.discard(turn.run.run_id)
        self.on_recover(key, turn)
        self._arm(key, turn)
