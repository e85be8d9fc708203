"""The input ids this device published, persisted per session (§6 own turns, §9.45).

The wire carries no device identity: a run is this device's own turn when its `ai-run-start`
names (as `input-codec-message-id`) an input this device published. The ids are kept in
memory and appended, one per line, to a file per session, so ownership survives a restart.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


class OwnedInputs:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._ids: set[str] = set()
        if path is not None and path.exists():
            try:
                self._ids = {line.strip() for line in path.read_text().splitlines() if line.strip()}
            except OSError as err:
                log.warning("cannot read owned inputs %s: %s", path, err)

    def __contains__(self, input_id: object) -> bool:
        return input_id in self._ids

    def __iter__(self):
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, input_id: str) -> None:
        if input_id in self._ids:
            return
        self._ids.add(input_id)
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as fh:
                fh.write(input_id + "\n")
        except OSError as err:
            log.warning("cannot persist owned input to %s: %s", self.path, err)
