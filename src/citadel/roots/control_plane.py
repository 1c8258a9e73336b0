"""The control plane's composition root: settings in, the API and console application, the
internal application and their certificate out.

`citadel.bootstrap.build` opens the platform key, the keyring and the database (the
`Services` every edge of the control plane shares); this root migrates the database, makes
the certificate, creates the first organization on a first start and builds both HTTP
applications over the one `Services`, and the two listeners' TLS contexts (Mozilla
intermediate, `citadel.kit.tls`) with the renewer that keeps their certificate current
(ADR 18). Besides the hourly chores it runs the serverless projects' sweep (ADR 29): every
``project_sweep_interval_s`` it stops the projects idle past ``project_idle_timeout_s`` or
beyond ``project_warm_memory_mb``.

Several control planes may serve one PostgreSQL (ADR 32): each periodic loop but the renewer
runs under a lease (`citadel.leases.service.Leases.hold`), so exactly one replica does each
kind of platform-wide work; the renewer keeps this process's own listener certificate and
runs in every replica.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from citadel import bootstrap
from citadel.api.internal import create_internal_app, internal_http_protocol
from citadel.api.metrics import AuditCounter, ControlPlaneMetrics, RequestMetricsMiddleware
from citadel.app import create_app
from citadel.bootstrap import FirstOwner, Services
from citadel.config import Settings
from citadel.db import platform_secrets
from citadel.db.migrate import upgrade
from citadel.deployment_audit.service import Pruned, prune
from citadel.deployment_realms.service import refresh_metadata
from citadel.kit.tls import server_context
from citadel.leases.service import Leases
from citadel.log import get_logger
from citadel.pki.authority import ServerCertificate
from citadel.pki.renewal import CertificateRenewer
from citadel.roots.metrics import MetricsEndpoint, metrics_endpoint
from citadel.use_cases.deployment_tokens import rotate_token_keys
from citadel.use_cases.notifications import warn_expiring_api_keys
from citadel.use_cases.platform import watch_allocators
from citadel.use_cases.projects_runtime import sweep_idle_projects
from citadel.use_cases.snapshots import shred_expired_snapshots
from citadel.users.form_tokens import forget_spent_form_tokens
from citadel.web.work import Work

log = get_logger(__name__)

CHORES_INTERVAL_S = 3600.0
"""How often the control plane looks for mail of its own to send (key-expiry warnings)."""
ALLOCATOR_WATCH_S = 5.0
"""How often, at most, the control plane looks for lost allocators (ADR 31)."""


@dataclass(frozen=True)
class ControlPlaneProcess:
    """The control plane's parts: one `Services`, the public and internal applications, the
    internal listener's HTTP protocol (it hands the app the client certificate, ADR 17), the
    listeners' TLS contexts (the internal one requires a client certificate from the platform
    CA) and the renewer that reloads their certificate in place."""

    services: Services
    certificate: ServerCertificate
    public_app: FastAPI
    internal_app: FastAPI
    internal_http: type[asyncio.Protocol]
    first_owner: FirstOwner | None
    public_tls: ssl.SSLContext
    internal_tls: ssl.SSLContext
    renewer: CertificateRenewer
    leases: Leases
    """This process's claims on the shared leases: periodic work runs on one replica."""
    metrics: MetricsEndpoint | None = None
    """Requests, sign-ins and audit writes at ``/metrics`` (None when turned off)."""
    audit_counter: AuditCounter | None = None

    async def chores(self, interval_s: float = CHORES_INTERVAL_S) -> None:
        """The platform's own chores, every `interval_s` until cancelled (first right away),
        by one replica at a time (lease ``chores``, ADR 32): rotating deployment-token
        signing keys; warnings of API keys about to expire; the pruning of deployments'
        security audit events; and fetching again SAML realms' IdP metadata given by URL."""
        await self.leases.hold("chores", self.chores_round, interval_s=interval_s)

    async def chores_round(self) -> None:
        """One round of `chores`: each chore that fails is logged and tried again at the
        next round, the others still run."""
        units = Work(self.services, self.services.system_caller())
        try:  # deployment-token signing keys (ADR 27): the first at start, then rotation
            await asyncio.to_thread(rotate_token_keys, units)
        except Exception:
            log.exception("chores.failed")
        try:
            await asyncio.to_thread(warn_expiring_api_keys, units, self.services.mailer)
        except Exception:
            log.exception("chores.failed")
        try:
            await asyncio.to_thread(self.prune_deployment_audit)
        except Exception:
            log.exception("chores.failed")
        try:  # SAML realms' IdP metadata by URL, fetched again once a day
            await asyncio.to_thread(refresh_metadata, units)
        except Exception:
            log.exception("chores.failed")
        try:  # form tokens and gateway-reported clients past their time (ADR 32)
            await asyncio.to_thread(self.forget_expired)
        except Exception:
            log.exception("chores.failed")
        try:  # deleted deployments' keys and snapshots past their retention (ADR 30)
            await asyncio.to_thread(self.shred_snapshots)
        except Exception:
            log.exception("chores.failed")

    async def sweep_projects(self) -> None:
        """Stop idle serverless projects (ADR 29), every ``project_sweep_interval_s`` until
        cancelled, by one replica at a time (lease ``project-sweep``); its own loop, so an
        hour of chores never delays it."""
        settings = self.services.settings
        await self.leases.hold(
            "project-sweep",
            self.sweep_projects_round,
            interval_s=settings.project_sweep_interval_s,
            first_delay_s=settings.project_sweep_interval_s,
        )

    async def sweep_projects_round(self) -> None:
        """One round of `sweep_projects`."""
        settings = self.services.settings
        units = Work(self.services, self.services.system_caller())
        try:
            await asyncio.to_thread(
                sweep_idle_projects,
                units,
                idle_timeout_s=settings.project_idle_timeout_s,
                warm_memory_mb=settings.project_warm_memory_mb,
            )
        except Exception:
            log.exception("projects.sweep_failed")

    async def watch_allocators(self) -> None:
        """Bring back the deployments of lost allocators and place those waiting for room
        (ADR 31), every few seconds until cancelled, by one replica at a time (lease
        ``allocator-recovery``). The first round waits ``allocator_unhealthy_after_s``, so
        after a control-plane outage the allocators have sent a heartbeat again before any
        is judged lost."""
        after = self.services.settings.allocator_unhealthy_after_s
        await self.leases.hold(
            "allocator-recovery",
            self.watch_allocators_round,
            interval_s=min(ALLOCATOR_WATCH_S, after / 3),
            first_delay_s=after,
        )

    async def watch_allocators_round(self) -> None:
        """One round of `watch_allocators`."""
        units = Work(self.services, self.services.system_caller())
        try:
            await asyncio.to_thread(watch_allocators, units)
        except Exception:
            log.exception("allocators.watch_failed")

    def forget_expired(self) -> None:
        """Delete spent console form tokens and gateway-reported clients past their time."""
        now = self.services.clock.now()
        with self.services.db.write() as session:
            forget_spent_form_tokens(session, now)
        self.services.recent_clients.forget_expired()

    def shred_snapshots(self) -> list[str]:
        """Destroy the keys and delete the snapshots of deleted deployments past their
        retention (``deleted_snapshot_retention_days``)."""
        units = Work(self.services, self.services.system_caller())
        repository = bootstrap.snapshot_repository(self.services.settings)
        return shred_expired_snapshots(units, repository)

    def prune_deployment_audit(self) -> Pruned:
        """Delete deployments' security audit events beyond their retention (age, count)."""
        settings = self.services.settings
        with self.services.db.write() as session:
            return prune(
                session,
                now=self.services.clock.now(),
                retention_days=settings.deployment_audit_retention_days,
                max_events=settings.deployment_audit_max_events,
            )

    def start_metrics(self) -> None:
        """Serve the metrics endpoint (when on); `close` stops it."""
        if self.metrics is not None:
            self.metrics.start()

    def close(self) -> None:
        if self.metrics is not None:
            self.metrics.close()
        if self.audit_counter is not None:
            self.audit_counter.remove()
        self.services.close()


class WrongPlatform(Exception):
    """The platform key or this data directory belongs to another platform than the database
    (ADR 32): the process refuses to start; the message says which file or setting."""


def build(settings: Settings, *, admin_email: str | None) -> ControlPlaneProcess:
    """Open the services, bring the schema up to date, ensure the TLS certificate and, with
    `admin_email`, the first organization and its owner (first start only). Raises
    `WrongPlatform` when the keyring root or CA this host holds, or its platform key, is not
    the database's platform's."""
    try:
        services = bootstrap.build(settings)
    except platform_secrets.Mismatch as exc:
        raise WrongPlatform(str(exc)) from exc
    try:
        upgrade(services.db.engine)
        try:  # replicas share keyring and CA (ADR 32)
            bootstrap.share_platform_secrets(services)
        except platform_secrets.Mismatch as exc:
            raise WrongPlatform(str(exc)) from exc
        certificate = bootstrap.api_certificate(services)
        first = None
        if admin_email is not None:
            first = bootstrap.ensure_first_organization(
                services, admin_email=admin_email, password_file=settings.bootstrap_password_file
            )
        c = certificate
        public_tls = server_context(c.cert_file, c.key_file, c.key_password)
        internal_tls = server_context(c.cert_file, c.key_file, c.key_password, client_ca=c.ca_file)
        renewer = CertificateRenewer(
            "api", lambda: bootstrap.api_certificate(services), [public_tls, internal_tls], c
        )
        metrics = ControlPlaneMetrics(CollectorRegistry())
        public_app, internal_app = create_app(services), create_internal_app(services)
        for app, listener in ((public_app, "public"), (internal_app, "internal")):
            app.add_middleware(RequestMetricsMiddleware, metrics=metrics, listener=listener)
        endpoint = metrics_endpoint(
            settings,
            services.keyring,
            "control-plane",
            settings.control_plane_metrics_port,
            metrics.registry,
        )
        audit_counter = AuditCounter(services.db.engine, metrics)
        audit_counter.install()
        return ControlPlaneProcess(
            services=services,
            certificate=certificate,
            public_app=public_app,
            internal_app=internal_app,
            internal_http=internal_http_protocol(),
            first_owner=first,
            metrics=endpoint,
            audit_counter=audit_counter,
            public_tls=public_tls,
            internal_tls=internal_tls,
            renewer=renewer,
            leases=Leases(services.db, services.clock),
        )
    except BaseException:
        services.close()
        raise
