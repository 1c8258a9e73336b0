"""An organization's SSO configuration: the IdP it trusts and its own service provider.

Organization owners register the IdP by its fields or its metadata document. The SP's
signing key is generated here on first configuration (RSA 3072, self-signed, SHA-256),
sealed by the barrier and only ever used inside the control plane; its certificate is public.
Any change that affects how a sign-in is checked raises the configuration's `generation`, so
enforcement asks for a fresh SSO sign-in after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from citadel.audit.tags import AuditAction, TargetType
from citadel.authn.context import Context
from citadel.authz.decide import Target
from citadel.authz.permissions import Permission
from citadel.db.tenancy import in_organization, outside_organization
from citadel.orgs import service as orgs
from citadel.orgs.models import Organization
from citadel.sso.errors import (
    EnforcementOn,
    InvalidSsoConfiguration,
    LoginPrefixTaken,
    SsoNotConfigured,
)
from citadel.sso.metadata import parse_idp_metadata
from citadel.sso.models import SsoConfiguration, SsoIdentity
from citadel.sso.saml import SamlRefused, ServiceProvider
from citadel.sso.schemas import SsoConfigurationIn, split_certificates
from citadel.sso.urls import is_idp_url, is_login_prefix, sp_urls

SP_KEY_BITS = 3072
SP_CERT_DAYS = 3650
_DECIDING = ("login_prefix", "enabled", "idp_entity_id", "idp_sso_url", "idp_certificate")


@dataclass(frozen=True)
class IdentityProvider:
    entity_id: str
    sso_url: str
    certificates: tuple[str, ...]


def authorize(ctx: Context, organization_id: str) -> None:
    """Only those who may manage SSO (Organization owners) see or change any of it."""
    ctx.authorize(Permission.SSO_MANAGE, Target.organization(organization_id))


def find(ctx: Context, organization_id: str) -> SsoConfiguration | None:
    """The configuration, if any (no authorization: for the sign-in path and other services)."""
    return ctx.session.get(SsoConfiguration, organization_id)


def get_configuration(ctx: Context, organization_id: str) -> SsoConfiguration:
    """The organization's configuration, or 404."""
    authorize(ctx, organization_id)
    row = find(ctx, organization_id)
    if row is None:
        raise SsoNotConfigured()
    return row


def configure(ctx: Context, organization_id: str, body: SsoConfigurationIn) -> SsoConfiguration:
    """Create or replace the configuration; the SP key is made once (or on `rotate_sp_key`)."""
    authorize(ctx, organization_id)
    if not is_login_prefix(body.login_prefix):
        raise InvalidSsoConfiguration(
            "The login prefix is 1-63 lowercase letters, digits and inner hyphens.",
            fields=["body.login_prefix"],
        )
    idp = _identity_provider(body)
    certificates = [
        _certificate(pem, f"body.idp_certificates[{i}]", ctx)
        for i, pem in enumerate(idp.certificates)
    ]
    org = orgs.load(ctx.session, organization_id, for_update=True)
    taken = ctx.session.scalar(
        sa.select(SsoConfiguration.organization_id).where(
            SsoConfiguration.login_prefix == body.login_prefix,
            outside_organization(SsoConfiguration, organization_id),
        )
    )
    if taken is not None:
        raise LoginPrefixTaken(fields=["body.login_prefix"])
    if not body.enabled and org.enforce_authentication_method is not None:
        raise EnforcementOn(fields=["body.enabled"])
    now = ctx.clock.now()
    row = find(ctx, organization_id)
    wanted = {
        "login_prefix": body.login_prefix,
        "enabled": body.enabled,
        "idp_entity_id": idp.entity_id,
        "idp_sso_url": idp.sso_url,
        "idp_certificate": "".join(certificates),
    }
    if row is None:
        key_pem, cert_pem = _new_sp_key(organization_id)
        row = SsoConfiguration(
            organization_id=organization_id,
            sp_certificate=cert_pem,
            sp_key_sealed=_seal_key(ctx, organization_id, key_pem),
            generation=1,
            created_at=now,
            updated_at=now,
            **wanted,
        )
        ctx.session.add(row)
        before: dict = {}
        changed = True
    else:
        before = {k: getattr(row, k) for k in _DECIDING}
        changed = before != wanted or body.rotate_sp_key
        for key, value in wanted.items():
            setattr(row, key, value)
        if body.rotate_sp_key:
            key_pem, row.sp_certificate = _new_sp_key(organization_id)
            row.sp_key_sealed = _seal_key(ctx, organization_id, key_pem)
        if changed:
            row.generation += 1
            row.updated_at = now
    ctx.session.flush()
    ctx.record(
        AuditAction.SSO_CONFIGURED,
        organization_id=organization_id,
        target_type=TargetType.SSO_CONFIGURATION,
        target_id=organization_id,
        details={
            "before": _auditable(before),
            "after": _auditable(wanted),
            "generation": row.generation,
            "sp_key_rotated": body.rotate_sp_key,
        },
    )
    return row


def remove_configuration(ctx: Context, organization_id: str) -> None:
    """Forget the IdP and the SP key; refused while enforcement is on."""
    authorize(ctx, organization_id)
    org = orgs.load(ctx.session, organization_id, for_update=True)
    row = find(ctx, organization_id)
    if row is None:
        raise SsoNotConfigured()
    if org.enforce_authentication_method is not None:
        raise EnforcementOn()
    ctx.session.delete(row)
    ctx.session.flush()
    ctx.record(
        AuditAction.SSO_REMOVED,
        organization_id=organization_id,
        target_type=TargetType.SSO_CONFIGURATION,
        target_id=organization_id,
        details={"idp_entity_id": row.idp_entity_id, "login_prefix": row.login_prefix},
    )


def service_provider(ctx: Context, row: SsoConfiguration) -> ServiceProvider:
    """The python3-saml view of this configuration (the SP key unsealed for this call)."""
    urls = sp_urls(ctx.policies.public_url, row.organization_id, row.login_prefix)
    key = ctx.keyring.barrier.open(row.sp_key_sealed, context=_key_context(row.organization_id))
    return ServiceProvider(
        entity_id=urls.entity_id,
        acs_url=urls.acs_url,
        login_url=urls.login_url,
        certificate_pem=row.sp_certificate,
        private_key_pem=key.decode(),
        idp_entity_id=row.idp_entity_id,
        idp_sso_url=row.idp_sso_url,
        idp_certificates_pem=tuple(split_certificates(row.idp_certificate)),
    )


def signed_in_with_current(ctx: Context, row: SsoConfiguration, user_id: str | None) -> bool:
    """Whether `user_id`'s last SSO sign-in here used the configuration as it is now."""
    if user_id is None:
        return False
    stmt = sa.select(SsoIdentity.id).where(
        in_organization(SsoIdentity, row.organization_id),
        SsoIdentity.user_id == user_id,
        SsoIdentity.idp_entity_id == row.idp_entity_id,
        SsoIdentity.generation == row.generation,
    )
    return ctx.session.scalar(stmt.limit(1)) is not None


def enforced(org: Organization) -> bool:
    return org.enforce_authentication_method is not None


def _identity_provider(body: SsoConfigurationIn) -> IdentityProvider:
    entity_id, sso_url, certificates = body.idp_entity_id, body.idp_sso_url, body.idp_certificates
    if body.idp_metadata is not None:
        try:
            meta = parse_idp_metadata(body.idp_metadata)
        except SamlRefused:
            raise InvalidSsoConfiguration(
                "The metadata is not one IdP's SAML metadata (an EntityDescriptor with one "
                "IDPSSODescriptor, an SSO URL and one or two signing certificates).",
                fields=["body.idp_metadata"],
            ) from None
        for name, value, found in (
            ("idp_entity_id", entity_id, meta.entity_id),
            ("idp_sso_url", sso_url, meta.sso_url),
        ):
            if value is not None and value != found:
                raise InvalidSsoConfiguration(
                    f"[{name}] differs from the metadata; give one or the other.",
                    fields=[f"body.{name}"],
                )
        entity_id, sso_url = meta.entity_id, meta.sso_url
        if certificates is None:
            certificates = list(meta.certificates_pem)
    if entity_id is None:
        raise _missing("idp_entity_id")
    if sso_url is None:
        raise _missing("idp_sso_url")
    if certificates is None:
        raise _missing("idp_certificates")
    if not is_idp_url(sso_url):
        raise InvalidSsoConfiguration(
            "The IdP SSO URL must be an absolute http(s) URL without credentials.",
            fields=["body.idp_sso_url"],
        )
    return IdentityProvider(entity_id, sso_url, tuple(certificates))


def _missing(name: str) -> InvalidSsoConfiguration:
    return InvalidSsoConfiguration(
        f"Give [{name}], or the IdP's metadata in [idp_metadata].", fields=[f"body.{name}"]
    )


def _certificate(pem: str, field: str, ctx: Context) -> str:
    """A usable IdP signing certificate, re-encoded as PEM; 400 naming `field` otherwise."""
    try:
        cert = x509.load_pem_x509_certificate(pem.strip().encode())
    except ValueError:
        raise InvalidSsoConfiguration("Not a PEM X.509 certificate.", fields=[field]) from None
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise InvalidSsoConfiguration("RSA keys need 2048 bits or more.", fields=[field])
    elif not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.key_size < 256:
        raise InvalidSsoConfiguration(
            "The certificate must carry an RSA or 256-bit (or larger) EC key.", fields=[field]
        )
    if cert.not_valid_after_utc <= ctx.clock.now():
        raise InvalidSsoConfiguration("The certificate has expired.", fields=[field])
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _new_sp_key(organization_id: str) -> tuple[bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=SP_KEY_BITS)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"citadel-sso-{organization_id}")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=SP_CERT_DAYS))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


def _seal_key(ctx: Context, organization_id: str, key_pem: bytes) -> bytes:
    return ctx.keyring.barrier.seal(key_pem, context=_key_context(organization_id))


def _key_context(organization_id: str) -> str:
    return f"sso.sp_key:{organization_id}"


def _auditable(values: dict) -> dict:
    """What the audit log keeps of a configuration: certificates by fingerprint only."""
    out = dict(values)
    if "idp_certificate" in out:
        out["idp_certificates_sha256"] = [
            x509.load_pem_x509_certificate(pem.encode()).fingerprint(hashes.SHA256()).hex()
            for pem in split_certificates(out.pop("idp_certificate"))
        ]
    return out
