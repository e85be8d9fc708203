"""The unmodified ably-js SDK (npm `ably` 2.28.0) against the hub: tests/node/ablyjs_hub.mjs.

Each check of the node script runs as its own test against a fresh in-process hub. The script is
awaited as an asyncio subprocess, because the hub it talks to runs in this same event loop.
"""

from __future__ import annotations

import asyncio
import json
import os
from contextlib import suppress
from typing import Any

import pytest

from tests.support.hub import HubEndpoint
from tests.support.npm import NODE_DIR, node_or_skip

SCRIPT = NODE_DIR / "ablyjs_hub.mjs"
PROCESS_TIMEOUT_S = 40.0  # the script has its own 20 s global timeout; this only backs it up

CHECKS = [
    "connect",  # (a) basic auth with a clientId reaches 'connected'; ping
    "publish_subscribe",  # (b) attach, subscribe, publish, receive with the publish serial
    "format_msgpack",  # (c) string, JSON and binary data, msgpack to msgpack
    "format_json",  # (c) the same, JSON to JSON
    "format_msgpack_to_json",  # (c) across formats
    "format_json_to_msgpack",
    "append",  # (d) appendMessage: live fragments; late joiner's first contact is an update
    "append_json",  # (d) the same over JSON
    "get_message",  # (f) getMessage / history return the accumulated text (realtime and REST)
    "history_until_attach",  # (e) history({untilAttach}) + live: no overlap, no gap (also racing)
    "presence",  # (g) enter, get, update, SYNC for a late joiner, leave, leave on close
    "token_auth",  # (h) TokenRequest signed by ably-js through authCallback; requestToken
    "resume",  # abrupt socket drop: same connectionId, RESUMED, missed messages replayed once
]


async def run_script(node: str, *args: str) -> tuple[int, list[dict[str, Any]], str, str]:
    proc = await asyncio.create_subprocess_exec(
        node,
        str(SCRIPT),
        *args,
        cwd=NODE_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "NODE_NO_WARNINGS": "1"},
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), PROCESS_TIMEOUT_S)
    except TimeoutError:
        with suppress(ProcessLookupError):
            proc.kill()
        out, err = await proc.communicate()
        raise AssertionError(
            f"node script did not exit within {PROCESS_TIMEOUT_S} s\n"
            f"stdout:\n{out.decode(errors='replace')}\nstderr:\n{err.decode(errors='replace')}"
        ) from None
    stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
    records = []
    for line in stdout.splitlines():
        with suppress(json.JSONDecodeError):
            records.append(json.loads(line))
    assert proc.returncode is not None
    return proc.returncode, records, stdout, stderr


async def test_script_lists_every_check() -> None:
    """A check added to the script must be added to CHECKS here, or it would never run."""
    node = node_or_skip("ably")
    code, records, stdout, stderr = await run_script(node, "--list")
    assert code == 0, f"--list failed:\n{stdout}\n{stderr}"
    assert records and records[0].get("checks") == CHECKS, f"script checks: {records}"


@pytest.mark.parametrize("check", CHECKS)
async def test_ablyjs_against_hub(hub: HubEndpoint, check: str) -> None:
    node = node_or_skip("ably")
    code, records, stdout, stderr = await run_script(
        node, "--host", hub.host, "--port", str(hub.port), "--key", hub.key, "--only", check
    )
    results = [r for r in records if r.get("check") == check]
    context = f"exit code {code}\nstdout:\n{stdout}\nstderr (tail):\n{stderr[-3000:]}"
    assert results, f"ably-js check {check!r} printed no result\n{context}"
    failed = [r for r in results if not r.get("ok")]
    assert not failed, f"ably-js check {check!r} failed: {failed[0].get('error')}\n{context}"
    assert code == 0, f"ably-js check {check!r} passed but the script exited {code}\n{context}"
