"""Which turns this agent has open, kept on disk, so a restarted agent can end what a killed
one left open (docs/wire.md §7.14): a run that never gets its `ai-run-end` looks active for ever."""

from __future__ import annotations

import json
import os
from pathlib import Path


class RunLedger:
    """`{session name: [run id, ...]}` in one small JSON file, rewritten atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._runs: dict[str, list[str]] = {}
        if path.exists():
            try:
                loaded = json.loads(path.read_text())
                self._runs = {
                    str(k): [str(r) for r in v] for k, v in loaded.items() if isinstance(v, list)
                }
            except (ValueError, AttributeError):
                self._runs = {}  # unreadable: nothing to clean up rather than a crash

    def open_runs(self) -> dict[str, list[str]]:
        return {name: list(runs) for name, runs in self._runs.items() if runs}

    def record(self, session_name: str, run_id: str) -> None:
        runs = self._runs.setdefault(session_name, [])
        if run_id not in runs:
            runs.append(run_id)
            self._save()

    def forget(self, session_name: str, run_id: str) -> None:
        runs = self._runs.get(session_name, [])
        if run_id in runs:
            runs.remove(run_id)
            if not runs:
                del self._runs[session_name]
            self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_suffix(".tmp")
        temp.write_text(json.dumps(self._runs))
        os.replace(temp, self.path)
