"""Build ably SDK clients for the local hub or for Ably's cloud.

Everything else in the project gets its `AblyRealtime` / `AblyRest` from here, so the
hub-specific SDK options (and the SDK fixes) live in one place. The SDK reads the running
event loop when a client is created: call these from inside async code.

Hub clients always use token auth, with Ably JWTs, on every port and scheme:

- a client given the key signs its own JWTs locally (`jwt_token_source`: the clientId and
  capability it asks for, an hour each, renewed by the SDK), so the key itself never goes on
  the wire, ably-python's refusal of Basic auth over plain http (40103) never applies, and the
  token a terminal holds is one the agent service can verify (`POST /api/chat`);
- a client given a token (an invite) uses exactly that token until it expires
  (`fixed_token_source`);
- TLS can be pinned per client (`ssl_context`, see ably_tls); ably-python's WebSocket ignores
  the port option (see ably_port_fix).
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from ably import AblyRealtime, AblyRest
from ably.types.tokendetails import TokenDetails
from ably.util.exceptions import AblyAuthException

from tui_session.credentials import jwt
from tui_session.credentials.capability import Capability
from tui_session.transport import ably_port_fix, ably_tls

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


TOKEN_TTL_MS = 60 * 60 * 1000  # what Ably's SDKs ask for by default; renewed before expiry
AuthCallback = Callable[[Mapping[str, Any]], Awaitable[TokenDetails]]


def jwt_token_source(
    key: str,
    client_id: str | None,
    capability: Capability | Mapping[str, Any] | None = None,
    ttl_ms: int = TOKEN_TTL_MS,
) -> AuthCallback:
    """An SDK `auth_callback` that signs a fresh Ably JWT with `key` each time it is asked.
    Token params the SDK passes (`default_token_params`: client_id, capability, ttl) win over
    the defaults given here, as they would with a TokenRequest."""
    default_cap = capability if isinstance(capability, Capability) else Capability.parse(capability)

    async def token(params: Mapping[str, Any]) -> TokenDetails:
        now = jwt.now_ms()
        raw_cap = params.get("capability")
        cap = default_cap if raw_cap in (None, "", {}) else Capability.parse(raw_cap)
        who = params.get("client_id") or client_id
        ttl = int(params.get("ttl") or ttl_ms)
        signed = jwt.issue(key, client_id=who, capability=cap, ttl_ms=ttl, now=now)
        return TokenDetails(
            token=signed,
            expires=now // 1000 * 1000 + ttl,
            issued=now,
            capability=cap.to_dict(),
            client_id=who,
        )

    return token


def fixed_token_source(
    token: str, *, expires_ms: int, client_id: str | None, expired: str
) -> AuthCallback:
    """An SDK `auth_callback` that hands out one given token (an invite's) while it is valid,
    and once it has expired fails with `expired` (what the person should do)."""

    async def source(_params: Mapping[str, Any]) -> TokenDetails:
        if jwt.now_ms() >= expires_ms:
            raise AblyAuthException(expired, 401, 40142)
        return TokenDetails(token=token, expires=expires_ms, client_id=client_id)

    return source


def hub_options(
    host: str,
    port: int,
    key: str | None,
    client_id: str | None = None,
    *,
    tls: bool = False,
    capability: Capability | Mapping[str, Any] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """The SDK client options for the hub at host:port. With `key`, the client signs its own
    JWTs (`capability` None: the key's); without, pass `auth_callback` (or another SDK
    credential option) yourself. Extra keyword arguments are passed to the SDK unchanged
    (e.g. `auto_connect=False`, `use_binary_protocol=False`, `transport_params={...}`)."""
    _check_literal_host(host)
    opts: dict[str, Any] = {"endpoint": host, "tls": tls}
    opts["tls_port" if tls else "port"] = port
    if key is not None:
        opts["auth_callback"] = jwt_token_source(key, client_id, capability)
    if client_id is not None:
        opts["client_id"] = client_id
    opts.update(options)
    return opts


def hub_realtime(
    host: str,
    port: int,
    key: str | None,
    client_id: str | None = None,
    *,
    tls: bool = False,
    ssl_context: ssl.SSLContext | None = None,
    **options: Any,
) -> AblyRealtime:
    """A realtime client for the hub; it starts connecting at once unless
    `auto_connect=False`. Wait with `await client.connection.once_async("connected")`.
    `ssl_context` (with tls): verify the hub with it, e.g. trust exactly its certificate."""
    ably_port_fix.install()
    auto_connect = options.pop("auto_connect", True)
    client = AblyRealtime(
        **hub_options(host, port, key, client_id, tls=tls, auto_connect=False, **options)
    )
    if ssl_context is not None:
        ably_tls.use_context(client, ssl_context)
    if auto_connect:
        client.connect()
    return client


def hub_rest(
    host: str,
    port: int,
    key: str | None,
    client_id: str | None = None,
    *,
    tls: bool = False,
    ssl_context: ssl.SSLContext | None = None,
    **options: Any,
) -> AblyRest:
    """A REST client for the hub (token auth, so it also works over plain http)."""
    client = AblyRest(**hub_options(host, port, key, client_id, tls=tls, **options))
    if ssl_context is not None:
        ably_tls.use_context(client, ssl_context)
    return client


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
