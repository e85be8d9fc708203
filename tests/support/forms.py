"""The normal forms our views and the npm SDK's views are compared in: a full form (canonical
JSON of every message, runs with steps and error codes, branch positions, the transcript as
every device must see it) and a summary form (roles, item texts, approvals) for the npm
client's records."""

from __future__ import annotations

import itertools
import json
from typing import Any

from tui_session.transport.client import ClientSession


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


# --- the summary form ---------------------------------------------------------------------------


def _item_summary(item: dict[str, Any]) -> tuple:
    kind = item.get("type")
    if kind == "message":
        parts = item.get("content") or []
        return ("message", item.get("role"), "".join(p.get("text") or "" for p in parts))
    if kind == "function_call":
        return (kind, item.get("call_id"), item.get("name"), item.get("arguments"))
    if kind == "function_call_output":
        return (kind, item.get("call_id"), item.get("output"))
    return (kind, item.get("id"))


def summary(cmid: str, message: dict[str, Any]) -> tuple:
    """A message as (cmid, role, item summaries, approval of each tool call)."""
    states = {k: v.get("approval") for k, v in (message.get("toolCallStates") or {}).items()}
    return (cmid, message["role"], [_item_summary(i) for i in message["items"]], states)


def npm_message_summaries(record: dict[str, Any]) -> list[tuple]:
    return [summary(m["codecMessageId"], m["message"]) for m in record["messages"]]


def npm_run_summaries(record: dict[str, Any]) -> list[tuple]:
    return [
        (r["runId"], r["clientId"], r["status"], [(s["stepId"], s["status"]) for s in r["steps"]])
        for r in record["runs"]
    ]
