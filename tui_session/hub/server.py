"""The hub: WebSocket and REST on one port (aiohttp), over the channel, presence and store layers.

`Hub` holds the state and the realtime protocol; `rest.py` adds the REST routes; `start_hub` runs
it on a port (0 picks a free one, for tests); `run_hub` is the blocking `tui-session hub`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from tui_session import listening
from tui_session.config import HubSettings
from tui_session.credentials.tls import TlsFiles, hub_tls
from tui_session.hub import rest
from tui_session.hub.auth import AuthError, AuthStore, Principal
from tui_session.hub.channels import Attachment, Channel, Channels, check_channel_name, now_ms
from tui_session.hub.connections import (
    MAX_FRAME_SIZE,
    Connection,
    ReplySlot,
    new_connection_id,
)
from tui_session.hub.frames import AblyError, Action, Flag, Format, decode_frame, error_body
from tui_session.hub.presence import ENTER, LEAVE, PRESENT, UPDATE
from tui_session.hub.store import Store, seq_of, serial_of
from tui_session.lifecycle import run_until_signalled

log = logging.getLogger(__name__)

Failure = AblyError | AuthError
FORGOTTEN_KEPT = 10_000
SEQUENCE_HOLD_S = 2.0  # how long a frame waits for an earlier msgSerial resent after a resume
Handler = Callable[[Connection, dict[str, Any], ReplySlot], None]
PRESENCE_ACTIONS = (PRESENT, ENTER, LEAVE, UPDATE)


class Hub:
    def __init__(self, settings: HubSettings) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.auth = AuthStore(settings.data_dir)
        self.store = Store(settings.data_dir / "hub.sqlite3")
        self.channels = Channels(self.store, settings.max_message_size)
        self.connections: dict[str, Connection] = {}
        self._forgotten: OrderedDict[str, bool] = OrderedDict()  # closed: never resumable
        self._housekeeping: asyncio.Task[None] | None = None
        self._revocation_checks: set[int] = set()  # appliesAt times a check is scheduled for
        self._cuts: set[asyncio.Task[None]] = set()  # connections being cut (revoked tokens)
        self.open_sockets = 0  # WebSockets being served now (hub.max_connections)

    async def start(self) -> None:
        await self.store.start()
        self._housekeeping = asyncio.create_task(self._housekeeping_loop())

    async def close(self) -> None:
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping
        for conn in list(self.connections.values()):
            await conn.unbind()
        await self.store.close()

    def application(self) -> web.Application:
        app = web.Application(client_max_size=MAX_FRAME_SIZE * 2)
        app.router.add_get("/", self.handle_root)
        rest.add_routes(app, self)
        return app

    # ---- WebSocket -------------------------------------------------------------------------

    async def handle_root(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return web.json_response({"service": "tui-session hub", "protocol": "ably"})
        if self.open_sockets >= self.settings.max_connections:
            # Nonfatal: DISCONNECTED (not ERROR) makes the SDKs retry after their back-off.
            ws = web.WebSocketResponse(max_msg_size=MAX_FRAME_SIZE, compress=False)
            await ws.prepare(request)
            limit = self.settings.max_connections
            busy = AblyError(f"connection limits exceeded: the hub serves {limit}", 40111, 429)
            fmt: Format = "msgpack" if request.query.get("format") == "msgpack" else "json"
            await self._refuse(ws, fmt, busy, Action.DISCONNECTED)
            return ws
        self.open_sockets += 1
        try:
            return await self._serve_socket(request)
        finally:
            self.open_sockets -= 1

    async def _serve_socket(self, request: web.Request) -> web.StreamResponse:
        # No permessage-deflate: on loopback and LANs it costs both ends CPU for every frame and
        # saves nothing worth having (see docs/benchmarks.md).
        ws = web.WebSocketResponse(max_msg_size=MAX_FRAME_SIZE, autoping=True, compress=False)
        await ws.prepare(request)
        query = request.query
        fmt: Format = "msgpack" if query.get("format") == "msgpack" else "json"
        try:
            principal = self.auth.authenticate_ws(query)
        except AuthError as exc:
            await self._refuse(ws, fmt, exc)
            return ws
        conn = self._open_connection(principal, query, fmt)
        if conn is None:
            await self._refuse(ws, fmt, AblyError("clientId mismatch on resume", 40102, 401))
            return ws
        conn, resume_error = conn
        conn.bind(ws, fmt, echo=query.get("echo", "true") != "false")
        if "remainPresentFor" in query and query["remainPresentFor"].isdigit():
            conn.remain_present_for_ms = int(query["remainPresentFor"])
        connected: dict[str, Any] = {
            "action": Action.CONNECTED,
            "connectionId": conn.id,
            "connectionDetails": conn.details(self.settings),
        }
        if resume_error is not None:
            connected["error"] = resume_error
        conn.send(connected)
        closed_by_client = False
        try:
            async for raw in ws:
                if raw.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                try:
                    frame = decode_frame(raw.data, fmt)
                    closed_by_client = await self._dispatch(conn, ws, frame)
                except AblyError as exc:
                    # A protocol violation fails this connection only; every other one goes on.
                    log.info("connection %s sent a bad frame: %s", conn.id, exc.message)
                    self._forget(conn)
                    conn.send({"action": Action.ERROR, "error": exc.to_dict()})
                    await conn.drain()
                    closed_by_client = True
                    break
                if closed_by_client:
                    break
        finally:
            if closed_by_client:
                await self._discard(conn)
            elif self.connections.get(conn.id) is conn and conn.is_bound_to(ws):
                await self._detach_socket(conn)
        return ws

    async def _refuse(
        self, ws: web.WebSocketResponse, fmt: Format, exc: Failure, action: int = Action.ERROR
    ) -> None:
        from tui_session.hub.frames import encode_frame

        payload = encode_frame({"action": action, "error": exc.to_dict()}, fmt)
        if isinstance(payload, bytes):
            await ws.send_bytes(payload)
        else:
            await ws.send_str(payload)
        await ws.close()

    def _open_connection(
        self, principal: Principal, query: Any, fmt: Format
    ) -> tuple[Connection, dict | None] | None:
        """Resume the connection a key names, or open a new one (with 80018 if resume failed)."""
        key = query.get("resume") or query.get("recover")
        if key:
            conn = self._resumable(key, principal)
            if conn is not None:
                return conn, None
        conn_id = new_connection_id()
        conn = Connection(conn_id, f"{conn_id}!{new_connection_id()}", principal)
        self.connections[conn_id] = conn
        self._save(conn)
        error = None
        if key:
            error = error_body(80018, 400, "Unable to recover connection: unknown or expired key")
        return conn, error

    def _resumable(self, key: str, principal: Principal) -> Connection | None:
        conn_id = key.split("!", 1)[0]
        conn = self.connections.get(conn_id)
        if conn is None:
            if conn_id in self._forgotten:
                return None
            # Not in memory: the hub restarted. Its stored record brings the msgSerials back.
            stored = self.store.connection(conn_id)
            if stored is None or stored[0] != key:
                return None
            if stored[1].get("clientId") != principal.client_id:
                return None
            conn = Connection(conn_id, key, principal)
            for msg_serial, res in sorted(self.store.acks(conn_id).items()):
                conn.remember_ack(msg_serial, res)
            conn.next_msg_serial = max(conn.acked) + 1 if conn.acked else None
            self.connections[conn_id] = conn
            return conn
        if conn.key != key or conn.principal.client_id != principal.client_id:
            return None
        zombie = conn.release()  # a socket the client has given up on, if any
        if zombie is not None and not zombie.closed:
            asyncio.get_running_loop().create_task(zombie.close())
        conn.set_principal(principal)
        for _channel, attachment in conn.attachments.values():
            attachment.paused = True
        return conn

    def _save(self, conn: Connection) -> None:
        record = Store.put_connection(conn.id, conn.key, conn.stored_state(), now_ms())
        self.store.submit([record], lambda _e: None)

    async def _detach_socket(self, conn: Connection) -> None:
        """The socket dropped without CLOSE: keep the state to resume, start the grace period."""
        await conn.unbind()
        self._save(conn)
        grace_ms = conn.remain_present_for_ms
        if grace_ms is None:
            grace_ms = int(self.settings.presence_grace_s * 1000)
        loop = asyncio.get_running_loop()
        conn.leave_timer = loop.call_later(grace_ms / 1000, self._leave_all, conn)

    def _leave_all(self, conn: Connection) -> None:
        conn.leave_timer = None
        for channel, _attachment in conn.attachments.values():
            leaves = channel.presence.remove_connection(conn.id, now_ms())
            if leaves:
                self.broadcast_presence(channel, leaves)

    def _forget(self, conn: Connection) -> None:
        """End a connection for good, at once: it can no longer be resumed, its members leave."""
        if self._forgotten.get(conn.id) is not None:
            return
        self._forgotten[conn.id] = True
        while len(self._forgotten) > FORGOTTEN_KEPT:
            self._forgotten.popitem(last=False)
        self._leave_all(conn)
        if conn.leave_timer is not None:
            conn.leave_timer.cancel()
        for channel, _attachment in conn.attachments.values():
            channel.attachments.pop(conn.id, None)
        conn.attachments.clear()
        self.connections.pop(conn.id, None)
        self.store.submit(Store.delete_connection(conn.id), lambda _e: None)

    async def _discard(self, conn: Connection) -> None:
        self._forget(conn)
        await conn.unbind()

    async def _dispatch(
        self, conn: Connection, ws: web.WebSocketResponse, frame: dict[str, Any]
    ) -> bool:
        """Handle one inbound frame; True when the client closed the connection."""
        action = frame["action"]
        if action == Action.HEARTBEAT:
            reply: dict[str, Any] = {"action": Action.HEARTBEAT}
            if frame.get("id") is not None:
                reply["id"] = frame["id"]
            conn.send(reply)
        elif action == Action.CLOSE:
            self._forget(conn)  # before CLOSED goes out: the client may reconnect at once
            conn.send({"action": Action.CLOSED})
            await conn.drain()
            return True
        elif action == Action.DISCONNECT:
            await ws.close()
        elif action == Action.ATTACH:
            self._attach(conn, frame)
        elif action == Action.DETACH:
            self._detach(conn, frame)
        elif action == Action.MESSAGE:
            self._in_sequence(conn, frame, self._publish)
        elif action == Action.PRESENCE:
            self._in_sequence(conn, frame, self._presence)
        elif action == Action.AUTH:
            self._reauthorize(conn, frame)
        elif action in (19, 21):  # OBJECT, ANNOTATION: consume the msgSerial with a clear NACK
            self._in_sequence(conn, frame, self._unsupported)
        # Anything else is an action from a newer SDK: ignored, as the protocol asks.
        return False

    # ---- channels --------------------------------------------------------------------------

    def _channel(self, conn: Connection, name: Any) -> Channel:
        return self.channels.get(conn.app_id, check_channel_name(name))

    def _attach(self, conn: Connection, frame: dict[str, Any]) -> None:
        name = frame.get("channel")
        try:
            channel = self._channel(conn, name)
            mode_flags = frame.get("flags")
            if mode_flags is not None and (
                not isinstance(mode_flags, int) or isinstance(mode_flags, bool)
            ):
                raise AblyError("attach 'flags' must be an integer", 40000)
            modes = self.channels.modes_for(conn.principal.capability, channel.name, mode_flags)
            if not modes:
                raise AblyError(f"no capability for channel {channel.name!r}", 40160, 401)
            params = frame.get("params") or {}
            if not isinstance(params, dict):
                raise AblyError("attach 'params' must be an object", 40000)
            rewind = params.get("rewind")
            if rewind is not None:
                from tui_session.hub.channels import parse_rewind

                parse_rewind(rewind)  # refuse a bad value before attaching
        except (AblyError, AuthError) as exc:
            conn.send({"action": Action.ERROR, "channel": name, "error": exc.to_dict()})
            return
        existing = conn.attachments.get(channel.name)
        attachment = existing[1] if existing else Attachment(conn, modes)
        attachment.modes = modes
        after = None
        requested = frame.get("channelSerial")
        if isinstance(requested, str):
            position = seq_of(requested)
            if position is not None and position <= channel.committed:
                after = position
        conn.attachments[channel.name] = (channel, attachment)
        channel.attachments[conn.id] = attachment
        flags = modes
        if channel.presence:
            flags |= Flag.HAS_PRESENCE
        if after is not None:
            flags |= Flag.RESUMED
        attached: dict[str, Any] = {
            "action": Action.ATTACHED,
            "channel": channel.name,
            # Resumed: the client's own position, so the replay below moves it forward.
            "channelSerial": serial_of(after) if after is not None else channel.serial,
            "flags": flags,
        }
        echoed = {k: str(params[k]) for k in ("rewind", "delta") if k in params}
        if echoed:
            attached["params"] = echoed
        conn.send(attached)
        if channel.presence:
            self._sync(conn, channel)
        if after is not None:
            self.channels.replay(channel, attachment, after)
        elif rewind is not None:
            self.channels.rewind(channel, attachment, str(rewind))
        attachment.paused = False

    def _sync(self, conn: Connection, channel: Channel) -> None:
        sync_id = f"sync{now_ms()}"
        for channel_serial, members in channel.presence.sync_pages(sync_id):
            conn.send(
                {
                    "action": Action.SYNC,
                    "channel": channel.name,
                    "channelSerial": channel_serial,
                    "presence": members,
                }
            )

    def _detach(self, conn: Connection, frame: dict[str, Any]) -> None:
        name = frame.get("channel")
        entry = conn.attachments.pop(name, None) if isinstance(name, str) else None
        if entry is not None:
            channel, _attachment = entry
            channel.attachments.pop(conn.id, None)
            leaves = channel.presence.remove_connection(conn.id, now_ms())
            if leaves:
                self.broadcast_presence(channel, leaves)
        conn.send({"action": Action.DETACHED, "channel": name})

    # ---- publish and presence --------------------------------------------------------------

    def _in_sequence(self, conn: Connection, frame: dict[str, Any], handle: Handler) -> None:
        """Apply a connection's frames in msgSerial order, even when a resume resends them out
        of order (ably-python does after a failed reconnect): one connection's messages, the
        appends of a streamed answer among them, must be stored in the order they were sent.
        A gap that is not filled within SEQUENCE_HOLD_S is given up on."""
        msg_serial = self._msg_serial(frame)
        slot = conn.reserve_reply(msg_serial)
        expected = conn.next_msg_serial
        if expected is not None and msg_serial > expected:
            conn.held[msg_serial] = (frame, handle, slot)
            if conn.hold_timer is None:
                loop = asyncio.get_running_loop()
                conn.hold_timer = loop.call_later(SEQUENCE_HOLD_S, self._release_held, conn, True)
            return
        handle(conn, frame, slot)
        if expected is None or msg_serial == expected:
            conn.next_msg_serial = msg_serial + 1
        self._release_held(conn)

    def _release_held(self, conn: Connection, give_up_gap: bool = False) -> None:
        if give_up_gap:
            conn.hold_timer = None
            if conn.held:
                conn.next_msg_serial = min(conn.held)
        while conn.next_msg_serial in conn.held:
            frame, handle, slot = conn.held.pop(conn.next_msg_serial)
            handle(conn, frame, slot)
            conn.next_msg_serial += 1
        if not conn.held and conn.hold_timer is not None:
            conn.hold_timer.cancel()
            conn.hold_timer = None
        elif conn.held and conn.hold_timer is None:
            loop = asyncio.get_running_loop()
            conn.hold_timer = loop.call_later(SEQUENCE_HOLD_S, self._release_held, conn, True)

    def _unsupported(self, conn: Connection, _frame: dict[str, Any], slot: ReplySlot) -> None:
        error = AblyError("annotations and objects are not supported by this hub", 40000)
        self._reply_in_order(conn, slot, error)

    @staticmethod
    def _msg_serial(frame: dict[str, Any]) -> int:
        serial = frame.get("msgSerial")
        if not isinstance(serial, int) or isinstance(serial, bool) or serial < 0:
            raise AblyError("MESSAGE and PRESENCE frames need a non-negative 'msgSerial'", 40000)
        return serial

    def _duplicate(self, conn: Connection, msg_serial: int, slot: ReplySlot) -> bool:
        """A frame resent after a resume: acknowledge it again, never apply it twice."""
        if msg_serial in conn.acked:
            res = conn.acked[msg_serial]
            self.store.submit([], lambda _e: conn.ack(slot, res))
            return True
        if msg_serial in conn.inflight:
            conn.drop_reply(slot)  # the first copy's ACK is on its way, in its place
            return True
        return False

    def _reply_in_order(self, conn: Connection, slot: ReplySlot, error: Failure) -> None:
        # Through the store's queue, so it cannot overtake the replies of earlier publishes.
        self.store.submit([], lambda _e: conn.nack(slot, error.to_dict()))

    def _publish(self, conn: Connection, frame: dict[str, Any], slot: ReplySlot) -> None:
        msg_serial = slot.msg_serial
        if self._duplicate(conn, msg_serial, slot):
            return
        try:
            channel = self._channel(conn, frame.get("channel"))
            raw = frame.get("messages")
            if not isinstance(raw, list) or not raw:
                raise AblyError("a MESSAGE frame needs a non-empty 'messages' list", 40000)
            rate = self.settings.max_inbound_rate
            if not conn.take_inbound(len(raw), rate):
                raise AblyError(
                    f"max per-connection publish rate limit exceeded ({rate} messages/s)",
                    42911,
                    429,
                )
        except AblyError as exc:
            self._reply_in_order(conn, slot, exc)
            return
        conn.inflight.add(msg_serial)

        def done(serials: list[str | None] | None, error: AblyError | None) -> None:
            if error is not None or serials is None:
                conn.nack(slot, (error or AblyError("publish failed", 50000, 500)).to_dict())
                return
            res = {"serials": serials}
            conn.remember_ack(msg_serial, res)
            conn.ack(slot, res)

        self.channels.publish(
            channel,
            conn.publisher,
            raw,
            done,
            msg_serial=msg_serial,
            extra=lambda serials: [Store.put_ack(conn.id, msg_serial, {"serials": serials})],
        )

    def _presence(self, conn: Connection, frame: dict[str, Any], slot: ReplySlot) -> None:
        msg_serial = slot.msg_serial
        if self._duplicate(conn, msg_serial, slot):
            return
        try:
            channel = self._channel(conn, frame.get("channel"))
            if not conn.principal.capability.allows(channel.name, "presence"):
                raise AblyError(f"presence is not permitted on {channel.name!r}", 40160, 401)
            stamped = self._stamp_presence(conn, frame, msg_serial)
        except (AblyError, AuthError) as exc:
            self._reply_in_order(conn, slot, exc)
            return
        conn.inflight.add(msg_serial)
        res: dict[str, Any] = {"serials": [None] * len(stamped)}

        def done(_exc: Exception | None) -> None:
            conn.remember_ack(msg_serial, res)
            conn.ack(slot, res)
            changes = [c for c in (channel.presence.apply(p) for p in stamped) if c is not None]
            if changes:
                self.broadcast_presence(channel, changes)

        self.store.submit([Store.put_ack(conn.id, msg_serial, res)], done)

    def _stamp_presence(
        self, conn: Connection, frame: dict[str, Any], msg_serial: int
    ) -> list[dict[str, Any]]:
        items = frame.get("presence")
        if not isinstance(items, list) or not items:
            raise AblyError("a PRESENCE frame needs a non-empty 'presence' list", 40000)
        now = now_ms()
        stamped = []
        for index, item in enumerate(items):
            action = item.get("action")
            if action not in PRESENCE_ACTIONS:
                raise AblyError(f"unknown presence action {action!r}", 40000)
            # What every member is sent in SYNC must decode: one bad field would stall them all.
            for key, kind in (("clientId", str), ("encoding", str), ("extras", dict)):
                if item.get(key) is not None and not isinstance(item[key], kind):
                    raise AblyError(f"presence '{key}' must be a {kind.__name__}", 40003)
            data = item.get("data")
            if data is not None and not isinstance(data, str | bytes | bytearray | dict | list):
                raise AblyError("presence 'data' must be a string, binary or JSON", 40013)
            client_id = conn.publisher.resolve_client_id(item.get("clientId"))
            if client_id is None:
                raise AblyError("Unable to enter presence channel (no clientId)", 91000)
            message = {
                k: item[k] for k in ("data", "encoding", "extras") if item.get(k) is not None
            }
            message.update(
                action=action,
                clientId=client_id,
                connectionId=conn.id,
                id=f"{conn.id}:{msg_serial}:{index}",
                timestamp=now,
            )
            stamped.append(message)
        return stamped

    def broadcast_presence(self, channel: Channel, changes: list[dict[str, Any]]) -> None:
        frame = {"action": Action.PRESENCE, "channel": channel.name, "presence": changes}
        for attachment in list(channel.attachments.values()):
            if attachment.modes & Flag.PRESENCE_SUBSCRIBE and not attachment.paused:
                attachment.peer.send(frame)

    def _reauthorize(self, conn: Connection, frame: dict[str, Any]) -> None:
        auth = frame.get("auth")
        token = auth.get("accessToken") if isinstance(auth, dict) else None
        try:
            if not isinstance(token, str):
                raise AblyError("AUTH needs auth.accessToken", 40000)
            principal = self.auth.authenticate_token(token)
            if principal.client_id != conn.principal.client_id:
                raise AblyError("a new token may not change the connection's clientId", 40102, 401)
        except (AblyError, AuthError) as exc:
            conn.send({"action": Action.ERROR, "error": exc.to_dict()})
            return
        conn.set_principal(principal)
        conn.send(
            {
                "action": Action.CONNECTED,
                "connectionId": conn.id,
                "connectionDetails": conn.details(self.settings),
            }
        )

    # ---- token revocation ------------------------------------------------------------------

    def enforce_revocations(self) -> None:
        """Cut, with 40141, every connection whose token a revocation now covers (its next
        connect is refused too); come back when a revocation with a re-auth margin applies."""
        now = now_ms()
        loop = asyncio.get_running_loop()
        for conn in list(self.connections.values()):
            if conn.bound and self.auth.is_revoked(conn.principal, now):
                task = loop.create_task(self._cut(conn, error_body(40141, 401, "Token revoked")))
                self._cuts.add(task)  # a task nobody references may be collected mid-way
                task.add_done_callback(self._cuts.discard)
        for at in self.auth.revocations.pending_times(now):
            if at not in self._revocation_checks:
                self._revocation_checks.add(at)
                loop.call_later((at - now) / 1000, self._revocation_due, at)

    def _revocation_due(self, at: int) -> None:
        self._revocation_checks.discard(at)
        self.enforce_revocations()

    async def _cut(self, conn: Connection, error: dict[str, Any]) -> None:
        """DISCONNECTED with a token error, then close: the SDK renews its token or fails."""
        conn.send({"action": Action.DISCONNECTED, "error": error})
        await conn.drain()
        await conn.close_socket()

    # ---- housekeeping ----------------------------------------------------------------------

    async def _housekeeping_loop(self) -> None:
        ttl_s = self.settings.connection_state_ttl_ms / 1000
        while True:
            await asyncio.sleep(self.settings.heartbeat_interval_s)
            now_wall, now = now_ms(), time.monotonic()
            for conn in list(self.connections.values()):
                if conn.bound:
                    expires = conn.principal.expires_ms
                    if expires is not None and expires <= now_wall:
                        await self._cut(conn, error_body(40142, 401, "Token expired"))
                    else:
                        conn.send({"action": Action.HEARTBEAT})
                elif conn.detached_at is not None and now - conn.detached_at > ttl_s:
                    await self._discard(conn)
            stale = self.store.expire_connections(now_wall - int(ttl_s * 1000))
            if stale:
                self.store.submit(stale, lambda _e: None)


@dataclass
class RunningHub:
    hub: Hub
    runner: web.AppRunner
    host: str
    port: int
    tls: TlsFiles | None = None

    async def stop(self) -> None:
        listening.forget(self.hub.settings.data_dir, "hub")
        await self.runner.cleanup()
        await self.hub.close()


async def start_hub(settings: HubSettings) -> RunningHub:
    """Start the hub on settings.host:settings.port (0: a free port) and return it running."""
    hub = Hub(settings)
    await hub.start()
    runner = web.AppRunner(hub.application(), access_log=None, handle_signals=False)
    await runner.setup()
    tls = hub_tls(settings)  # TLS off loopback (a self-signed certificate if none is given)
    ssl_context = tls.server_context() if tls is not None else None
    site = web.TCPSite(runner, settings.host, settings.port, ssl_context=ssl_context)
    await site.start()
    sockets = site._server.sockets if site._server is not None else []  # type: ignore[union-attr]
    port = sockets[0].getsockname()[1] if sockets else settings.port
    hub.enforce_revocations()  # revocations with a re-auth margin still ahead
    listening.record(settings.data_dir, "hub", settings.host, port, tls is not None)
    return RunningHub(hub, runner, settings.host, port, tls)


def run_hub(settings: HubSettings) -> None:
    """`tui-session hub`: run until SIGINT or SIGTERM."""

    def banner(running: RunningHub) -> str:
        return (
            f"tui-session hub on {hub_url(running)}\n"
            f"data: {settings.data_dir}  root key: {running.hub.auth.key_names()[0]}"
            f"{tls_line(running.tls)}"
        )

    run_until_signalled(lambda: start_hub(settings), banner)


def hub_url(running: RunningHub) -> str:
    scheme = "https" if running.tls is not None else "http"
    return f"{scheme}://{listening.url_host(running.host)}:{running.port}"


def tls_line(tls: TlsFiles | None) -> str:
    if tls is None:
        return ""
    origin = "self-signed, made by the hub" if tls.self_signed else "given"
    return f"\nTLS certificate ({origin}): {tls.cert}  fingerprint {tls.fingerprint()}"
