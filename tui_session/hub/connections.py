"""Realtime connections: identity, the outbound queue, resume state and msgSerial bookkeeping.

A connection outlives its WebSocket: when the socket drops, its state (attachments, presence,
acknowledged msgSerials) is kept for connectionStateTtl so the client can resume with the same
connectionId. Its record and acknowledged msgSerials are also stored, so a resume still succeeds
after a hub restart and frames the client resends are acknowledged again, never stored twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tui_session.hub.channels import Attachment, Channel, Publisher
from tui_session.hub.frames import Action, Format, encode_frame

if TYPE_CHECKING:
    from aiohttp import web

    from tui_session.hub.auth import Principal

log = logging.getLogger(__name__)

ACKS_KEPT = 1000  # acknowledged msgSerials remembered per connection for de-duplication
OUTBOX_LIMIT = 20_000  # frames queued for a client that does not read; then it is cut off
MAX_FRAME_SIZE = 524_288  # bytes of one inbound WebSocket frame
DRAIN_TIMEOUT_S = 2.0  # how long a last frame may take to go out before the socket closes


@dataclass(eq=False)
class ReplySlot:
    """The place of one frame's ACK or NACK in the connection's reply order."""

    msg_serial: int
    frame: dict[str, Any] | None = None


def new_connection_id() -> str:
    return secrets.token_urlsafe(9).replace("-", "x").replace("_", "y")


class Connection:
    def __init__(self, conn_id: str, key: str, principal: Principal) -> None:
        self.id = conn_id
        self.key = key
        self.principal = principal
        self.publisher = Publisher.for_principal(principal, conn_id)
        self.fmt: Format = "json"
        self.echo = True
        self.attachments: dict[str, tuple[Channel, Attachment]] = {}
        self.acked: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self.inflight: set[int] = set()
        # msgSerial sequencing: the next one expected (None: unknown, accept any), and frames
        # that arrived ahead of a gap, held until it fills.
        self.next_msg_serial: int | None = 0
        self.held: dict[int, tuple[dict[str, Any], Any]] = {}
        self.hold_timer: asyncio.TimerHandle | None = None
        self._replies: deque[ReplySlot] = deque()
        self.remain_present_for_ms: int | None = None
        self.detached_at: float | None = None
        self.leave_timer: asyncio.TimerHandle | None = None
        self._ws: web.WebSocketResponse | None = None
        self._outbox: asyncio.Queue[str | bytes] | None = None
        self._sender: asyncio.Task[None] | None = None
        # Publish rate (maxInboundRate): a token bucket, full at first.
        self._rate_tokens: float | None = None
        self._rate_at = 0.0

    @property
    def app_id(self) -> str:
        return self.principal.key_name.split(".", 1)[0]

    @property
    def bound(self) -> bool:
        return self._ws is not None

    def set_principal(self, principal: Principal) -> None:
        self.principal = principal
        self.publisher = Publisher.for_principal(principal, self.id)

    # ---- socket binding --------------------------------------------------------------------

    def bind(self, ws: web.WebSocketResponse, fmt: Format, echo: bool) -> None:
        self._ws, self.fmt, self.echo = ws, fmt, echo
        self.detached_at = None
        if self.leave_timer is not None:  # resumed within the presence grace period
            self.leave_timer.cancel()
            self.leave_timer = None
        self._outbox = asyncio.Queue()
        self._sender = asyncio.create_task(self._send_loop(ws, self._outbox))

    def is_bound_to(self, ws: web.WebSocketResponse) -> bool:
        return self._ws is ws

    def release(self) -> web.WebSocketResponse | None:
        """Forget the socket at once (stop sending to it); returns it for closing."""
        ws, sender = self._ws, self._sender
        self._ws = self._outbox = self._sender = None
        self.detached_at = time.monotonic()
        if sender is not None:
            sender.cancel()
        return ws

    async def unbind(self) -> None:
        ws = self.release()
        if ws is not None and not ws.closed:
            await ws.close()

    async def close_socket(self) -> None:
        """Close the socket but keep the state: the client reconnects and resumes."""
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()

    async def _send_loop(self, ws: web.WebSocketResponse, outbox: asyncio.Queue) -> None:
        try:
            while True:
                payload = await outbox.get()
                try:
                    if isinstance(payload, bytes):
                        await ws.send_bytes(payload)
                    else:
                        await ws.send_str(payload)
                finally:
                    outbox.task_done()
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            pass  # the socket went away: the client resumes and is replayed what it missed

    async def drain(self) -> None:
        """Wait until what is queued has been written (a last ERROR, CLOSED, DISCONNECTED)."""
        outbox = self._outbox
        if outbox is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(outbox.join(), DRAIN_TIMEOUT_S)

    def send(self, frame: dict[str, Any]) -> None:
        self.send_payload(encode_frame(frame, self.fmt))

    def send_payload(self, payload: str | bytes) -> None:
        outbox = self._outbox
        if outbox is None:
            return  # detached: the client will re-attach from its channelSerial and be replayed
        if outbox.qsize() >= OUTBOX_LIMIT:
            log.warning("connection %s is not reading; cutting it off so it resumes", self.id)
            ws = self._ws
            self._outbox = None
            if ws is not None:
                asyncio.get_running_loop().create_task(ws.close())
            return
        outbox.put_nowait(payload)

    def take_inbound(self, count: int, rate: int) -> bool:
        """Spend `count` messages of the publish budget: a burst of `rate`, refilled at `rate`
        per second. False (nothing spent) when the budget does not cover them."""
        now = time.monotonic()
        if self._rate_tokens is None:
            tokens = float(rate)
        else:
            tokens = min(float(rate), self._rate_tokens + (now - self._rate_at) * rate)
        self._rate_at = now
        need = min(count, rate)  # a frame larger than the burst needs a full bucket
        if tokens < need:
            self._rate_tokens = tokens
            return False
        self._rate_tokens = tokens - need
        return True

    # ---- acknowledgements ------------------------------------------------------------------

    def remember_ack(self, msg_serial: int, res: dict[str, Any]) -> None:
        self.inflight.discard(msg_serial)
        self.acked[msg_serial] = res
        while len(self.acked) > ACKS_KEPT:
            self.acked.popitem(last=False)

    # Replies go out in the order frames ARRIVED, whatever order they are applied in: the SDKs
    # settle ACKs against their queue of sent frames from its head, in the order they sent.

    def reserve_reply(self, msg_serial: int) -> ReplySlot:
        slot = ReplySlot(msg_serial)
        self._replies.append(slot)
        return slot

    def drop_reply(self, slot: ReplySlot) -> None:
        self._replies.remove(slot)
        self._flush_replies()

    def ack(self, slot: ReplySlot, res: dict[str, Any]) -> None:
        slot.frame = {"action": Action.ACK, "msgSerial": slot.msg_serial, "count": 1, "res": [res]}
        self._flush_replies()

    def nack(self, slot: ReplySlot, error: dict[str, Any]) -> None:
        self.inflight.discard(slot.msg_serial)
        slot.frame = {
            "action": Action.NACK,
            "msgSerial": slot.msg_serial,
            "count": 1,
            "error": error,
        }
        self._flush_replies()

    def _flush_replies(self) -> None:
        while self._replies and self._replies[0].frame is not None:
            self.send(self._replies.popleft().frame)

    def details(self, settings: Any) -> dict[str, Any]:
        principal = self.principal
        client_id = principal.client_id
        if client_id is None and not principal.via_token:
            client_id = "*"  # basic auth alone may act as any client
        details: dict[str, Any] = {
            "connectionKey": self.key,
            "connectionStateTtl": settings.connection_state_ttl_ms,
            "maxIdleInterval": int(settings.heartbeat_interval_s * 1000) + 6000,
            "maxMessageSize": settings.max_message_size,
            "maxFrameSize": MAX_FRAME_SIZE,
            "maxInboundRate": settings.max_inbound_rate,
            "serverId": "tui-session-hub",
        }
        if client_id is not None:
            details["clientId"] = client_id
        return details

    def stored_state(self) -> dict[str, Any]:
        return {"clientId": self.principal.client_id, "keyName": self.principal.key_name}
