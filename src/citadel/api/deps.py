"""Dependencies of every route: the services, the caller, access control, the unit of work.

Every route declares exactly one access dependency — `public`, `signed_in`,
`permitted(permission)` or `deployment_access(permission)` — and the route-inventory test
fails for a route without one. `permitted` decides with `citadel.authz.decide` (pure, default
deny) before the handler runs; the service checks again inside its transaction.

The access dependency also settles the organization the request acts in (the path's, a key's
own, or the signed-in user's choice) once; the handler receives it with its unit of work
(`WorkDep`: `work.organization`, `work.read()`, `work.write()`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request

from citadel.api_keys.service import touch_api_key, verify_api_key
from citadel.authn.guard import require, require_member
from citadel.authn.principal import Caller, Principal, PrincipalKind
from citadel.authz.decide import Target, decide
from citadel.authz.permissions import Permission
from citadel.authz.roles import ScopeKind
from citadel.bootstrap import Services
from citadel.deployments.errors import DeploymentNotFound
from citadel.errors import BadRequest, Unauthenticated
from citadel.members.service import default_organization
from citadel.projects.errors import ProjectNotFound
from citadel.projects.types import ProjectType
from citadel.signin.errors import CsrfFailed, MfaEnrollmentRequired
from citadel.web.cookies import SESSION_COOKIE
from citadel.web.session import (
    SAFE_METHODS,
    cross_origin,
    csrf_matches,
    session_csrf_token,
    session_principal,
)
from citadel.web.work import Work, services_of

__all__ = ["SAFE_METHODS", "SESSION_COOKIE", "Work"]  # re-exported for the routes

_CREDENTIAL_PARAMS = frozenset({"api_key", "apikey", "token", "access_token", "key"})


OrgId = Path(max_length=32, description="Identifier for the Organization")


def get_services(request: Request) -> Services:
    return services_of(request)


ServicesDep = Annotated[Services, Depends(get_services)]


class CredentialsInUrl(BadRequest):
    code = "root.credentials_in_url"
    default_message = "Credentials go in the Authorization header, never in the URL."


def check_url(request: Request) -> None:
    """Refuse credentials in the query string, and NUL characters (no database stores them)."""
    leaked = [f"query.{p}" for p in request.query_params if p.lower() in _CREDENTIAL_PARAMS]
    if leaked:
        raise CredentialsInUrl(fields=leaked)
    parts = [  # (field, its text): a path value, or a query parameter's name and value
        *((f"path.{k}", str(v)) for k, v in request.path_params.items()),
        *((f"query.{k}", k + v) for k, v in request.query_params.multi_items()),
    ]
    bad = list(dict.fromkeys(name for name, text in parts if "\x00" in text))
    if bad:
        raise BadRequest("The URL must not contain NUL characters.", fields=bad)


def csv_items(text: str, *, field: str) -> list[str]:
    """The items of a comma-separated path parameter; an empty item is refused."""
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise BadRequest("The comma-separated list has an empty item.", fields=[field])
    return items


def get_caller(request: Request, services: ServicesDep) -> Caller:
    """Authenticate: ApiKey or Bearer header, else the session cookie, else nobody.

    Credentials that are presented but not valid are a 401: a client never silently
    continues as anonymous.
    """
    return _authenticate(request, services, stale_cookie_is_anonymous=False)


def _authenticate(
    request: Request, services: Services, *, stale_cookie_is_anonymous: bool
) -> Caller:
    check_url(request)
    state = request.state
    header = request.headers.get("authorization")
    cookie = request.cookies.get(SESSION_COOKIE)
    principal: Principal | None = None
    if header:
        scheme, _, value = header.partition(" ")
        value = value.strip()
        if scheme.lower() == "apikey":
            principal = _api_key(services, value, state.source_ip)
        elif scheme.lower() == "bearer":
            principal = session_principal(services, value, via_cookie=False)
        else:
            raise Unauthenticated("Use 'Authorization: ApiKey <key>' or 'Bearer <token>'.")
        if principal is None:
            raise Unauthenticated("The credentials are not valid.")
    elif cookie:
        principal = session_principal(services, cookie, via_cookie=True)
        if principal is None and not stale_cookie_is_anonymous:
            raise Unauthenticated("The session has ended; sign in again.")
        if principal is not None and request.method not in SAFE_METHODS:
            _check_csrf(request, services, cookie)
    if principal is not None and principal.kind is PrincipalKind.API_KEY:
        state.api_key_expires_at = principal.expires_at
    return _remember(request, Caller(principal, state.source_ip, state.request_id))


def _remember(request: Request, caller: Caller, organization_id: str | None = None) -> Caller:
    """Keep what the access check established for `get_work`, and the organization a refusal
    is audited in (set before the decision, so a denied request lands in that chain)."""
    request.state.caller = caller
    request.state.organization_id = organization_id
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]


def _api_key(services: Services, text: str, source_ip: str) -> Principal | None:
    now = services.clock.now()
    with services.db.read() as session:
        verified = verify_api_key(session, services.keyring, now, text, source_ip)
    if verified is None:
        return None
    if verified.needs_touch:
        with services.db.write() as session:
            touch_api_key(session, verified.principal.credential_id, now, source_ip)
    return verified.principal


def _check_csrf(request: Request, services: Services, cookie: str) -> None:
    given = request.headers.get("x-csrf-token", "")
    if not csrf_matches(session_csrf_token(services, cookie), given):
        raise CsrfFailed()
    if cross_origin(request):
        raise CsrfFailed("Cross-origin changes are refused.")


class AccessKind(StrEnum):
    """How a route is protected."""

    PUBLIC = "public"
    SIGNED_IN = "signed_in"
    PERMISSION = "permission"
    DEPLOYMENT = "deployment"
    PROJECT = "project"


class OrgFrom(StrEnum):
    """Where a permission route reads its organization."""

    PATH = "path"  # /organizations/{organization_id}/...
    CALLER = "caller"  # a key's own, or the signed-in user's `?organization_id=` (or first)


@dataclass(frozen=True)
class Access:
    """How a route is protected; read by the route-inventory and matrix tests."""

    kind: AccessKind
    permission: Permission | None = None
    org_from: OrgFrom | None = None


def _mark(fn: Callable[..., Any], access: Access) -> Callable[..., Any]:
    fn.access = access  # type: ignore[attr-defined]
    return fn


def public(*, read_credentials: bool = True) -> Any:
    """Anyone may call the route; a stale session cookie counts as nobody.

    With `read_credentials=False` (sign-in itself) no credential is even looked at.
    """

    def dependency(request: Request, services: ServicesDep) -> Caller:
        if not read_credentials:
            state = request.state
            return _remember(request, Caller(None, state.source_ip, state.request_id))
        return _authenticate(request, services, stale_cookie_is_anonymous=True)

    return Depends(_mark(dependency, Access(AccessKind.PUBLIC)))


def signed_in(*, allow_enrollment: bool = False) -> Any:
    """Any authenticated caller; an enrolment-only session is refused unless allowed."""

    def dependency(caller: CallerDep) -> Caller:
        _require_principal(caller, allow_enrollment=allow_enrollment)
        return caller

    return Depends(_mark(dependency, Access(AccessKind.SIGNED_IN)))


def permitted(permission: Permission, *, org_from: OrgFrom = OrgFrom.PATH) -> Any:
    """The caller holds `permission` in the organization of the path (or their own)."""

    # Each declares the organization id it reads (path, or query for signed-in users), so
    # FastAPI validates it (length) before the decision uses it.
    def in_path(request: Request, caller: CallerDep, organization_id: str = OrgId) -> Caller:
        _require_principal(caller, allow_enrollment=False)
        _remember(request, caller, organization_id)  # a refusal is audited in its chain
        require(caller, permission, Target.organization(organization_id))
        return caller

    def of_caller(
        request: Request, caller: CallerDep, services: ServicesDep, organization_id: OrgQuery = None
    ) -> Caller:
        _require_principal(caller, allow_enrollment=False)
        org_id = caller_organization(request, caller, services)
        _remember(request, caller, org_id)  # a refusal is audited in its chain
        require(caller, permission, Target.organization(org_id))
        return caller

    dependency = in_path if org_from == OrgFrom.PATH else of_caller
    return Depends(_mark(dependency, Access(AccessKind.PERMISSION, permission, org_from)))


def deployment_access(permission: Permission) -> Any:
    """Deployment routes: the organization is the caller's (a key's own, or the user's choice).

    Without `deployment_id` in the path (create) the permission is needed on all deployments
    (`deployments:create`) or on any (list: read, filtered per row). With it, a deployment the
    caller may not read answers 404 `deployments.deployment_not_found` (like an unknown id);
    one they may read but not change answers 403.
    """

    def dependency(
        request: Request, caller: CallerDep, services: ServicesDep, organization_id: OrgQuery = None
    ) -> Caller:
        _require_principal(caller, allow_enrollment=False)
        org_id = caller_organization(request, caller, services)
        _remember(request, caller, org_id)  # a refusal is audited in its chain
        deployment_id = request.path_params.get("deployment_id")
        if deployment_id is None:
            if permission is Permission.DEPLOYMENTS_CREATE:
                require(caller, permission, Target.all_of(org_id, ScopeKind.DEPLOYMENT))
            else:
                require_member(caller, org_id)
            return caller
        target = Target.resource(org_id, ScopeKind.DEPLOYMENT, deployment_id)
        if not decide(caller.subject, Permission.DEPLOYMENTS_READ, target):
            raise DeploymentNotFound()
        require(caller, permission, target)
        return caller

    access = Access(AccessKind.DEPLOYMENT, permission, OrgFrom.CALLER)
    return Depends(_mark(dependency, access))


def project_access(permission: Permission) -> Any:
    """Serverless project routes (`/serverless/projects/{project_type}...`): the organization
    is the caller's, as on deployment routes.

    Without `project_id` in the path, create needs `projects:create` on all projects of the
    type and list any membership (rows are filtered by read access). With it, a project the
    caller may not read answers 404 `projects.not_found` (like an unknown id); one they may
    read but not change answers 403.
    """

    def dependency(
        request: Request, caller: CallerDep, services: ServicesDep, organization_id: OrgQuery = None
    ) -> Caller:
        _require_principal(caller, allow_enrollment=False)
        org_id = caller_organization(request, caller, services)
        _remember(request, caller, org_id)  # a refusal is audited in its chain
        try:
            kind = ScopeKind(ProjectType(request.path_params.get("project_type", "")).value)
        except ValueError:
            raise ProjectNotFound("No such project type.") from None
        project_id = request.path_params.get("project_id")
        if project_id is None:
            if permission is Permission.PROJECTS_CREATE:
                require(caller, permission, Target.all_of(org_id, kind))
            else:
                require_member(caller, org_id)
            return caller
        target = Target.resource(org_id, kind, project_id)
        if not decide(caller.subject, Permission.PROJECTS_READ, target):
            raise ProjectNotFound()
        require(caller, permission, target)
        return caller

    access = Access(AccessKind.PROJECT, permission, OrgFrom.CALLER)
    return Depends(_mark(dependency, access))


def _require_principal(caller: Caller, *, allow_enrollment: bool) -> Principal:
    if caller.principal is None:
        raise Unauthenticated()
    if caller.principal.mfa_enrollment_only and not allow_enrollment:
        raise MfaEnrollmentRequired()
    return caller.principal


def caller_organization(request: Request, caller: Caller, services: Services) -> str:
    """The organization of routes without one in the path: a key's own, or the user's choice.

    Only the access dependencies call it; a handler reads `work.organization`.
    """
    principal = caller.principal
    if principal is None:
        raise Unauthenticated()
    if principal.key_organization_id is not None:
        return principal.key_organization_id
    chosen = request.query_params.get("organization_id")
    if chosen:
        return chosen
    with services.db.read() as session:
        org = default_organization(session, principal.user_id or "")
    return org or "none"


OrgQuery = Annotated[
    str | None,
    Query(
        max_length=32,
        description="For signed-in users in several organizations: which one (default: the first).",
    ),
]


def get_work(request: Request, services: ServicesDep) -> Work:
    """Units of work for the caller (and organization) the route's access dependency
    established."""
    caller = getattr(request.state, "caller", None)
    if caller is None:
        raise RuntimeError("route without an access dependency")  # the inventory test forbids it
    return Work(services, caller, getattr(request.state, "organization_id", None))


WorkDep = Annotated[Work, Depends(get_work)]


def require_user(caller: Caller) -> str:
    """The signed-in user's id; API keys are refused."""
    principal = caller.principal
    if principal is None or principal.kind is not PrincipalKind.USER or not principal.user_id:
        raise Unauthenticated("This needs a signed-in user, not an API key.")
    return principal.user_id
