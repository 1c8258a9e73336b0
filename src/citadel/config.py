"""Settings, read from the environment (``CITADEL_`` prefix) and the command line.

There is no global instance: `load_settings()` builds one and the composition root
(`citadel.bootstrap`) passes what each part needs.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class StaticIps(BaseModel):
    """One region's published addresses: where traffic to deployments arrives (ingress) and
    where traffic from them leaves (egress). Addresses or CIDR blocks."""

    model_config = ConfigDict(extra="forbid")

    ingress: list[str] = Field(default_factory=list)
    egress: list[str] = Field(default_factory=list)

    @field_validator("ingress", "egress")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        return [str(ipaddress.ip_network(v, strict=False)) for v in values]


class S3Repository(BaseModel):
    """Snapshots in S3-compatible storage (through boto3) instead of a shared directory."""

    model_config = ConfigDict(extra="forbid")

    bucket: str = Field(min_length=3, max_length=63)
    prefix: str = ""  # keys start with it ("" or ending in "/")
    endpoint_url: str | None = None  # None: AWS; else an S3-compatible server's URL
    region: str = "us-east-1"
    access_key_id: str | None = None  # None: boto3's default credential chain
    secret_access_key_file: Path | None = None  # read when used, never logged


class Settings(BaseSettings):
    """Everything an operator can configure."""

    model_config = SettingsConfigDict(env_prefix="CITADEL_", extra="ignore")

    data_dir: Path = Path("./citadel-data")
    database_url: SecretStr | None = None
    """``postgresql+psycopg://...`` for PostgreSQL; unset means SQLCipher in the data dir."""

    api_host: str = "127.0.0.1"
    api_port: int = 8443
    public_hostname: str = "localhost"
    public_url: str | None = None
    """The control plane's address as browsers reach it (SSO URLs are built from it); unset:
    ``https://<api_host>:<api_port>``, or `public_hostname` when listening on every address."""
    internal_port: int = 8444
    """The internal API (mTLS, for the allocator and gateway)."""
    deployment_domain: str = "citadel.localhost"
    """Deployments answer at ``<id>.<region>.<deployment_domain>`` on the gateway."""
    gateway_port: int = 9243
    regions: list[str] = Field(default_factory=lambda: ["local"], min_length=1)
    """The regions this platform offers (JSON list in ``CITADEL_REGIONS``)."""
    platform_key: str | None = None
    """Where the platform key lives (a provider's key path); unset: `keys/platform.key`."""
    platform_key_settings: dict[str, str] = Field(default_factory=dict)
    platform_key_secret_file: Path | None = None
    key_check_interval_s: float = Field(default=60.0, gt=0)
    """How often the allocator checks every deployment's key."""
    pkcs11_modules: list[str] = Field(
        default_factory=lambda: ["/usr/lib/softhsm/libsofthsm2.so"], min_length=1
    )
    """PKCS#11 modules an organization's key manager may load (JSON list)."""
    key_manager_allowed_endpoints: list[str] = Field(default_factory=list)
    """Where organizations' key managers may be although not public (JSON list of networks,
    addresses and host names, each optionally with ``:port``: ``["10.20.0.0/16",
    "vault.internal:8200", "[fd00::/8]:5696", "*.kms.internal"]``). Loopback, link-local,
    private and other non-public addresses are refused unless listed (docs/security.md)."""
    key_manager_public_endpoints: bool = True
    """Whether organizations' key managers may be at any public address; false: only listed."""
    static_ips: dict[str, StaticIps] = Field(default_factory=dict)
    """Published ingress and egress addresses per region (JSON object in
    ``CITADEL_STATIC_IPS``: ``{"local": {"ingress": ["203.0.113.10/32"], "egress": []}}``)."""

    session_idle_timeout_s: int = 60 * 60
    session_absolute_timeout_s: int = 12 * 60 * 60
    max_body_bytes: int = 1024 * 1024

    signin_pair_failures: int = Field(default=5, ge=1)
    """Failed sign-ins of one account from one address before that pair answers 429."""
    signin_account_failures: int = Field(default=30, ge=1)
    """Failed sign-ins of one account from every address before addresses it has never
    signed in from answer 429 (its known addresses keep signing in: ADR 22)."""
    signin_ip_failures: int = 20
    signin_window_s: int = 15 * 60
    signin_max_lockout_s: int = 15 * 60

    trusted_proxies: list[str] = Field(default_factory=list)
    """CIDRs whose X-Forwarded-For is believed (empty: the TCP peer is the client)."""

    dns_resolver: str | None = None
    """The DNS server domain verification asks, as ``host:port`` (``[::1]:53`` for IPv6);
    unset: the system's resolver (``/etc/resolv.conf``)."""
    dns_timeout_s: float = Field(default=5.0, gt=0, le=60)
    """How long domain verification waits for DNS before answering 503."""

    smtp_host: str | None = None
    """The SMTP submission server invitations go through (STARTTLS required); unset: mail
    goes to the maildir ``<data-dir>/mail``, readable by the operator only."""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    """Sent with AUTH after STARTTLS; unset: no authentication."""
    smtp_password_file: Path | None = None
    """A file holding the SMTP password (never the password itself in the environment)."""
    smtp_ca_file: Path | None = None
    """The CA the SMTP server's certificate is checked against; unset: the system's roots."""
    mail_from: str = "Citadel <citadel@localhost>"
    """The From of every message Citadel sends."""

    quota_organizations_per_user: int = Field(default=10, ge=1)
    """Organizations a user may own and still found another (409 ``quota.organizations_per_user``
    beyond; docs/security.md, "Threat model: limits and their settings")."""
    quota_deployments_per_organization: int = Field(default=20, ge=1)
    """Deployments (not deleted) one organization may hold (409
    ``quota.deployments_per_organization`` beyond)."""
    quota_api_keys_per_user: int = Field(default=50, ge=1)
    """Active Cloud API keys one user may have made, over all organizations (409
    ``quota.api_keys_per_user`` beyond)."""

    deployment_token_ttl_s: int = Field(default=300, ge=30, le=300)
    """How long a deployment access token (``citadel deployment token``, ADR 27) lives; removing
    a member or changing their roles reaches tokens already minted within this time."""
    token_key_rotation_days: int = Field(default=30, ge=1)
    """How long one key signs deployment access tokens before a new one takes over (the old
    stays published until its last token has expired)."""

    deployment_audit_retention_days: int = Field(default=30, ge=1, le=3650)
    """How long the control plane keeps a deployment's security audit events (pruned hourly)."""
    deployment_audit_max_events: int = Field(default=100_000, ge=1)
    """Security audit events kept per deployment; the oldest go first (pruned hourly)."""

    project_idle_timeout_s: float = Field(default=900.0, ge=1.0, le=30 * 86400.0)
    """How long a serverless project may go without a request before it is stopped; the
    gateway wakes it on the next one (ADR 29)."""
    project_wake_timeout_s: float = Field(default=60.0, ge=1.0, le=600.0)
    """How long the gateway holds a request for a stopped project while it starts; past it the
    client gets 503 with ``Retry-After`` (ADR 29)."""
    project_warm_memory_mb: int | None = Field(default=None, ge=256)
    """The memory all running projects may hold together; past it the projects idle longest
    are stopped first (ADR 29). None: no budget, the idle timeout alone decides."""
    project_sweep_interval_s: float = Field(default=5.0, ge=0.2, le=3600.0)
    """How often the control plane looks for idle projects to stop."""
    project_credentials_apply_s: float = Field(default=30.0, ge=0.0, le=300.0)
    """How long a project's `_reset-credentials` waits for its running node to restart with the
    new password, so that the old one no longer works once the answer arrives (0: no wait)."""
    serverless_csp: str = Field(default="aws", pattern="^(aws|gcp|azure)$")
    """The `csp` the serverless regions API reports for this platform's regions (the contract
    allows only ``aws``, ``gcp``, ``azure``; ADR 28)."""

    bootstrap_password_file: Path | None = None
    log_level: str = "info"

    metrics_host: str = "127.0.0.1"
    """Where every component's Prometheus endpoint listens (HTTPS, bearer token in
    ``keys/metrics.token``; docs/operations.md, "Metrics")."""
    control_plane_metrics_port: int = Field(default=9290, ge=0, le=65535)
    """The control plane's metrics port; 0 turns its endpoint off."""
    gateway_metrics_port: int = Field(default=9291, ge=0, le=65535)
    """The gateway's metrics port; 0 turns its endpoint off."""
    allocator_metrics_port: int = Field(default=9292, ge=0, le=65535)
    """The allocator's metrics port (its nodes' series included); 0 turns its endpoint off."""

    # The gateway's limits (issue 17.1; docs/security.md, "Threat model: limits and their
    # settings"). Gateway-wide figures: each worker enforces its share.
    gateway_max_connections_per_client: int = Field(default=256, ge=1)
    """Open connections one client address may hold (the PROXY header's source behind a
    balancer); beyond, a connection's first request is answered 429 and it is closed."""
    gateway_max_requests_per_client: int = Field(default=64, ge=1)
    """Requests one client address may have in flight at the nodes; beyond, 429."""
    gateway_max_upstreams_per_deployment: int = Field(default=1024, ge=1)
    """Connections the gateway may hold to one deployment's node (busy or idle), below the
    node's 4,096 descriptors; beyond (no idle one to close), 429."""
    gateway_body_deadline_s: float = Field(default=300.0, gt=0)
    """How long a request body may take to arrive in full; beyond, 408 and the connection is
    closed."""
    gateway_body_min_rate: int = Field(default=1024, ge=0)
    """Bytes per second a request body must average once `gateway_body_rate_grace_s` have
    passed (time the gateway stops reading for a slow node excepted); below, 408."""
    gateway_body_rate_grace_s: float = Field(default=10.0, ge=0)
    """How long a request body may arrive slowly before its rate is checked."""
    # -- many machines (issue 20, docs/multi-host.md) --
    allocator_unhealthy_after_s: float = Field(default=30.0, ge=1.0, le=86400.0)
    """An allocator with no heartbeat for this long is unhealthy: nothing new is placed on it,
    and its deployments are restored elsewhere from their snapshots."""
    join_token_ttl_s: int = Field(default=3600, ge=60, le=7 * 86400)
    """How long a join token (`citadel platform join-token`) may be used (once)."""
    # -- snapshots (issue 20, ADR 30) --
    snapshot_repository_path: Path | None = None
    """The shared snapshot directory (every allocator host mounts it at this path); None:
    ``<data-dir>/snapshots``. Ignored when `snapshot_s3` is set."""
    snapshot_s3: S3Repository | None = None
    """Snapshots in S3-compatible storage instead (JSON)."""
    snapshot_interval_s: int = Field(default=1800, ge=60, le=7 * 86400)
    """The default schedule of every deployment's ``cloud-snapshot-policy``."""
    snapshot_retention_max_count: int = Field(default=100, ge=1, le=10_000)
    snapshot_retention_expire_after_s: int = Field(default=30 * 86400, ge=3600)
    deleted_snapshot_retention_days: int = Field(default=0, ge=0, le=3650)
    """How long a deleted deployment's snapshots stay restorable (its data key kept that long);
    0: shredded with the deployment, at once."""

    gateway_server_names: list[str] = Field(default_factory=list)
    """TLS server names that are the gateway's own besides ``localhost``, the deployment
    domain and ``<region>.<domain>`` (a load balancer's name; JSON list). Any other SNI that
    names no deployment is answered 421 when Host or X-Found-Cluster names one."""

    @field_validator("static_ips")
    @classmethod
    def _known_regions(cls, value: dict[str, StaticIps], info: ValidationInfo) -> dict:
        unknown = sorted(set(value) - set(info.data.get("regions") or []))
        if unknown:
            raise ValueError(f"static_ips names regions not in regions: {', '.join(unknown)}")
        return value

    @field_validator("dns_resolver")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None:
            _split_host_port(value)
        return value

    @property
    def dns_nameserver(self) -> tuple[str, int] | None:
        """`dns_resolver` as (address, port), or None for the system's resolver."""
        return None if self.dns_resolver is None else _split_host_port(self.dns_resolver)

    @property
    def control_plane_url(self) -> str:
        """`public_url` without a trailing slash, or the address the API listens on."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = self.api_host
        if host in ("0.0.0.0", "::"):
            host = self.public_hostname
        elif ":" in host:
            host = f"[{host}]"
        return f"https://{host}:{self.api_port}"

    @property
    def snapshot_directory(self) -> Path:
        """Where filesystem snapshots go (`snapshot_repository_path` or the default)."""
        return self.snapshot_repository_path or self.data_dir / "snapshots"

    @property
    def db_path(self) -> Path:
        """The SQLCipher control-plane database file."""
        return self.data_dir / "citadel.db"


def _split_host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("dns_resolver is host:port, for example 127.0.0.1:53 or [::1]:53")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError("dns_resolver names the resolver by IP address") from None
    return host, int(port)


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment, with explicit overrides winning (validated as
    any other source: the values may be strings, paths, numbers)."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)
