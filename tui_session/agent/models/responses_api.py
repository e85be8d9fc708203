"""The OpenAI Responses API backend: `POST /v1/responses` with `stream: true`.

Works with OpenAI and with servers that implement streaming Responses (vLLM, recent Ollama).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai

from tui_session.agent.tools import ToolSpec

from .base import (
    EventFilter,
    HttpBackend,
    ModelError,
    event_dict,
    map_sdk_error,
)

_TERMINAL = frozenset({"response.completed", "response.incomplete"})


class ResponsesBackend(HttpBackend):
    """Streams `/v1/responses` and yields its events, filtered to what the codec carries."""

    async def stream(
        self, context: list[dict[str, Any]], *, tools: list[ToolSpec] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        request: dict[str, Any] = {"model": self.name, "input": context, "stream": True}
        if tools:
            request["tools"] = [tool.responses_tool() for tool in tools]
        events = EventFilter(self._log)
        started = False
        ended = False
        sdk_stream: Any = None
        try:
            try:
                sdk_stream = await self._client.responses.create(**request)
                async for raw in sdk_stream:
                    event = event_dict(raw)
                    started = True
                    kind = event["type"]
                    if kind == "response.failed":
                        raise ModelError(_failure_message(event))
                    if kind == "error":
                        message = event.get("message") or event.get("code") or "unknown error"
                        raise ModelError(f"model reported an error: {message}")
                    if kind in _TERMINAL:
                        ended = True
                    if events.accept(event):
                        yield event
                    if ended:
                        break
            except (openai.OpenAIError, ValueError, TypeError) as err:
                raise map_sdk_error(err, self.endpoint, started=started) from err
            if not ended:
                raise ModelError(_no_response_message(sdk_stream, started))
        finally:
            # Close the HTTP response at once: the server stops generating (and billing).
            if sdk_stream is not None:
                await sdk_stream.close()


def _failure_message(event: dict[str, Any]) -> str:
    response = event.get("response")
    error = response.get("error") if isinstance(response, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return f"model failed: {error['message']}"
    return "model failed without saying why"


def _no_response_message(sdk_stream: Any, started: bool) -> str:
    if not started and sdk_stream is not None:
        content_type = sdk_stream.response.headers.get("content-type", "")
        if "text/event-stream" not in content_type:
            shown = content_type or "no content type"
            return f"model sent malformed data (expected an event stream, got {shown})"
    return "model stream ended without a response"
