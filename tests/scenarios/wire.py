"""Reading a session's channel log (`tui-session export --format jsonl`) to check a claim on
the wire itself, independently of the client code: which conversation a prompt continues."""

from __future__ import annotations

from typing import Any

INPUT, RUN_START, OUTPUT = "ai-input", "ai-run-start", "ai-output"


def prompt_ids(log: list[dict[str, Any]], text: str) -> list[str]:
    """The codec message ids of the prompts with exactly this text."""
    return [
        m["headers"]["codec-message-id"]
        for m in log
        if m["name"] == INPUT and m["data"] == text and "codec-message-id" in m["headers"]
    ]


def ancestry(log: list[dict[str, Any]], message_id: str) -> list[str]:
    """The texts of the prompts a message continues, newest first: follow `parent` from a
    prompt, and from an answer back to the prompt of its run."""
    inputs = {m["headers"].get("codec-message-id"): m for m in log if m["name"] == INPUT}
    run_inputs = {
        m["headers"].get("run-id"): m["headers"].get("input-codec-message-id")
        for m in log
        if m["name"] == RUN_START
    }
    output_runs = {
        m["headers"].get("codec-message-id"): m["headers"].get("run-id")
        for m in log
        if m["name"] == OUTPUT
    }
    texts: list[str] = []
    seen: set[str] = set()
    current: str | None = message_id
    while current and current not in seen:
        seen.add(current)
        if current in inputs:
            if current != message_id and inputs[current]["data"]:  # (a regenerate: no text)
                texts.append(inputs[current]["data"])
            current = inputs[current]["headers"].get("parent")
        elif current in output_runs:
            current = run_inputs.get(output_runs[current])
        else:
            break
    return texts
