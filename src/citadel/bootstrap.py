"""The control plane's services: the one place that turns its settings into working parts.

`build(settings)` opens the platform key, the keyring, the database and the audit log, and
returns them as `Services`. Everything below receives these as parameters; nothing else reads
settings or builds adapters. The control-plane process's root (`citadel.roots.control_plane`)
and the break-glass commands (`citadel admin`, `citadel audit`) call it; the allocator and the
gateway have their own roots beside it (`citadel.roots`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from citadel.audit.service import AuditLog
from citadel.authn.context import Context, Policies
from citadel.authn.principal import Caller
from citadel.authn.quotas import Quotas
from citadel.config import Settings
from citadel.crypto.keyring import Keyring, open_keyring
from citadel.crypto.platform import open_platform_key
from citadel.crypto.providers.base import KeyProvider
from citadel.crypto.providers.endpoints import EndpointPolicy
from citadel.db.engine import Database, server_engine, sqlcipher_engine
from citadel.deployment_tokens.tokens import platform_issuer
from citadel.kit.clock import Clock, SystemClock
from citadel.kit.emails import normalize_email
from citadel.kit.ids import new_id
from citadel.kit.net import Network, parse_networks
from citadel.mail.delivery import Mailer, mailer_from
from citadel.orgs.models import Organization
from citadel.orgs.service import found_organization
from citadel.pki.authority import ServerCertificate, ensure_api_certificate
from citadel.traffic_filters.clients import RecentClients
from citadel.users.service import create_user, find_by_email


@dataclass(frozen=True)
class Services:
    """Everything the edges (API, CLI) need, built once."""

    settings: Settings
    db: Database
    keyring: Keyring
    clock: Clock
    audit: AuditLog
    policies: Policies
    trusted_proxies: tuple[Network, ...]
    platform_keys: KeyProvider
    mailer: Mailer
    recent_clients: RecentClients = field(default_factory=RecentClients)

    def context(self, session: sa.orm.Session, caller: Caller) -> Context:
        """A unit of work for `caller` on `session`."""
        return Context(session, self.clock, self.keyring, self.audit, caller, self.policies)

    def system_caller(self) -> Caller:
        """The platform itself (bootstrap, break-glass commands)."""
        return Caller(None, "local", new_id(), system=True)

    def close(self) -> None:
        self.db.dispose()


def build(settings: Settings, *, clock: Clock | None = None) -> Services:
    """Open the platform key, keyring and database named by `settings`."""
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    provider = open_platform_key(settings, create=True)
    keyring = open_keyring(data_dir / "keys" / "keyring.wrapped", provider)
    if settings.database_url is not None:
        engine = server_engine(settings.database_url.get_secret_value())
    else:
        engine = sqlcipher_engine(settings.db_path, keyring.database_key)
    clock = clock or SystemClock()
    policies = Policies(
        session_idle_s=settings.session_idle_timeout_s,
        session_absolute_s=settings.session_absolute_timeout_s,
        signin_pair_failures=settings.signin_pair_failures,
        signin_account_failures=settings.signin_account_failures,
        signin_ip_failures=settings.signin_ip_failures,
        signin_window_s=settings.signin_window_s,
        signin_max_lockout_s=settings.signin_max_lockout_s,
        regions=tuple(settings.regions),
        pkcs11_modules=tuple(settings.pkcs11_modules),
        key_manager_endpoints=EndpointPolicy.from_settings(
            settings.key_manager_allowed_endpoints, public=settings.key_manager_public_endpoints
        ),
        dns_resolver=settings.dns_nameserver,
        dns_timeout_s=settings.dns_timeout_s,
        public_url=settings.control_plane_url,
        quotas=Quotas(
            organizations_per_user=settings.quota_organizations_per_user,
            deployments_per_organization=settings.quota_deployments_per_organization,
            api_keys_per_user=settings.quota_api_keys_per_user,
        ),
        token_issuer=platform_issuer(settings.public_url, keyring),
        deployment_token_ttl_s=settings.deployment_token_ttl_s,
        token_key_rotation_days=settings.token_key_rotation_days,
        project_credentials_apply_s=settings.project_credentials_apply_s,
    )
    return Services(
        settings=settings,
        db=Database(engine),
        keyring=keyring,
        clock=clock,
        audit=AuditLog(key=keyring.audit_key, clock=clock),
        policies=policies,
        trusted_proxies=parse_networks(settings.trusted_proxies),
        platform_keys=provider,
        mailer=mailer_from(settings),
    )


def api_certificate_names(settings: Settings) -> list[str]:
    """The host names and addresses the control plane's certificate carries."""
    s = settings
    names = list(dict.fromkeys([s.public_hostname, "localhost", "127.0.0.1", s.api_host]))
    return [n for n in names if n not in ("0.0.0.0", "::")]


def api_certificate(services: Services) -> ServerCertificate:
    """The control plane's TLS certificate, issued by the platform CA (created if missing,
    and re-issued for other names or when due for renewal by the services' clock, ADR 18)."""
    s = services.settings
    return ensure_api_certificate(
        s.data_dir / "pki",
        services.keyring.barrier,
        services.keyring.tls_key_password(),
        api_certificate_names(s),
        now=services.clock.now(),
    )


@dataclass(frozen=True)
class FirstOwner:
    """The organization and owner created at first start; `password` is None if supplied."""

    organization_id: str
    email: str
    password: str | None


def ensure_first_organization(
    services: Services, *, admin_email: str, password_file: Path | None
) -> FirstOwner | None:
    """On first start, create an organization and its Organization owner; else do nothing."""
    with services.db.write() as session:
        existing = session.scalar(sa.select(Organization.id).order_by(Organization.created_at))
        if existing is not None:
            return None
        ctx = services.context(session, services.system_caller())
        email = normalize_email(admin_email)
        printed: str | None = None
        if password_file is not None:
            password = password_file.read_text().strip()
        else:
            password = printed = secrets.token_urlsafe(18)
        user = find_by_email(session, email) or create_user(
            session,
            email=email,
            password=password,
            name="Organization owner",
            now=services.clock.now(),
            field="CITADEL_BOOTSTRAP_PASSWORD_FILE",
        )
        org = found_organization(ctx, name="Citadel", owner_user_id=user.id)
        return FirstOwner(org.id, email, printed)


def first_organization_id(services: Services) -> str | None:
    """The oldest organization's id."""
    with services.db.read() as session:
        return session.scalar(sa.select(Organization.id).order_by(Organization.created_at))
