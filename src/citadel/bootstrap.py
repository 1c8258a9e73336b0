"""The control plane's services: the one place that turns its settings into working parts.

`build(settings)` opens the platform key, the keyring, the database and the audit log, and
returns them as `Services`. Everything below receives these as parameters; nothing else reads
settings or builds adapters. The control-plane process's root (`citadel.roots.control_plane`)
and the break-glass commands (`citadel admin`, `citadel audit`) call it; the allocator and the
gateway have their own roots beside it (`citadel.roots`).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from citadel.audit.service import AuditLog
from citadel.authn.context import Context, Policies
from citadel.authn.principal import Caller
from citadel.authn.quotas import Quotas
from citadel.config import Settings
from citadel.contract.messages import SnapshotRepository
from citadel.crypto.keyring import Keyring, new_wrapped_root, open_keyring, unwrap_keyring
from citadel.crypto.platform import open_platform_key
from citadel.crypto.providers.base import KeyProvider
from citadel.crypto.providers.endpoints import EndpointPolicy
from citadel.db import platform_secrets
from citadel.db.engine import Database, server_engine, sqlcipher_engine
from citadel.deployment_tokens.tokens import platform_issuer
from citadel.kit.clock import Clock, SystemClock
from citadel.kit.emails import normalize_email
from citadel.kit.ids import new_id
from citadel.kit.net import Network, parse_networks
from citadel.mail.delivery import Mailer, mailer_from
from citadel.orgs.models import Organization
from citadel.orgs.service import found_organization
from citadel.pki.authority import ServerCertificate, ensure_api_certificate, ensure_ca, write_file
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
    recent_clients: RecentClients
    """Clients the gateways saw, in the database every replica shares (ADR 32)."""

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
    clock = clock or SystemClock()
    if settings.database_url is not None:  # replicas share the keyring root (ADR 32)
        engine = server_engine(settings.database_url.get_secret_value())
        keyring = _shared_keyring(engine, keyring_file(settings), provider, clock.now())
    else:
        keyring = open_keyring(keyring_file(settings), provider)
        engine = sqlcipher_engine(settings.db_path, keyring.database_key)
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
        snapshot_interval_s=settings.snapshot_interval_s,
        snapshot_retention_max_count=settings.snapshot_retention_max_count,
        snapshot_retention_expire_after_s=settings.snapshot_retention_expire_after_s,
        deleted_snapshot_retention_days=settings.deleted_snapshot_retention_days,
        allocator_unhealthy_after_s=settings.allocator_unhealthy_after_s,
    )
    database = Database(engine)
    return Services(
        settings=settings,
        db=database,
        keyring=keyring,
        clock=clock,
        audit=AuditLog(key=keyring.audit_key, clock=clock),
        policies=policies,
        trusted_proxies=parse_networks(settings.trusted_proxies),
        platform_keys=provider,
        mailer=mailer_from(settings),
        recent_clients=RecentClients(database),
    )


def keyring_file(settings: Settings) -> Path:
    """Where this host keeps the wrapped keyring root (the allocator and gateway read it)."""
    return settings.data_dir / "keys" / "keyring.wrapped"


def _shared_keyring(engine: sa.Engine, path: Path, provider: KeyProvider, now: datetime) -> Keyring:
    """The platform's keyring on PostgreSQL: the root stored in the database (wrapped by the
    platform key), copied to `path` for this host's allocator and gateway; a first start
    stores this host's (or a new) one. Before migration 0015 the file alone, as before (the
    control plane's root shares it after migrating, `share_platform_secrets`)."""
    if not platform_secrets.has_table(engine):
        return open_keyring(path, provider)
    local = path.read_bytes() if path.exists() else None
    with Database(engine).write() as session:
        offered = local if local is not None else new_wrapped_root(provider)
        stored = platform_secrets.put_if_absent(
            session, {platform_secrets.KEYRING_ROOT: offered}, now
        )[platform_secrets.KEYRING_ROOT]
    keyring = _open_stored(stored, provider)
    if local is None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_file(path, stored, 0o600)
    elif not hmac.compare_digest(unwrap_keyring(local, provider).root, keyring.root):
        raise platform_secrets.Mismatch(
            f"{path} holds another keyring root than the platform's database: this data "
            "directory belongs to another platform (move it away to join this one)"
        )
    return keyring


def _open_stored(wrapped: bytes, provider: KeyProvider) -> Keyring:
    try:
        return unwrap_keyring(wrapped, provider)
    except Exception as exc:
        raise platform_secrets.Mismatch(
            "the platform key does not open the keyring root stored in the database: give "
            "this replica the platform's key (the same CITADEL_PLATFORM_KEY, or a copy of the "
            "first replica's keys/platform.key)"
        ) from exc


def share_platform_secrets(services: Services) -> None:
    """On PostgreSQL, make this replica's keyring root and CA the platform's (ADR 32): store
    them in the database on the first start, else take the stored CA into ``<data-dir>/pki``
    (where the allocator and gateway of this host find it). Raises `Mismatch` when this data
    directory holds another platform's."""
    settings = services.settings
    if settings.database_url is None:
        return
    now = services.clock.now()
    with services.db.write() as session:
        wrapped = keyring_file(settings).read_bytes()
        stored = platform_secrets.put_if_absent(
            session, {platform_secrets.KEYRING_ROOT: wrapped}, now
        )[platform_secrets.KEYRING_ROOT]
    if not hmac.compare_digest(
        _open_stored(stored, services.platform_keys).root, services.keyring.root
    ):
        raise platform_secrets.Mismatch(
            f"{keyring_file(settings)} holds another keyring root than the platform's database"
        )
    _share_ca(services, now)


def _share_ca(services: Services, now: datetime) -> None:
    pki_dir = services.settings.data_dir / "pki"
    cert_file, key_file = pki_dir / "ca.crt", pki_dir / "ca.key.sealed"
    names = (platform_secrets.CA_CERTIFICATE, platform_secrets.CA_KEY)
    with services.db.read() as session:
        have = [platform_secrets.stored(session, name) for name in names]
    made_here = False
    if None in have and not (cert_file.exists() and key_file.exists()):
        ensure_ca(pki_dir, services.keyring.barrier)  # the platform's first CA
        made_here = True
    if None in have:
        with services.db.write() as session:
            offered = dict(zip(names, (cert_file.read_bytes(), key_file.read_bytes()), strict=True))
            stored = platform_secrets.put_if_absent(session, offered, now)
        have = [stored[name] for name in names]
    cert, key = have[0] or b"", have[1] or b""
    same = cert_file.exists() and cert_file.read_bytes() == cert
    if same and key_file.exists():
        return
    if cert_file.exists() and not same and not made_here:
        raise platform_secrets.Mismatch(
            f"{cert_file} is another CA than the platform's database holds: this data "
            "directory belongs to another platform (move its pki/ away to join this one)"
        )
    pki_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_file(key_file, key, 0o600)
    write_file(cert_file, cert, 0o644)


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


def snapshot_repository(settings: Settings) -> SnapshotRepository:
    """Where allocators keep snapshots (issue 20, ADR 30), as the allocations tell them: the
    S3-compatible bucket of `snapshot_s3` (its secret key read from its file now, never
    logged), else the shared `snapshot_directory`."""
    s3 = settings.snapshot_s3
    if s3 is None:
        return SnapshotRepository(path=str(settings.snapshot_directory))
    secret = None
    if s3.secret_access_key_file is not None:
        secret = s3.secret_access_key_file.read_text().strip()
    return SnapshotRepository(
        s3_bucket=s3.bucket,
        s3_prefix=s3.prefix,
        s3_endpoint_url=s3.endpoint_url,
        s3_region=s3.region,
        s3_access_key_id=s3.access_key_id,
        s3_secret_access_key=secret,
    )
