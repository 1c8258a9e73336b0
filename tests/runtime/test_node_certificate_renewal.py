"""A running node's certificate is renewed without restarting the node (issue 17.9, ADR 18):
the allocator re-issues a due certificate into the node's directory and the node, a REAL
sandboxed process, presents it on later handshakes. The node looks at its files at most once a
minute (`CertificateFollower`), so this test waits up to about that long for it."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from citadel.pki.authority import certificate_due
from citadel.pki.components import sign_node_certificate
from citadel.runtime.allocator import node_hostname
from tests.runtime.test_allocator import (
    Running,
    running,  # noqa: F401 (the fixture)
    start_deployment,
    wait_until,
)


def _presented(at: Running, dep_id: str) -> x509.Certificate:
    """The certificate the node shows a new client with a gateway certificate."""
    ctx = at.plane.component("gateway").client_context()
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    raw.settimeout(10)
    raw.connect(str(at.dirs(dep_id).socket))
    with ctx.wrap_socket(raw, server_hostname=node_hostname(dep_id)) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def _make_due(at: Running, dep_id: str) -> None:
    """Replace the node's certificate on disk by one over the same key, issued 70 days ago."""
    tls_dir = at.dirs(dep_id).tls
    key = serialization.load_pem_private_key((tls_dir / "node.key").read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    old, _ = sign_node_certificate(
        at.plane.data_dir,
        at.plane.keyring,
        csr,
        dep_id,
        now=datetime.now(UTC) - timedelta(days=70),
    )
    (tls_dir / "node.crt").write_bytes(old)


def test_a_running_node_presents_its_renewed_certificate(running: Running) -> None:  # noqa: F811
    dep_id, _ = start_deployment(running)
    first = _presented(running, dep_id)
    handle_before = running.allocator._nodes[dep_id].handle
    _make_due(running, dep_id)
    running.allocator._next_cert_check = 0.0  # the hourly check, now

    running.allocator.renew_node_certificates()

    on_disk = x509.load_pem_x509_certificate((running.dirs(dep_id).tls / "node.crt").read_bytes())
    assert not certificate_due(on_disk, datetime.now(UTC))
    renewed = wait_until(
        lambda: (c := _presented(running, dep_id)).serial_number != first.serial_number and c,
        timeout=90,
    )
    assert renewed == on_disk
    assert running.allocator._nodes[dep_id].handle is handle_before  # the same node process
