"""Members and invitations: invite with roles and scopes, resend or revoke pending
invitations, edit a member's roles (only what the visitor may grant is offered), remove.

The role picker offers organization, deployment and project roles: a deployment role is
scoped to all deployments or to chosen ones, a project role (``elasticsearch-developer``,
``security-t1-analyst`` ...) to all projects of its type or to chosen projects of that type,
as the Cloud API's ``RoleAssignments`` puts it (``{"project": {"<type>": [...]}}``).

Visibility is the service's (inventory 10.7): members are listed with only the role
assignments the visitor is able to manage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response

from citadel.authn.context import Context
from citadel.authz import assignments
from citadel.authz.assignments import Assignment, InvalidRoleAssignment, RoleAssignmentsIn
from citadel.authz.decide import Grant, may_grant
from citadel.authz.roles import RoleId, ScopeKind
from citadel.console.form_tokens import AlreadySubmitted
from citadel.console.routing import console_router
from citadel.console.web import (
    Form,
    PostedForm,
    SignedIn,
    Visitor,
    deployment_labels,
    once,
    org_of,
    page,
    parse,
    redirect,
    short_id,
)
from citadel.deployments import service as deployments
from citadel.errors import BadRequest, CitadelError
from citadel.invitations import service as invitations
from citadel.invitations import tokens
from citadel.invitations.links import invitation_link
from citadel.invitations.schemas import InvitationRequestIn
from citadel.members import service
from citadel.projects import service as projects
from citadel.projects.models import Project
from citadel.projects.types import ProjectType
from citadel.use_cases.invitations import invite as invite_people
from citadel.web.links import link_base_of

router = console_router()
ROLE_LABELS = {
    RoleId.ORGANIZATION_ADMIN: "Organization owner",
    RoleId.BILLING_ADMIN: "Billing admin",
    RoleId.DEPLOYMENT_ADMIN: "Deployment admin",
    RoleId.DEPLOYMENT_EDITOR: "Deployment editor",
    RoleId.DEPLOYMENT_VIEWER: "Deployment viewer",
    RoleId.ELASTICSEARCH_ADMIN: "Elasticsearch admin",
    RoleId.ELASTICSEARCH_DEVELOPER: "Elasticsearch developer",
    RoleId.ELASTICSEARCH_VIEWER: "Elasticsearch viewer",
    RoleId.OBSERVABILITY_ADMIN: "Observability admin",
    RoleId.OBSERVABILITY_EDITOR: "Observability editor",
    RoleId.OBSERVABILITY_VIEWER: "Observability viewer",
    RoleId.SECURITY_ADMIN: "Security admin",
    RoleId.SECURITY_EDITOR: "Security editor",
    RoleId.SECURITY_VIEWER: "Security viewer",
    RoleId.SECURITY_T1_ANALYST: "Tier 1 analyst",
    RoleId.SECURITY_T2_ANALYST: "Tier 2 analyst",
    RoleId.SECURITY_T3_ANALYST: "Tier 3 analyst",
    RoleId.SECURITY_THREAT_INTEL_ANALYST: "Threat intelligence analyst",
    RoleId.SECURITY_RULE_AUTHOR: "Rule author",
    RoleId.SECURITY_SOC_MANAGER: "SOC manager",
    RoleId.SECURITY_ENDPOINT_OPERATIONS_ANALYST: "Endpoint operations analyst",
    RoleId.SECURITY_PLATFORM_ENGINEER: "Platform engineer",
    RoleId.SECURITY_DETECTIONS_ADMIN: "Detections admin",
    RoleId.SECURITY_ENDPOINT_POLICY_MANAGER: "Endpoint policy manager",
}
OFFERED = tuple(ROLE_LABELS)
PROJECT_TYPE_LABELS = {
    ProjectType.ELASTICSEARCH: "Elasticsearch",
    ProjectType.OBSERVABILITY: "Observability",
    ProjectType.SECURITY: "Security",
}
GROUP_LABELS = {
    ScopeKind.ORGANIZATION: "Organization",
    ScopeKind.DEPLOYMENT: "Deployments",
    **{ScopeKind(t.value): f"{label} projects" for t, label in PROJECT_TYPE_LABELS.items()},
}
"""What the picker groups roles under (one `<optgroup>` per kind of scope)."""


def scope_field(kind: ScopeKind) -> str | None:
    """The form field that names the chosen resources of a role of this kind: `deployment`,
    `project_elasticsearch` ... (none for an organization role)."""
    if kind is ScopeKind.ORGANIZATION:
        return None
    if kind is ScopeKind.DEPLOYMENT:
        return "deployment"
    return f"project_{kind.value}"


def grantable(
    visitor: Visitor,
    deployment_ids: list[str],
    project_ids: Mapping[str, Sequence[str]] | None = None,
) -> list[dict[str, Any]]:
    """The roles the visitor may give, each with whether "all" (deployments, or projects of
    its type) is allowed and which resources it may be scoped to (the pure `may_grant`, as
    the service checks). Project roles are offered when `project_ids` (by project type) is
    given; without it, organization and deployment roles only."""
    org = visitor.organization_id or ""
    subject = visitor.caller.subject
    out = []
    for role in OFFERED:
        kind = role.scope_kind
        shown = {
            "id": str(role),
            "label": ROLE_LABELS[role],
            "kind": str(kind),
            "group": GROUP_LABELS[kind],
        }
        if kind is ScopeKind.ORGANIZATION:
            if may_grant(subject, Grant(org, role, all=True)):
                out.append({**shown, "all": True, "ids": []})
            continue
        if kind is ScopeKind.DEPLOYMENT:
            candidates: Sequence[str] = deployment_ids
        elif project_ids is None:
            continue
        else:
            candidates = project_ids.get(kind.value, ())
        whole = bool(may_grant(subject, Grant(org, role, all=True)))
        ids = [
            i
            for i in candidates
            if may_grant(subject, Grant(org, role, all=False, resource_ids=frozenset({i})))
        ]
        if whole or ids:
            out.append({**shown, "all": whole, "ids": ids})
    return out


def project_labels(rows: Sequence[Project]) -> dict[str, str]:
    """Each project's name with its short id, `shop (3f9a1c)`, as deployments are shown."""
    return {p.id: f"{p.name} ({short_id(p.id)})" for p in rows}


def project_scopes(
    offered: list[dict[str, Any]], readable: Mapping[str, Sequence[Project]]
) -> list[dict[str, Any]]:
    """The picker's project checkboxes, by type: the projects a role offered may be scoped to."""
    out = []
    for t, label in PROJECT_TYPE_LABELS.items():
        ids = {i for g in offered if g["kind"] == t.value for i in g["ids"]}
        rows = [p for p in readable.get(t.value, ()) if p.id in ids]
        if rows:
            field = scope_field(ScopeKind(t.value))
            shown = list(project_labels(rows).items())
            out.append({"legend": f"{label} projects", "field": field, "projects": shown})
    return out


@dataclass(frozen=True)
class RolePicker:
    """What a page with the role picker shows: the names of every deployment and project
    (`labels`, for the role badges), the roles the visitor may give (`offered`) and the
    project checkboxes by type (`project_scopes`)."""

    labels: dict[str, str]
    offered: list[dict[str, Any]]
    project_scopes: list[dict[str, Any]]


def readable_projects(ctx: Context, organization_id: str) -> dict[str, Sequence[Project]]:
    """The organization's projects the visitor may read, by type."""
    return {t.value: projects.list_projects(ctx, organization_id, t) for t in ProjectType}


def role_picker(
    visitor: Visitor, names: Mapping[str, str], readable: Mapping[str, Sequence[Project]]
) -> RolePicker:
    """The picker's data from the deployments' names and the readable projects."""
    labels = {**names, **project_labels([p for ps in readable.values() for p in ps])}
    offered = grantable(visitor, list(names), {t: [p.id for p in ps] for t, ps in readable.items()})
    return RolePicker(labels, offered, project_scopes(offered, readable))


def role_assignments(org: str, form: Form) -> RoleAssignmentsIn | None:
    """The `RoleAssignments` a role picker describes (`role`, `scope`, and the chosen
    resources: `deployment`, or `project_<type>` for a project role)."""
    role_text = form.get("role")
    if not role_text:
        return None
    try:
        role = RoleId(role_text)
    except ValueError:
        raise BadRequest("Choose one of the roles offered.", fields=["role"]) from None
    kind = role.scope_kind
    field = scope_field(kind)
    if field is None:
        return parse(
            RoleAssignmentsIn,
            {"organization": [{"role_id": str(role), "organization_id": org}]},
        )
    entry: dict[str, Any] = {"role_id": str(role), "organization_id": org}
    if form.get("scope", "all") == "all":
        entry["all"] = True
    else:
        ids = form.all(field)
        if not ids:
            what = "deployments" if kind is ScopeKind.DEPLOYMENT else GROUP_LABELS[kind]
            raise InvalidRoleAssignment(
                f"Tick at least one of the {what} for this role, or choose all of them.",
                fields=[field],
            )
        entry["all"] = False
        entry["deployment_ids" if kind is ScopeKind.DEPLOYMENT else "project_ids"] = ids
    if kind is ScopeKind.DEPLOYMENT:
        return parse(RoleAssignmentsIn, {"deployment": [entry]})
    return parse(RoleAssignmentsIn, {"project": {kind.value: [entry]}})


def describe(items: list[Assignment], names: dict[str, str]) -> list[dict[str, Any]]:
    """Role assignments as the page shows them (`names`: deployment and project labels by
    id), with what removing one needs (the form field its resources go in)."""
    out = []
    for a in items:
        g = a.grant
        if g.kind is ScopeKind.ORGANIZATION:
            scope = "organization"
        elif g.all and g.kind is ScopeKind.DEPLOYMENT:
            scope = "all deployments"
        elif g.all:
            scope = f"all {PROJECT_TYPE_LABELS[ProjectType(g.kind.value)]} projects"
        else:
            scope = ", ".join(sorted(names.get(i, i) for i in g.resource_ids))
        out.append(
            {
                "role": str(g.role_id),
                "label": ROLE_LABELS.get(g.role_id, str(g.role_id)),
                "scope": scope,
                "all": g.all,
                "ids": sorted(g.resource_ids),
                "field": scope_field(g.kind),
            }
        )
    return out


def _context(visitor: Visitor) -> dict[str, Any]:
    org = org_of(visitor)
    with visitor.read() as ctx:
        members = service.list_members(ctx, org)
        rows = deployments.list_deployments(ctx, org)
        readable = readable_projects(ctx, org)
        pending: list[dict[str, Any]] = []
        if visitor.may("invitations:read"):
            for row in invitations.list_invitations(ctx, org):
                if row.accepted_at is not None:
                    continue
                pending.append(
                    {
                        "handle": tokens.handle(row.id),
                        "email": row.email,
                        "expires_at": row.expires_at,
                        "expired": row.expires_at <= ctx.clock.now(),
                        "roles": invitations.visible_assignments(ctx, row),
                    }
                )
    names = deployment_labels(rows)
    picker = role_picker(visitor, names, readable)
    for item in pending:
        item["roles"] = describe(item["roles"], picker.labels)
    return {
        "members": [{"m": m, "roles": describe(m.assignments, picker.labels)} for m in members],
        "pending": pending,
        "names": names,
        "project_scopes": picker.project_scopes,
        "grantable": picker.offered,
    }


def _page(request: Request, visitor: Visitor, *, status: int = 200, **extra: Any) -> Response:
    return page(request, visitor, "members.html", status=status, **_context(visitor), **extra)


@router.get("/members")
def members_page(request: Request, visitor: SignedIn) -> Response:
    """Members with the roles the visitor may manage, and pending invitations."""
    return _page(request, visitor)


@router.post("/members/invite")
def invite(request: Request, visitor: SignedIn, form: PostedForm) -> Response:
    """Invite people (emails separated by spaces or commas); each link is shown once (a reload
    of this page is a notice: the one-time token keeps the links from being replaced)."""
    org = org_of(visitor)
    emails = [e for e in form.get("emails").replace(",", " ").split() if e]
    try:
        body = parse(
            InvitationRequestIn,
            {
                "emails": emails,
                "expires_in": form.text("expires_in"),
                "role_assignments": role_assignments(org, form),
            },
        )
        with once(request, visitor, form):
            invited = _invite(request, visitor, org, body)
    except AlreadySubmitted:
        return redirect("/members", "invitations_already_sent")
    except CitadelError as exc:
        return _page(request, visitor, status=exc.status, error=exc, values=form.values())
    return _page(request, visitor, **invited)


def _invite(
    request: Request, visitor: Visitor, org: str, body: InvitationRequestIn
) -> dict[str, Any]:
    """Invite, email each address its link, and say what the page shows: each invited email
    with its link (without the email code: that is only in the email, so a link passed on
    by hand serves someone who already has an account) and the addresses whose email failed."""
    base = link_base_of(request)
    done = invite_people(visitor, visitor.services.mailer, org, body, link_base=base)
    links = [(i.row.email, invitation_link(base, i.token)) for i in done.issued]
    return {"invited": links, "undelivered": done.undelivered}


@router.post("/members/invitations/{handle}/resend")
def resend(request: Request, visitor: SignedIn, form: PostedForm, handle: str) -> Response:
    """Refresh an invitation (new link, new expiry, same roles), once per form shown."""
    org = org_of(visitor)
    try:
        with visitor.read() as ctx:
            ref = tokens.parse(handle[:128])
            row = next(
                (
                    r
                    for r in invitations.list_invitations(ctx, org)
                    if ref and r.id == ref.invitation_id
                ),
                None,
            )
            if row is None:
                raise BadRequest("No such invitation.")
            roles = assignments.to_response(assignments.from_stored(row.role_assignments))
            body = parse(
                InvitationRequestIn,
                {"emails": [row.email], "role_assignments": roles or None},
            )
        with once(request, visitor, form):
            invited = _invite(request, visitor, org, body)
    except AlreadySubmitted:
        return redirect("/members", "invitations_already_sent")
    except CitadelError as exc:
        return _page(request, visitor, status=exc.status, error=exc)
    return _page(request, visitor, **invited)


@router.post("/members/invitations/{handle}/revoke")
def revoke(request: Request, visitor: SignedIn, form: PostedForm, handle: str) -> Response:
    """Revoke a pending invitation."""
    org = org_of(visitor)
    try:
        with visitor.write() as ctx:
            invitations.delete_invitations(ctx, org, [handle[:128]])
    except CitadelError as exc:
        return _page(request, visitor, status=exc.status, error=exc)
    return redirect("/members", "invitation_revoked")


def _member_page(
    request: Request, visitor: Visitor, user_id: str, *, status: int = 200, **extra: Any
) -> Response:
    context = _context(visitor)
    member = next((m for m in context["members"] if m["m"].user_id == user_id), None)
    if member is None:
        return page(
            request,
            visitor,
            "error.html",
            status=404,
            error=CitadelError("No such member."),
        )
    return page(request, visitor, "member.html", status=status, member=member, **context, **extra)


@router.get("/members/{user_id}")
def member_page(request: Request, visitor: SignedIn, user_id: str) -> Response:
    """One member's roles (those the visitor may manage), to change."""
    return _member_page(request, visitor, user_id[:32])


@router.post("/members/{user_id}/roles/add")
def add_role(request: Request, visitor: SignedIn, form: PostedForm, user_id: str) -> Response:
    """Give the member a role (never beyond the visitor's own authority)."""
    org = org_of(visitor)
    try:
        body = role_assignments(org, form)
        if body is None:
            raise BadRequest("Choose a role.", fields=["role"])
        with visitor.write() as ctx:
            service.add_role_assignments(ctx, user_id[:32], body)
    except CitadelError as exc:
        return _member_page(request, visitor, user_id[:32], status=exc.status, error=exc)
    return redirect(f"/members/{user_id[:32]}", "roles_changed")


@router.post("/members/{user_id}/roles/remove")
def remove_role(request: Request, visitor: SignedIn, form: PostedForm, user_id: str) -> Response:
    """Take a role away (never the last Organization owner's)."""
    org = org_of(visitor)
    try:
        body = role_assignments(org, form)
        if body is None:
            raise BadRequest("Choose a role.", fields=["role"])
        with visitor.write() as ctx:
            service.remove_role_assignments(ctx, user_id[:32], body)
    except CitadelError as exc:
        return _member_page(request, visitor, user_id[:32], status=exc.status, error=exc)
    return redirect(f"/members/{user_id[:32]}", "roles_changed")


@router.post("/members/{user_id}/reset-second-factor")
def reset_second_factor(
    request: Request, visitor: SignedIn, form: PostedForm, user_id: str
) -> Response:
    """Reset a member's lost second factor: they enrol again at their next sign-in."""
    org = org_of(visitor)
    try:
        with visitor.write() as ctx:
            service.reset_second_factor(ctx, org, user_id[:32])
    except CitadelError as exc:
        return _member_page(request, visitor, user_id[:32], status=exc.status, error=exc)
    return redirect(f"/members/{user_id[:32]}", "second_factor_reset")


@router.post("/members/{user_id}/remove")
def remove(request: Request, visitor: SignedIn, form: PostedForm, user_id: str) -> Response:
    """Remove the member: their sessions end at once."""
    org = org_of(visitor)
    try:
        with visitor.write() as ctx:
            service.remove_members(ctx, org, [user_id[:32]])
    except CitadelError as exc:
        return _page(request, visitor, status=exc.status, error=exc)
    if user_id == visitor.user_id:
        return redirect("/sign-in", "signed_out")
    return redirect("/members", "member_removed")
