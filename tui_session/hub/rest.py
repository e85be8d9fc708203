"""The REST half of the hub: time, tokens, history, messages, mutations, presence, apps.

Bodies are JSON or msgpack by `Content-Type` / `Accept`, sent with exactly those content types
(no charset suffix: ably-python compares them for equality). Errors are `{"error": {...}}` with
the HTTP status equal to the error's statusCode and the X-Ably-Error* headers.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol
from urllib.parse import urlencode

from aiohttp import web

from tui_session.hub.auth import AuthError, AuthStore, Principal
from tui_session.hub.channels import Channels, Publisher, now_ms
from tui_session.hub.frames import AblyError, Format, decode_body, encode_body, wire_items
from tui_session.hub.messages import APPEND, DELETE, UPDATE
from tui_session.hub.store import HistoryQuery, Store, seq_of

JSON = "application/json"
MSGPACK = "application/x-msgpack"
MAX_LIMIT = 1000


class Hub(Protocol):
    """What the REST routes use of the hub (`server.Hub`, which adds these routes)."""

    auth: AuthStore
    channels: Channels
    store: Store


@web.middleware
async def ably_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every bad input becomes a specific Ably error body; the process stays up."""
    try:
        return await handler(request)
    except (AblyError, AuthError) as exc:
        return error_reply(request, exc)
    except web.HTTPNotFound:
        return error_reply(request, AblyError(f"no such endpoint {request.path!r}", 40400, 404))
    except web.HTTPMethodNotAllowed:
        return error_reply(request, AblyError(f"{request.method} not allowed here", 40500, 405))
    except web.HTTPRequestEntityTooLarge:
        return error_reply(request, AblyError("request body too large", 40009, 413))


def add_routes(app: web.Application, hub: Hub) -> None:
    app.middlewares.append(ably_errors)
    routes = Routes(hub)
    add = app.router.add_route
    add("GET", "/time", routes.time)
    add("POST", "/keys/{key_name}/requestToken", routes.request_token)
    add("POST", "/keys/{key_name}/revokeTokens", routes.revoke_tokens)
    add("POST", "/apps", routes.create_app)
    add("DELETE", "/apps/{app_id}", routes.delete_app)
    add("GET", "/channels/{channel}", routes.channel_status)
    add("GET", "/channels/{channel}/messages", routes.history)
    add("POST", "/channels/{channel}/messages", routes.publish)
    add("GET", "/channels/{channel}/messages/{serial}", routes.get_message)
    add("PATCH", "/channels/{channel}/messages/{serial}", routes.mutate)
    add("GET", "/channels/{channel}/messages/{serial}/versions", routes.versions)
    add("GET", "/channels/{channel}/presence", routes.presence)
    add("GET", "/channels/{channel}/presence/history", routes.presence_history)


def response_format(request: web.Request) -> Format:
    return "msgpack" if MSGPACK in request.headers.get("Accept", "") else "json"


def reply(request: web.Request, body: Any, status: int = 200, headers: dict | None = None):
    fmt = response_format(request)
    return web.Response(
        body=encode_body(body, fmt),
        status=status,
        headers={"Content-Type": MSGPACK if fmt == "msgpack" else JSON, **(headers or {})},
    )


def error_reply(request: web.Request, exc: AblyError | AuthError) -> web.Response:
    message = " ".join(exc.message.split())[:500]
    return reply(
        request,
        {"error": exc.to_dict()},
        status=exc.status,
        headers={"X-Ably-Errorcode": str(exc.code), "X-Ably-Errormessage": message},
    )


async def read_body(request: web.Request) -> Any:
    raw = await request.read()
    fmt: Format = "msgpack" if request.content_type == MSGPACK else "json"
    body = decode_body(raw, fmt)
    if fmt == "json":
        # Normalise JSON bodies' base64 data to bytes, exactly as realtime frames are.
        from tui_session.hub.frames import canonicalize

        if isinstance(body, dict):
            canonicalize({"messages": [body]}, "json")
        elif isinstance(body, list):
            canonicalize({"messages": body}, "json")
    return body


def int_param(request: web.Request, name: str, default: int | None = None) -> int | None:
    value = request.query.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise AblyError(f"parameter {name!r} must be an integer", 40003) from exc


class Routes:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def _principal(self, request: web.Request) -> Principal:
        return self.hub.auth.authenticate_http(request.headers)

    def _channel(self, request: web.Request, principal: Principal, op: str):
        name = request.match_info["channel"]
        app = principal.key_name.split(".", 1)[0]
        channel = self.hub.channels.get(app, name)
        if not principal.capability.allows(channel.name, op):
            raise AblyError(f"{op!r} is not permitted on channel {channel.name!r}", 40160, 401)
        return channel

    # ---- unauthenticated -------------------------------------------------------------------

    async def time(self, request: web.Request) -> web.Response:
        return reply(request, [now_ms()])

    async def request_token(self, request: web.Request) -> web.Response:
        body = await read_body(request)
        if not isinstance(body, dict):
            raise AblyError("a token request must be an object", 40000)
        key_name = request.match_info["key_name"]
        return reply(request, self.hub.auth.request_token(body, key_name=key_name))

    async def revoke_tokens(self, request: web.Request) -> web.Response:
        """Ably's token revocation: Basic auth with the key, `{targets, issuedBefore?,
        allowReauthMargin?}`, answered with a BatchResult; live connections are cut."""
        principal = self._principal(request)
        body = await read_body(request)
        if not isinstance(body, dict):
            raise AblyError("a revocation request must be an object", 40000)
        key_name = request.match_info["key_name"]
        result = self.hub.auth.revoke_tokens(key_name, body, principal)
        self.hub.enforce_revocations()
        return reply(request, result)

    # ---- apps (the sandbox app-creation API) -----------------------------------------------

    async def create_app(self, request: web.Request) -> web.Response:
        body = await read_body(request)
        if not isinstance(body, dict):
            raise AblyError("an app spec must be an object", 40000)
        return reply(request, self.hub.auth.create_app(body), status=201)

    async def delete_app(self, request: web.Request) -> web.Response:
        principal = self._principal(request)
        app_id = request.match_info["app_id"]
        if principal.key_name.split(".", 1)[0] != app_id:
            raise AblyError("an app may only be deleted with one of its own keys", 40160, 401)
        if not self.hub.auth.delete_app(app_id):
            raise AblyError(f"no app {app_id!r}", 40400, 404)
        return web.Response(status=204)

    # ---- channels --------------------------------------------------------------------------

    async def channel_status(self, request: web.Request) -> web.Response:
        principal = self._principal(request)
        channel = self._channel(request, principal, "channel-metadata")
        attachments = list(channel.attachments.values())
        return reply(
            request,
            {
                "channelId": channel.name,
                "name": channel.name,
                "status": {
                    "isActive": bool(attachments),
                    "occupancy": {
                        "metrics": {
                            "connections": len(attachments),
                            "presenceMembers": len(channel.presence.members),
                            "presenceConnections": len(
                                {m["connectionId"] for m in channel.presence.members.values()}
                            ),
                            "publishers": len(attachments),
                            "subscribers": len(attachments),
                        }
                    },
                },
            },
        )

    async def history(self, request: web.Request) -> web.Response:
        principal = self._principal(request)
        channel = self._channel(request, principal, "history")
        direction = request.query.get("direction", "backwards")
        if direction not in ("backwards", "forwards"):
            raise AblyError("direction must be 'backwards' or 'forwards'", 40003)
        limit = int_param(request, "limit", 100) or 100
        if not 1 <= limit <= MAX_LIMIT:
            raise AblyError(f"limit must be between 1 and {MAX_LIMIT}", 40003)
        until = request.query.get("from_serial") or request.query.get("fromSerial")
        until_seq = None
        if until:
            until_seq = seq_of(until)
            if until_seq is None:
                raise AblyError(f"invalid from_serial {until!r}", 40003)
        # Never show what is durable but not yet delivered live: no overlap with untilAttach.
        until_seq = min(
            until_seq if until_seq is not None else channel.committed, channel.committed
        )
        query = HistoryQuery(
            backwards=direction == "backwards",
            limit=limit,
            start=int_param(request, "start"),
            end=int_param(request, "end"),
            until_seq=until_seq,
            cursor=int_param(request, "cursor"),
        )
        items, next_cursor = self.hub.store.history(channel.app, channel.name, query)
        return self._page(request, "messages", items, next_cursor)

    def _page(
        self, request: web.Request, segment: str, items: list[dict], next_cursor: int | None
    ) -> web.Response:
        """A page with ably-style relative Link headers that carry every filter forward."""
        params = {k: v for k, v in request.query.items() if k != "cursor"}
        links = [f'<./{segment}?{urlencode(params)}>; rel="first"']
        if next_cursor is not None:
            links.append(
                f'<./{segment}?{urlencode({**params, "cursor": next_cursor})}>; rel="next"'
            )
        fmt = response_format(request)
        return reply(request, wire_items(items, fmt), headers={"Link": ", ".join(links)})

    async def publish(self, request: web.Request) -> web.Response:
        principal = self._principal(request)
        channel = self._channel(request, principal, "publish")
        body = await read_body(request)
        raw = body if isinstance(body, list) else [body]
        if not raw or not all(isinstance(item, dict) for item in raw):
            raise AblyError("the body must be a message or a list of messages", 40000)
        for item in raw:
            if item.get("action") not in (None, 0, "message.create"):
                raise AblyError("update, delete and append go by PATCH to the message", 40003)
        serials = await self._publish(principal, channel, raw)
        return reply(
            request,
            {"channel": channel.name, "messageId": raw[0].get("id"), "serials": serials},
            status=201,
        )

    async def _publish(self, principal: Principal, channel: Any, raw: list[dict]) -> list:
        future: asyncio.Future[list] = asyncio.get_running_loop().create_future()

        def done(serials: list[str | None] | None, error: AblyError | None) -> None:
            if not future.done():
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(serials or [])

        who = Publisher.for_principal(principal)
        self.hub.channels.publish(channel, who, raw, done)
        return await future

    async def get_message(self, request: web.Request) -> web.Response:
        principal = self._principal(request)
        channel = self._channel(request, principal, "history")
        message = self._message(channel, request.match_info["serial"])
        fmt = response_format(request)
        return reply(request, wire_items([message], fmt)[0])

    def _message(self, channel: Any, serial: str) -> dict:
        seq = seq_of(serial)
        message = None
        if seq is not None and seq <= channel.committed:
            message = self.hub.store.message_as_of(
                channel.app, channel.name, seq, channel.committed
            )
        if message is None:
            raise AblyError(f"no message with serial {serial!r}", 40400, 404)
        return message

    async def mutate(self, request: web.Request) -> web.Response:
        principal = self._principal(request)
        channel = self._channel(request, principal, "subscribe")
        body = await read_body(request)
        if not isinstance(body, dict):
            raise AblyError("the body must be a message", 40000)
        action = body.get("action")
        names = {"message.update": UPDATE, "message.delete": DELETE, "message.append": APPEND}
        action = names.get(action, action) if isinstance(action, str) else action
        if action not in (UPDATE, DELETE, APPEND):
            raise AblyError("PATCH needs action update (1), delete (2) or append (5)", 40003)
        body = {**body, "action": action, "serial": request.match_info["serial"]}
        serials = await self._publish(principal, channel, [body])
        return reply(request, {"versionSerial": serials[0] if serials else None})

    async def versions(self, request: web.Request) -> web.Response:
        principal = self._principal(request)
        channel = self._channel(request, principal, "history")
        latest = self._message(channel, request.match_info["serial"])
        seq = seq_of(latest["serial"]) or 0
        items = self.hub.store.versions(channel.app, channel.name, seq)
        if items and items[-1]["version"]["serial"] != latest["version"]["serial"]:
            items.append(latest)  # appends since the last snapshot make one more version
        if request.query.get("direction", "backwards") == "backwards":
            items.reverse()
        limit = int_param(request, "limit", 100) or 100
        return self._page(request, "versions", items[:limit], None)

    async def presence(self, request: web.Request) -> web.Response:
        principal = self._principal(request)
        channel = self._channel(request, principal, "subscribe")
        members = channel.presence.get(
            client_id=request.query.get("clientId"),
            connection_id=request.query.get("connectionId"),
        )
        limit = int_param(request, "limit", 100) or 100
        fmt = response_format(request)
        return reply(request, wire_items(members[:limit], fmt))

    async def presence_history(self, request: web.Request) -> web.Response:
        principal = self._principal(request)
        self._channel(request, principal, "history")
        # Presence is live state here; its history is not kept (documented in docs/hub.md).
        return self._page(request, "history", [], None)
