"""Who may decide a suspended run's tool calls (approve or deny): a project extension of the
wire, in the application headers the AI Transport protocol leaves to us (docs/protocol.md,
"Who may approve").

The agent that suspends a run for approval names the deciders on its `ai-run-suspend`, as
`extras.headers.approvers`: a comma-separated list of clientIds (the run's owner first), or
`*` for anyone. A decision (`tool-approval-response`) counts only when its hub-verified
clientId is listed on the newest suspend before it: the tree folds no other (tree.py), so an
unauthorised decision changes nothing for the turn, on any device and for the agent. A suspend
that names nobody (the npm SDK's agent) leaves every participant free to decide, as 0.8.0 does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from .encoder import Publish

APPROVERS_HEADER = "approvers"
ANYONE = "*"

Approvers = tuple[str, ...] | None  # in the agent's order; None: it named nobody, anyone may


def approvers_text(client_ids: Iterable[str]) -> str:
    """The header value: the ids in the order given, each once."""
    return ",".join(dict.fromkeys(c.strip() for c in client_ids if c.strip()))


def with_approvers(suspend: Publish, client_ids: Iterable[str]) -> Publish:
    """An `ai-run-suspend` naming who may decide (the agent's side)."""
    headers = {
        **(suspend.extras.get("headers") or {}),
        APPROVERS_HEADER: approvers_text(client_ids),
    }
    return replace(suspend, extras={**suspend.extras, "headers": headers})


def parse_approvers(value: str | None) -> Approvers:
    if value is None:
        return None
    return tuple(dict.fromkeys(c.strip() for c in value.split(",") if c.strip()))


def may_decide(approvers: Approvers, client_id: str | None) -> bool:
    if approvers is None or ANYONE in approvers:
        return True
    return client_id is not None and client_id in approvers


def deciders_text(approvers: Approvers) -> str:
    """ "ada", "ada or carol", "ada, carol or ops"; "anyone"."""
    if approvers is None or ANYONE in approvers:
        return "anyone"
    names = list(approvers) or ["nobody"]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def not_a_decider(approvers: Approvers) -> str:
    """Why a decision is refused, in words (with ErrorCode.APPROVAL_NOT_ALLOWED)."""
    return (
        f"unable to approve or deny; only {deciders_text(approvers)} (on any of their "
        "devices) may decide this tool call"
    )
