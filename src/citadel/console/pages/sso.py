"""Organization SSO in the console (ADR 12): claimed domains, the IdP registration, the SP
details to give the IdP, a test sign-in, role mappings and enforcement; and "Sign in with SSO"
on the sign-in page.

Every handler calls the service functions the API routes call (`citadel.domains.service`,
`citadel.sso.configuration`, `role_mappings`, `enforcement`, `login.start`), which authorize
inside their transaction; the page only hides what the visitor may not do. Verifying a domain
is the route's three steps, so no write transaction waits on DNS. A role mapping's roles come
from the members page's picker: organization, deployment and project roles, a project role
scoped to all projects of its type or to chosen ones.

"Sign in with SSO" answers a GET form with a page that moves on by `<meta http-equiv=refresh>`:
the console's CSP has `form-action 'self'`, which Chromium applies to every redirect that
follows a form submission, so a 303 from the form to the IdP would be blocked.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request, Response

from citadel.authz import assignments
from citadel.authz.assignments import RoleAssignmentsIn
from citadel.authz.roles import ScopeKind
from citadel.console.pages.members import (
    describe,
    readable_projects,
    role_assignments,
    role_picker,
    scope_field,
)
from citadel.console.pages.signin import safe_next, sign_in_page
from citadel.console.routing import console_router
from citadel.console.web import (
    SAML_REQUEST_COOKIE,  # noqa: F401 (re-exported: the tests compare it with the API's)
    PostedForm,
    SignedIn,
    Visitor,
    anonymous,
    deployment_labels,
    org_of,
    page,
    parse,
    redirect,
    remember_login_request,
)
from citadel.deployments import service as deployments
from citadel.domains import service as domains
from citadel.domains.schemas import DomainIn, domain_info
from citadel.errors import BadRequest, CitadelError
from citadel.orgs.service import load as load_org
from citadel.sso import configuration, enforcement, login, role_mappings
from citadel.sso.errors import MappingLeavesNoOwner, SsoNotConfigured
from citadel.sso.schemas import (
    RoleMappingIn,
    SsoConfigurationIn,
    configuration_info,
    split_certificates,
)
from citadel.sso.urls import is_login_prefix
from citadel.use_cases import domains as domain_use_cases

router = console_router()
HOME = "/single-sign-on"
ENFORCED_METHOD = "saml"
# A service error's field (`body.idp_certificates[0]`) -> the form input that holds it.
# The picker's scope boxes (`deployment`, `project_<type>`) are shown with its role.
FORM_FIELDS = {
    "idp_certificates": "idp_certificate",
    "role_assignments": "role",
    **{str(scope_field(kind)): "role" for kind in ScopeKind if kind is not ScopeKind.ORGANIZATION},
}
_FIELD = re.compile(r"^(?:body\.)?(?:rule\.)?([a-z_]+)")


def field_of(exc: CitadelError) -> str | None:
    """The form input a service error names (`body.rule.groups[0]` -> `groups`), if any."""
    for name in exc.fields:
        found = _FIELD.match(name)
        if found:
            return FORM_FIELDS.get(found.group(1), found.group(1))
    return None


def evaluated_members(exc: CitadelError, names: dict[str, str]) -> list[dict[str, Any]]:
    """The owner check's result (409 `sso.mapping_leaves_no_owner`) as the page lists it:
    each SSO member's groups, the mappings they match and the roles they would end with."""
    out = []
    for member in (exc.details or {}).get("sso_members", []):
        granted = RoleAssignmentsIn.model_validate(member.get("role_assignments") or {})
        out.append(
            {
                "email": member.get("email") or member.get("user_id"),
                "groups": member.get("groups") or [],
                "matched": member.get("matched") or [],
                "roles": describe(assignments.from_request(granted, at="details"), names),
            }
        )
    return out


def _context(visitor: Visitor) -> dict[str, Any]:
    org = org_of(visitor)
    with visitor.read() as ctx:
        try:
            row = configuration.get_configuration(ctx, org)  # authorizes first: 403, then 404
        except SsoNotConfigured:
            row = None
        enforced = configuration.enforced(load_org(ctx.session, org))
        info = None
        if row is not None:
            info = configuration_info(
                row,
                base_url=ctx.policies.public_url,
                enforced=enforced,
                caller_verified=configuration.signed_in_with_current(ctx, row, visitor.user_id),
            ).model_dump()
        claims = [domain_info(d).model_dump() for d in domains.list_domains(ctx, org)]
        mappings = role_mappings.list_mappings(ctx, org)
        names = deployment_labels(deployments.list_deployments(ctx, org))
        readable = readable_projects(ctx, org)
    picker = role_picker(visitor, names, readable)
    tested = bool(info and info["caller_signed_in_with_current_configuration"])
    return {
        "sso": info,
        "enforced": enforced,
        "tested": tested,
        "may_enforce": bool(info and info["enabled"] and tested),
        "domains": claims,
        "any_verified": any(d["status"] == domains.VERIFIED for d in claims),
        "mappings": [
            {
                "row": m,
                "roles": describe(assignments.from_stored(m.role_assignments), picker.labels),
            }
            for m in mappings
        ],
        "names": names,
        "scope_labels": picker.labels,
        "project_scopes": picker.project_scopes,
        "grantable": picker.offered,
        "current": _current_values(info),
    }


def _current_values(info: dict[str, Any] | None) -> dict[str, Any]:
    """The IdP form filled with the configuration as it is."""
    if info is None:
        return {"enabled": "on"}
    idp = info["identity_provider"]
    return {
        "login_prefix": info["login_prefix"],
        "enabled": "on" if info["enabled"] else "",
        "idp_entity_id": idp["entity_id"],
        "idp_sso_url": idp["sso_url"],
        "idp_certificate": "".join(idp["certificates"]),
    }


def _page(
    request: Request,
    visitor: Visitor,
    *,
    status: int = 200,
    error: CitadelError | None = None,
    form: str | None = None,
    values: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """The SSO page; after a failed post, `form` names the form that shows `error` (with the
    visitor's input in `values`)."""
    context = _context(visitor)
    if form == "idp" and values is not None:
        context["current"] = values
    if isinstance(error, MappingLeavesNoOwner):
        extra["evaluated"] = evaluated_members(error, context["scope_labels"])
    return page(
        request,
        visitor,
        "sso.html",
        status=status,
        error=error,
        failed_form=form,
        error_field=field_of(error) if error else None,
        values=values or {},
        **context,
        **extra,
    )


@router.get(HOME)
def sso_page(request: Request, visitor: SignedIn) -> Response:
    """Domains, the IdP, the SP details, the test sign-in, role mappings and enforcement."""
    return _page(request, visitor)


# --- domains -------------------------------------------------------------------------------


@router.post(f"{HOME}/domains")
def add_domain(request: Request, visitor: SignedIn, form: PostedForm) -> Response:
    """Claim a domain: pending, with the TXT record to publish."""
    org = org_of(visitor)
    try:
        body = parse(DomainIn, {"domain": form.get("domain").strip()})
        with visitor.write() as ctx:
            domains.add_domain(ctx, org, body)
    except CitadelError as exc:
        return _page(
            request, visitor, status=exc.status, error=exc, form="domains", values=form.values()
        )
    return redirect(HOME, "domain_added")


@router.post(f"{HOME}/domains/{{domain}}/verify")
def verify_domain(request: Request, visitor: SignedIn, form: PostedForm, domain: str) -> Response:
    """Look for the code in DNS (outside any transaction) and record the result."""
    org = org_of(visitor)
    try:
        domain_use_cases.verify_domain(visitor, org, domain[:300])
    except CitadelError as exc:
        return _page(request, visitor, status=exc.status, error=exc, form="domains")
    return redirect(HOME, "domain_verified")


@router.post(f"{HOME}/domains/{{domain}}/remove")
def remove_domain(request: Request, visitor: SignedIn, form: PostedForm, domain: str) -> Response:
    """Drop a claim, pending or verified."""
    org = org_of(visitor)
    try:
        with visitor.write() as ctx:
            domains.remove_domain(ctx, org, domain[:300])
    except CitadelError as exc:
        return _page(request, visitor, status=exc.status, error=exc, form="domains")
    return redirect(HOME, "domain_removed")


# --- the identity provider -----------------------------------------------------------------


@router.post(f"{HOME}/configuration")
def configure(request: Request, visitor: SignedIn, form: PostedForm) -> Response:
    """Register (or change) the IdP by its fields, or by its metadata document (which then
    replaces the fields)."""
    org = org_of(visitor)
    metadata = form.text("idp_metadata")
    certificate = form.get("idp_certificate").strip()
    data: dict[str, Any] = {
        "login_prefix": form.get("login_prefix").strip(),
        "enabled": form.flag("enabled"),
        "rotate_sp_key": form.flag("rotate_sp_key"),
    }
    if metadata is not None:
        data["idp_metadata"] = metadata
    else:
        data["idp_entity_id"] = form.text("idp_entity_id")
        data["idp_sso_url"] = form.text("idp_sso_url")
        data["idp_certificates"] = (
            (split_certificates(certificate) or [certificate]) if certificate else None
        )
    try:
        body = parse(SsoConfigurationIn, data)
        with visitor.write() as ctx:
            configuration.configure(ctx, org, body)
    except CitadelError as exc:
        values = form.values()
        values.pop("idp_metadata", None)  # a large document is not echoed back
        return _page(request, visitor, status=exc.status, error=exc, form="idp", values=values)
    return redirect(HOME, "sso_configured")


@router.post(f"{HOME}/configuration/remove")
def remove_configuration(request: Request, visitor: SignedIn, form: PostedForm) -> Response:
    """Forget the IdP and the SP key (enforcement must be off)."""
    org = org_of(visitor)
    try:
        with visitor.write() as ctx:
            configuration.remove_configuration(ctx, org)
    except CitadelError as exc:
        return _page(request, visitor, status=exc.status, error=exc, form="idp")
    return redirect(HOME, "sso_removed")


# --- role mappings -------------------------------------------------------------------------


@router.post(f"{HOME}/mappings")
def create_mapping(request: Request, visitor: SignedIn, form: PostedForm) -> Response:
    """Add a role mapping; a 409 shows the owner check's evaluated result."""
    org = org_of(visitor)
    groups = [g.strip() for g in form.get("groups").splitlines() if g.strip()]  # DNs hold commas
    try:
        roles = role_assignments(org, form)
        if roles is None:
            raise BadRequest("Choose a role.", fields=["role"])
        body = parse(
            RoleMappingIn,
            {
                "name": form.get("name").strip(),
                "rule": {"match": form.get("match", "any"), "groups": groups},
                "role_assignments": roles,
            },
        )
        with visitor.write() as ctx:
            role_mappings.create_mapping(ctx, org, body)
    except CitadelError as exc:
        return _page(
            request, visitor, status=exc.status, error=exc, form="mapping", values=form.values()
        )
    return redirect(HOME, "mapping_created")


@router.post(f"{HOME}/mappings/{{mapping_id}}/delete")
def delete_mapping(
    request: Request, visitor: SignedIn, form: PostedForm, mapping_id: str
) -> Response:
    """Remove a mapping, unless no owner would remain without it (409, with the result)."""
    org = org_of(visitor)
    try:
        with visitor.write() as ctx:
            role_mappings.delete_mapping(ctx, org, mapping_id[:32])
    except CitadelError as exc:
        return _page(request, visitor, status=exc.status, error=exc, form="mapping")
    return redirect(HOME, "mapping_deleted")


# --- enforcement ---------------------------------------------------------------------------


@router.post(f"{HOME}/enforcement")
def set_enforcement(request: Request, visitor: SignedIn, form: PostedForm) -> Response:
    """Enforce SSO (needs the visitor's own sign-in with the current configuration), or stop
    enforcing (any Organization owner, always)."""
    org = org_of(visitor)
    method = ENFORCED_METHOD if form.get("enforce") == "on" else None
    try:
        with visitor.write() as ctx:
            enforcement.set_enforcement(ctx, org, method)
    except CitadelError as exc:
        return _page(request, visitor, status=exc.status, error=exc, form="enforcement")
    return redirect(HOME, "sso_enforced" if method else "sso_not_enforced")


# --- signing in ----------------------------------------------------------------------------


@router.get("/sign-in/sso")
def sign_in_with_sso(request: Request) -> Response:
    """Start an SSO sign-in by the organization's login prefix (as the login URL does): a
    signed AuthnRequest, its ID in the request cookie, then on to the IdP."""
    prefix = request.query_params.get("login_prefix", "").strip().lower()[:64]
    target = safe_next(request.query_params.get("next")) or "/"
    values = {"login_prefix": prefix}
    try:
        if not is_login_prefix(prefix):
            raise BadRequest(
                "A login prefix is 1-63 lowercase letters, digits and inner hyphens.",
                fields=["login_prefix"],
            )
        with anonymous(request).write() as ctx:
            started = login.start(ctx, prefix, target)
    except CitadelError as exc:
        return sign_in_page(request, error=exc, status=exc.status, values=values, sso=True)
    response = page(request, None, "sso_redirect.html", idp_url=started.redirect_url)
    remember_login_request(
        response, started.request_id, int(login.REQUEST_LIFETIME.total_seconds())
    )
    return response
