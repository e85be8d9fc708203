"""Presence members of one channel, and the SYNC pages that hand them to an attaching client.

A member is keyed by `connectionId:clientId`. Real presence messages carry the id
`<connectionId>:<msgSerial>:<index>`, from which the SDKs tell which message is newer; a leave the
hub synthesizes (grace period over, connection gone) must not carry that prefix, so the SDKs
compare it by timestamp instead.
"""

from __future__ import annotations

import itertools
from typing import Any

ABSENT, PRESENT, ENTER, LEAVE, UPDATE = 0, 1, 2, 3, 4
SYNC_PAGE_SIZE = 100

_synthetic_ids = itertools.count(1)


class PresenceSet:
    def __init__(self) -> None:
        self.members: dict[str, dict[str, Any]] = {}

    def __bool__(self) -> bool:
        return bool(self.members)

    @staticmethod
    def member_key(msg: dict[str, Any]) -> str:
        return f"{msg['connectionId']}:{msg['clientId']}"

    def apply(self, msg: dict[str, Any]) -> dict[str, Any] | None:
        """Apply a stamped presence message; return what to broadcast (None: nothing changed)."""
        key = self.member_key(msg)
        action = msg["action"]
        if action in (ENTER, UPDATE, PRESENT):
            self.members[key] = {**msg, "action": PRESENT}
            if action == PRESENT:
                msg = {**msg, "action": UPDATE}
            return msg
        if action == LEAVE:
            if key not in self.members:
                return None
            current = self.members.pop(key)
            leave = {**msg}
            if "data" not in leave and current.get("data") is not None:
                leave["data"] = current["data"]
                if current.get("encoding"):
                    leave["encoding"] = current["encoding"]
            return leave
        return None

    def remove_connection(self, connection_id: str, timestamp: int) -> list[dict[str, Any]]:
        """Synthesized leaves for every member of a connection that has gone."""
        leaves = []
        for key in [k for k, m in self.members.items() if m["connectionId"] == connection_id]:
            member = self.members.pop(key)
            leave = {**member, "action": LEAVE, "timestamp": timestamp}
            leave["id"] = f"synthesized-leave-{next(_synthetic_ids)}"
            leaves.append(leave)
        return leaves

    def get(self, client_id: str | None = None, connection_id: str | None = None) -> list[dict]:
        return [
            m
            for m in self.members.values()
            if (client_id is None or m["clientId"] == client_id)
            and (connection_id is None or m["connectionId"] == connection_id)
        ]

    def sync_pages(self, sync_id: str) -> list[tuple[str, list[dict[str, Any]]]]:
        """(channelSerial, members) pages; the last page's cursor is empty, ending the SYNC."""
        members = list(self.members.values())
        pages = [members[i : i + SYNC_PAGE_SIZE] for i in range(0, len(members), SYNC_PAGE_SIZE)]
        out = []
        for index, page in enumerate(pages or [[]]):
            cursor = "" if index == len(pages) - 1 or not pages else str(index + 1)
            out.append((f"{sync_id}:{cursor}", page))
        return out
