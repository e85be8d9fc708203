"""Build ably SDK clients for the local hub or for Ably's cloud.

Everything else in the project gets its `AblyRealtime` / `AblyRest` from here, so the
hub-specific SDK options (and the port fix) live in one place. The SDK reads the running
event loop when a client is created: call these from inside async code.

Hub clients always use token auth, even over TLS, so that they behave the same on every
port and scheme:

- ably-python refuses Basic auth for REST over plain http (40103, before sending anything),
  and every realtime client also makes REST calls (history, tokens); `use_token_auth=True`
  makes it sign TokenRequests locally and POST them to /keys/{keyName}/requestToken.
- With a client_id, token auth alone fails at connect with 40102 because the SDK requests
  its first token without a clientId; `default_token_params={"client_id": ...}` puts it in.
- ably-python's WebSocket ignores the port option; see ably_port_fix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ably import AblyRealtime, AblyRest

from tui_session.transport import ably_port_fix

if TYPE_CHECKING:
    from tui_session.config import Settings

# Listen-on-everything addresses: a client on the same machine reaches them on loopback.
_WILDCARD_HOSTS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def _check_literal_host(host: str) -> None:
    # The SDK takes `endpoint` as a host name only if it contains ".", "::" or "localhost";
    # any other word is a routing policy name and becomes "<word>.realtime.ably.net".
    if not ("." in host or "::" in host or "localhost" in host):
        raise ValueError(
            f"hub host {host!r} would be read by the ably SDK as an Ably routing policy, "
            "not a host name; use an IP address or a dotted name (e.g. 'myhub.local')"
        )


def hub_options(
    host: str,
    port: int,
    key: str,
    client_id: str | None = None,
    *,
    tls: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """The SDK client options (including `key`) for the hub at host:port.

    Extra keyword arguments are passed to the SDK unchanged (e.g. `auto_connect=False`,
    `use_binary_protocol=False`, `transport_params={...}`).
    """
    _check_literal_host(host)
    opts: dict[str, Any] = {
        "key": key,
        "endpoint": host,
        "tls": tls,
        "use_token_auth": True,
    }
    opts["tls_port" if tls else "port"] = port
    if client_id is not None:
        token_params = dict(options.pop("default_token_params", None) or {})
        token_params.setdefault("client_id", client_id)
        opts["client_id"] = client_id
        opts["default_token_params"] = token_params
    opts.update(options)
    return opts


def hub_realtime(
    host: str,
    port: int,
    key: str,
    client_id: str | None = None,
    *,
    tls: bool = False,
    **options: Any,
) -> AblyRealtime:
    """A realtime client for the hub; it starts connecting at once unless
    `auto_connect=False`. Wait with `await client.connection.once_async("connected")`."""
    ably_port_fix.install()
    return AblyRealtime(**hub_options(host, port, key, client_id, tls=tls, **options))


def hub_rest(
    host: str,
    port: int,
    key: str,
    client_id: str | None = None,
    *,
    tls: bool = False,
    **options: Any,
) -> AblyRest:
    """A REST client for the hub (token auth, so it also works over plain http)."""
    return AblyRest(**hub_options(host, port, key, client_id, tls=tls, **options))


def cloud_options(
    *,
    key: str | None = None,
    auth_url: str | None = None,
    auth_callback: Callable[..., Any] | None = None,
    client_id: str | None = None,
    endpoint: str | None = None,
    **options: Any,
) -> dict[str, Any]:
    """The SDK client options for Ably's cloud: an API key, or a token source (auth_url or
    auth_callback) for clients that must not hold a key. `endpoint` None means the SDK's
    default ("main", production)."""
    if key is None and auth_url is None and auth_callback is None:
        raise ValueError("Ably's cloud needs a key, an auth_url or an auth_callback")
    opts: dict[str, Any] = {
        name: value
        for name, value in {
            "key": key,
            "auth_url": auth_url,
            "auth_callback": auth_callback,
            "client_id": client_id,
            "endpoint": endpoint,
        }.items()
        if value is not None
    }
    opts.update(options)
    return opts


def cloud_realtime(**kwargs: Any) -> AblyRealtime:
    """A realtime client for Ably's cloud; arguments as `cloud_options`."""
    return AblyRealtime(**cloud_options(**kwargs))


def cloud_rest(**kwargs: Any) -> AblyRest:
    """A REST client for Ably's cloud; arguments as `cloud_options`."""
    return AblyRest(**cloud_options(**kwargs))


def realtime_from_settings(
    settings: Settings,
    client_id: str | None = None,
    *,
    hub_key: str | None = None,
    **options: Any,
) -> AblyRealtime:
    """The realtime client that `settings.client.endpoint` asks for.

    "local": the hub in `settings.hub`, authenticated with `hub_key` (the hub's app key).
    Anything else: Ably's cloud at that endpoint, with `client.ably_key` or `client.auth_url`.
    """
    client = settings.client
    if client.endpoint == "local":
        if hub_key is None:
            raise ValueError("the local hub needs its app key (hub_key)")
        hub = settings.hub
        host = _WILDCARD_HOSTS.get(hub.host, hub.host)
        return hub_realtime(host, hub.port, hub_key, client_id, tls=hub.tls, **options)
    return cloud_realtime(
        key=client.ably_key,
        auth_url=client.auth_url,
        client_id=client_id,
        endpoint=client.endpoint,
        **options,
    )
