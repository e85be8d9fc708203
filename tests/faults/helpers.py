"""Shared pieces of the fault tests: a model backend that records what it produced, and the
comparison of a client's view with it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from tui_session.agent.models.demo import last_user_text
from tui_session.transport.client_model import TurnView

TERMINAL = ("complete", "cancelled", "error")


class RecordingBackend:
    """Wraps the agent's model backend: keeps the text of every answer, by the prompt it
    answered, exactly as the model streamed it (the ground truth the clients must equal)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.is_demo = inner.is_demo
        self.produced: dict[str, list[str]] = {}

    async def stream(
        self, context: list[dict[str, Any]], *, tools: Any = None
    ) -> AsyncIterator[dict[str, Any]]:
        prompt = last_user_text(context)
        pieces: list[str] = []
        async for event in self.inner.stream(context, tools=tools):
            if event.get("type") == "response.output_text.delta":
                pieces.append(event["delta"])
            yield event
        self.produced.setdefault(prompt, []).append("".join(pieces))

    async def aclose(self) -> None:
        await self.inner.aclose()


def turn_text(turn: TurnView) -> str:
    return "".join(m.text for m in turn.messages if m.role == "assistant")


def prompt_text(session: Any, turn: TurnView) -> str:
    prompt = session.prompt(turn.input_codec_message_id)
    return "".join(m.text for m in prompt.messages) if prompt is not None else ""


def divergence(session: Any, produced: dict[str, list[str]], expected_runs: int) -> list[str]:
    """Every way this client's view differs from what the agent produced (empty: equal)."""
    problems = []
    turns = session.all_turns()
    if len(turns) != expected_runs:
        problems.append(f"{session.client_id}: {len(turns)} turns, expected {expected_runs}")
    for turn in turns:
        prompt = prompt_text(session, turn)
        answers = produced.get(prompt)
        if answers is None or len(answers) != 1:
            problems.append(f"{session.client_id}: run {turn.run_id} answers {prompt!r}: {answers}")
            continue
        if turn.status != "complete":
            problems.append(f"{session.client_id}: run {turn.run_id} is {turn.status}")
        if turn_text(turn) != answers[0]:
            problems.append(f"{session.client_id}: run {turn.run_id} text differs")
    if session.active_turns():
        problems.append(f"{session.client_id}: active turns {session.active_turns()}")
    return problems
