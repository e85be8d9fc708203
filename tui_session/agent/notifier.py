"""Push notifications away from every terminal: a webhook and an ntfy-compatible topic URL.

The agent service offers a push when a user's turn ended or needs them (an approval, an
escalation for operators) and passes what it knows about presence; this module decides and
delivers (docs/handover.md, "Notifications away from every terminal"):
- nothing while one of the user's devices is present in the session (`user_present`);
- at most one push per (session, turn, state), remembered for the service's lifetime;
- delivery in the background with a timeout, never raising: a push is a courtesy, so a
  receiver that is down leaves the turn unaffected. Its failure is logged once (and its
  recovery once), not once per push; URLs are logged without path or credentials, because
  an ntfy topic or a webhook path is often the secret.

Receivers: `agent.notify_webhook` gets a JSON POST (signed with HMAC-SHA256 when
`agent.notify_webhook_secret` is set); `agent.notify_ntfy` gets ntfy's plain publish (the body
is the message; `Title`, `Priority`, `Tags` headers; `Authorization: Bearer` with
`agent.notify_ntfy_token`). `{user}` in either URL becomes the user's name, so each user can
have a topic of their own.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import aiohttp

from tui_session import __version__
from tui_session.config import AgentSettings, ConfigError

log = logging.getLogger(__name__)

PushState = Literal["ended", "approval", "escalation"]
REMEMBERED = 10_000  # (turn, state) keys kept to refuse a second push
CONCURRENT = 8  # deliveries in flight at once

# ntfy priority (1-5) and tags (emoji shortcodes) per state / outcome
_PRIORITY = {"approval": "4", "escalation": "4", "error": "4"}
_TAGS = {
    "complete": "white_check_mark",
    "cancelled": "stop_button",
    "error": "warning",
    "approval": "question",
    "escalation": "sos",
}


@dataclass(frozen=True)
class Push:
    """One notification for one user. `outcome` (ended only): complete, cancelled, error."""

    user: str
    session: str  # the session id, as typed after --session
    channel: str
    run_id: str
    state: PushState
    title: str
    message: str
    outcome: str | None = None
    at_ms: int = field(default_factory=lambda: int(time.time() * 1000))

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.channel, self.run_id, self.state)

    @property
    def event(self) -> str:
        return f"turn.{self.state}"

    def webhook_body(self) -> dict[str, Any]:
        return {
            "type": "tui-session.push",
            "event": self.event,
            "state": self.state,
            "outcome": self.outcome,
            "user": self.user,
            "session": self.session,
            "channel": self.channel,
            "run_id": self.run_id,
            "title": self.title,
            "message": self.message,
            "at": datetime.fromtimestamp(self.at_ms / 1000, UTC).isoformat(),
            "at_ms": self.at_ms,
            "join": f"tui-session chat --session {self.session}",
        }


class Decision(StrEnum):
    SENT = "sent"  # delivery started
    PRESENT = "present"  # a device of the user is present: the terminal tells them
    DUPLICATE = "duplicate"  # this turn already pushed this state
    OFF = "off"  # no receiver configured


@dataclass(frozen=True)
class Offer:
    decision: Decision
    delivery: asyncio.Task[list[Delivery]] | None = None


@dataclass(frozen=True)
class Delivery:
    receiver: str  # the redacted receiver, as logged
    ok: bool
    detail: str  # "HTTP 200", or why it failed


@dataclass
class Receiver:
    kind: Literal["webhook", "ntfy"]
    url: str  # may contain {user}
    secret: str | None = None  # webhook: HMAC key; ntfy: bearer token
    failing: bool = False

    @property
    def label(self) -> str:
        parts = urlsplit(self.url)
        port = f":{parts.port}" if parts.port else ""
        return f"{self.kind} {parts.scheme}://{parts.hostname}{port}"

    def url_for(self, user: str) -> str:
        return self.url.replace("{user}", quote(user, safe=""))

    def request(self, push: Push) -> tuple[bytes, dict[str, str]]:
        headers = {"User-Agent": f"tui-session/{__version__}"}
        if self.kind == "webhook":
            body = json.dumps(push.webhook_body(), ensure_ascii=False).encode()
            headers |= {
                "Content-Type": "application/json",
                "X-Tui-Session-Event": push.event,
                "X-Tui-Session-Delivery": str(uuid.uuid4()),
            }
            if self.secret:
                digest = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
                headers["X-Tui-Session-Signature"] = f"sha256={digest}"
            return body, headers
        headers |= {
            "Content-Type": "text/plain; charset=utf-8",
            "Title": header_text(push.title),
            "Priority": _PRIORITY.get(push.outcome or push.state, "3"),
            "Tags": _TAGS.get(push.outcome or push.state, "bell"),
        }
        if self.secret:
            headers["Authorization"] = f"Bearer {self.secret}"
        return push.message.encode(), headers


def header_text(text: str) -> str:
    """An HTTP header value: ASCII as is, anything else as an RFC 2047 encoded word (which
    ntfy decodes)."""
    line = " ".join(text.split())
    if line.isascii():
        return line
    return f"=?UTF-8?B?{base64.b64encode(line.encode()).decode()}?="


class PushNotifier:
    def __init__(
        self,
        receivers: list[Receiver],
        *,
        timeout_s: float = 5.0,
        logger: logging.Logger = log,
    ) -> None:
        self.receivers = receivers
        self.timeout_s = timeout_s
        self._log = logger
        self._pushed: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self._http: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[list[Delivery]]] = set()
        self._slots = asyncio.Semaphore(CONCURRENT)

    @classmethod
    def from_settings(cls, settings: AgentSettings) -> PushNotifier:
        """The receivers `agent.notify_*` configure (none: every offer answers `off`)."""
        receivers = []
        for key, kind, secret in (
            ("notify_webhook", "webhook", settings.notify_webhook_secret),
            ("notify_ntfy", "ntfy", settings.notify_ntfy_token),
        ):
            url = getattr(settings, key).strip()
            if not url:
                continue
            parts = urlsplit(url.replace("{user}", "user"))
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(f"agent.{key} must be an http(s) URL, got {url!r}")
            receivers.append(Receiver(kind, url, secret))  # type: ignore[arg-type]
        if settings.notify_timeout_s <= 0:
            raise ConfigError("agent.notify_timeout_s must be > 0")
        return cls(receivers, timeout_s=settings.notify_timeout_s)

    @property
    def enabled(self) -> bool:
        return bool(self.receivers)

    def offer(self, push: Push, *, user_present: bool) -> Offer:
        """Decide now, deliver in the background; never raises, never waits."""
        if not self.enabled:
            return Offer(Decision.OFF)
        if user_present:
            return Offer(Decision.PRESENT)  # not remembered: offered again if they leave
        if push.key in self._pushed:
            return Offer(Decision.DUPLICATE)
        self._pushed[push.key] = None
        if len(self._pushed) > REMEMBERED:
            self._pushed.popitem(last=False)
        task = asyncio.get_running_loop().create_task(self.deliver(push))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return Offer(Decision.SENT, task)

    async def deliver(self, push: Push) -> list[Delivery]:
        """Send `push` to every receiver at once; one result per receiver."""
        async with self._slots:
            return list(await asyncio.gather(*(self._send(r, push) for r in self.receivers)))

    async def _send(self, receiver: Receiver, push: Push) -> Delivery:
        body, headers = receiver.request(push)
        try:
            http = self._session()
            async with http.post(receiver.url_for(push.user), data=body, headers=headers) as resp:
                await resp.read()
                ok, detail = 200 <= resp.status < 300, f"HTTP {resp.status}"
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            ok, detail = False, f"no answer within {self.timeout_s:g} s"
        except aiohttp.ClientError as exc:
            ok, detail = False, _reason(exc)
        except Exception as exc:  # a push must never break the service
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        self._note(receiver, ok, detail)
        return Delivery(receiver.label, ok, detail)

    def _note(self, receiver: Receiver, ok: bool, detail: str) -> None:
        if ok and receiver.failing:
            receiver.failing = False
            self._log.info("push receiver %s answers again (%s)", receiver.label, detail)
        elif not ok and not receiver.failing:
            receiver.failing = True
            self._log.warning(
                "push receiver %s failed (%s); turns are unaffected, and further failures "
                "are not logged until it answers again",
                receiver.label,
                detail,
            )
        elif not ok:
            self._log.debug("push receiver %s still failing (%s)", receiver.label, detail)

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s))
        return self._http

    async def aclose(self) -> None:
        """Let deliveries in flight finish (each is bounded by the timeout), then close."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.close()


def _reason(exc: aiohttp.ClientError) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect: {exc.os_error.strerror or exc.os_error}"
    return f"{type(exc).__name__}: {exc}"
