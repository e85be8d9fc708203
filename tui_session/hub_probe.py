"""What is at a hub's address, asked before the UI opens: a tui-session hub, another program,
or nothing; and whether a port is free for a server to listen on.

A hub is recognised positively: it answers `GET /tui-session` with its service name
(`hub/rest.py`, docs/hub.md "REST"). Anything else that answers, or accepts the connection and
stays silent, is another program. Every check ends within `PROBE_TIMEOUT_S` per step, so
`chat` reports a wrong endpoint in about a second instead of a 30 s "connecting".

Synchronous on purpose (plain sockets, `http.client`): it runs in the CLI before any event
loop, and imports nothing heavy, so a mistake is reported quickly.
"""

from __future__ import annotations

import errno
import http.client
import json
import socket
import ssl
from dataclasses import dataclass
from typing import Literal

IDENTITY_ROUTE = "/tui-session"  # hub/rest.py IDENTITY_ROUTE
HUB_SERVICE = "tui-session-hub"  # hub/rest.py IDENTITY
PROBE_TIMEOUT_S = 1.0  # to connect, then again to read the answer

Found = Literal["hub", "other", "nothing"]


@dataclass(frozen=True)
class Probe:
    """What answered at host:port; `detail` says how, in words (for an error sentence)."""

    found: Found
    detail: str = ""

    @property
    def is_hub(self) -> bool:
        return self.found == "hub"


def probe_hub(
    host: str, port: int, *, tls: bool = False, timeout: float = PROBE_TIMEOUT_S
) -> Probe:
    """Ask host:port whether it is a tui-session hub: over TLS first when `tls`, else in plain
    HTTP first; a server that breaks off the exchange in that scheme is asked in the other
    (a hub off loopback serves TLS). TLS here does not check the certificate: this only
    identifies; the realtime client checks trust itself."""
    first = _probe(host, port, tls, timeout)
    if first.found == "other" and first.detail in _WRONG_SCHEME:
        second = _probe(host, port, not tls, timeout)
        if second.is_hub:
            return second
    return first


def _probe(host: str, port: int, tls: bool, timeout: float) -> Probe:
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except TimeoutError:
        return Probe("nothing", f"no answer to a connection within {timeout:g} s")
    except socket.gaierror as err:
        return Probe("nothing", f"unknown host ({err.strerror})")
    except OSError as err:
        return Probe("nothing", _os_reason(err))
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        if tls:
            try:
                sock = _identify_only().wrap_socket(sock, server_hostname=host)
            except TimeoutError:
                return Probe("other", _SILENT.format(timeout=timeout))
            except OSError:  # ssl.SSLError is an OSError
                return Probe("other", _NOT_TLS)
        connection.sock = sock
        return _identify(connection, timeout)
    finally:
        connection.close()
        sock.close()


_SILENT = "it accepted the connection but did not answer in {timeout:g} s"
_CLOSED = "it closed the connection without answering"
_NOT_HTTP = "it does not speak HTTP"
_NOT_TLS = "it does not speak TLS"
_WRONG_SCHEME = {_CLOSED, _NOT_HTTP, _NOT_TLS}


def _identify_only() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _identify(connection: http.client.HTTPConnection, timeout: float) -> Probe:
    try:
        connection.request("GET", IDENTITY_ROUTE, headers={"Accept": "application/json"})
        response = connection.getresponse()
        body = response.read(4096)
    except TimeoutError:
        return Probe("other", _SILENT.format(timeout=timeout))
    except (http.client.RemoteDisconnected, ConnectionResetError):
        return Probe("other", _CLOSED)
    except http.client.BadStatusLine:
        return Probe("other", _NOT_HTTP)
    except (http.client.HTTPException, OSError) as err:
        return Probe("other", f"it broke off the exchange ({_os_reason(err)})")
    if response.status == 200 and _service(body) == HUB_SERVICE:
        return Probe("hub")
    server = response.getheader("Server")
    return Probe(
        "other", f"it answered HTTP {response.status}" + (f" ({server})" if server else "")
    )


def _service(body: bytes) -> str | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value.get("service") if isinstance(value, dict) else None


def cannot_listen(host: str, port: int) -> str | None:
    """Why a server could not listen on host:port now ("address already in use"), or None
    when it could. Binds as the hub and the agent service do (SO_REUSEADDR), then lets go."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        return f"unknown host ({err.strerror})"
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as err:
            return _os_reason(err)
    return None


def _os_reason(err: OSError | Exception) -> str:
    if isinstance(err, OSError) and err.errno == errno.ECONNREFUSED:
        return "connection refused: nothing listens there"
    if isinstance(err, OSError) and err.strerror:
        return err.strerror[0].lower() + err.strerror[1:]
    return str(err) or type(err).__name__


def accepts(host: str, port: int, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether something listens on host:port (a connection is accepted)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
