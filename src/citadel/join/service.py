"""Join tokens: minted by a platform owner, redeemed once by a host for its certificate (ADR 33).

A token's text is ``cjt_<id>_<secret>``. The table keeps the id and an HMAC of the secret under
the keyring's pepper (`Keyring.mac`, purpose ``join-token``), never the secret: a copy of the
database does not let anyone join. A token minted for a name binds it into the MAC, so it
works only with that name (the table has no column for it). Redeeming looks the row up by
id, compares MACs in constant time, checks expiry, checks the CSR against the token's role,
signs it, and marks the row used with a conditional UPDATE in the same transaction: of two
hosts racing with one token, one gets a certificate. Every mint, use and refused use is
audited in the platform organization's chain; refused tokens count against the caller's
address like failed sign-ins (ADR 22's limits, a bucket of their own), and a blocked address
is answered 429 before any token is looked at.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from citadel.audit.tags import AuditAction, Outcome, TargetType
from citadel.authn.context import Context
from citadel.contract.messages import COMPONENT_URI_PREFIX, ComponentKind
from citadel.join.errors import (
    InvalidJoinRequest,
    InvalidRenewalRequest,
    JoinThrottled,
    JoinTokenRefused,
)
from citadel.join.models import JoinToken
from citadel.join.schemas import JoinRole
from citadel.kit.clock import as_utc
from citadel.kit.ids import new_id
from citadel.log import get_logger
from citadel.orgs.models import Organization
from citadel.pki.authority import ensure_ca
from citadel.pki.components import InvalidCsr, component_kind_of, sign_joining_csr
from citadel.signin import throttle

log = get_logger(__name__)
TOKEN_PREFIX = "cjt_"  # noqa: S105 (a prefix)
_TOKEN = re.compile(r"^cjt_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$")
_PURPOSE = "join-token"
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)


@dataclass(frozen=True)
class MintedToken:
    """A new token: its row, the only copy of its text, the name it is bound to and the CA pin."""

    row: JoinToken
    text: str
    name: str | None
    ca_sha256: str


@dataclass(frozen=True)
class Joined:
    """A redeemed token: the host's certificate and the CA certificate (PEM)."""

    role: JoinRole
    name: str
    certificate: str
    ca: str


def ca_pin(ca_cert: x509.Certificate) -> str:
    """``sha256:<hex>`` of the CA's SubjectPublicKeyInfo (kubeadm's discovery hash): what a
    joining host checks the CA it is shown against before it sends its token."""
    spki = ca_cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def platform_ca(ctx: Context, data_dir: Path) -> x509.Certificate:
    """The platform CA certificate (created on first use)."""
    cert, _ = ensure_ca(data_dir / "pki", ctx.keyring.barrier)
    return cert


def ca_facts(ctx: Context, data_dir: Path) -> tuple[str, str]:
    """The platform CA certificate (PEM) and its pin (`ca_pin`)."""
    cert = platform_ca(ctx, data_dir)
    return cert.public_bytes(serialization.Encoding.PEM).decode(), ca_pin(cert)


def _mac(ctx: Context, token_id: str, secret: str, name: str | None) -> bytes:
    return ctx.keyring.mac(f"{token_id}:{name or ''}:{secret}", purpose=_PURPOSE)


def _address_bucket(ctx: Context) -> str:
    """The throttle bucket of refused joins from the caller's address."""
    return "join:" + throttle.address_key(ctx.caller.source_ip or "unknown")


def _platform_organization(ctx: Context) -> str | None:
    """The platform organization (the first made), whose chain audits join tokens."""
    return ctx.session.scalar(
        sa.select(Organization.id).order_by(Organization.created_at, Organization.id).limit(1)
    )


def mint_join_token(
    ctx: Context,
    data_dir: Path,
    *,
    role: JoinRole,
    ttl_s: int,
    name: str | None = None,
) -> MintedToken:
    """A token letting one host join as `role` (under `name` only, when given) until
    `ttl_s` seconds from now. The caller has checked that the actor owns the platform."""
    now = ctx.clock.now()
    token_id, secret = new_id(), secrets.token_urlsafe(32)
    row = JoinToken(
        id=token_id,
        token_hash=_mac(ctx, token_id, secret, name),
        role=role.value,
        created_by=ctx.caller.actor.actor_id,
        created_at=now,
        expires_at=now + timedelta(seconds=ttl_s),
        used_at=None,
        used_by=None,
    )
    ctx.session.add(row)
    ctx.session.flush()
    ctx.record(
        AuditAction.JOIN_TOKEN_MINTED,
        organization_id=_platform_organization(ctx),
        target_type=TargetType.JOIN_TOKEN,
        target_id=token_id,
        details={"role": role.value, "name": name, "ttl_s": ttl_s},
    )
    pin = ca_pin(platform_ca(ctx, data_dir))
    return MintedToken(row, f"{TOKEN_PREFIX}{token_id}_{secret}", name, pin)


def join(ctx: Context, data_dir: Path, *, token: str, csr_pem: str, name: str) -> Joined:
    """Redeem `token` for a certificate over `csr_pem`'s key, for the host called `name`.
    Refuses (401, audited) a token that is unknown, wrong, used or expired, and (400 naming
    the field, audited, the token stays unused) a CSR that does not fit the token's role."""
    now = ctx.clock.now()
    blocked = throttle.seconds_blocked(ctx.session, [_address_bucket(ctx)], now)
    if blocked:
        _refuse(ctx, None, "throttled", name, count=False)
        raise JoinThrottled(retry_after=blocked)
    row = _redeemable(ctx, token, name, now)
    role = JoinRole(row.role)
    try:
        csr = _checked_csr(csr_pem, role, name)
        subject, kind, hosts = _certificate_plan(csr, role, name)
        certificate, ca = sign_joining_csr(
            data_dir, ctx.keyring, csr, subject=subject, kind=kind, hostnames=hosts, now=now
        )
    except (InvalidJoinRequest, InvalidCsr) as exc:
        message = str(exc)
        _refuse(ctx, row.id, f"csr: {message}", name, count=False)
        raise InvalidJoinRequest(message, fields=["body.csr"]) from exc
    claimed = ctx.session.execute(
        sa.update(JoinToken)
        .where(JoinToken.id == row.id, JoinToken.used_at.is_(None))
        .values(used_at=now, used_by=name)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]  # another host was faster
        _refuse(ctx, row.id, "used", name)
        raise JoinTokenRefused()
    ctx.record(
        AuditAction.JOIN_TOKEN_USED,
        organization_id=_platform_organization(ctx),
        target_type=TargetType.JOIN_TOKEN,
        target_id=row.id,
        details={"role": role.value, "name": name, "hosts": hosts},
    )
    return Joined(role, name, certificate.decode(), ca.decode())


def renew_component_certificate(
    ctx: Context, data_dir: Path, *, current_pem: str, csr_pem: str
) -> tuple[str, str]:
    """The next client certificate of the component presenting `current_pem` (the internal
    listener verified it): same kind, same name, over the CSR's key (made on its host), and
    the CA; both PEM. How a joined component renews without the CA key (ADR 33). A CSR for
    another name or kind is a 400 naming ``body.csr``."""
    current = x509.load_pem_x509_certificate(current_pem.encode())
    kind = component_kind_of(current_pem.encode())
    names = current.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if kind is None or len(names) != 1:
        raise InvalidRenewalRequest("the presented certificate names no single component")
    name = str(names[0].value)
    try:
        csr = _checked_csr(csr_pem, JoinRole(kind.value), name)
        _, _, hosts = _certificate_plan(csr, JoinRole(kind.value), name)
        certificate, ca = sign_joining_csr(
            data_dir,
            ctx.keyring,
            csr,
            subject=name,
            kind=kind,
            hostnames=hosts,
            now=ctx.clock.now(),
        )
    except (InvalidJoinRequest, InvalidCsr) as exc:
        raise InvalidRenewalRequest(str(exc), fields=["body.csr"]) from exc
    log.info("component.certificate_renewed", component=kind.value, name=name)
    return certificate.decode(), ca.decode()


def sign_gateway_server_certificate(
    ctx: Context, data_dir: Path, *, csr_pem: str, hostnames: list[str]
) -> tuple[str, str]:
    """A server certificate for a joined gateway's public listener over the CSR's key (made
    on its host), naming `hostnames` (the platform's deployment domain and regions, as the
    control plane knows them; the CSR's own names are ignored), and the CA; both PEM."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        valid = csr.is_signature_valid
    except ValueError as exc:
        raise InvalidRenewalRequest(
            "csr is not a PEM certificate signing request", fields=["body.csr"]
        ) from exc
    if not valid:
        raise InvalidRenewalRequest("the signature of csr does not verify", fields=["body.csr"])
    try:
        certificate, ca = sign_joining_csr(
            data_dir,
            ctx.keyring,
            csr,
            subject=hostnames[0],
            kind=None,
            hostnames=hostnames,
            now=ctx.clock.now(),
        )
    except InvalidCsr as exc:
        raise InvalidRenewalRequest(str(exc), fields=["body.csr"]) from exc
    log.info("gateway.server_certificate_issued", names=len(hostnames))
    return certificate.decode(), ca.decode()


def _redeemable(ctx: Context, token: str, name: str, now: datetime) -> JoinToken:
    """The unused, unexpired row `token` names, its MAC matching for `name`."""
    match = _TOKEN.match(token.strip())
    if match is None:
        _refuse(ctx, None, "malformed", name)
        raise JoinTokenRefused()
    token_id, secret = match.groups()
    row = ctx.session.get(JoinToken, token_id)
    if row is None:
        _refuse(ctx, None, "unknown", name)
        raise JoinTokenRefused()
    # A token bound to a name matches only with it; an unbound one with any name.
    bound, unbound = _mac(ctx, token_id, secret, name), _mac(ctx, token_id, secret, None)
    right = hmac.compare_digest(row.token_hash, bound) | hmac.compare_digest(
        row.token_hash, unbound
    )
    if not right:
        _refuse(ctx, row.id, "wrong secret or name", name)
        raise JoinTokenRefused()
    if row.used_at is not None:
        _refuse(ctx, row.id, "used", name)
        raise JoinTokenRefused()
    if as_utc(row.expires_at) <= now:
        _refuse(ctx, row.id, "expired", name)
        raise JoinTokenRefused()
    return row


def _refuse(
    ctx: Context, token_id: str | None, reason: str, name: str, *, count: bool = True
) -> None:
    """Audit a refused use; with `count`, count it against the caller's address (the sign-in
    throttle's rules and limits, its own bucket)."""
    if count:
        policies = ctx.policies
        throttle.count_failure(
            ctx.session,
            _address_bucket(ctx),
            ctx.clock.now(),
            limit=policies.signin_ip_failures,
            window_s=policies.signin_window_s,
            max_block_s=policies.signin_max_lockout_s,
        )
    ctx.record(
        AuditAction.JOIN_TOKEN_REFUSED,
        organization_id=_platform_organization(ctx),
        target_type=TargetType.JOIN_TOKEN,
        target_id=token_id,
        outcome=Outcome.DENIED,
        details={"reason": reason, "name": name},
    )


def _checked_csr(csr_pem: str, role: JoinRole, name: str) -> x509.CertificateSigningRequest:
    """The parsed CSR, its signature verified, its subject the host's name."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        valid = csr.is_signature_valid
        names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except ValueError as exc:  # not PEM, or a request whose parts do not parse
        raise InvalidJoinRequest("csr is not a PEM certificate signing request") from exc
    if not valid:
        raise InvalidJoinRequest("the signature of csr does not verify")
    if [attr.value for attr in names] != [name]:
        raise InvalidJoinRequest(f"the subject of csr must be CN={name}, the host's name")
    return csr


def _requested(csr: x509.CertificateSigningRequest) -> tuple[list[str], list[str]]:
    """The CSR's requested host names (DNS and IP) and URIs."""
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as exc:
        raise InvalidJoinRequest(f"the extensions of csr cannot be read: {exc}") from exc
    hosts = [str(v) for v in san.get_values_for_type(x509.DNSName)]
    hosts += [str(v) for v in san.get_values_for_type(x509.IPAddress)]
    other = [
        n
        for n in san
        if not isinstance(n, x509.DNSName | x509.IPAddress | x509.UniformResourceIdentifier)
    ]
    if other:
        raise InvalidJoinRequest("csr may request only DNS, IP and URI names")
    return hosts, list(san.get_values_for_type(x509.UniformResourceIdentifier))


def _certificate_plan(
    csr: x509.CertificateSigningRequest, role: JoinRole, name: str
) -> tuple[str, ComponentKind | None, list[str]]:
    """Subject, component kind and host names of the certificate `role` gets. An allocator or
    gateway gets a client certificate naming its kind (a CSR may ask for that kind's URI and
    nothing else); a control-plane replica a server certificate for the host names it asks
    for (at least one, no wildcard, no URI)."""
    hosts, uris = _requested(csr)
    if role is JoinRole.API:
        if uris:
            raise InvalidJoinRequest("csr of a control-plane replica may not request URI names")
        if not hosts:
            raise InvalidJoinRequest("csr of a control-plane replica must request its host names")
        for host in hosts:
            if not _is_host(host):
                raise InvalidJoinRequest(f"csr requests {host!r}, which is not a host name or IP")
        return name, None, hosts
    kind = ComponentKind(role.value)
    if hosts:
        raise InvalidJoinRequest(f"csr of a {role.value} may not request host names")
    for uri in uris:
        if uri != kind.uri:
            wanted = uri.removeprefix(COMPONENT_URI_PREFIX)
            raise InvalidJoinRequest(
                f"csr requests {wanted!r} but the token is for a {role.value}"
                if uri.startswith(COMPONENT_URI_PREFIX)
                else f"csr may request only the URI {kind.uri}"
            )
    return name, kind, []


def _is_host(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return bool(_HOSTNAME.match(text))
