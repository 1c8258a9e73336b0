"""An independent OpenID Provider for the OIDC realm's tests: oidc-provider-mock 0.3.4 (an
authorization-code provider built on Authlib, from PyPI) in its own process, served over TLS
on loopback by werkzeug with a certificate from a CA made for the test run.

The provider lets a test pick the user at its authorization form (``POST`` with ``sub``) and set
that user's claims (``PUT /users/<sub>``). It requires a ``nonce``. It does not check PKCE (it
registers no code-challenge extension), so the node's S256 challenge is sent and ignored there.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient

from citadel.contract.messages import AuditSettings, NodeSecurity, OidcRealm
from citadel.crypto.providers.endpoints import EndpointPolicy
from citadel.kit.clock import SettableClock
from citadel.node.main import assemble
from citadel.node.services import NodeServices
from citadel.node.store.connection import Store
from citadel.runtime.egress import Egress
from tests.node.builders import ELASTIC, ELASTIC_PASSWORD, app_of, client_of, put_role

_SERVE = """
import ssl, sys, werkzeug.serving
import oidc_provider_mock
port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
app = oidc_provider_mock.app(require_nonce=True)
werkzeug.serving.make_server("localhost", port, app, threaded=True, ssl_context=ctx).serve_forever()
"""


@dataclass(frozen=True)
class Provider:
    """A running provider: its issuer URL and the CA its certificate chains to (PEM)."""

    port: int
    ca_pem: str

    @property
    def issuer(self) -> str:
        return f"https://localhost:{self.port}"

    def client(self) -> httpx.Client:
        """An HTTPS client that trusts the provider (the user's browser, in the tests)."""
        return httpx.Client(verify=ssl.create_default_context(cadata=self.ca_pem), timeout=10)

    def set_user(self, sub: str, claims: dict[str, Any]) -> None:
        """Give the user `sub` these claims (they go into the ID token)."""
        with self.client() as client:
            assert client.put(f"{self.issuer}/users/{sub}", json=claims).status_code == 204

    def sign_in(self, authorize_url: str, sub: str) -> str:
        """What the user's browser does at the authorization URL: choose `sub`, follow the
        provider to the application's redirect URL (returned, with ``code`` and ``state``)."""
        with self.client() as client:
            form = client.get(authorize_url)
            assert form.status_code == 200, form.text
            answer = client.post(authorize_url, data={"sub": sub})
        assert answer.status_code == 302, answer.text
        return answer.headers["location"]


@contextmanager
def running_provider(directory: Path) -> Iterator[Provider]:
    """The provider in its own process, stopped after."""
    ca_pem, cert, key = make_certificates(directory)
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVE, str(port), str(cert), str(key)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    provider = Provider(port, ca_pem)
    try:
        _wait_until_up(provider, process)
        yield provider
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_until_up(provider: Provider, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    with provider.client() as client:
        while True:
            try:
                if client.get(f"{provider.issuer}/.well-known/openid-configuration").is_success:
                    return
            except httpx.HTTPError:
                pass
            assert process.poll() is None, "the OpenID Provider did not start"
            assert time.monotonic() < deadline, "the OpenID Provider did not answer"
            time.sleep(0.1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_certificates(directory: Path) -> tuple[str, Path, Path]:
    """A CA (PEM) and the provider's certificate and key files for ``localhost``."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test OpenID Provider CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
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
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = directory / "op.crt", directory / "op.key"
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca.public_bytes(serialization.Encoding.PEM).decode(), cert_file, key_file


@contextmanager
def short_directory(prefix: str) -> Iterator[Path]:
    """A directory with a short path, removed afterwards: a test that connects to an egress
    socket by its full path needs it within a unix socket path's 107 bytes, which pytest's
    own directories under xdist come close to (a sandboxed node connects by the short
    /run/citadel path; the allocator binds through a directory descriptor)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as directory:
        yield Path(directory)


def start_oidc_node(
    stack: ExitStack,
    directory: Path,
    settings: dict[str, Any],
    *,
    egress: bool = True,
    audit: AuditSettings | None = None,
) -> tuple[TestClient, NodeServices]:
    """A node in process whose security file (in ``directory/run``) holds one OIDC realm
    ``oidc1`` with `settings` (client secret ``app-secret``), reaching its OP through a real
    egress forwarder (none with `egress` False); ``logs-1`` and ``secret-1`` hold a document,
    and a role mapping gives members of group ``readers`` of that realm ``logs-*``. Answers a
    client signed in as ``elastic``, and the node's services; everything is closed when
    `stack` is."""
    run = stack.enter_context(short_directory("oidc-")) / "run"
    run.mkdir(mode=0o700)
    realm = OidcRealm(name="oidc1", order=1, settings=settings, client_secret="app-secret")
    security = NodeSecurity(oidc=(realm,), audit=audit or AuditSettings())
    (run / "security.json").write_text(json.dumps(security.model_dump(mode="json")))
    if egress:
        forwarders = Egress(EndpointPolicy.from_settings(["127.0.0.1", "localhost"]))
        stack.callback(forwarders.close)
        forwarders.sync("dep1", run, os.getuid(), security)
    store = Store.open(directory / "node")
    stack.callback(store.close)
    services = assemble(
        store,
        directory / "node",
        SettableClock(),
        "node-1",
        "test-cluster",
        security_file=run / "security.json",
    )
    stack.callback(services.engine.close)
    services.realm.bootstrap_elastic(ELASTIC_PASSWORD)  # type: ignore[attr-defined]
    client = stack.enter_context(client_of(app_of(services), ELASTIC))
    client.put("/logs-1/_doc/1?refresh=true", json={"m": "log"})
    client.put("/secret-1/_doc/1?refresh=true", json={"m": "secret"})
    put_role(client, "logs_reader", indices={"logs-*": ["read"]})
    mapping = {
        "roles": ["logs_reader"],
        "enabled": True,
        "rules": {"all": [{"field": {"realm.name": "oidc1"}}, {"field": {"groups": "readers"}}]},
    }
    assert client.put("/_security/role_mapping/oidc-readers", json=mapping).status_code == 200
    return client, services
