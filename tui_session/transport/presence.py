"""Presence on a session channel: who is here, on which device, in which role (§4.8).

Schema (the project's own; web apps on the npm SDK ignore presence):
- clients: `{"kind": "client", "user": <clientId>, "device": ..., "role": "user" | "operator"}`
- agents: `{"kind": "agent", "status": ..., ...}`

Presence is a hint, never a substitute for lifecycle: a run is active until its
`ai-run-end`; an agent that left presence only labels its runs "stalled" (§7.14).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Member:
    client_id: str
    connection_id: str | None
    kind: str  # "client", "agent", or "" for members without our schema
    device: str | None = None
    role: str | None = None
    status: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


def client_presence_data(client_id: str, device: str, role: str) -> dict[str, str]:
    return {"kind": "client", "user": client_id, "device": device, "role": role}


def member_from(message: Any) -> Member:
    """A `Member` from an ably `PresenceMessage` (data may be any JSON value, or none)."""
    data = message.data if isinstance(message.data, Mapping) else {}
    return Member(
        client_id=message.client_id or "",
        connection_id=message.connection_id,
        kind=str(data.get("kind", "")),
        device=data.get("device"),
        role=data.get("role"),
        status=data.get("status"),
        data=dict(data),
    )


class PresenceTracker:
    """Keeps the member list of one channel and reports changes."""

    def __init__(self, channel: Any, on_change: Callable[[tuple[Member, ...]], None]) -> None:
        self._channel = channel
        self._on_change = on_change
        self._members: tuple[Member, ...] = ()
        self.agents_seen: set[str] = set()  # clientIds ever present as kind "agent"

    @property
    def members(self) -> tuple[Member, ...]:
        return self._members

    def agent_present(self, client_id: str) -> bool:
        return any(m.client_id == client_id and m.kind == "agent" for m in self._members)

    async def start(self, data: Mapping[str, Any]) -> None:
        await self._channel.presence.subscribe(self._on_presence)
        await self._channel.presence.enter(dict(data))
        await self._channel.presence.get()
        self.refresh()

    async def stop(self) -> None:
        self.unsubscribe()
        await self._channel.presence.leave()

    def unsubscribe(self) -> None:
        """Stop following the member list (without leaving: see `stop`)."""
        self._channel.presence.unsubscribe(self._on_presence)

    def _on_presence(self, _message: Any) -> None:
        self.refresh()

    def refresh(self) -> None:
        members = tuple(
            sorted(
                (member_from(m) for m in self._channel.presence.members.list()),
                key=lambda m: (m.kind, m.client_id, m.device or "", m.connection_id or ""),
            )
        )
        self.agents_seen |= {m.client_id for m in members if m.kind == "agent"}
        if members != self._members:
            self._members = members
            self._on_change(members)
