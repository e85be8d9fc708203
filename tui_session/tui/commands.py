"""Command palette commands: approve or deny the pending tool call, cancel one chosen turn,
copy a message, show the join command, switch session, retry a prompt whose agent was not
reached, ask for a human, take over or hand back (docs/handover.md)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tui_session.transport.client_model import PromptView, TurnView
from tui_session.tui import labels

if TYPE_CHECKING:
    from tui_session.tui.screens.chat import ChatScreen


def _snippet(text: str, width: int = 50) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


class SessionCommands(Provider):
    def _chat(self) -> ChatScreen | None:
        from tui_session.tui.screens.chat import ChatScreen

        for screen in reversed(self.app.screen_stack):
            if isinstance(screen, ChatScreen):
                return screen
        return None

    def _commands(self) -> list[tuple[str, Callable[[], Any], str]]:
        chat = self._chat()
        if chat is None:
            return []
        out: list[tuple[str, Callable[[], Any], str]] = [
            ("Show the join command", chat.show_join_command, "How another terminal joins"),
            ("Switch session…", chat.ask_switch_session, "Open another session by id"),
            ("Toggle the wire pane", chat.action_toggle_wire, "Raw channel events"),
        ]
        controller = chat.controller
        if controller is None:
            return out
        pending = controller.pending_approval()
        if pending is not None:  # listed for everyone; one who may not decide is told why
            view, request = pending
            name = request.name or "the tool call"
            who = "yours to decide" if view.can_decide else labels.approval_label(view, request)
            out.append((f"Approve {name}", chat.action_approve, who))
            out.append((f"Deny {name}", chat.action_deny, who))
        out += self._handover_commands(chat)
        for view in controller.cancellable_turns():
            owner = "your" if view.own else f"{view.client_id}'s"
            title = f"Cancel turn: {owner} · {_snippet(view.text) or view.label}"
            out.append((title, partial(chat.cancel_turn, view.run_id), "Cancel this one turn"))
        for entry in controller.session.transcript():
            if isinstance(entry, PromptView):
                who = "your prompt" if entry.own else f"{entry.client_id}'s prompt"
                text = entry.text
                if entry.own and entry.status in ("agent not reached", "waiting for agent"):
                    out.append(
                        (
                            f"Retry: {_snippet(text)}",
                            partial(chat.retry, entry.cmid),
                            "Wake the agent again for this prompt",
                        )
                    )
            else:
                assert isinstance(entry, TurnView)
                who, text = "answer", entry.text
            if text:
                out.append(
                    (
                        f"Copy {who}: {_snippet(text)}",
                        partial(chat.copy_text, text),
                        "Copy to the clipboard (OSC 52)",
                    )
                )
        return out

    def _handover_commands(self, chat: ChatScreen) -> list[tuple[str, Callable[[], Any], str]]:
        out: list[tuple[str, Callable[[], Any], str]] = []
        handover = chat.handover
        if handover is None:
            return out
        if chat.check_action("ask_human", ()):
            out.append(
                ("Ask for a human", chat.action_ask_human, "An operator answers or steps in")
            )
        if chat.check_action("take_over", ()):
            out.append(("Take over", chat.action_take_over, "The agent stops answering; you do"))
        holder = handover.in_control()
        if handover.acts_as_operator and holder is not None:
            title = "Hand back to the agent" + (
                "" if holder == handover.me else f" (from {holder})"
            )
            out.append((title, chat.action_hand_back, "The agent answers again"))
        return out

    async def discover(self) -> Hits:
        for title, callback, help_text in self._commands()[:12]:
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, callback, help_text in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
