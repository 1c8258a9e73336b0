"""Certificates of the platform's own components and of deployment nodes (ADR 9).

Components (allocator, gateway) authenticate to the internal API with client certificates
from the platform CA: ``<data-dir>/pki/components/<name>.crt`` and ``<name>.key`` (key PEM
encrypted with `Keyring.tls_key_password()`, mode 0600), subject CN ``<name>``, extended key
usage clientAuth, and the component's kind as a URI name, ``urn:citadel:component:<kind>``
(ADR 17): the internal API admits each route only to the kinds it serves. Only this module
issues such names; a certificate from before them is re-issued when its component starts, and
one due for renewal (`citadel.pki.authority.renewal_due`) while the component runs (ADR 18).
Nodes get server certificates for ``<id>.node.citadel.internal`` signed from a CSR whose key
never leaves the deployment directory; only the CSR's public key is used, never a name.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from citadel.contract.messages import ComponentKind
from citadel.crypto.keyring import Keyring
from citadel.pki.authority import (
    BACKDATE,
    LEAF_LIFETIME,
    certificate_due,
    ensure_ca,
    issue_leaf,
    store_leaf,
)

COMPONENT_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
NODE_DOMAIN = "node.citadel.internal"


class InvalidCsr(ValueError):
    """The certificate signing request cannot be read or its signature does not verify."""


@dataclass(frozen=True)
class ComponentCertificate:
    """Paths a component's TLS client loads, and the password of its key file."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    key_password: bytes


def ensure_component_certificate(
    data_dir: Path, keyring: Keyring, name: str, *, now: datetime | None = None
) -> ComponentCertificate:
    """The client certificate of component `name` (a `ComponentKind`), issued by the platform
    CA if missing, due for renewal at `now` (the wall clock by default), or without its kind
    (issued before ADR 17)."""
    if not COMPONENT_NAME.match(name):
        raise ValueError("a component name is lowercase letters, digits and hyphens")
    kind = ComponentKind(name)
    pki_dir = data_dir / "pki"
    ca_cert, ca_key = ensure_ca(pki_dir, keyring.barrier)
    folder = pki_dir / "components"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    cert_file, key_file = folder / f"{name}.crt", folder / f"{name}.key"
    password = keyring.tls_key_password()
    now = now or datetime.now(UTC)
    if not (cert_file.exists() and key_file.exists() and _current(cert_file, kind, now)):
        cert, key = issue_leaf(ca_cert, ca_key, [name], client=True, uris=(kind.uri,), now=now)
        store_leaf(cert_file, key_file, cert, key, password)
    return ComponentCertificate(pki_dir / "ca.crt", cert_file, key_file, password)


def _current(cert_file: Path, kind: ComponentKind, now: datetime) -> bool:
    """Not due for renewal and naming `kind`."""
    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    except ValueError:
        return False
    return not certificate_due(cert, now) and component_kinds(cert) == {kind}


def component_kinds(cert: x509.Certificate) -> set[ComponentKind]:
    """The component kinds a client certificate names: its `urn:citadel:component:` URIs,
    only when it is a client certificate (clientAuth); empty for any other certificate."""
    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    if ExtendedKeyUsageOID.CLIENT_AUTH not in usage:
        return set()
    kinds = (
        ComponentKind.from_uri(uri)
        for uri in names.get_values_for_type(x509.UniformResourceIdentifier)
    )
    return {kind for kind in kinds if kind is not None}


def component_kind_of(cert_pem: bytes) -> ComponentKind | None:
    """The one component kind a client certificate (PEM) names, else None (no kind, several,
    or not a certificate)."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        return None
    kinds = component_kinds(cert)
    return kinds.pop() if len(kinds) == 1 else None


def node_hostname(deployment_id: str) -> str:
    """The name in a node's server certificate."""
    return f"{deployment_id}.{NODE_DOMAIN}"


def sign_node_certificate(
    data_dir: Path,
    keyring: Keyring,
    csr_pem: bytes,
    deployment_id: str,
    *,
    now: datetime | None = None,
) -> tuple[bytes, bytes]:
    """A server certificate for the node of `deployment_id` over the CSR's public key, valid
    from `now` for `LEAF_LIFETIME`, and the CA certificate (both PEM). The CSR's requested
    names are ignored."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as exc:
        raise InvalidCsr("not a PEM certificate signing request") from exc
    if not csr.is_signature_valid:
        raise InvalidCsr("the request's signature does not verify")
    public_key = csr.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise InvalidCsr("the node key must be an EC key")
    pki_dir = data_dir / "pki"
    ca_cert, ca_key = ensure_ca(pki_dir, keyring.barrier)
    host = node_hostname(deployment_id)
    now = now or datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + LEAF_LIFETIME)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return (
        cert.public_bytes(serialization.Encoding.PEM),
        ca_cert.public_bytes(serialization.Encoding.PEM),
    )


def sign_joining_csr(
    data_dir: Path,
    keyring: Keyring,
    csr: x509.CertificateSigningRequest,
    *,
    subject: str,
    kind: ComponentKind | None,
    hostnames: list[str],
    now: datetime,
) -> tuple[bytes, bytes]:
    """A certificate over a joining host's CSR public key (its key never leaves that host,
    ADR 33) and the CA certificate, both PEM. With `kind`, a component's client certificate
    (clientAuth, CN `subject`, the kind's URI name); without it, a control-plane replica's
    server certificate (serverAuth, CN `subject`, `hostnames` as DNS or IP names). The caller
    has checked the CSR against the join token; nothing else in the CSR is copied."""
    public_key = csr.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise InvalidCsr("the key must be an EC key")
    ca_cert, ca_key = ensure_ca(data_dir / "pki", keyring.barrier)
    names: list[x509.GeneralName] = []
    for host in hostnames:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    if kind is not None:
        names.append(x509.UniformResourceIdentifier(kind.uri))
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if kind is not None else ExtendedKeyUsageOID.SERVER_AUTH
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + LEAF_LIFETIME)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return (
        cert.public_bytes(serialization.Encoding.PEM),
        ca_cert.public_bytes(serialization.Encoding.PEM),
    )
