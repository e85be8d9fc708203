"""One widget per prompt and one per turn.

A `TurnItem` owns a header line (who, state) and a body of segments in wire order: answer
text (streamed Markdown), steers where they entered the turn, reasoning and tool calls
(collapsible), and approve / deny buttons for a tool call waiting for approval. It is
handed `TurnView` snapshots and renders the newest one; text that grew by a suffix is
written to a lazily created `MarkdownStream`, anything else is a full update.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Collapsible, Markdown, Static
from textual.widgets.markdown import MarkdownStream

from tui_session.protocol.handover import operator_label
from tui_session.transport.client_model import MessageView, PromptView, TurnView
from tui_session.tui import labels

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def widget_id(prefix: str, key: str) -> str:
    return f"{prefix}-{_UNSAFE.sub('_', key)}"


class EntryItem(Vertical):
    """A transcript entry: a prompt or a turn."""

    entry_key: str = ""

    def show(self, view: Any) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class PromptItem(EntryItem):
    """A user prompt: author and device, text, this device's send status."""

    def __init__(self, view: PromptView, me: str, device: str) -> None:
        super().__init__(id=widget_id("prompt", view.cmid), classes="entry prompt")
        self.entry_key = view.cmid
        self.me, self.device = me, device
        self.view = view

    def compose(self) -> ComposeResult:
        yield Static(classes="entry-header")
        yield Static(classes="prompt-text", markup=False)

    def on_mount(self) -> None:
        self.show(self.view)

    def show(self, view: PromptView) -> None:
        self.view = view
        self.set_class(view.own, "-own")
        self.set_class(not view.own, "-observer")
        parts = [f"[b]{_esc(labels.prompt_author(view, self.device))}[/b]"]
        if view.branch is not None and len(view.branch.siblings) > 1:
            parts.append(f"branch {view.branch.index + 1}/{len(view.branch.siblings)}")
        status = _prompt_status(view)
        if status:
            parts.append(f"[i]{_esc(status)}[/i]")
        if view.parent_not_loaded:
            parts.append("[dim]earlier messages not loaded[/dim]")
        self.query_one(".entry-header", Static).update(" · ".join(parts))
        self.query_one(".prompt-text", Static).update(view.text)


def _prompt_status(view: PromptView) -> str:
    if view.cancel_requested and view.status != "started":
        return "cancel requested"
    if view.status == "handled by operator" and view.handled_by:
        return f"→ {operator_label(view.handled_by)}"
    if view.status in ("sending", "agent not reached", "waiting for agent"):
        hint = " (retry from the command palette)" if view.status != "sending" else ""
        return f"{view.status}{hint}"
    return ""


class AnswerMarkdown(Markdown):
    """An answer's Markdown; `set_text` streams suffixes and replaces anything else."""

    def __init__(self, text: str, **kwargs: Any) -> None:
        super().__init__(text, **kwargs)
        self.text = text
        self._stream: MarkdownStream | None = None

    async def set_text(self, text: str, *, final: bool) -> None:
        if text != self.text:
            if text.startswith(self.text):
                delta = text[len(self.text) :]
                if self._stream is None:
                    self._stream = Markdown.get_stream(self)
                await self._stream.write(delta)
            else:
                await self.finish()
                await self.update(text)
            self.text = text
        if final:
            await self.finish()

    async def finish(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            await stream.stop()


class ApprovalBar(Horizontal):
    """Approve / deny for a tool call waiting for approval (any device may answer)."""

    class Answered(Message):
        def __init__(self, approved: bool) -> None:
            super().__init__()
            self.approved = approved

    def __init__(self, label: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.label = label

    def compose(self) -> ComposeResult:
        yield Static(self.label, classes="approval-label", markup=False)
        yield Button("Approve", variant="success", id="approve", compact=True)
        yield Button("Deny", variant="error", id="deny", compact=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.Answered(event.button.id == "approve"))


class TurnItem(EntryItem):
    """A turn (run): header, segments, end marker."""

    def __init__(self, view: TurnView, me: str) -> None:
        super().__init__(id=widget_id("turn", view.run_id), classes="entry turn")
        self.entry_key = view.run_id
        self.me = me
        self.view = view
        self._latest: TurnView | None = view
        self._queued = False
        self._segments: dict[str, Any] = {}
        self.rendered_text = ""

    def compose(self) -> ComposeResult:
        yield Static(classes="entry-header")
        yield Vertical(classes="turn-body")
        yield Static(classes="turn-marker")

    async def on_mount(self) -> None:
        await self._render_latest()

    def show(self, view: TurnView) -> None:
        """Remember the newest snapshot; render it on this widget's own queue (coalesced)."""
        self._latest = view
        if not self._queued and self.is_mounted:
            self._queued = True
            self.call_later(self._render_latest)

    async def _render_latest(self) -> None:
        self._queued = False
        view, self._latest = self._latest, None
        if view is None:
            return
        self.view = view
        self._render_header(view)
        self._render_marker(view)  # with the header: one frame shows "cancelled" and by whom
        await self._render_body(view)

    def _render_header(self, view: TurnView) -> None:
        for cls, on in (
            ("-own", view.own),
            ("-observer", not view.own),
            ("-streaming", view.status == "active"),
            ("-cancelled", view.status == "cancelled"),
            ("-error", view.status == "error"),
            ("-waiting", view.status == "suspended"),
            ("-stalled", view.stalled),
            ("-operator", bool(view.operator)),
        ):
            self.set_class(on, cls)
        parts = [f"[b]{_esc(labels.turn_title(view))}[/b]", _label(view)]
        if view.branch is not None and len(view.branch.siblings) > 1:
            parts.append(f"branch {view.branch.index + 1}/{len(view.branch.siblings)}")
        if view.parent_not_loaded:
            parts.append("[dim]earlier messages not loaded[/dim]")
        self.query_one(".entry-header", Static).update(" · ".join(parts))

    def _render_marker(self, view: TurnView) -> None:
        marker = self.query_one(".turn-marker", Static)
        text = labels.end_marker(view)
        marker.update(_esc(text))
        marker.display = bool(text)

    async def _render_body(self, view: TurnView) -> None:
        body = self.query_one(".turn-body", Vertical)
        final = view.terminal
        wanted = list(_segments(view))
        keys = {key for key, _, _ in wanted}
        for key in [k for k in self._segments if k not in keys]:
            await self._segments.pop(key).remove()
        answer: list[str] = []
        for key, kind, payload in wanted:
            widget = self._segments.get(key)
            if kind == "text":
                answer.append(payload)
                if widget is None:
                    widget = AnswerMarkdown("" if not final else payload, classes="answer")
                    self._segments[key] = widget
                    await body.mount(widget)
                await widget.set_text(payload, final=final)
            elif kind == "steer":
                if widget is None:
                    widget = Static(classes="steer", markup=False)
                    self._segments[key] = widget
                    await body.mount(widget)
                widget.update(payload)
            elif kind in ("reasoning", "tool"):
                title, text = payload
                if widget is None:
                    widget = Collapsible(
                        Static(text, classes="collapsible-text", markup=False),
                        title=title,
                        collapsed=True,
                        classes=kind,
                    )
                    self._segments[key] = widget
                    await body.mount(widget)
                else:
                    widget.title = title
                    widget.query_one(".collapsible-text", Static).update(text)
            elif kind == "approval":
                if widget is None:
                    widget = ApprovalBar(payload, classes="approval")
                    self._segments[key] = widget
                    await body.mount(widget)
        self.rendered_text = "".join(answer)


def _segments(view: TurnView) -> Iterator[tuple[str, str, Any]]:
    """(key, kind, payload) in wire order."""
    steers = {s.steer_cmid: s for s in view.steers}
    for message in view.messages:
        if message.role == "user":
            steer = steers.get(message.cmid)
            state = steer.state if steer else "pending"
            by = steer.by if steer else None
            yield message.cmid, "steer", labels.steer_line(state, message.text, by)
            continue
        yield from _assistant_segments(message, view)
    for request in view.pending_approvals:
        label = labels.approval_label(view, request)
        yield f"approval-{request.call_id}", "approval", label


def _assistant_segments(message: MessageView, view: TurnView) -> Iterator[tuple[str, str, Any]]:
    states = message.tool_call_states
    decided = labels.decided_by(view)
    outputs = {
        item.get("call_id"): item.get("output")
        for item in message.message.get("items", [])
        if item.get("type") == "function_call_output"
    }
    for index, item in enumerate(message.message.get("items", [])):
        key = f"{message.cmid}-{index}"
        kind = item.get("type")
        if kind == "message":
            text = "".join(
                part.get("text") or part.get("refusal") or "" for part in item.get("content", [])
            )
            yield key, "text", text
        elif kind == "reasoning":
            parts = [*item.get("summary", []), *item.get("content", [])]
            text = "\n".join(p.get("text", "") for p in parts if p.get("text"))
            yield key, "reasoning", ("reasoning", text or "…")
        elif kind == "function_call":
            call_id = item.get("call_id")
            state = (states.get(call_id) or {}).get("approval")
            output = outputs.get(call_id)
            done = output is not None
            title = labels.tool_title(item.get("name", "?"), state, decided.get(call_id), done)
            text = f"arguments: {_pretty(item.get('arguments'))}"
            if output is not None:
                text += f"\noutput: {_pretty(output)}"
            yield key, "tool", (title, text)


def _pretty(value: Any) -> str:
    if isinstance(value, str):
        try:
            return json.dumps(json.loads(value), ensure_ascii=False)
        except ValueError:
            return value
    return json.dumps(value, ensure_ascii=False)


def _label(view: TurnView) -> str:
    label = view.label
    icons = {
        "streaming": "● streaming",
        "complete": "✓ done",
        "cancelled": "⏹ cancelled",
        "error": "⚠ failed",
        "waiting for approval": "⏸ waiting for approval",
        "stalled": "… stalled",
        "cancel requested": "⏹ cancel requested",
    }
    return f"[i]{_esc(icons.get(label, label))}[/i]"


def _esc(text: str) -> str:
    return text.replace("[", r"\[")
