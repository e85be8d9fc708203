"""Token revocation, as Ably's `POST /keys/{keyName}/revokeTokens` defines it.

A revocation names targets (`clientId:<id>`, `revocationKey:<key>`, `channel:<resource>`) and
invalidates the tokens a key issued for them before `issuedBefore` (default: now), from
`appliesAt` (now, or 30 s later with `allowReauthMargin`). A `channel:` target matches tokens
whose capability names exactly that resource string, as on Ably. The list is persisted in
`<data_dir>/revocations.json` (0600) so it survives a restart; a token it matches is refused
with 40141 on its next connect or request.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui_session.credentials.errors import AuthError
from tui_session.credentials.files import write_private_json

FILE = "revocations.json"
MAX_TARGETS = 100
REAUTH_MARGIN_MS = 30_000
ISSUED_BEFORE_WINDOW_MS = 60 * 60 * 1000  # Ably refuses an issuedBefore over an hour old
TARGET_TYPES = ("clientId", "revocationKey", "channel")


@dataclass(frozen=True)
class TokenFacts:
    """What revocation targets are matched against."""

    key_name: str
    client_id: str | None
    revocation_key: str | None
    resources: frozenset[str]  # the resource strings of its capability
    issued_ms: int


@dataclass(frozen=True)
class Entry:
    key_name: str
    target: str  # "type:value"
    issued_before: int
    applies_at: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "keyName": self.key_name,
            "target": self.target,
            "issuedBefore": self.issued_before,
            "appliesAt": self.applies_at,
        }


def parse_target(target: Any) -> tuple[str, str]:
    """ "clientId:bob" -> ("clientId", "bob"); raises ValueError with the reason."""
    if not isinstance(target, str):
        raise ValueError("a target is a string 'type:value'")
    kind, sep, value = target.partition(":")
    if not sep or not value:
        raise ValueError(f"target {target!r} is not 'type:value'")
    if kind not in TARGET_TYPES:
        raise ValueError(f"unknown target type {kind!r}; use one of {', '.join(TARGET_TYPES)}")
    return kind, value


class Revocations:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._by_target: dict[tuple[str, str], list[Entry]] = {}
        if self.path.exists():
            self._load()

    # ---- the REST request -------------------------------------------------------------------

    def revoke(self, key_name: str, body: Mapping[str, Any], now: int) -> dict[str, Any]:
        """Apply a revokeTokens body; answer Ably's BatchResult (one result per target)."""
        targets = body.get("targets")
        if not isinstance(targets, list) or not targets:
            raise AuthError(40000, 400, "revokeTokens needs 'targets', a non-empty list")
        if len(targets) > MAX_TARGETS:
            raise AuthError(40000, 400, f"at most {MAX_TARGETS} targets in one request")
        issued_before = body.get("issuedBefore", now)
        if isinstance(issued_before, bool) or not isinstance(issued_before, int):
            raise AuthError(40003, 400, "issuedBefore must be a timestamp in milliseconds")
        if issued_before > now:
            raise AuthError(40003, 400, "issuedBefore may not be in the future")
        if issued_before < now - ISSUED_BEFORE_WINDOW_MS:
            raise AuthError(40003, 400, "issuedBefore may not be more than an hour in the past")
        margin = body.get("allowReauthMargin", False)
        if not isinstance(margin, bool):
            raise AuthError(40003, 400, "allowReauthMargin must be a boolean")
        applies_at = now + REAUTH_MARGIN_MS if margin else now
        results: list[dict[str, Any]] = []
        for target in targets:
            try:
                parse_target(target)
            except ValueError as err:
                error = AuthError(40000, 400, str(err)).to_dict()
                results.append({"target": str(target), "error": error})
                continue
            self._add(Entry(key_name, target, issued_before, applies_at))
            results.append(
                {"target": target, "issuedBefore": issued_before, "appliesAt": applies_at}
            )
        self._save()
        failures = sum(1 for r in results if "error" in r)
        return {
            "successCount": len(results) - failures,
            "failureCount": failures,
            "results": results,
        }

    # ---- checks -----------------------------------------------------------------------------

    def revoked(self, facts: TokenFacts, now: int) -> bool:
        for target in self._targets_of(facts):
            for entry in self._by_target.get((facts.key_name, target), ()):
                if facts.issued_ms < entry.issued_before and now >= entry.applies_at:
                    return True
        return False

    def check(self, facts: TokenFacts, now: int) -> None:
        if self.revoked(facts, now):
            raise AuthError(40141, 401, "Token revoked")

    def pending_times(self, now: int) -> list[int]:
        """appliesAt times still ahead (revocations given a re-auth margin)."""
        return sorted(
            {e.applies_at for es in self._by_target.values() for e in es if e.applies_at > now}
        )

    @staticmethod
    def _targets_of(facts: TokenFacts) -> Iterable[str]:
        if facts.client_id:
            yield f"clientId:{facts.client_id}"
        if facts.revocation_key:
            yield f"revocationKey:{facts.revocation_key}"
        for resource in facts.resources:
            yield f"channel:{resource}"

    # ---- persistence ------------------------------------------------------------------------

    def _add(self, entry: Entry) -> None:
        kept = self._by_target.setdefault((entry.key_name, entry.target), [])
        # An entry that revokes no more tokens, and no sooner, than another is dropped.
        if any(
            e.issued_before >= entry.issued_before and e.applies_at <= entry.applies_at
            for e in kept
        ):
            return
        kept[:] = [
            e
            for e in kept
            if not (entry.issued_before >= e.issued_before and entry.applies_at <= e.applies_at)
        ]
        kept.append(entry)

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            for item in data["revocations"]:
                self._add(
                    Entry(
                        str(item["keyName"]),
                        str(item["target"]),
                        int(item["issuedBefore"]),
                        int(item["appliesAt"]),
                    )
                )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # Never start with an empty list silently: revoked tokens would work again.
            raise RuntimeError(f"cannot load token revocations from {self.path}: {exc}") from exc

    def _save(self) -> None:
        entries = [e.to_dict() for es in self._by_target.values() for e in es]
        write_private_json(self.path, {"version": 1, "revocations": entries})
