"""A metrics endpoint, whose handshakes run on its own threads, presents its renewed
certificate without a restart (issue 17.9, ADR 18): the follower re-issues the due certificate
inside a handshake and switches the following handshakes to a fresh context."""

from __future__ import annotations

import os
import socket
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from prometheus_client import CollectorRegistry

from citadel.crypto.keyring import Keyring
from citadel.kit.metrics import serve_metrics
from citadel.kit.tls import CertificateFollower
from citadel.pki.authority import ensure_ca, issue_leaf, write_file
from citadel.pki.metrics import ensure_metrics_certificate, metrics_hostnames, metrics_tls_context


def _presented(port: int, ca_file: Path) -> x509.Certificate:
    ctx = ssl.create_default_context(cafile=str(ca_file))
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def _age(tmp_path: Path, keyring: Keyring, days: int) -> None:
    """Rewrite the gateway's metrics certificate as if issued `days` ago."""
    ca_cert, ca_key = ensure_ca(tmp_path / "pki", keyring.barrier)
    then = datetime.now(UTC) - timedelta(days=days)
    cert, key = issue_leaf(ca_cert, ca_key, metrics_hostnames("127.0.0.1"), now=then)
    folder = tmp_path / "pki" / "metrics"
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(keyring.tls_key_password()),
    )
    write_file(folder / "gateway.key", pem, 0o600)
    write_file(folder / "gateway.crt", cert.public_bytes(serialization.Encoding.PEM), 0o644)


def test_a_metrics_endpoint_presents_its_renewed_certificate(tmp_path: Path) -> None:
    keyring = Keyring(root=os.urandom(32))

    def renew():  # as citadel.roots.metrics wires it
        return ensure_metrics_certificate(tmp_path, keyring, "gateway", host="127.0.0.1")

    certificate = renew()
    tls = metrics_tls_context(certificate)
    ticks = [0.0]
    CertificateFollower(
        tls,
        certificate.cert_file,
        lambda: metrics_tls_context(certificate),
        renew=renew,
        monotonic=lambda: ticks[0],
    )
    server = serve_metrics(CollectorRegistry(), host="127.0.0.1", port=0, tls=tls, token="t" * 32)
    try:
        first = _presented(server.port, certificate.ca_file)
        _age(tmp_path, keyring, days=65)  # what the clock does to it in 65 days
        ticks[0] = 61.0
        renewed = _presented(server.port, certificate.ca_file)  # re-issues and switches
        again = _presented(server.port, certificate.ca_file)
    finally:
        server.close()

    on_disk = x509.load_pem_x509_certificate(certificate.cert_file.read_bytes())
    assert renewed.serial_number != first.serial_number
    assert renewed == again == on_disk
    assert on_disk.not_valid_before_utc > datetime.now(UTC) - timedelta(days=1)
