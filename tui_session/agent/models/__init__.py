"""Model backends: every one yields OpenAI Responses stream events as plain dicts.

- `ResponsesBackend`: `/v1/responses` streaming (OpenAI, vLLM, recent Ollama).
- `ChatBackend`: `/v1/chat/completions` streaming through the adapter of docs/wire.md §5.5
  (llama.cpp, LM Studio, older servers).
- `DemoBackend`: the offline demo model (no network), used when no model is configured.

`backend_from_settings` picks one from `AgentSettings`.
"""

from __future__ import annotations

from tui_session.config import AgentSettings

from .base import (
    CARRIED_EVENTS,
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT_S,
    LIFECYCLE_EVENTS,
    EventFilter,
    ModelBackend,
    ModelError,
)
from .chat_adapter import ChatAdapter, ChatBackend, random_ids, sequential_ids
from .demo import DEFAULT_PACE, DEMO_NAME, DemoBackend
from .responses_api import ResponsesBackend

__all__ = [
    "CARRIED_EVENTS",
    "DEMO_NAME",
    "LIFECYCLE_EVENTS",
    "ChatAdapter",
    "ChatBackend",
    "DemoBackend",
    "EventFilter",
    "ModelBackend",
    "ModelError",
    "ResponsesBackend",
    "backend_from_settings",
    "is_demo_settings",
    "random_ids",
    "sequential_ids",
]

_DEMO_MODEL_NAMES = frozenset({"", DEMO_NAME, "demo"})


def is_demo_settings(settings: AgentSettings) -> bool:
    """No model, or neither an endpoint nor an API key: nothing real to talk to."""
    model = (settings.model or "").strip()
    return model in _DEMO_MODEL_NAMES or (not settings.base_url and not settings.api_key)


def backend_from_settings(
    settings: AgentSettings,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
    max_retries: int = DEFAULT_MAX_RETRIES,
    demo_pace: float = DEFAULT_PACE,
) -> ModelBackend:
    """The backend the settings describe; the offline demo when no model is configured.

    A base_url without an api_key is a local server (a placeholder key is sent); an api_key
    without a base_url is OpenAI itself.
    """
    if is_demo_settings(settings):
        return DemoBackend(pace=demo_pace)
    cls = ChatBackend if settings.api == "chat" else ResponsesBackend
    return cls(
        settings.model,
        base_url=settings.base_url,
        api_key=settings.api_key,
        timeout=timeout,
        connect_timeout=connect_timeout,
        max_retries=max_retries,
    )
