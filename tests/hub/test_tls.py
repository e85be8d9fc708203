"""The hub over TLS (wss/https) with a local CA, reached by the unmodified ably SDK."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.hub import Collector, hub_settings, wait_state
from tui_session.hub.server import start_hub
from tui_session.transport.connect import hub_realtime

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not found")


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1, made with the openssl tool."""
    ca_key, ca_pem = directory / "ca.key", directory / "ca.pem"
    key, csr, pem = directory / "hub.key", directory / "hub.csr", directory / "hub.pem"
    ext = directory / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=test-ca",
        "-keyout",
        str(ca_key),
        "-out",
        str(ca_pem),
    )
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        str(key),
        "-out",
        str(csr),
    )
    run(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca_pem),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        str(ext),
        "-out",
        str(pem),
    )
    return ca_pem, pem, key


async def test_sdk_connects_publishes_and_reads_history_over_tls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, cert, key = make_certificates(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # how a client trusts the local CA
    running = await start_hub(hub_settings(tmp_path / "data", tls_cert=cert, tls_key=key))
    client = hub_realtime("127.0.0.1", running.port, running.hub.auth.root_key(), "alice", tls=True)
    try:
        await wait_state(client)
        channel = client.channels.get("session:tls")
        got = Collector()
        await channel.subscribe(got.add)
        result = await channel.publish("n", "over tls")
        [message] = await got.wait_for(1)
        assert message.data == "over tls" and message.serial == result.serials[0]
        history = await channel.history()  # REST over https with the token
        assert [m.data for m in history.items] == ["over tls"]
    finally:
        await client.close()
        await running.stop()
