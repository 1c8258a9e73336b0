"""The internal application (ADR 9): `/internal/v1` for the allocator and the gateway.

Served on its own listener (`--internal-port`, default 8444) that requires a client
certificate from the platform CA (`ssl.CERT_REQUIRED`); nothing else reaches these routes.
"""

from __future__ import annotations

from fastapi import FastAPI, Request

from citadel import __version__
from citadel.api import errors
from citadel.api.middleware import RequestContextMiddleware
from citadel.api.routes import internal
from citadel.bootstrap import Services
from citadel.errors import CitadelError


def create_internal_app(services: Services) -> FastAPI:
    """The internal HTTP application over `services` (no documentation routes)."""
    app = FastAPI(
        title="Citadel internal API",
        version=__version__,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = services
    app.include_router(internal.router)
    errors.install(app, on_error=_ignore)
    app.add_middleware(
        RequestContextMiddleware,
        trusted_proxies=(),
        max_body=services.settings.max_body_bytes,
    )
    return app


def _ignore(request: Request, exc: CitadelError) -> None:
    """Internal callers are components; their failed calls are logged, not audited."""
