"""The platform CA: created at first start; its private key exists on disk only sealed.

Files under ``<data-dir>/pki/``::

    ca.crt            the CA certificate (clients trust this)
    ca.key.sealed     the CA private key, sealed by the barrier (context "pki/ca.key")
    api.crt, api.key  the control plane's certificate; the key PEM is encrypted with a
                      password derived from the keyring, because the TLS library loads it
                      from a file

Keys are ECDSA P-256; certificates are SHA-256 signed. Leaf certificates live 90 days
(`LEAF_LIFETIME`) and are re-issued once a third of their lifetime is left
(`citadel.pki.renewal`), by the process that serves them, without a restart (ADR 18).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from citadel.crypto.barrier import Barrier

_CA_CONTEXT = "pki/ca.key"
CA_LIFETIME = timedelta(days=3650)
LEAF_LIFETIME = timedelta(days=90)
BACKDATE = timedelta(minutes=5)  # tolerate clients whose clocks run a little slow


@dataclass(frozen=True)
class ServerCertificate:
    """Paths the TLS server loads, and the password of its key file."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    key_password: bytes


def ensure_api_certificate(
    pki_dir: Path,
    barrier: Barrier,
    key_password: bytes,
    hostnames: list[str],
    *,
    now: datetime | None = None,
) -> ServerCertificate:
    """Create the CA and the control plane's certificate if missing, for other names, or due
    for renewal at `now`."""
    return ensure_server_certificate(pki_dir, barrier, key_password, hostnames, stem="api", now=now)


def ensure_server_certificate(
    pki_dir: Path,
    barrier: Barrier,
    key_password: bytes,
    hostnames: list[str],
    *,
    stem: str,
    now: datetime | None = None,
) -> ServerCertificate:
    """The server certificate ``<pki_dir>/<stem>.crt`` (key ``<stem>.key``, PEM encrypted
    with `key_password`) for `hostnames`, issued by the platform CA if missing, for other
    names, or due for renewal at `now` (the wall clock by default). The key is written
    before the certificate, so a reader that sees the new certificate finds its key."""
    pki_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = now or datetime.now(UTC)
    ca_cert, ca_key = _ensure_ca(pki_dir, barrier)
    cert_file, key_file = pki_dir / f"{stem}.crt", pki_dir / f"{stem}.key"
    if not (key_file.exists() and _current(cert_file, hostnames, now)):
        cert, key = issue_leaf(ca_cert, ca_key, hostnames, now=now)
        store_leaf(cert_file, key_file, cert, key, key_password)
    return ServerCertificate(pki_dir / "ca.crt", cert_file, key_file, key_password)


def renewal_due(not_before: datetime, not_after: datetime, now: datetime) -> bool:
    """Whether a certificate valid from `not_before` to `not_after` should be replaced at
    `now`: once less than a third of its lifetime is left (30 of 90 days), or if it is not
    valid at `now` at all."""
    if not not_before <= now < not_after:
        return True
    return (not_after - now) * 3 < not_after - not_before


def certificate_due(cert: x509.Certificate, now: datetime) -> bool:
    """`renewal_due` for `cert`."""
    return renewal_due(cert.not_valid_before_utc, cert.not_valid_after_utc, now)


def ensure_ca(
    pki_dir: Path, barrier: Barrier
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The platform CA's certificate and key, created on first use."""
    pki_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return _ensure_ca(pki_dir, barrier)


def _ensure_ca(
    pki_dir: Path, barrier: Barrier
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert_path, key_path = pki_dir / "ca.crt", pki_dir / "ca.key.sealed"
    if cert_path.exists() and key_path.exists():
        key_pem = barrier.open(key_path.read_bytes(), context=_CA_CONTEXT)
        key = serialization.load_pem_private_key(key_pem, password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return x509.load_pem_x509_certificate(cert_path.read_bytes()), key
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Citadel platform CA")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write(key_path, barrier.seal(key_pem, context=_CA_CONTEXT), 0o600)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return cert, key


def issue_leaf(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    hostnames: list[str],
    *,
    client: bool = False,
    uris: tuple[str, ...] = (),
    now: datetime | None = None,
    lifetime: timedelta = LEAF_LIFETIME,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A certificate for `hostnames` (DNS names or IPs): a server's, or with `client` a
    client's (mTLS from the gateway to a node); `uris` are added as URI names (a component's
    kind, ADR 17). Valid from `now` (the wall clock by default) for `lifetime`."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = now or datetime.now(UTC)
    sans: list[x509.GeneralName] = []
    for host in hostnames:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    sans += [x509.UniformResourceIdentifier(uri) for uri in uris]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + lifetime)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def _current(cert_file: Path, hostnames: list[str], now: datetime) -> bool:
    """The certificate exists, names exactly `hostnames` and is not due for renewal."""
    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return False
    names = sorted(str(n.value) for n in san)
    return names == sorted(hostnames) and not certificate_due(cert, now)


def store_leaf(
    cert_file: Path,
    key_file: Path,
    cert: x509.Certificate,
    key: ec.EllipticCurvePrivateKey,
    password: bytes,
) -> None:
    """Write a leaf's key (PEM encrypted with `password`, 0600) and then its certificate
    (0644), each atomically: a reader that sees the new certificate finds its key."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )
    _write(key_file, pem, 0o600)
    _write(cert_file, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def write_file(path: Path, data: bytes, mode: int) -> None:
    """Write `data` atomically with `mode`."""
    _write(path, data, mode)


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
