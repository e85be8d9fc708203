"""Ably capabilities: resource patterns -> operations, matching and intersection.

Shared by the hub (what a connection may do), the agent service (whether a caller's token may
act on a session) and the token issuers (what an invite or a terminal token grants).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from tui_session.credentials.errors import AuthError

# Operations Ably documents; anything else is rejected like Ably does (40000), so typos surface.
KNOWN_OPERATIONS = frozenset(
    {
        "publish",
        "subscribe",
        "presence",
        "history",
        "stats",
        "channel-metadata",
        "push-subscribe",
        "push-admin",
        "privileged-headers",
        "object-subscribe",
        "object-publish",
        "annotation-publish",
        "annotation-subscribe",
        "message-update-own",
        "message-update-any",
        "message-delete-own",
        "message-delete-any",
    }
)
ALL_OPS = "*"
ANSWERS_KEPT = 4096  # remembered capability answers per capability


def _invalid_capability(why: str) -> AuthError:
    return AuthError(40000, 400, f"invalid capability: {why}")


# --- capability resource patterns -------------------------------------------------------------


def _split_qualifier(resource: str) -> tuple[str | None, str]:
    """Split "[qualifier]name" into (qualifier, name); "[?params]" is not part of identity."""
    if resource.startswith("["):
        end = resource.find("]")
        if end > 0:
            qualifier = resource[1:end].split("?", 1)[0]
            return (qualifier or None), resource[end + 1 :]
    return None, resource


def _segments_match(pattern: list[str], name: list[str]) -> bool:
    """A "*" segment matches one whole segment; a trailing "*" matches one or more."""
    if pattern[-1] == "*":
        fixed = pattern[:-1]
        if len(name) < len(pattern):
            return False
    else:
        fixed = pattern
        if len(name) != len(pattern):
            return False
    return all(p == "*" or p == n for p, n in zip(fixed, name, strict=False))


def _pattern_matches(pattern: str, channel: str) -> bool:
    p_qual, p_name = _split_qualifier(pattern)
    c_qual, c_name = _split_qualifier(channel)
    if p_qual != "*" and p_qual != c_qual:
        return False
    return _segments_match(p_name.split(":"), c_name.split(":"))


def _pattern_covers(wide: str, narrow: str) -> bool:
    """True if every channel matched by ``narrow`` is also matched by ``wide``.

    Treating ``narrow``'s "*" segments as literals and matching them against ``wide`` is exact
    here: a literal "*" in ``narrow`` is only accepted where ``wide`` also has "*", and a trailing
    "*" in ``narrow`` (unbounded) is only accepted under a trailing "*" in ``wide``.
    """
    w_qual, w_name = _split_qualifier(wide)
    n_qual, n_name = _split_qualifier(narrow)
    if w_qual != "*" and w_qual != n_qual:
        return False
    return _segments_match(w_name.split(":"), n_name.split(":"))


def _intersect_ops(a: frozenset[str], b: frozenset[str]) -> frozenset[str]:
    if ALL_OPS in a:
        return b
    if ALL_OPS in b:
        return a
    return a & b


@dataclass(frozen=True)
class Capability:
    """Resource pattern -> granted operations. "*" as the only op grants every operation."""

    rules: Mapping[str, frozenset[str]]

    def __post_init__(self) -> None:
        # Drop empty grants and freeze, so equality and emptiness are structural.
        frozen = {res: frozenset(ops) for res, ops in self.rules.items() if ops}
        object.__setattr__(self, "rules", MappingProxyType(frozen))
        # Checked on every publish and append: remember answers (bounded) instead of matching
        # the patterns again each time.
        object.__setattr__(self, "_answers", {})

    def __hash__(self) -> int:
        return hash(self.to_json())

    @classmethod
    def parse(cls, text_or_dict: str | Mapping[str, Any] | None) -> Capability:
        if text_or_dict is None:
            return cls({"*": frozenset({ALL_OPS})})
        data: Any = text_or_dict
        if isinstance(text_or_dict, str):
            try:
                data = json.loads(text_or_dict)
            except json.JSONDecodeError:
                raise _invalid_capability("not valid JSON") from None
        if not isinstance(data, Mapping):
            raise _invalid_capability("must be a JSON object")
        rules: dict[str, frozenset[str]] = {}
        for resource, ops in data.items():
            if not isinstance(resource, str) or not resource:
                raise _invalid_capability("resource names must be non-empty strings")
            if isinstance(ops, str):
                ops = [ops]
            if not isinstance(ops, list | tuple | set | frozenset) or not ops:
                raise _invalid_capability(f"no operations for {resource!r}")
            opset = frozenset(ops)
            for op in opset:
                if not isinstance(op, str) or (op != ALL_OPS and op not in KNOWN_OPERATIONS):
                    raise _invalid_capability(f"unknown operation {op!r}")
            if ALL_OPS in opset and len(opset) > 1:
                raise _invalid_capability(f"'*' combined with other operations on {resource!r}")
            rules[resource] = opset
        return cls(rules)

    def to_dict(self) -> dict[str, list[str]]:
        return {res: sorted(ops) for res, ops in sorted(self.rules.items())}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def allows(self, channel: str, op: str) -> bool:
        answers: dict[tuple[str, str], bool] = self._answers  # type: ignore[attr-defined]
        answer = answers.get((channel, op))
        if answer is None:
            answer = any(
                (ALL_OPS in ops or op in ops) and _pattern_matches(res, channel)
                for res, ops in self.rules.items()
            )
            if len(answers) < ANSWERS_KEPT:
                answers[(channel, op)] = answer
        return answer

    def intersect(self, other: Capability) -> Capability:
        """Ably intersection: where one resource covers the other, keep the narrower one with
        the common operations; results for the same resource are unioned."""
        out: dict[str, frozenset[str]] = {}

        def add(resource: str, ops: frozenset[str]) -> None:
            if not ops:
                return
            merged = out.get(resource, frozenset()) | ops
            out[resource] = frozenset({ALL_OPS}) if ALL_OPS in merged else merged

        for res_a, ops_a in self.rules.items():
            for res_b, ops_b in other.rules.items():
                ops = _intersect_ops(ops_a, ops_b)
                if _pattern_covers(res_a, res_b):
                    add(res_b, ops)
                elif _pattern_covers(res_b, res_a):
                    add(res_a, ops)
        return Capability(out)

    def is_empty(self) -> bool:
        return not self.rules


ROOT_CAPABILITY = Capability.parse(None)
