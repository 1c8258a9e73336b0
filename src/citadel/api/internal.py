"""The internal application (ADR 9, ADR 17): `/internal/v1` for the allocator and the gateway.

Served on its own listener (`--internal-port`, default 8444) that requires a client
certificate from the platform CA (`ssl.CERT_REQUIRED`); nothing else reaches these routes.
The listener's HTTP protocol (`internal_http_protocol`) hands the application the peer's
certificate the way the ASGI TLS extension says (``scope["extensions"]["tls"]
["client_cert_chain"]``); each route admits only the component kinds it serves, and a refusal
(403) is audited. Every answer carries the contract version (`X-Citadel-Contract`).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from fastapi import FastAPI, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from citadel import __version__
from citadel.api import errors
from citadel.api.middleware import RequestContextMiddleware
from citadel.api.routes import internal
from citadel.audit.service import Actor
from citadel.audit.tags import ActorType, AuditAction, Outcome, TargetType
from citadel.bootstrap import Services
from citadel.contract.messages import CONTRACT_HEADER, CONTRACT_VERSION
from citadel.errors import CitadelError
from citadel.log import get_logger

log = get_logger(__name__)


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
    errors.install(app, on_error=_audit_refusal)
    app.add_middleware(
        RequestContextMiddleware,
        trusted_proxies=(),
        max_body=services.settings.max_body_bytes,
        quiet_success=True,
    )
    app.add_middleware(ContractHeaderMiddleware)
    return app


class ContractHeaderMiddleware:
    """Every answer says which contract version this control plane speaks."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", [])]
                headers.append((CONTRACT_HEADER.lower().encode(), str(CONTRACT_VERSION).encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_version)


def _audit_refusal(request: Request, exc: CitadelError) -> None:
    """A refused component (403) is audited, with the certificate that asked; other failed
    calls of components are logged, not audited."""
    if exc.status != 403:
        return
    state = request.state
    component = getattr(state, "component", None)
    chain = internal.client_certificates(request)
    fingerprint = _fingerprint(chain[0]) if chain else None
    route = request.scope.get("route")
    template = getattr(route, "path", request.url.path)
    actor = Actor(
        ActorType.COMPONENT,
        str(component) if component else None,
        fingerprint,
        getattr(state, "source_ip", None),
        getattr(state, "request_id", None),
    )
    services: Services = request.app.state.services
    try:
        with services.db.write() as session:
            services.audit.record(
                session,
                actor=actor,
                action=AuditAction.REQUEST_DENIED,
                organization_id=None,
                target_type=TargetType.INTERNAL_ROUTE,
                target_id=f"{request.method} {template}"[:255],
                outcome=Outcome.DENIED,
                details={"code": exc.code, "status": exc.status},
            )
    except Exception as failure:  # auditing must not turn a 403 into a 500
        log.error("audit.record_failed", error_type=type(failure).__name__)
    log.warning(
        "internal.component_refused",
        component=str(component) if component else None,
        route=f"{request.method} {template}",
        code=exc.code,
    )


def _fingerprint(pem: str) -> str | None:
    """The certificate's SHA-256 fingerprint (hex), as `openssl x509 -fingerprint` shows it."""
    try:
        return x509.load_pem_x509_certificate(pem.encode()).fingerprint(hashes.SHA256()).hex()
    except ValueError:
        return None


def _peer_certificate_pem(transport: asyncio.BaseTransport) -> str | None:
    ssl_object = transport.get_extra_info("ssl_object")
    if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return ssl.DER_cert_to_PEM_cert(der) if der else None


class _WithPeerCertificate:
    """Puts one connection's client certificate into each request's scope (ASGI TLS
    extension); the listener verified it against the platform CA."""

    def __init__(self, app: Any, pem: str) -> None:
        self.app = app
        self.pem = pem

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        extensions = dict(scope.get("extensions") or {})
        extensions["tls"] = {**extensions.get("tls", {}), "client_cert_chain": [self.pem]}
        await self.app({**scope, "extensions": extensions}, receive, send)


class PeerCertificateProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """Uvicorn's HTTP protocol, plus the peer's certificate in the scope."""

    app: Any  # the ASGI application uvicorn calls for this connection

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)
        pem = _peer_certificate_pem(transport)
        if pem is not None:
            self.app = _WithPeerCertificate(self.app, pem)


def internal_http_protocol() -> type[asyncio.Protocol]:
    """The `http` protocol class for the internal listener's `uvicorn.Config`."""
    return PeerCertificateProtocol
