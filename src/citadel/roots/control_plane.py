"""The control plane's composition root: settings in, the API and console application, the
internal application and their certificate out.

`citadel.bootstrap.build` opens the platform key, the keyring and the database (the
`Services` every edge of the control plane shares); this root migrates the database, makes
the certificate, creates the first organization on a first start and builds both HTTP
applications over the one `Services`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from fastapi import FastAPI

from citadel import bootstrap
from citadel.api.internal import create_internal_app, internal_http_protocol
from citadel.app import create_app
from citadel.bootstrap import FirstOwner, Services
from citadel.config import Settings
from citadel.db.migrate import upgrade
from citadel.pki.authority import ServerCertificate


@dataclass(frozen=True)
class ControlPlaneProcess:
    """The control plane's parts: one `Services`, the public and internal applications, and
    the internal listener's HTTP protocol (it hands the app the client certificate, ADR 17)."""

    services: Services
    certificate: ServerCertificate
    public_app: FastAPI
    internal_app: FastAPI
    internal_http: type[asyncio.Protocol]
    first_owner: FirstOwner | None

    def close(self) -> None:
        self.services.close()


def build(settings: Settings, *, admin_email: str | None) -> ControlPlaneProcess:
    """Open the services, bring the schema up to date, ensure the TLS certificate and, with
    `admin_email`, the first organization and its owner (first start only)."""
    services = bootstrap.build(settings)
    try:
        upgrade(services.db.engine)
        certificate = bootstrap.api_certificate(services)
        first = None
        if admin_email is not None:
            first = bootstrap.ensure_first_organization(
                services, admin_email=admin_email, password_file=settings.bootstrap_password_file
            )
        return ControlPlaneProcess(
            services=services,
            certificate=certificate,
            public_app=create_app(services),
            internal_app=create_internal_app(services),
            internal_http=internal_http_protocol(),
            first_owner=first,
        )
    except BaseException:
        services.close()
        raise
