"""ClientSession for tests: sessions opened on a hub with a recorder that waits on their events,
closed by each test's cleanup."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from tests.support.hub import WAIT_S, HubEndpoint
from tui_session.transport.client import ClientSession
from tui_session.transport.client_events import ClientEvent, WireMessage


class Recorder:
    """Records a session's events; `until()` waits for a condition re-checked on each event."""

    def __init__(self, session: ClientSession | None = None) -> None:
        self.items: list[ClientEvent] = []
        self._changed = asyncio.Event()
        if session is not None:
            session.listen(self.add)

    def add(self, event: ClientEvent) -> None:
        self.items.append(event)
        self._changed.set()

    async def until(
        self, predicate: Callable[[], Any], timeout: float = WAIT_S, what: str = ""
    ) -> Any:
        async def wait() -> Any:
            while not (result := predicate()):
                self._changed.clear()
                await self._changed.wait()
            return result

        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what or predicate}") from None

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.items if isinstance(e, kind)]

    def wire(self, name: str | None = None, source: str = "live") -> list[WireMessage]:
        return [
            e
            for e in self.of(WireMessage)
            if (name is None or e.name == name) and e.source == source
        ]


OPENED: list[ClientSession] = []  # closed by the `cleanup_sessions` fixture of each test


async def open_session(
    hub: HubEndpoint,
    client_id: str,
    channel: str,
    *,
    device: str = "laptop",
    agent_url: str | None = None,
    **options: Any,
) -> tuple[ClientSession, Recorder]:
    """A ClientSession on a fresh realtime client; its recorder sees events from the start."""
    recorder = Recorder()
    session = await ClientSession.connect(
        hub.realtime(client_id),
        channel,
        agent_url=agent_url,
        device=device,
        listener=recorder.add,
        **options,
    )
    OPENED.append(session)
    return session, recorder


async def close_opened() -> None:
    while OPENED:
        await OPENED.pop().close()
