"""The gateway's server certificate: `*.<domain>`, `*.<region>.<domain>`, localhost.

Issued by the platform CA at first start (operators may pass their own certificate instead).
The key PEM sits on disk encrypted with the keyring's TLS key password, as the API's does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from citadel.crypto.barrier import Barrier
from citadel.pki.authority import ServerCertificate, ensure_ca, issue_leaf, write_file

_RENEW_BEFORE = timedelta(days=30)


def gateway_hostnames(domain: str, regions: list[str]) -> list[str]:
    """Names a client may use: any deployment in any known region, and local access."""
    domain = domain.lower().strip(".")
    names = [f"*.{domain}"] + [f"*.{region.lower()}.{domain}" for region in regions]
    return list(dict.fromkeys([*names, "localhost", "127.0.0.1"]))


def ensure_gateway_certificate(
    pki_dir: Path, barrier: Barrier, key_password: bytes, hostnames: list[str]
) -> ServerCertificate:
    """Issue (or reissue for other names, or near expiry) the gateway's certificate."""
    ca_cert, ca_key = ensure_ca(pki_dir, barrier)
    cert_file, key_file = pki_dir / "gateway-server.crt", pki_dir / "gateway-server.key"
    if not (key_file.exists() and _current(cert_file, hostnames)):
        cert, key = issue_leaf(ca_cert, ca_key, hostnames)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(key_password),
        )
        write_file(key_file, pem, 0o600)
        write_file(cert_file, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return ServerCertificate(pki_dir / "ca.crt", cert_file, key_file, key_password)


def _current(cert_file: Path, hostnames: list[str]) -> bool:
    if not cert_file.exists():
        return False
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    names = sorted(str(n.value) for n in san)
    fresh = cert.not_valid_after_utc - datetime.now(UTC) > _RENEW_BEFORE
    return fresh and names == sorted(hostnames)
