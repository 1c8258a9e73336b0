"""The Cloud API's application: routers under /api/v1, the SSO browser endpoints, middleware,
error rendering. The console is mounted beside it by `citadel.app`, never from here."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request

from citadel import __version__
from citadel.api import errors, openapi
from citadel.api.deps import public
from citadel.api.middleware import RequestContextMiddleware
from citadel.api.routes import (
    api_keys,
    audit,
    auth,
    deployment_audit,
    deployment_realms,
    deployment_tokens,
    deployments,
    domains,
    invitations,
    join,
    key_managers,
    members,
    orgs,
    passkeys,
    platform,
    project_tokens,
    projects,
    serverless_traffic_filters,
    sso,
    sso_login,
    traffic_filters,
)
from citadel.audit.tags import TargetType
from citadel.bootstrap import Services
from citadel.errors import CitadelError
from citadel.web.refusals import record_refusal
from citadel.web.session import SAFE_METHODS

API_PREFIX = "/api/v1"

health = APIRouter(tags=["health"])


@health.get("/_health", dependencies=[public()])
def healthcheck() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


def create_api_app(services: Services) -> FastAPI:
    """The Cloud API over `services` (`citadel.app.create_app` adds the console)."""
    app = FastAPI(
        title="Citadel Cloud API",
        version=__version__,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = services
    for router in (
        health,
        orgs.router,
        key_managers.router,
        domains.router,
        sso.router,
        members.router,
        invitations.router,
        api_keys.router,
        auth.router,
        passkeys.router,
        audit.router,
        traffic_filters.router,
        serverless_traffic_filters.router,
        deployment_realms.router,
        deployment_audit.router,
        deployment_tokens.router,
        project_tokens.router,
        projects.router,
        deployments.router,
        platform.router,
        join.router,
    ):
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(sso_login.router)  # browser endpoints: login URL, ACS, SP metadata
    app.include_router(deployment_tokens.well_known)  # the JWK Set of deployment tokens
    errors.install(app, on_error=_audit_failure)
    openapi.install(app)  # response, error and security descriptions
    app.add_middleware(
        RequestContextMiddleware,
        trusted_proxies=services.trusted_proxies,
        max_body=services.settings.max_body_bytes,
    )
    return app


def _audit_failure(request: Request, exc: CitadelError) -> None:
    """Record denied requests, and failed attempts at changes, in the audit log."""
    if exc.keeps_writes:
        return  # the service already recorded it with the rest of its bookkeeping
    if request.method in SAFE_METHODS and exc.status not in (401, 403):
        return
    # The organization the access check settled on (set before it decided), else the path's:
    # the refusal goes to that organization's chain when it exists (`record_refusal`).
    org = getattr(request.state, "organization_id", None) or request.path_params.get(
        "organization_id"
    )
    route = request.scope.get("route")
    template = getattr(route, "path", request.url.path)
    if not template.startswith(API_PREFIX):
        template = API_PREFIX + template  # routes of included routers carry no prefix
    record_refusal(
        request, exc, organization_id=org, target_type=TargetType.ROUTE, template=template
    )
