"""TLS when the hub leaves loopback: the self-signed certificate it makes, clients that trust
exactly it (and nothing else), and the SDK patch that makes that per client
(tui_session/transport/ably_tls.py): these tests fail loudly if an ably upgrade moves it."""

from __future__ import annotations

import asyncio
import inspect
import ssl
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import websockets
from ably import AblyException
from ably.transport import websockettransport
from ably.transport.websockettransport import WebSocketTransport

from tests.support.hub import wait_state
from tui_session.config import HubSettings
from tui_session.credentials.tls import (
    CERT_FILE,
    KEY_FILE,
    TLS_DIR,
    ensure_self_signed,
    is_loopback,
    pinned_context,
)
from tui_session.hub.server import RunningHub, start_hub
from tui_session.transport import ably_tls
from tui_session.transport.connect import hub_realtime, hub_rest


@pytest.fixture
async def lan_hub(tmp_path: Path) -> AsyncIterator[RunningHub]:
    """A hub bound to every address (beyond loopback), with no certificate given."""
    running = await start_hub(HubSettings(host="0.0.0.0", port=0, data_dir=tmp_path / "hub"))
    yield running
    await running.stop()


def pinned(running: RunningHub) -> ssl.SSLContext:
    assert running.tls is not None
    return pinned_context(running.tls.cert_der())


async def socket_failure(client: object) -> BaseException | None:
    """The exception of the client's first socket attempt (the SDK only times out on it)."""
    manager = client.connection.connection_manager  # type: ignore[attr-defined]
    for _ in range(500):
        if manager.transport is not None and manager.transport.ws_connect_task is not None:
            break
        await asyncio.sleep(0.01)
    task = manager.transport.ws_connect_task
    await asyncio.wait([task], timeout=10)
    return task.exception() if task.done() and not task.cancelled() else None


def test_loopback_is_told_apart_from_the_network() -> None:
    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "", "10.213.0.1", "192.0.2.7"):
        assert not is_loopback(host), host


async def test_off_loopback_the_hub_makes_and_serves_a_self_signed_certificate(
    lan_hub: RunningHub, tmp_path: Path
) -> None:
    tls = lan_hub.tls
    assert tls is not None and tls.self_signed
    assert tls.cert == tmp_path / "hub" / TLS_DIR / CERT_FILE
    assert stat.S_IMODE((tmp_path / "hub" / TLS_DIR / KEY_FILE).stat().st_mode) == 0o600
    assert tls.fingerprint().startswith("SHA256:") and len(tls.fingerprint()) == 7 + 95
    client = hub_realtime(
        "127.0.0.1",
        lan_hub.port,
        lan_hub.hub.auth.root_key(),
        "alice",
        tls=True,
        ssl_context=pinned(lan_hub),
    )
    try:
        await wait_state(client)
        channel = client.channels.get("session:tls")
        await channel.publish("n", "over TLS, pinned")
        history = await channel.history()  # REST through the client's own pinned httpx
        assert [m.data for m in history.items] == ["over TLS, pinned"]
    finally:
        await client.close()


async def test_a_restarted_hub_keeps_its_certificate(tmp_path: Path) -> None:
    settings = HubSettings(host="0.0.0.0", port=0, data_dir=tmp_path / "hub")
    first = await start_hub(settings)
    await first.stop()
    second = await start_hub(settings)
    await second.stop()
    assert first.tls is not None and second.tls is not None
    assert first.tls.fingerprint() == second.tls.fingerprint()


async def test_insecure_serves_plaintext_beyond_loopback(tmp_path: Path) -> None:
    settings = HubSettings(host="0.0.0.0", port=0, data_dir=tmp_path / "hub", insecure=True)
    running = await start_hub(settings)
    client = hub_realtime("127.0.0.1", running.port, running.hub.auth.root_key(), "alice")
    try:
        assert running.tls is None
        await wait_state(client)
        assert not (tmp_path / "hub" / TLS_DIR).exists()
    finally:
        await client.close()
        await running.stop()


async def test_a_client_pinned_to_another_certificate_is_refused(
    lan_hub: RunningHub, tmp_path: Path
) -> None:
    other = ensure_self_signed(tmp_path / "impostor", ["localhost"])
    key = lan_hub.hub.auth.root_key()
    wrong = pinned_context(other.cert_der())
    client = hub_realtime("127.0.0.1", lan_hub.port, key, "alice", tls=True, ssl_context=wrong)
    try:
        failure = await socket_failure(client)
        assert isinstance(failure, ssl.SSLCertVerificationError), failure
        assert client.connection.state.value != "connected"
    finally:
        await client.close()
    rest = hub_rest("127.0.0.1", lan_hub.port, key, "alice", tls=True, ssl_context=wrong)
    try:
        with pytest.raises(AblyException, match="CERTIFICATE_VERIFY_FAILED"):
            await rest.channels.get("session:tls").history()
    finally:
        await rest.close()


async def test_the_pin_stays_with_its_client_and_is_not_trusted_process_wide(
    lan_hub: RunningHub,
) -> None:
    key = lan_hub.hub.auth.root_key()
    trusting = hub_realtime(
        "127.0.0.1", lan_hub.port, key, "alice", tls=True, ssl_context=pinned(lan_hub)
    )
    plain = hub_realtime("127.0.0.1", lan_hub.port, key, "bob", tls=True)
    try:
        await wait_state(trusting)
        failure = await socket_failure(plain)
        assert isinstance(failure, ssl.SSLCertVerificationError), failure
        assert ably_tls.context_of(plain) is None
    finally:
        await trusting.close()
        await plain.close()


def test_the_sdk_still_has_what_the_tls_patch_wraps() -> None:
    """ably_tls relies on: a sync WebSocketTransport.connect(self) that creates the socket
    task, a module-level `ws_connect` in websockettransport that is websockets' connect and
    takes `ssl`, and the REST client's private httpx client. A change here means the patch no
    longer applies: re-check tui_session/transport/ably_tls.py."""
    ably_tls.install()
    original = inspect.unwrap(WebSocketTransport.connect)
    assert not inspect.iscoroutinefunction(original)
    assert list(inspect.signature(original).parameters) == ["self"]
    assert "create_task(self.ws_connect(" in inspect.getsource(original)
    wrapped = inspect.unwrap(websockettransport.ws_connect)
    assert wrapped is websockets.connect
    assert "ssl" in inspect.signature(websockets.connect.__init__).parameters or (
        "kwargs" in inspect.signature(websockets.connect.__init__).parameters
    )
    from ably import AblyRest

    assert hasattr(AblyRest(key="a.b:c").http, "_Http__client")


def test_install_is_idempotent() -> None:
    ably_tls.install()
    first = (WebSocketTransport.connect, websockettransport.ws_connect)
    ably_tls.install()
    assert (WebSocketTransport.connect, websockettransport.ws_connect) == first
    assert ably_tls.is_installed()
