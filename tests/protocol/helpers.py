"""Test helpers: Ably-shaped message builders and a tiny in-memory hub.

The hub follows the reference's §8.5 rules that the protocol relies on: serials and version
serials sort lexicographically, an append replaces the message's extras, history returns an
appended message once, as an update with full data, latest extras and latest version.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from tui_session.protocol import (
    Append,
    Decoder,
    Operation,
    Publish,
    Tree,
    Update,
    View,
    new_decoder,
)
from tui_session.protocol.operator_reply import message_events

FIXTURES = Path(__file__).parent / "fixtures"


def load_fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def message(
    serial: str,
    name: str,
    transport: dict[str, str],
    codec: dict[str, str] | None = None,
    data: Any = None,
    *,
    action: int = 0,
    version: str | None = None,
    client_id: str | None = None,
) -> dict[str, Any]:
    ai: dict[str, Any] = {"transport": transport}
    if codec:
        ai["codec"] = codec
    out = {
        "serial": serial,
        "name": name,
        "action": action,
        "extras": {"ai": ai},
        "version": {"serial": version or serial},
        "clientId": client_id,
    }
    if data is not None:
        out["data"] = data
    return out


class FakeHub:
    """Assigns serials to operations and records live deliveries and message aggregates."""

    def __init__(self, prefix: str = "s") -> None:
        self.prefix = prefix
        self._counter = 0
        self.refs: dict[str, str] = {}  # stream_ref -> create serial
        self.live: list[dict[str, Any]] = []
        self.aggregates: dict[str, dict[str, Any]] = {}

    def _next(self) -> str:
        self._counter += 1
        return f"{self.prefix}{self._counter:04d}"

    def send(self, op: Operation, client_id: str = "agent") -> str:
        """Apply one operation; returns the serial of the message it created or mutated."""
        version = self._next()
        if isinstance(op, Publish):
            serial = version
            if op.stream_ref:
                self.refs[op.stream_ref] = serial
            delivery = {
                "serial": serial,
                "action": 0,
                "name": op.name,
                "data": copy.deepcopy(op.data),
                "extras": copy.deepcopy(op.extras),
                "clientId": client_id,
                "version": {"serial": serial},
            }
            self.aggregates[serial] = copy.deepcopy(delivery)
        else:
            serial = self.refs[op.stream_ref]
            aggregate = self.aggregates[serial]
            action = 5 if isinstance(op, Append) else 1
            delivery = {
                "serial": serial,
                "action": action,
                "name": aggregate["name"],
                "data": op.data,
                "extras": copy.deepcopy(op.extras),
                "clientId": client_id,
                "version": {"serial": version},
            }
            base = aggregate.get("data") or ""
            aggregate["data"] = base + op.data if isinstance(op, Append) else op.data
            aggregate["extras"] = copy.deepcopy(op.extras)  # an append replaces extras
            aggregate["version"] = {"serial": version}
            aggregate["action"] = 1
        self.live.append(delivery)
        return serial

    def send_all(self, ops: list[Operation], client_id: str = "agent") -> list[str]:
        return [self.send(op, client_id) for op in ops]

    def history(self) -> list[dict[str, Any]]:
        """Each message once, oldest first, at its latest version."""
        return [copy.deepcopy(self.aggregates[s]) for s in sorted(self.aggregates)]


def as_history(live: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """History at latest version for a list of live deliveries (oldest first)."""
    out: dict[str, dict[str, Any]] = {}
    for delivery in live:
        serial = delivery["serial"]
        if serial not in out:
            out[serial] = copy.deepcopy(delivery)
            continue
        aggregate = out[serial]
        data = delivery.get("data") or ""
        if delivery["action"] == 5:
            aggregate["data"] = (aggregate.get("data") or "") + data
        else:
            aggregate["data"] = data
        aggregate["extras"] = copy.deepcopy(delivery["extras"])
        aggregate["version"] = copy.deepcopy(delivery["version"])
        aggregate["action"] = 1
    return [out[s] for s in sorted(out)]


class Session:
    """One decoder feeding one tree, as a client holds them; `view` shows the branch."""

    def __init__(self) -> None:
        self.decoder: Decoder = new_decoder()
        self.tree = Tree()
        self.view = View(self.tree)

    def feed(self, messages: list[dict[str, Any]]) -> None:
        for m in messages:
            decoded = self.decoder.decode(m)
            if decoded is not None:
                self.tree.apply(decoded)

    def feed_pages(self, history: list[dict[str, Any]], page_size: int) -> None:
        """History is paged newest first; each page is folded oldest first (§3.11)."""
        newest_first = list(reversed(history))
        for start in range(0, len(newest_first), page_size):
            page = newest_first[start : start + page_size]
            self.feed(list(reversed(page)))

    def texts(self) -> list[tuple[str, str, str]]:
        """(cmid, role, text) of the visible messages."""
        out = []
        for cmid, msg in self.view.messages():
            chunks = []
            for item in msg["items"]:
                if item.get("type") == "message":
                    chunks += [p.get("text") or p.get("refusal") or "" for p in item["content"]]
            out.append((cmid, msg["role"], "".join(chunks)))
        return out


def strip_ids(op: Operation) -> dict[str, Any]:
    """An operation as comparable data (stream refs are local handles)."""
    kind = {Publish: "create", Append: "append", Update: "update"}[type(op)]
    return {"kind": kind, "data": op.data, "extras": op.extras}


# --- scripted conversations through our own encoder -------------------------------------------


def text_events(item_id: str, text: str, chunks: int = 2) -> list[dict[str, Any]]:
    """A minimal Responses text answer (§8.3), split into `chunks` deltas."""
    size = max(1, -(-len(text) // chunks))
    return message_events(item_id, [text[i : i + size] for i in range(0, len(text), size)] or [""])


class Script:
    """Publishes prompts and agent runs through our encoder into a FakeHub."""

    def __init__(self) -> None:
        self.hub = FakeHub()
        self._n = 0

    def fresh(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n}"

    def prompt(
        self,
        cmid: str,
        *texts: str,
        parent: str | None = None,
        fork_of: str | None = None,
        client: str = "alice",
        run_id: str | None = None,
    ) -> str:
        from tui_session.protocol import InputHeaders, user_text

        headers = InputHeaders(
            cmid,
            self.fresh("E"),
            run_client_id=client,
            parent=parent,
            fork_of=fork_of,
            run_id=run_id,
        )
        return self.hub.send_all(user_text(headers, *texts), client)[0]

    def run_headers(self, run_id: str, trigger: str, client: str = "alice", **structure: Any):
        from tui_session.protocol import RunHeaders

        return RunHeaders(
            run_id=run_id,
            invocation_id=self.fresh("I"),
            input_codec_message_id=trigger,
            run_client_id=client,
            input_client_id=client,
            **structure,
        )

    def start(self, run) -> str:
        return self.hub.send(run.run_start())

    def pipe(
        self,
        run,
        cmid: str,
        events: list[dict[str, Any]],
        *,
        step_id: str | None = None,
        steer_ids: tuple[str, ...] = (),
        close: bool = True,
    ) -> str:
        """One step with one pipe; returns the step-start serial."""
        from tui_session.protocol import ResponsesEncoder, Step, default_step_id

        step_id = step_id or default_step_id(run.invocation_id, 0)
        start_serial = self.hub.send(run.step_start(step_id, run.run_client_id))
        step = Step(step_id, run.run_client_id, start_serial)
        encoder = ResponsesEncoder(run.output_encoder(cmid, step, steer_ids))
        for event in events:
            self.hub.send_all(encoder.encode(event))
        if close:
            self.hub.send_all(encoder.finish())
            self.hub.send(run.step_end(step))
        return start_serial

    def answer(
        self, run_id: str, trigger: str, text: str, *, client: str = "alice", **structure: Any
    ):
        """A whole fresh run: start, one step with a text answer, end complete."""
        structure.setdefault("parent", trigger)
        run = self.run_headers(run_id, trigger, client, **structure)
        self.start(run)
        cmid = self.fresh("A")
        self.pipe(run, cmid, text_events(self.fresh("msg_"), text))
        self.hub.send(run.run_end())
        return run, cmid
