"""docs/handover.md "Notifications away from every terminal": pushes to a real local HTTP
receiver (aiohttp on a free port), including the receiver being down, slow or failing."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace

import pytest
from aiohttp import web

from tui_session.agent.notifier import Decision, Push, PushNotifier, Receiver, header_text
from tui_session.config import AgentSettings, ConfigError

LOGGER = "tui_session.agent.notifier"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpReceiver:
    """A real HTTP server that records every request; `status` and `hold` shape answers."""

    status: int = 200
    hold: asyncio.Event | None = None  # set: answer; unset forever: never answer
    requests: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0
    _runner: web.AppRunner | None = None

    async def start(self, port: int = 0) -> HttpReceiver:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append(Received(request.path_qs, dict(request.headers), await request.read()))
        self.arrived.set()
        if self.hold is not None:
            await self.hold.wait()
        return web.Response(status=self.status, text="ok")

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    server = await HttpReceiver().start()
    yield server
    if server.hold is not None:
        server.hold.set()
    await server.stop()


def closed_port() -> int:
    """A port nothing listens on (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def push(**fields) -> Push:
    base = Push(
        user="root",
        session="demo",
        channel="session:demo",
        run_id="R1",
        state="ended",
        title="demo: your turn ended",
        message="The answer is ready (complete).",
        outcome="complete",
        at_ms=1_700_000_000_000,
    )
    return replace(base, **fields)


def notifier(*receivers: Receiver, timeout_s: float = 5.0) -> PushNotifier:
    return PushNotifier(list(receivers), timeout_s=timeout_s)


async def test_webhook_gets_one_signed_json_post_per_turn_and_state(receiver) -> None:
    n = notifier(Receiver("webhook", receiver.url("/hooks/{user}"), "s3cret"))
    offer = n.offer(push(user="ada lovelace"), user_present=False)
    assert offer.decision == Decision.SENT
    [delivery] = await offer.delivery
    assert (delivery.ok, delivery.detail) == (True, "HTTP 200")
    [got] = receiver.requests
    assert got.path == "/hooks/ada%20lovelace"
    body = json.loads(got.body)
    assert body == {
        "type": "tui-session.push",
        "event": "turn.ended",
        "state": "ended",
        "outcome": "complete",
        "user": "ada lovelace",
        "session": "demo",
        "channel": "session:demo",
        "run_id": "R1",
        "title": "demo: your turn ended",
        "message": "The answer is ready (complete).",
        "at": "2023-11-14T22:13:20+00:00",
        "at_ms": 1_700_000_000_000,
        "join": "tui-session chat --session demo",
    }
    expected = hmac.new(b"s3cret", got.body, hashlib.sha256).hexdigest()
    assert got.headers["X-Tui-Session-Signature"] == f"sha256={expected}"
    assert got.headers["X-Tui-Session-Event"] == "turn.ended"
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["User-Agent"].startswith("tui-session/")
    await n.aclose()


async def test_ntfy_gets_the_message_with_title_priority_tags_and_token(receiver) -> None:
    n = notifier(Receiver("ntfy", receiver.url("/tui-{user}"), "tk_abc"))
    offer = n.offer(
        push(
            state="approval",
            outcome=None,
            title="démo: approve delete_files?",
            message="root's turn waits for your approval.",
        ),
        user_present=False,
    )
    [delivery] = await offer.delivery
    assert delivery.ok
    [got] = receiver.requests
    assert got.path == "/tui-root"
    assert got.body.decode() == "root's turn waits for your approval."
    assert got.headers["Priority"] == "4" and got.headers["Tags"] == "question"
    assert got.headers["Authorization"] == "Bearer tk_abc"
    encoded = got.headers["Title"]
    assert encoded.startswith("=?UTF-8?B?") and encoded.endswith("?=")
    assert base64.b64decode(encoded[10:-2]).decode() == "démo: approve delete_files?"
    await n.aclose()


def test_header_text_keeps_ascii_and_encodes_the_rest() -> None:
    assert header_text("demo:\n your turn") == "demo: your turn"
    assert header_text("ü") == "=?UTF-8?B?w7w=?="


async def test_at_most_one_push_per_turn_and_state_and_none_while_present(receiver) -> None:
    n = notifier(Receiver("webhook", receiver.url("/h")))
    assert n.offer(push(), user_present=True).decision == Decision.PRESENT
    first = n.offer(push(), user_present=False)  # the present one did not count
    assert first.decision == Decision.SENT
    await first.delivery
    assert n.offer(push(), user_present=False).decision == Decision.DUPLICATE
    assert n.offer(push(), user_present=True).decision == Decision.PRESENT
    other_state = n.offer(push(state="approval"), user_present=False)
    other_turn = n.offer(push(run_id="R2"), user_present=False)
    assert other_state.decision == other_turn.decision == Decision.SENT
    await asyncio.gather(other_state.delivery, other_turn.delivery)
    assert len(receiver.requests) == 3
    await n.aclose()


async def test_nothing_configured_is_off() -> None:
    n = PushNotifier.from_settings(AgentSettings())
    assert not n.enabled
    assert n.offer(push(), user_present=False).decision == Decision.OFF
    await n.aclose()


async def test_a_receiver_that_is_down_fails_quietly_logged_once_and_recovery_logged_once(
    caplog,
) -> None:
    caplog.set_level(logging.DEBUG, LOGGER)
    port = closed_port()
    n = notifier(Receiver("ntfy", f"http://127.0.0.1:{port}/topic-with-secret"))
    results = []
    for run in ("R1", "R2", "R3"):
        offer = n.offer(push(run_id=run), user_present=False)
        assert offer.decision == Decision.SENT  # decided at once, whatever the receiver does
        results += await offer.delivery
    assert [r.ok for r in results] == [False, False, False]
    assert results[0].detail.startswith("cannot connect")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    text = warnings[0].getMessage()
    assert f"ntfy http://127.0.0.1:{port} failed (cannot connect" in text
    assert "topic-with-secret" not in caplog.text  # the topic is the secret: never logged
    server = await HttpReceiver().start(port)  # it comes back
    try:
        [ok] = await n.offer(push(run_id="R4"), user_present=False).delivery
        assert ok.ok
        await n.offer(push(run_id="R5"), user_present=False).delivery
        infos = [r for r in caplog.records if r.levelno == logging.INFO]
        assert [r.getMessage() for r in infos] == [
            f"push receiver ntfy http://127.0.0.1:{port} answers again (HTTP 200)"
        ]
    finally:
        await server.stop()
        await n.aclose()


async def test_a_slow_receiver_times_out_without_holding_the_caller(receiver, caplog) -> None:
    receiver.hold = asyncio.Event()  # never set while the push is waiting
    n = notifier(Receiver("webhook", receiver.url("/slow")), timeout_s=0.5)
    offer = n.offer(push(), user_present=False)
    assert offer.decision == Decision.SENT and not offer.delivery.done()
    await asyncio.wait_for(receiver.arrived.wait(), 10)  # the request reached the receiver
    [delivery] = await asyncio.wait_for(offer.delivery, 10)
    assert (delivery.ok, delivery.detail) == (False, "no answer within 0.5 s")
    assert "failed (no answer within 0.5 s)" in caplog.text
    await n.aclose()


async def test_an_error_status_is_a_failure_and_other_receivers_still_get_the_push(
    receiver, caplog
) -> None:
    failing = await HttpReceiver(status=500).start()
    try:
        n = notifier(
            Receiver("webhook", failing.url("/broken")), Receiver("ntfy", receiver.url("/t"))
        )
        results = await n.offer(push(), user_present=False).delivery
        assert [(r.receiver.split()[0], r.ok, r.detail) for r in results] == [
            ("webhook", False, "HTTP 500"),
            ("ntfy", True, "HTTP 200"),
        ]
        assert len(receiver.requests) == 1
        await n.aclose()
    finally:
        await failing.stop()


async def test_aclose_waits_for_deliveries_in_flight(receiver) -> None:
    receiver.hold = asyncio.Event()
    n = notifier(Receiver("webhook", receiver.url("/h")))
    offer = n.offer(push(), user_present=False)
    await asyncio.wait_for(receiver.arrived.wait(), 10)
    closing = asyncio.ensure_future(n.aclose())
    done, _ = await asyncio.wait({closing}, timeout=0.3)  # a window to see it not finish
    assert not done  # still waiting for the held delivery
    receiver.hold.set()
    await asyncio.wait_for(closing, 10)
    assert offer.delivery.done() and offer.delivery.result()[0].ok


def test_settings_build_the_receivers_and_bad_urls_name_the_key() -> None:
    n = PushNotifier.from_settings(
        AgentSettings(
            notify_webhook="https://example.com/hook",
            notify_ntfy="https://ntfy.sh/tui-{user}",
            notify_ntfy_token="tk_1",
            notify_timeout_s=2.5,
        )
    )
    assert [(r.kind, r.label, r.secret) for r in n.receivers] == [
        ("webhook", "webhook https://example.com", None),
        ("ntfy", "ntfy https://ntfy.sh", "tk_1"),
    ]
    assert n.timeout_s == 2.5
    with pytest.raises(ConfigError, match=r"agent.notify_ntfy must be an http\(s\) URL"):
        PushNotifier.from_settings(AgentSettings(notify_ntfy="ntfy.sh/topic"))
    with pytest.raises(ConfigError, match=r"agent.notify_timeout_s must be > 0"):
        PushNotifier.from_settings(AgentSettings(notify_webhook="http://x", notify_timeout_s=0))
