"""The pushes the agent offers (docs/handover.md, "Notifications away from every terminal"):
what each says. Whether one is sent (nobody present, at most once) is `notifier.py`'s."""

from __future__ import annotations

from tui_session import sessions
from tui_session.agent.notifier import Push
from tui_session.protocol.handover import Escalation, asker_label


def _session(channel: str) -> str:
    return sessions.display_name(channel)


def ended(user: str, channel: str, run_id: str, outcome: str, error: str | None = None) -> Push:
    session = _session(channel)
    message = {
        "complete": f"Your turn in {session} is complete.",
        "cancelled": f"Your turn in {session} was cancelled.",
    }.get(outcome, f"Your turn in {session} ended with an error: {error or 'unknown error'}")
    return Push(
        user=user,
        session=session,
        channel=channel,
        run_id=run_id,
        state="ended",
        title=f"{session}: your turn ended",
        message=message,
        outcome=outcome,
    )


def approval(user: str, channel: str, run_id: str, tool: str) -> Push:
    session = _session(channel)
    return Push(
        user=user,
        session=session,
        channel=channel,
        run_id=run_id,
        state="approval",
        title=f"{session}: approve {tool}?",
        message=f"Your turn in {session} waits for your approval of {tool}.",
    )


def escalation(operator: str, channel: str, escalation: Escalation) -> Push:
    session = _session(channel)
    return Push(
        user=operator,
        session=session,
        channel=channel,
        run_id=escalation.run_id,
        state="escalation",
        title=f"{session}: {asker_label(escalation)} asked for a human",
        message=f"{escalation.user} in {session}: {escalation.reason}",
    )
