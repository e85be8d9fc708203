"""Helpers for the comparison-matrix tests (no tests here): node scripts as JSON-line child
processes, the npm observer, and the normal forms our views and the npm views are compared in.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from contextlib import suppress
from pathlib import Path
from typing import Any

from tests.support import HubEndpoint
from tui_session.transport.client import ClientSession

from .test_client_support import node_or_skip

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
EVENT_TIMEOUT_S = 20.0


class NodeScript:
    """A node script that prints JSON lines on stdout and reads commands on stdin."""

    def __init__(self, proc: asyncio.subprocess.Process, name: str) -> None:
        self.proc = proc
        self.name = name
        self.lines: list[str] = []

    @classmethod
    async def start(cls, script: str, hub: HubEndpoint, *args: str) -> NodeScript:
        proc = await asyncio.create_subprocess_exec(
            node_or_skip(),
            str(NODE_DIR / script),
            *("--host", hub.host, "--port", str(hub.port), "--key", hub.key),
            *args,
            cwd=NODE_DIR,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )
        return cls(proc, script)

    async def next(self, *events: str, timeout: float = EVENT_TIMEOUT_S) -> dict[str, Any]:
        """The next record whose `event` is one of `events` (others are skipped)."""
        assert self.proc.stdout is not None
        while True:
            line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
            if not line:
                raise AssertionError(f"{self.name} exited before {events}: {await self.stderr()}")
            self.lines.append(line.decode())
            with suppress(json.JSONDecodeError):
                record = json.loads(line)
                if record.get("event") == "error":
                    raise AssertionError(f"{self.name} failed: {record['error']}")
                if record.get("event") in events:
                    return record

    async def command(self, reply: str, **command: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        await self.proc.stdin.drain()
        return await self.next(reply)

    async def stderr(self) -> str:
        assert self.proc.stderr is not None
        with suppress(TimeoutError):
            return (await asyncio.wait_for(self.proc.stderr.read(), 2)).decode()[-3000:]
        return ""

    async def close(self) -> None:
        if self.proc.returncode is None and self.proc.stdin is not None:
            with suppress(Exception):
                self.proc.stdin.write(b'{"cmd":"quit"}\n')
                await self.proc.stdin.drain()
                self.proc.stdin.close()
            with suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), 10)
        if self.proc.returncode is None:
            with suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()


async def npm_observer(hub: HubEndpoint, channel: str, client: str = "observer") -> NodeScript:
    """tests/node/npm_observer.mjs attached to `channel`, history loaded ("ready" consumed)."""
    observer = await NodeScript.start("npm_observer.mjs", hub, "--channel", channel)
    observer.ready = await observer.next("ready")  # type: ignore[attr-defined]
    return observer


# --- normal forms -------------------------------------------------------------------------------


def canonical_json(value: Any) -> Any:
    """JSON round trip: tuples become lists, absent and None stay distinct as in node."""
    return json.loads(json.dumps(value))


def npm_messages(record: dict[str, Any]) -> list[tuple[str, Any]]:
    """`getMessages()` of a node snapshot as `(codec-message-id, OpenAIMessage)`."""
    return [(m["codecMessageId"], canonical_json(m["message"])) for m in record["messages"]]


def our_messages(session: ClientSession) -> list[tuple[str, Any]]:
    return [(cmid, canonical_json(message)) for cmid, message in session.messages()]


def npm_runs(record: dict[str, Any]) -> list[tuple]:
    return [
        (
            r["runId"],
            r["clientId"],
            r["status"],
            tuple((s["stepId"], s["status"]) for s in r["steps"]),
            (r.get("error") or {}).get("code"),
        )
        for r in record["runs"]
    ]


def our_runs(session: ClientSession) -> list[tuple]:
    return [
        (
            t.run_id,
            t.client_id,
            t.status,
            tuple((s.step_id, s.status) for s in t.steps),
            t.error_code,
        )
        for t in session.runs()
    ]


def npm_branches(record: dict[str, Any]) -> list[tuple[str, int, int]]:
    return [(b["codecMessageId"], b["index"], b["count"]) for b in record["branches"]]


def our_branches(session: ClientSession) -> list[tuple[str, int, int]]:
    out = []
    for cmid, _ in session.messages():
        branch = session.branch_selection(cmid)
        assert branch is not None
        out.append((cmid, branch.index, len(branch.siblings)))
    return out


def transcript_form(session: ClientSession) -> list[tuple]:
    """A transcript as every device must see it: no per-device fields (own, labels)."""
    out: list[tuple] = []
    for entry in session.transcript():
        if entry.kind == "prompt":
            out.append(("prompt", entry.cmid, entry.client_id, entry.text))
        else:
            out.append(
                (
                    "turn",
                    entry.run_id,
                    entry.client_id,
                    entry.status,
                    entry.input_codec_message_id,
                    tuple((m.cmid, m.role, m.text) for m in entry.messages),
                    tuple((s.step_id, s.status) for s in entry.steps),
                )
            )
    return out


def grew_by_appending(texts: list[str]) -> bool:
    """Each text extends the one before it: nothing shown was ever duplicated or dropped."""
    return all(later.startswith(earlier) for earlier, later in itertools.pairwise(texts))
