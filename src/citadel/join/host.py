"""The joining host's side (ADR 33): make a key here, send only a CSR, keep what comes back.

Files under ``<data-dir>/join/``::

    ca.crt               the platform CA, as pinned at join time (0644)
    <role>.key           the host's private key, made here and never sent (PEM, 0600; not
                         encrypted: a joined host holds no keyring to derive a password from,
                         so a password would sit beside the key)
    <role>.crt           its certificate from the platform CA (0644)
    <role>.json          {"role", "name", "internal_url", "joined_at"}
    gateway-server.crt   a joined gateway's listener certificate, and its key (0600), from
    gateway-server.key   the internal API once joined (`obtain_server_certificate`)

The first contact trusts no server blindly. Either the operator gives the CA certificate
(``--ca-file``), or the pin ``join-token`` printed (``--ca-sha256 sha256:<hex>``, the SHA-256
of the CA's SubjectPublicKeyInfo, as kubeadm's discovery hash): the host fetches the CA from
``GET /api/v1/platform/ca`` over a connection it does not verify, compares the pin, and
from then on verifies the control plane against that CA. The token is sent only over a
verified connection.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from citadel.contract.messages import ComponentKind
from citadel.join.schemas import JoinRole
from citadel.pki.authority import certificate_due, write_file
from citadel.pki.components import ComponentCertificate

API_PREFIX = "/api/v1"
TIMEOUT_S = 30.0


class JoinFailed(Exception):
    """The host could not join; the message says why (for the operator)."""


@dataclass(frozen=True)
class JoinedHost:
    """A role this host joined as: its files and the internal API's URL."""

    role: JoinRole
    name: str
    internal_url: str
    ca_file: Path
    cert_file: Path
    key_file: Path

    @property
    def certificate(self) -> ComponentCertificate:
        """The files as a component's TLS client (and server) loads them; the key has no
        password."""
        return ComponentCertificate(self.ca_file, self.cert_file, self.key_file, b"")


def join_dir(data_dir: Path) -> Path:
    return data_dir / "join"


def joined_host(data_dir: Path, role: JoinRole) -> JoinedHost | None:
    """What this data directory joined as `role`, or None if it never did."""
    folder = join_dir(data_dir)
    try:
        facts = json.loads((folder / f"{role.value}.json").read_text())
    except (OSError, ValueError):
        return None
    files = folder / "ca.crt", folder / f"{role.value}.crt", folder / f"{role.value}.key"
    if not all(f.exists() for f in files):
        return None
    return JoinedHost(role, facts["name"], facts["internal_url"], *files)


def ca_pin_of(ca_pem: bytes) -> str:
    """``sha256:<hex>`` of a CA certificate's SubjectPublicKeyInfo."""
    cert = x509.load_pem_x509_certificate(ca_pem)
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def pinned_ca(url: str, pin: str, *, timeout_s: float = TIMEOUT_S) -> bytes:
    """The platform CA (PEM) from the control plane at `url`, fetched unverified and kept
    only when its pin is `pin`."""
    expected = pin.strip().lower()
    if not expected.startswith("sha256:"):
        expected = "sha256:" + expected
    try:
        with httpx.Client(verify=False, timeout=timeout_s) as client:  # noqa: S501 (pinned below)
            answer = client.get(_api(url, "/platform/ca"))
        answer.raise_for_status()
        ca_pem = answer.json()["ca"].encode()
        actual = ca_pin_of(ca_pem)
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise JoinFailed(f"could not fetch the platform CA from {url}: {exc}") from None
    if not hmac.compare_digest(actual, expected):
        raise JoinFailed(
            f"the CA at {url} has the pin {actual}, not {expected}: not the platform you meant"
        )
    return ca_pem


def join(
    data_dir: Path,
    url: str,
    token: str,
    *,
    role: JoinRole,
    name: str,
    ca_pem: bytes,
    hostnames: tuple[str, ...] = (),
    timeout_s: float = TIMEOUT_S,
) -> JoinedHost:
    """Join the platform at `url` as `role` called `name` with `token`, trusting only the CA
    `ca_pem`: make the key (0600) in ``<data-dir>/join``, send the CSR (for a control-plane
    replica, naming `hostnames`), check the answer and store it."""
    folder = join_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    csr = certificate_request(key, role, name, hostnames)
    context = ssl.create_default_context(cadata=ca_pem.decode())
    try:
        with httpx.Client(verify=context, timeout=timeout_s) as client:
            answer = client.post(
                _api(url, "/platform/join"),
                json={"token": token.strip(), "csr": csr.decode(), "name": name},
            )
    except httpx.HTTPError as exc:
        raise JoinFailed(f"could not reach {url}: {exc}") from None
    if answer.status_code != 200:
        raise JoinFailed(f"the control plane refused to join: {_reason(answer)}")
    body = answer.json()
    cert_pem, answered_ca = body["certificate"].encode(), body["ca"].encode()
    _check_answer(cert_pem, answered_ca, ca_pem, key)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    files = folder / "ca.crt", folder / f"{role.value}.crt", folder / f"{role.value}.key"
    write_file(files[2], key_pem, 0o600)
    write_file(files[1], cert_pem, 0o644)
    write_file(files[0], ca_pem, 0o644)
    facts = {
        "role": role.value,
        "name": name,
        "internal_url": body["internal_url"],
        "joined_at": datetime.now(UTC).isoformat(),
    }
    write_file(folder / f"{role.value}.json", json.dumps(facts, indent=2).encode(), 0o600)
    return JoinedHost(role, name, body["internal_url"], *files)


def expired(joined: JoinedHost, now: datetime) -> bool:
    """Whether the joined certificate is no longer valid at `now` (it can no longer renew
    itself: the host must join again with a new token)."""
    cert = x509.load_pem_x509_certificate(joined.cert_file.read_bytes())
    return not cert.not_valid_before_utc <= now < cert.not_valid_after_utc


def renewal_due(joined: JoinedHost, now: datetime) -> bool:
    """Whether the joined certificate should be replaced at `now` (ADR 18's rule: a third of
    its lifetime left)."""
    cert = x509.load_pem_x509_certificate(joined.cert_file.read_bytes())
    return certificate_due(cert, now)


def renew(joined: JoinedHost, sign: Callable[[bytes], tuple[str, str]]) -> None:
    """Replace the joined certificate: a new key made here, its CSR signed by `sign` (the
    internal API, authenticated by the current certificate; answers certificate and CA), the
    answer checked against the CA pinned at join, then the key and the certificate written
    in that order (a reader that sees the new certificate finds its key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert_pem, answered_ca = sign(certificate_request(key, joined.role, joined.name))
    _check_answer(cert_pem.encode(), answered_ca.encode(), joined.ca_file.read_bytes(), key)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_file(joined.key_file, key_pem, 0o600)
    write_file(joined.cert_file, cert_pem.encode(), 0o644)


def server_files(joined: JoinedHost) -> tuple[Path, Path]:
    """A joined gateway's listener certificate and key files."""
    folder = joined.cert_file.parent
    return folder / "gateway-server.crt", folder / "gateway-server.key"


def server_certificate_due(joined: JoinedHost, now: datetime) -> bool:
    """Whether the joined gateway's listener certificate is missing or due at `now`."""
    cert_file, key_file = server_files(joined)
    if not (cert_file.exists() and key_file.exists()):
        return True
    return certificate_due(x509.load_pem_x509_certificate(cert_file.read_bytes()), now)


def obtain_server_certificate(joined: JoinedHost, sign: Callable[[bytes], tuple[str, str]]) -> None:
    """A (new) listener certificate for a joined gateway: a key made here, its CSR signed by
    `sign` (the internal API names what the platform serves), checked against the pinned CA,
    the key then the certificate written."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, joined.name)]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    cert_pem, answered_ca = sign(csr)
    _check_answer(cert_pem.encode(), answered_ca.encode(), joined.ca_file.read_bytes(), key)
    cert_file, key_file = server_files(joined)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_file(key_file, key_pem, 0o600)
    write_file(cert_file, cert_pem.encode(), 0o644)


def certificate_request(
    key: ec.EllipticCurvePrivateKey, role: JoinRole, name: str, hostnames: tuple[str, ...] = ()
) -> bytes:
    """The CSR (PEM) a host sends: CN its name; an allocator or gateway asks for its kind's
    URI, a control-plane replica for its host names."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    )
    names: list[x509.GeneralName] = []
    if role is JoinRole.API:
        for host in hostnames:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
    else:
        names.append(x509.UniformResourceIdentifier(ComponentKind(role.value).uri))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def _check_answer(
    cert_pem: bytes, answered_ca: bytes, ca_pem: bytes, key: ec.EllipticCurvePrivateKey
) -> None:
    """The certificate is over our key and signed by the CA we trust, which is the one
    the control plane answered."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        ca = x509.load_pem_x509_certificate(ca_pem)
        if x509.load_pem_x509_certificate(answered_ca) != ca:
            raise JoinFailed("the control plane answered another CA than the one pinned")
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError) as exc:
        raise JoinFailed(f"the certificate answered does not verify: {exc}") from None
    if cert.public_key() != key.public_key():
        raise JoinFailed("the certificate answered is not over this host's key")


def _reason(answer: httpx.Response) -> str:
    try:
        error = answer.json()["errors"][0]
        return f"{answer.status_code} {error['code']}: {error['message']}"
    except (ValueError, KeyError, IndexError, TypeError):
        return f"{answer.status_code} {answer.text[:200]}"


def _api(url: str, path: str) -> str:
    base = url.rstrip("/")
    if not base.endswith(API_PREFIX):
        base += API_PREFIX
    return base + path
