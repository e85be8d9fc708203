"""Programs that hold a port but are not a tui-session hub: a raw TCP listener that never
answers, and a plain HTTP server. Real sockets, in this process."""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any


@contextlib.contextmanager
def silent_listener() -> Iterator[int]:
    """A TCP listener whose connections complete (in the kernel's backlog) and never get an
    answer; yields its port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


class _NoRoutes(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def plain_http_server() -> Iterator[int]:
    """An HTTP server that is not a hub (every GET is answered 501); yields its port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NoRoutes)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


# name -> (how to start it, what the probe says of it)
SQUATTERS: dict[str, tuple[Callable[[], AbstractContextManager[int]], str]] = {
    "silent listener": (silent_listener, "it accepted the connection but did not answer in 1 s"),
    "plain HTTP server": (plain_http_server, "it answered HTTP 501 (BaseHTTP/"),
}
