"""Server certificates of the metrics endpoints (docs/operations.md, "Metrics").

Each component that serves ``GET /metrics`` (control plane, gateway, allocator) gets its own
server certificate from the platform CA: ``<data-dir>/pki/metrics/<component>.crt`` and
``<component>.key`` (key PEM encrypted with `Keyring.tls_key_password()`, mode 0600), naming
``localhost``, ``127.0.0.1``, ``::1`` and the configured metrics host (unless it is a wildcard
address). Prometheus trusts ``<data-dir>/pki/ca.crt``. A certificate is re-issued when its names
change or it comes close to expiry. One file pair per component, so components starting
together never write the same file.
"""

from __future__ import annotations

import ssl
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509

from citadel.crypto.keyring import Keyring
from citadel.kit.tls import server_context
from citadel.pki.authority import (
    ServerCertificate,
    certificate_due,
    ensure_ca,
    issue_leaf,
    store_leaf,
)
from citadel.pki.components import COMPONENT_NAME

_WILDCARDS = ("", "0.0.0.0", "::")


def metrics_hostnames(host: str) -> list[str]:
    """The names a metrics certificate carries for a listener on `host`."""
    names = ["localhost", "127.0.0.1", "::1"]
    bare = host.removeprefix("[").removesuffix("]")
    if bare not in _WILDCARDS and bare not in names:
        names.append(bare)
    return names


def ensure_metrics_certificate(
    data_dir: Path, keyring: Keyring, component: str, *, host: str
) -> ServerCertificate:
    """The metrics server certificate of `component` (``control-plane``, ``gateway``,
    ``allocator``) for a listener on `host`, issued by the platform CA if missing, for other
    names, or close to expiry."""
    if not COMPONENT_NAME.match(component):
        raise ValueError("a component name is lowercase letters, digits and hyphens")
    pki_dir = data_dir / "pki"
    ca_cert, ca_key = ensure_ca(pki_dir, keyring.barrier)
    folder = pki_dir / "metrics"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    cert_file, key_file = folder / f"{component}.crt", folder / f"{component}.key"
    password = keyring.tls_key_password()
    names = metrics_hostnames(host)
    if not (cert_file.exists() and key_file.exists() and _current(cert_file, names)):
        cert, key = issue_leaf(ca_cert, ca_key, names)
        store_leaf(cert_file, key_file, cert, key, password)
    return ServerCertificate(pki_dir / "ca.crt", cert_file, key_file, password)


def metrics_tls_context(certificate: ServerCertificate) -> ssl.SSLContext:
    """The server TLS context `citadel.kit.metrics.serve_metrics` takes: Mozilla intermediate,
    as on every listener (`citadel.kit.tls`, ADR 18)."""
    return server_context(certificate.cert_file, certificate.key_file, certificate.key_password)


def _current(cert_file: Path, names: list[str]) -> bool:
    """Not due for renewal (`citadel.pki.authority.renewal_due`) and naming exactly `names`."""
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    if certificate_due(cert, datetime.now(UTC)):
        return False
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    return sorted(str(n.value) for n in san) == sorted(names)
