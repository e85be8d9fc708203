"""The words the chat screen uses for who did what (issue 11's rules), as pure functions of
the read model: no Textual here, so they are tested alone and shared by every widget.

- Ownership labels say "you": a turn or prompt of my user is mine on any of my devices, and
  shows the device when it is another of mine ("you · laptop").
- Attribution names people, "user · device" ("⏹ cancelled by ada · phone"), the same on every
  device, so a screen read over someone's shoulder (or a screenshot) is unambiguous.
"""

from __future__ import annotations

from collections.abc import Mapping

from tui_session.protocol import BranchSelection, deciders_text
from tui_session.protocol.handover import operator_label
from tui_session.transport.client_events import BranchFollowed
from tui_session.transport.client_model import PendingApproval, PromptView, TurnView, Who


def person(who: Who | None) -> str:
    """ "ada · phone", "ada" (no device named), "someone"."""
    if who is None or not who.client_id:
        return "someone"
    return f"{who.client_id} · {who.device}" if who.device else who.client_id


def prompt_author(view: PromptView, device: str) -> str:
    """A prompt's author: "you · phone" (here), "you · laptop", "alice · phone", "alice"."""
    if view.own:
        return f"you · {view.device or (device if view.this_device else '?')}"
    return person(Who(view.client_id, view.device))


def owner(view: TurnView) -> str:
    """Whose turn: "you", "you · laptop" (another of my devices), "bob"."""
    if view.own:
        return "you" if view.this_device or not view.device else f"you · {view.device}"
    return view.client_id or "someone"


def turn_title(view: TurnView) -> str:
    """ "assistant · your turn", "assistant · your turn · laptop", "assistant · bob's turn";
    an operator's reply is the assistant side too, headed with who wrote it ("dana (operator)
    · your turn", docs/handover.md)."""
    speaker = operator_label(view.operator) if view.operator else "assistant"
    if view.own:
        where = "" if view.this_device or not view.device else f" · {view.device}"
        return f"{speaker} · your turn{where}"
    return f"{speaker} · {view.client_id or 'someone'}'s turn"


def end_marker(view: TurnView) -> str:
    """The line under a turn that ended other than plainly, or is stuck."""
    if view.status == "cancelled":
        text = "⏹ cancelled"
        if view.cancelled_by is not None:
            text += f" by {person(view.cancelled_by)}"
        if view.interrupted:
            text += " · answer interrupted"
        return text
    if view.status == "error":
        reason = view.error_message or "the agent reported an error"
        code = f" ({view.error_code})" if view.error_code else ""
        return f"⚠ failed: {reason}{code}"
    if view.label == "completed (cancel not applied)":
        return "✓ completed (cancel not applied)"
    if view.stalled:
        return "… stalled: no activity from the agent"
    return ""


def steer_line(state: str, text: str, by: Who | None) -> str:
    """ "↪ steer by ada · laptop (consumed): shorter please"."""
    return f"↪ steer by {person(by)} ({state}): {text}"


def tool_title(name: str, approval: str | None, decided_by: Who | None, done: bool) -> str:
    """ "tool delete_files · approved by ada · phone · done"."""
    title = f"tool {name}"
    if approval:
        title += f" · {approval}"
        if decided_by is not None and approval in ("approved", "denied"):
            title += f" by {person(decided_by)}"
    return title + (" · done" if done else "")


def decided_by(view: TurnView) -> Mapping[str, Who]:
    """Who decided each tool call (the decision that counts)."""
    return {d.call_id: d.by for d in view.decisions}


def approval_label(view: TurnView, request: PendingApproval) -> str:
    """ "⏸ delete_files({...}) needs approval", and who may decide when it is not this user."""
    label = f"⏸ {request.name or 'tool'}({request.arguments or ''}) needs approval"
    if not view.can_decide:
        label += f" · only {deciders_text(view.deciders)} may decide"
    return label


def not_yours_to_decide(view: TurnView, request: PendingApproval) -> str:
    """What a device that may not decide is told when it tries."""
    return (
        f"You may not approve or deny {request.name or 'this tool call'}: only "
        f"{deciders_text(view.deciders)} (on any of their devices) may decide it. "
        "Nothing was changed."
    )


def cancel_not_applied(view: TurnView) -> str:
    """A cancel this device asked for that the agent did not apply."""
    ended = {"complete": "completed", "error": "failed"}.get(view.status, view.status)
    if view.own:
        return f"Cancel not applied: your turn {ended} before the cancel reached the agent."
    return (
        f"Cancel not applied: {view.client_id or 'someone'}'s turn {ended} (the agent lets "
        "only a turn's owner or an operator cancel it)."
    )


def followed(event: BranchFollowed) -> str:
    """ "ada · laptop edited: now on branch 2/2"."""
    return f"{person(event.by)} {event.kind}: now on branch {event.index + 1}/{event.count}"


def browsing(selection: BranchSelection) -> str:
    """While this device shows an older branch on purpose."""
    count = len(selection.siblings)
    return f"viewing branch {selection.index + 1}/{count} · F4 next · a prompt goes on this branch"


def active_label(turn: TurnView | None, client_id: str, me: str) -> str:
    """A name in the active-turns strip: "you", "you · laptop", "bob" (a pending prompt of
    this device has no turn yet: "you")."""
    if turn is not None:
        return owner(turn)
    return "you" if client_id == me else client_id
