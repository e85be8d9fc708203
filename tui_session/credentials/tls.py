"""The hub's TLS: when it is needed, the self-signed certificate, and contexts that trust it.

A hub (and the agent service beside it) that listens beyond loopback serves TLS: with the
certificate given (`hub.tls_cert`, `hub.tls_key`), or else one it makes itself, once, in
`<data_dir>/tls/` (ECDSA P-256, valid for `VALID_DAYS`, its subjectAltNames the bound
address, this host's names and addresses). `hub.insecure = true` serves plaintext instead.

A joining terminal trusts exactly that certificate, carried in its invite: `pinned_context`
makes a context whose only trust anchor is that certificate, so only a server holding its
private key is accepted. The host name is not checked against it (the pin is the identity: an
address change, NAT or a DNS name does not break it); the fingerprint is shown to people as
`SHA256:AB:CD:…`.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from tui_session.config import HubSettings

TLS_DIR = "tls"
CERT_FILE = "hub-cert.pem"
KEY_FILE = "hub-key.pem"
VALID_DAYS = 5 * 365
RENEW_BEFORE_DAYS = 30
_WILDCARDS = {"0.0.0.0", "::", ""}


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path
    self_signed: bool

    def cert_der(self) -> bytes:
        return ssl.PEM_cert_to_DER_cert(self.cert.read_text(encoding="ascii"))

    def fingerprint(self) -> str:
        return fingerprint(self.cert_der())

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def is_loopback(host: str) -> bool:
    """True when `host` can only be reached from this machine."""
    if host in _WILDCARDS:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def hub_tls(hub: HubSettings) -> TlsFiles | None:
    """The certificate the hub at `hub` serves, or None for plaintext. Off loopback and not
    `insecure`, with no certificate given, the self-signed one is made (or reused) here."""
    if hub.tls_cert is not None and hub.tls_key is not None:
        return TlsFiles(Path(hub.tls_cert), Path(hub.tls_key), self_signed=False)
    if is_loopback(hub.host) or hub.insecure:
        return None
    return ensure_self_signed(Path(hub.data_dir) / TLS_DIR, subject_names(hub.host))


def existing_hub_tls(hub: HubSettings) -> TlsFiles | None:
    """Like `hub_tls`, but never creates a certificate (for a client of a running hub)."""
    if hub.tls_cert is not None and hub.tls_key is not None:
        return TlsFiles(Path(hub.tls_cert), Path(hub.tls_key), self_signed=False)
    if is_loopback(hub.host) or hub.insecure:
        return None
    directory = Path(hub.data_dir) / TLS_DIR
    if not (directory / CERT_FILE).exists():
        return None
    return TlsFiles(directory / CERT_FILE, directory / KEY_FILE, self_signed=True)


def fingerprint(cert_der: bytes) -> str:
    digest = hashlib.sha256(cert_der).hexdigest().upper()
    return "SHA256:" + ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def pinned_context(cert_der: bytes) -> ssl.SSLContext:
    """A client context that trusts exactly this certificate, and nothing else."""
    context = ssl.create_default_context(
        ssl.Purpose.SERVER_AUTH, cadata=ssl.DER_cert_to_PEM_cert(cert_der)
    )
    context.check_hostname = False  # the pin, not the name, identifies the hub (module doc)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def subject_names(host: str) -> list[str]:
    """subjectAltNames for a hub bound to `host`: that address (or, for a wildcard, this
    host's addresses), the host name, localhost and the loopback addresses."""
    names: list[str] = []
    if host not in _WILDCARDS:
        names.append(host.strip("[]"))
    hostname = socket.gethostname()
    names += [hostname, "localhost", "127.0.0.1", "::1"]
    if host in _WILDCARDS:
        names += _own_addresses(hostname)
    seen: dict[str, None] = {}
    for name in names:
        if name:
            seen.setdefault(name, None)
    return list(seen)


def _own_addresses(hostname: str) -> list[str]:
    found: list[str] = []
    try:
        found += [i[4][0] for i in socket.getaddrinfo(hostname, None)]
    except OSError:
        pass
    # The address of the default route (a UDP "connect" sends nothing).
    for family, probe in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.connect((probe, 9))
                found.append(sock.getsockname()[0])
        except OSError:
            continue
    return found


def ensure_self_signed(directory: Path, names: list[str]) -> TlsFiles:
    """The certificate in `directory`, made now if missing or about to expire. Kept across
    restarts, so the fingerprint in earlier invites stays valid."""
    cert_path, key_path = directory / CERT_FILE, directory / KEY_FILE
    if cert_path.exists() and key_path.exists() and not _expiring(cert_path):
        return TlsFiles(cert_path, key_path, self_signed=True)
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tui-session hub")])
    now = datetime.datetime.now(datetime.UTC)
    alt_names: list[x509.GeneralName] = []
    for name in names:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt_names.append(x509.DNSName(name))
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write(key_path, key_pem, 0o600)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return TlsFiles(cert_path, key_path, self_signed=True)


def _expiring(cert_path: Path) -> bool:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    left = cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    return left < datetime.timedelta(days=RENEW_BEFORE_DAYS)


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
