"""The model interface shared by every backend, its error type, and the event filter.

A backend streams OpenAI Responses events as plain dicts. A successful stream ends with a
`response.completed` (or `response.incomplete`, e.g. the output limit was hit); a failure
raises `ModelError`. Between the two, only the events the Responses codec carries (docs/wire.md
§5.1) come out, so the agent can encode every event it receives.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol, runtime_checkable

import openai

from tui_session.agent.tools import ToolSpec

log = logging.getLogger("tui_session.agent.models")

__all__ = [
    "CARRIED_EVENTS",
    "LIFECYCLE_EVENTS",
    "EventFilter",
    "ModelBackend",
    "ModelError",
    "map_sdk_error",
]


class ModelError(Exception):
    """A model failure in words a user understands (shown in the UI and in `ai-run-end`)."""


@runtime_checkable
class ModelBackend(Protocol):
    name: str  # shown in the UI: the model name, or "offline-demo"
    is_demo: bool

    def stream(
        self, context: list[dict[str, Any]], *, tools: list[ToolSpec] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Responses events for one model pass over `context` (Responses input items).

        Closing the iterator (`aclose()`) or cancelling the task while it awaits the next
        event closes the upstream HTTP request at once. Consume it inside
        `contextlib.aclosing(...)` so that leaving the loop early (break, an exception, a
        cancel while doing other work) closes it too, not the garbage collector later.
        """
        ...

    async def aclose(self) -> None:
        """Release the backend's HTTP client (the service calls this when it stops)."""
        ...


# The stream events the codec carries onto the wire (docs/wire.md §5.1).
CARRIED_EVENTS = frozenset(
    {
        "response.output_item.added",
        "response.output_item.done",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.refusal.delta",
        "response.refusal.done",
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
    }
)
# Passed through although the codec drops them: they tell the agent how the response began
# and ended (the run's outcome travels in ai-run-end).
LIFECYCLE_EVENTS = frozenset({"response.created", "response.completed", "response.incomplete"})
# Dropped quietly: the codec drops them too, they carry nothing the agent needs.
_EXPECTED_DROPS = frozenset(
    {
        "response.in_progress",
        "response.queued",
        "response.content_part.done",
        "response.reasoning_summary_part.done",
    }
)
_ITEM_TYPES = frozenset({"message", "reasoning", "function_call"})
_PART_TYPES = frozenset({"output_text", "refusal", "reasoning_text"})
_PART_EVENTS = {
    "response.output_text.delta",
    "response.output_text.done",
    "response.refusal.delta",
    "response.refusal.done",
    "response.reasoning_text.delta",
    "response.reasoning_text.done",
}


class EventFilter:
    """Keeps a Responses stream to what the codec can encode (§5.1, §5.4).

    Drops unsupported event types, items of unsupported types (web search, MCP, custom
    tools...), parts of unsupported types, and every later event that refers to something
    dropped, so no delta ever arrives without its opener. Each dropped kind is logged once.
    """

    def __init__(self, logger: logging.Logger = log) -> None:
        self._log = logger
        self._logged: set[str] = set()
        self._dropped_items: set[str] = set()
        self._dropped_parts: set[tuple[str, int]] = set()

    def accept(self, event: Mapping[str, Any]) -> bool:
        kind = str(event.get("type"))
        if kind in LIFECYCLE_EVENTS:
            return True
        if kind not in CARRIED_EVENTS:
            self._drop(kind, quiet=kind in _EXPECTED_DROPS)
            return False
        item_id = event.get("item_id")
        if kind in ("response.output_item.added", "response.output_item.done"):
            item = event.get("item")
            item = item if isinstance(item, Mapping) else {}
            item_type = item.get("type")
            item_id = item.get("id")
            if item_id in self._dropped_items:
                return False
            if item_type not in _ITEM_TYPES:
                self._drop_item(item_id, f"{kind} with a {item_type} item")
                return False
            if item_type == "function_call" and not item_id:
                self._drop(f"{kind} with a function_call item without id")
                return False
            return True
        if item_id in self._dropped_items:
            return False
        if kind == "response.content_part.added":
            part = event.get("part")
            part_type = part.get("type") if isinstance(part, Mapping) else None
            if part_type not in _PART_TYPES:
                self._dropped_parts.add((str(item_id), _int(event.get("content_index"))))
                self._drop(f"{kind} with a {part_type} part")
                return False
        elif kind in _PART_EVENTS:
            if (str(item_id), _int(event.get("content_index"))) in self._dropped_parts:
                return False
        return True

    def _drop_item(self, item_id: Any, what: str) -> None:
        if item_id:
            self._dropped_items.add(str(item_id))
        self._drop(what)

    def _drop(self, what: str, *, quiet: bool = False) -> None:
        if what in self._logged:
            return
        self._logged.add(what)
        if quiet:
            self._log.debug("model stream: dropping %s (the codec does not carry it)", what)
        else:
            self._log.info("model stream: dropping unsupported %s (and any repeats)", what)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _status_message(err: openai.APIStatusError) -> str:
    body = err.body
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping) and isinstance(inner.get("message"), str):
            return inner["message"]
        if isinstance(inner, str):
            return inner
    text = ""
    try:
        text = err.response.text
    except Exception:  # the body may be unread or undecodable
        text = ""
    return (text or err.message or err.response.reason_phrase or "").strip()[:300]


def map_sdk_error(err: BaseException, endpoint: str, *, started: bool) -> ModelError:
    """A user-understandable ModelError for an SDK or decoding failure.

    `started`: whether the stream had already delivered events (a lost connection then is a
    stream cut, not an unreachable endpoint).
    """
    if isinstance(err, ModelError):
        return err
    if isinstance(err, openai.APITimeoutError):
        if started:
            return ModelError(f"model endpoint {endpoint} stopped sending (timed out mid-stream)")
        return ModelError(f"model endpoint {endpoint} timed out")
    if isinstance(err, openai.APIConnectionError):
        if started:
            return ModelError(f"model connection to {endpoint} was lost mid-stream")
        return ModelError(f"model endpoint {endpoint} unreachable")
    if isinstance(err, openai.APIStatusError):
        message = _status_message(err)
        return ModelError(f"model returned HTTP {err.status_code}: {message}".rstrip(": "))
    if isinstance(err, openai.APIError):  # an error object inside the stream
        return ModelError(f"model reported an error: {err.message}")
    if isinstance(err, json.JSONDecodeError | UnicodeDecodeError | ValueError | TypeError):
        return ModelError(f"model sent malformed data ({_short(err)})")
    if isinstance(err, openai.OpenAIError):
        return ModelError(f"model error: {err}")
    return ModelError(f"model sent malformed data ({_short(err)})")


def _short(err: BaseException) -> str:
    text = f"{type(err).__name__}: {err}"
    return text if len(text) <= 200 else text[:197] + "..."


DEFAULT_TIMEOUT_S = 60.0  # the longest silence tolerated from the server (read timeout)
DEFAULT_CONNECT_TIMEOUT_S = 10.0
DEFAULT_MAX_RETRIES = 2  # the SDK's retries of the request; never once the stream has begun
PLACEHOLDER_API_KEY = "not-needed"  # local servers take any key; the SDK insists on one


def make_client(
    base_url: str | None,
    api_key: str | None,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
    max_retries: int = DEFAULT_MAX_RETRIES,
) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=base_url,
        api_key=api_key or PLACEHOLDER_API_KEY,
        timeout=openai.Timeout(timeout, connect=connect_timeout),
        max_retries=max_retries,
    )


def endpoint_of(client: openai.AsyncOpenAI) -> str:
    return str(client.base_url).rstrip("/")


def event_dict(event: Any) -> dict[str, Any]:
    """A plain dict of an SDK stream event, with the fields the server sent."""
    if isinstance(event, Mapping):
        data: Any = dict(event)
    else:
        to_dict = getattr(event, "to_dict", None)
        if to_dict is None:
            raise TypeError(f"not an event object: {event!r}"[:200])
        data = to_dict(mode="json", exclude_none=True, warnings=False)
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ValueError(f"event without a type: {data!r}"[:200])
    return data


class HttpBackend:
    """What the OpenAI-compatible backends share: one SDK client for one endpoint and model."""

    is_demo = False

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
        max_retries: int = DEFAULT_MAX_RETRIES,
        logger: logging.Logger = log,
    ) -> None:
        self.name = model
        self._client = make_client(
            base_url,
            api_key,
            timeout=timeout,
            connect_timeout=connect_timeout,
            max_retries=max_retries,
        )
        self.endpoint = endpoint_of(self._client)
        self._log = logger

    async def aclose(self) -> None:
        await self._client.close()
