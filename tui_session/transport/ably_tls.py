"""Give one ably-python client an explicit SSL context (for example: trust exactly the hub's
self-signed certificate), without touching any other client or the process's trust store.

Why this exists
---------------
ably-python 3.1.x has no TLS option. Its REST calls go through the `httpx.AsyncClient` that
`ably.http.http.Http.__init__` creates with default verification, and its realtime socket is
opened by `websockets.connect(ws_url, additional_headers=...)`, called inside
`WebSocketTransport.ws_connect` (ably/transport/websockettransport.py) with no `ssl` argument.
A process-wide `SSL_CERT_FILE` would make every client trust the hub's certificate for every
host; this module keeps the trust per client and per endpoint instead.

What it changes
---------------
- REST: the client's own httpx client is replaced by one built with `verify=context`
  (`Http._Http__client`, a private attribute: checked by the test below).
- Realtime: the context is stored on the client's options object; `WebSocketTransport.connect`
  is wrapped to put it in a context variable while it creates its socket task (a task copies
  the variables of its creator), and the module's `ws_connect` name is wrapped to pass it as
  `ssl=`. Both wrappers are installed once, process-wide and idempotently, and do nothing for
  a client without a context (every client of Ably's cloud).

tests/remote/test_tls.py connects real SDK clients to a TLS hub with a pinned
certificate (and with the wrong one): it fails loudly if an SDK upgrade moves any of this.
"""

from __future__ import annotations

import contextvars
import functools
import ssl
from typing import Any

import httpx
from ably.transport import websockettransport
from ably.transport.websockettransport import WebSocketTransport

_OPTION = "_tui_session_ssl_context"
_MARKER = "_tui_session_tls"
_current: contextvars.ContextVar[ssl.SSLContext | None] = contextvars.ContextVar(
    "tui_session_ably_ssl", default=None
)


def use_context(client: Any, context: ssl.SSLContext) -> None:
    """Make `client` (AblyRest or AblyRealtime, not yet connected) verify with `context`."""
    install()
    setattr(client.options, _OPTION, context)
    http = client.http
    http._Http__client = httpx.AsyncClient(http2=True, verify=context)


def context_of(client: Any) -> ssl.SSLContext | None:
    return getattr(client.options, _OPTION, None)


def is_installed() -> bool:
    return getattr(WebSocketTransport.connect, _MARKER, False)


def install() -> None:
    if is_installed():
        return
    original_connect = WebSocketTransport.connect
    original_ws_connect = websockettransport.ws_connect

    @functools.wraps(original_connect)
    def connect(self: WebSocketTransport) -> None:
        token = _current.set(getattr(self.options, _OPTION, None))
        try:
            original_connect(self)  # creates the socket task, which inherits _current
        finally:
            _current.reset(token)

    @functools.wraps(original_ws_connect)
    def ws_connect(uri: str, **kwargs: Any) -> Any:
        context = _current.get()
        if context is not None and uri.startswith("wss:"):
            kwargs.setdefault("ssl", context)
        return original_ws_connect(uri, **kwargs)

    setattr(connect, _MARKER, True)
    WebSocketTransport.connect = connect  # type: ignore[method-assign]
    websockettransport.ws_connect = ws_connect
