"""A real PyKMIP server over mutual TLS on loopback, one per test session (per xdist worker).

Certificates are made here with `cryptography`: a CA, a server certificate for 127.0.0.1
(serverAuth + clientAuth, as PyKMIP's TLS1.2 suite wants) and a client certificate
(clientAuth). `foreign_client` issues a client certificate from another CA, which the server
refuses during the handshake.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from citadel.crypto.providers.connection import Connection
from tests.fixtures.key_servers import LOOPBACK_ALLOWED

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from kmip import enums
    from kmip.pie.client import ProxyKmipClient

_START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Identity:
    """A certificate and its private key, PEM-encoded."""

    cert_pem: bytes
    key_pem: bytes
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def make_ca(name: str) -> Identity:
    """A self-signed certification authority."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _identity(cert, key)


def issue(ca: Identity, name: str, *, server: bool) -> Identity:
    """A leaf certificate: a server one for 127.0.0.1, or a client one."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
    if server:
        usages.insert(0, ExtendedKeyUsageOID.SERVER_AUTH)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return _identity(builder.sign(ca.key, hashes.SHA256()), key)


def _identity(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Identity:
    return Identity(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        cert=cert,
        key=key,
    )


def free_port() -> int:
    """A TCP port on loopback nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class KmipServer:
    """A running PyKMIP server and the identities that can talk to it."""

    host: str
    port: int
    ca: Identity
    client: Identity
    workdir: Path

    def key_path(self, uid: str) -> str:
        return f"kmip://{self.host}:{self.port}/{uid}"

    def connection(self, client: Identity | None = None, *, timeout_s: float = 5.0) -> Connection:
        """Provider settings for `client` (default: the trusted client certificate)."""
        who = client or self.client
        return Connection(
            settings={"ca_pem": self.ca.cert_pem.decode(), "cert_pem": who.cert_pem.decode()},
            secret=who.key_pem,
            timeout_s=timeout_s,
            endpoints=LOOPBACK_ALLOWED,
        )

    @contextlib.contextmanager
    def admin(self) -> Iterator[ProxyKmipClient]:
        """The key owner's own PyKMIP client, to create, revoke and destroy keys in tests."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            client = ProxyKmipClient(
                hostname=self.host,
                port=self.port,
                cert=str(self.workdir / "client.crt"),
                key=str(self.workdir / "client.key"),
                ca=str(self.workdir / "ca.crt"),
                config_file="/dev/null",
                kmip_version=enums.KMIPVersion.KMIP_1_2,
            )
            with client:
                yield client

    def create_aes_key(self, length: int = 256) -> str:
        """A new active AES key usable for encrypt and decrypt; its uid."""
        with self.admin() as c:
            uid = c.create(
                enums.CryptographicAlgorithm.AES,
                length,
                cryptographic_usage_mask=[
                    enums.CryptographicUsageMask.ENCRYPT,
                    enums.CryptographicUsageMask.DECRYPT,
                ],
            )
            c.activate(uid)
        return uid


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


def _server_conf(workdir: Path, port: int) -> str:
    return (
        "[server]\n"
        "hostname=127.0.0.1\n"
        f"port={port}\n"
        f"certificate_path={workdir / 'server.crt'}\n"
        f"key_path={workdir / 'server.key'}\n"
        f"ca_path={workdir / 'ca.crt'}\n"
        "auth_suite=TLS1.2\n"
        f"policy_path={workdir / 'policies'}\n"
        "enable_tls_client_auth=True\n"
        "logging_level=INFO\n"
        f"database_path={workdir / 'pykmip.db'}\n"
    )


def _accepts_tls(server: KmipServer) -> bool:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cadata=server.ca.cert_pem.decode())
    ctx.load_cert_chain(server.workdir / "client.crt", server.workdir / "client.key")
    try:
        with (
            socket.create_connection((server.host, server.port), timeout=1) as raw,
            ctx.wrap_socket(raw, server_hostname=server.host),
        ):
            return True
    except OSError:
        return False


def _start(workdir: Path, server: KmipServer) -> subprocess.Popen[bytes]:
    (workdir / "server.conf").write_text(_server_conf(workdir, server.port))
    script = Path(sys.executable).parent / "pykmip-server"
    with (workdir / "server.stderr").open("ab") as stderr:
        return subprocess.Popen(
            [str(script), "-f", str(workdir / "server.conf"), "-l", str(workdir / "server.log")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            cwd=workdir,
            start_new_session=True,  # its policy monitor is a child process: stop the whole group
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    # Its state is disposable, and after SIGTERM PyKMIP joins every thread for up to 10 s each:
    # kill its whole group (its own, from start_new_session; the leader is not reaped yet, so
    # the group id is still this server's) and reap the leader.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.fixture(name="kmip_server", scope="session")
def kmip_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KmipServer]:
    """A PyKMIP server of this worker's own, listening on a free loopback port."""
    workdir = tmp_path_factory.mktemp("kmip")
    (workdir / "policies").mkdir()
    ca = make_ca("citadel-test-kmip-ca")
    server_id = issue(ca, "kmip-server", server=True)
    client_id = issue(ca, "platform-client", server=False)
    _write(workdir / "ca.crt", ca.cert_pem)
    _write(workdir / "server.crt", server_id.cert_pem)
    _write(workdir / "server.key", server_id.key_pem)
    _write(workdir / "client.crt", client_id.cert_pem)
    _write(workdir / "client.key", client_id.key_pem)
    for _attempt in range(3):  # the free port may be taken between choosing and binding it
        server = KmipServer("127.0.0.1", free_port(), ca, client_id, workdir)
        proc = _start(workdir, server)
        deadline = time.monotonic() + _START_TIMEOUT_S
        while proc.poll() is None and time.monotonic() < deadline:
            if _accepts_tls(server):
                try:
                    yield server
                finally:
                    _stop(proc)
                return
            time.sleep(0.1)
        _stop(proc)
    log = (workdir / "server.log").read_text() if (workdir / "server.log").exists() else ""
    pytest.fail(f"pykmip-server did not start: {log[-2000:]}")


@pytest.fixture(name="foreign_client", scope="session")
def foreign_client() -> Identity:
    """A client certificate from a CA the KMIP server does not trust."""
    return issue(make_ca("some-other-ca"), "intruder", server=False)
