"""A terminal in a child process, for the SIGSTOP test: a `ClientSession` that answers commands
on stdin with one JSON line on stdout.

    python -m tests.faults.suspended_client HOST PORT KEY CHANNEL CLIENT_ID [SUSPEND_AFTER_MS]

Prints {"ready": connectionId} once connected; then "dump" prints the transcript, every turn,
the connection id and the connection events seen; "quit" closes and exits.

SUSPEND_AFTER_MS: ably-python 3.1.4 moves to SUSPENDED after its built-in 120 s
(Defaults.connection_state_ttl), not after the connectionStateTtl the hub advertises; this sets
that built-in to the hub's value, so a short test sees what a real terminal sees after 2 min.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from ably.transport.defaults import Defaults

from tui_session.transport.client import ClientSession
from tui_session.transport.client_events import ConnectionChanged
from tui_session.transport.client_model import PromptView, TurnView
from tui_session.transport.connect import hub_realtime


def entry(item: PromptView | TurnView) -> dict[str, Any]:
    text = "".join(m.text for m in item.messages)
    if isinstance(item, TurnView):
        return {"turn": item.run_id, "status": item.status, "text": text}
    return {"prompt": item.cmid, "text": text}


def snapshot(session: ClientSession, states: list[str]) -> dict[str, Any]:
    return {
        "connectionId": session.realtime.connection.connection_manager.connection_id,
        "transcript": [entry(item) for item in session.transcript()],
        "turns": sorted(
            (t.run_id, t.status, "".join(m.text for m in t.messages)) for t in session.all_turns()
        ),
        "active": session.active_turns(),
        "states": states,
    }


async def main(host: str, port: int, key: str, channel: str, client_id: str) -> None:
    realtime = hub_realtime(
        host,
        port,
        key,
        client_id,
        disconnected_retry_timeout=200,
        suspended_retry_timeout=500,
        realtime_request_timeout=3_000,
    )
    states: list[str] = []

    def on_event(event: Any) -> None:
        if isinstance(event, ConnectionChanged):
            states.append(event.state)

    session = await ClientSession.connect(
        realtime, channel, agent_url=None, device="suspended", listener=on_event
    )
    print(json.dumps({"ready": realtime.connection.connection_manager.connection_id}), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().strip():
        if line == "dump":
            print(json.dumps(snapshot(session, states)), flush=True)
        elif line == "quit":
            break
    await session.close()
    await asyncio.wait_for(realtime.close(), 5)


if __name__ == "__main__":
    host, port, key, channel, client_id = sys.argv[1:6]
    if len(sys.argv) > 6:
        Defaults.connection_state_ttl = int(sys.argv[6])
    asyncio.run(main(host, int(port), key, channel, client_id))
