"""Replaying recorded channel logs (tests/protocol/fixtures/logs, recorded on a real hub by
`tests/protocol/fixtures/record_channel_logs.py`) through a `ClientState`, with no sockets.

`Replay` plays one device of a log as that device lived it: the live deliveries in order,
and this device's own sends performed as the commands that made them (`add_prompt`,
`add_regenerate`, `register`) just before their first message, and acknowledged (`published`)
right after it. History replays fold the hub's history in pages instead.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tui_session.protocol import H
from tui_session.transport.client_read import ReadModel
from tui_session.transport.client_records import Send
from tui_session.transport.client_state import Change, ClientState, OwnedIds

LOGS = Path(__file__).resolve().parents[1] / "protocol" / "fixtures" / "logs"
NAMES = sorted(p.stem for p in LOGS.glob("*.json"))
Message = dict[str, Any]


def load(name: str) -> dict[str, Any]:
    return json.loads((LOGS / f"{name}.json").read_text())


def transport(message: Message) -> dict[str, str]:
    return message["extras"]["ai"]["transport"]


def index_of(log: dict[str, Any], predicate: Callable[[Message], bool], nth: int = 0) -> int:
    """The index in `live` of the nth delivery matching `predicate`."""
    found = [i for i, m in enumerate(log["live"]) if predicate(m)]
    return found[nth]


def named(name: str, client_id: str | None = None) -> Callable[[Message], bool]:
    return lambda m: m["name"] == name and (client_id is None or m["clientId"] == client_id)


def pages(history: list[Message], size: int) -> list[list[Message]]:
    """History as a client reads it: pages newest first, each page oldest first."""
    newest_first = list(reversed(history))
    chunks = [newest_first[i : i + size] for i in range(0, len(newest_first), size)]
    return [list(reversed(chunk)) for chunk in chunks]


def shuffled(history: list[Message], size: int, seed: int) -> list[list[Message]]:
    out = pages(history, size)
    random.Random(seed).shuffle(out)
    return out


def seen(session: Any) -> dict[str, Any]:
    """What a session (or a `ReadModel`) shows: its transcript entries (who did what
    included) and active turns, in the form `record_channel_logs.py` stores as `seen`."""
    out = []
    for entry in session.transcript():
        common = {
            "kind": entry.kind,
            "text": entry.text,
            "own": entry.own,
            "branch": [entry.branch.index, len(entry.branch.siblings)] if entry.branch else None,
        }
        common |= {"device": entry.device, "this_device": entry.this_device}
        if entry.kind == "prompt":
            out.append({**common, "cmid": entry.cmid, "status": entry.status})
        else:
            out.append(
                {
                    **common,
                    "run_id": entry.run_id,
                    "status": entry.status,
                    "label": entry.label,
                    "client_id": entry.client_id,
                    "cancelled_by": _who(entry.cancelled_by),
                    "steers": [[s.text, s.state, *_who(s.by)] for s in entry.steers],
                    "decisions": [[d.call_id, d.approved, *_who(d.by)] for d in entry.decisions],
                    "can_decide": entry.can_decide,
                }
            )
    return {"transcript": out, "active_turns": session.active_turns()}


def _who(who: Any) -> list[str | None] | None:
    """Who did it, as stored in a log's `seen`: [clientId, device]."""
    return None if who is None else [who.client_id, who.device]


class Replay:
    """One device of a recorded log, replayed through a fresh `ClientState`."""

    def __init__(
        self, log: dict[str, Any], device: str, *, owned: OwnedIds | None = None, **options: Any
    ) -> None:
        info = log["devices"][device]
        self.log = log
        self.state = ClientState(info["client_id"], info["device"], owned=owned, **options)
        self.read = ReadModel(self.state)
        self.changes: list[Change] = []
        self.cursor = 0
        self.now = 0.0
        self.tips: dict[str, str | None] = {}  # own prompt cmid -> state.tip() before it
        self._recorded = {s["event_id"]: s for s in log["sends"] if s["device"] == device}
        self.sends: dict[str, Send] = {}  # performed sends, by event id

    def opened_on_an_empty_channel(self) -> Replay:
        """As the recorded devices did: the initial history load found nothing."""
        self.state.window.history_exhausted = True
        self.state.window.reveal(50)
        return self

    def send(self, key: str) -> Send:
        """A performed send by its input cmid (the prompt's id, or the approved message's)."""
        return next(s for s in self.sends.values() if s.input_codec_message_id == key)

    def apply(self, changes: list[Change]) -> list[Change]:
        self.changes += changes
        return changes

    def live(self, until: int | str | None = None) -> list[Change]:
        """Fold live deliveries up to (not including) an index or a recorded mark."""
        stop = self.log["marks"][until] if isinstance(until, str) else until
        stop = len(self.log["live"]) if stop is None else stop
        out: list[Change] = []
        while self.cursor < stop:
            message = self.log["live"][self.cursor]
            self.cursor += 1
            send = self._own_send(message)
            if send is not None:
                out += self._command(send, message)
            out += self.state.fold(message, "live", self.now)
            if send is not None:
                out += self.state.published(send, [message["serial"]])
        return self.apply(out)

    def history(self, pages: list[list[Message]]) -> list[Change]:
        """Fold history pages (in the order given), then reveal everything they hold."""
        out: list[Change] = []
        for page in pages:
            out += self.state.fold_page(page, "history", self.now)
        self.state.window.history_exhausted = True
        self.state.window.reveal(10_000)
        return self.apply(out)

    def _own_send(self, message: Message) -> Send | None:
        recorded = self._recorded.get(transport(message).get(H.EVENT_ID, ""))
        if message["name"] != "ai-input" or recorded is None:
            return None
        if recorded["event_id"] in self.sends:
            return None  # a later part of a prompt already sent
        send = Send(
            recorded["kind"],
            recorded["cmid"],
            recorded["event_id"],
            target_run_id=recorded["target_run_id"],
        )
        self.sends[send.input_event_id] = send
        return send

    def _command(self, send: Send, message: Message) -> list[Change]:
        t = transport(message)
        if send.kind in ("prompt", "edit"):
            self.tips[send.input_codec_message_id] = self.state.tip()
            text = self._recorded[send.input_event_id]["text"]
            return self.state.add_prompt(
                send, text, parent=t.get(H.PARENT), fork_of=t.get(H.FORK_OF)
            )
        if send.kind == "regenerate":
            self.state.add_regenerate(send)
        else:
            self.state.register(send)
        return []

    def of(self, kind: type) -> list[Any]:
        return [c for c in self.changes if isinstance(c, kind)]
