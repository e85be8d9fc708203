"""Make ably-python's realtime WebSocket honour the configured port.

Why this exists
---------------
ably-python 3.1.x builds its WebSocket URL as ``ws[s]://{host}?{query}`` in
``WebSocketTransport.connect`` (ably/transport/websockettransport.py) and never adds the
``port`` / ``tls_port`` client option, while its REST client does use them. So a client
configured with ``endpoint="127.0.0.1", port=8470, tls=False`` sends REST to :8470 but opens
its WebSocket on :80. Binding port 80 (or 443) needs privileges a normal user lacks, and a
local hub must run on any port.

Why here, and not elsewhere
---------------------------
- ``endpoint="127.0.0.1:8470"`` fixes the WebSocket but breaks every REST URL
  (``Invalid port: '8470:8470'``).
- Changing the *host* the connection manager hands to the transport (``127.0.0.1:8470``)
  makes the transport record it as a fallback host, and the next REST call fails inside the
  SDK's host bookkeeping (``list.remove(x): x not in list``).
- So we leave every host untouched and insert the port into the finished URL, at the
  moment the transport opens its socket: ``WebSocketTransport.ws_connect(self, ws_url,
  headers)`` is wrapped once, process-wide and idempotently. The wrapper only acts when the
  client's effective port differs from the scheme default and the URL carries no port, so
  clients for Ably's cloud (default ports) are untouched.

With TLS on 443 (the hub behind a local CA) nothing needs fixing; the wrapper is a no-op.

Upstream, and when to delete this
---------------------------------
The bug is ably-python issue #567, "WebSocketTransport does not respect `tls` and `port`
options" (https://github.com/ably/ably-python/issues/567, open since 2024-08; `tls` has since
been fixed, `port` not). The fix is pull request #691, "fix: include the configured port in
realtime websocket URLs" (https://github.com/ably/ably-python/pull/691, open as of 2026-09):
it appends ``Defaults.get_port(options)`` to every WebSocket URL. Once a release with it is
pinned in pyproject.toml, the URL always names a port, this wrapper does nothing, and the
module and its ``install()`` call in connect.py can go.

tests/transport/test_connect.py fails loudly if an SDK upgrade starts putting the port in
the URL itself (then delete this module) or moves the code this wraps.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ably.transport.defaults import Defaults
from ably.transport.websockettransport import WebSocketTransport

_MARKER = "_tui_session_port_fix"
_DEFAULT_PORTS = {"ws": 80, "wss": 443}

WsConnect = Callable[[WebSocketTransport, str, Any], Awaitable[None]]


def with_port(ws_url: str, port: int) -> str:
    """Return `ws_url` with `port` in its authority, unless it is the scheme default or the
    URL already names a port. `ws://h?q` becomes `ws://h:port/?q`."""
    parts = urlsplit(ws_url)
    if port == _DEFAULT_PORTS.get(parts.scheme):
        return ws_url
    host = parts.netloc
    try:
        if parts.port is not None:
            return ws_url  # already explicit (a newer SDK, or an endpoint "host:port")
    except ValueError:
        # An unbracketed IPv6 literal ("::1") does not parse as host[:port]; bracket it.
        host = f"[{host}]"
    return urlunsplit((parts.scheme, f"{host}:{port}", parts.path or "/", parts.query, ""))


def _effective_port(transport: WebSocketTransport) -> int:
    # The same rule the SDK's REST client uses (options.port / tls_port, else 80 / 443).
    return Defaults.get_port(transport.options)


def is_installed() -> bool:
    return getattr(WebSocketTransport.ws_connect, _MARKER, False)


def original_ws_connect() -> WsConnect:
    """The SDK's own `ws_connect`, whether or not the fix is installed."""
    current = WebSocketTransport.ws_connect
    return current.__wrapped__ if is_installed() else current  # type: ignore[attr-defined]


def install() -> None:
    """Wrap `WebSocketTransport.ws_connect` once; later calls do nothing."""
    if is_installed():
        return
    original = WebSocketTransport.ws_connect

    @functools.wraps(original)
    async def ws_connect(self: WebSocketTransport, ws_url: str, headers: Any) -> None:
        return await original(self, with_port(ws_url, _effective_port(self)), headers)

    setattr(ws_connect, _MARKER, True)
    WebSocketTransport.ws_connect = ws_connect  # type: ignore[method-assign]


def uninstall() -> None:
    """Restore the SDK's method (for tests that need the unmodified behaviour)."""
    if is_installed():
        WebSocketTransport.ws_connect = original_ws_connect()  # type: ignore[method-assign]
