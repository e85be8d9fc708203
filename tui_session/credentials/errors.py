"""The one error type of the credentials layer: an Ably error (code, HTTP status, message).

The hub turns it into an ERROR frame or a REST error body; the agent service into its JSON error
body; the terminal into one sentence. Codes follow Ably's registry (docs/hub.md, docs/agent.md).
"""

from __future__ import annotations

from typing import Any


class AuthError(Exception):
    """An Ably error: code, HTTP status and message (see the module doc)."""

    def __init__(self, code: int, status: int, message: str) -> None:
        super().__init__(f"{code} {status} {message}")
        self.code = code
        self.status = status
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "statusCode": self.status,
            "message": self.message,
            "href": f"https://help.ably.io/error/{self.code}",
        }
