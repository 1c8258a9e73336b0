"""Serverless projects: the list (beside deployments), create (type, region, name, alias,
search power; the `admin` password shown once), and the project page with its endpoints, Cloud
ID, phase, network security (its serverless traffic filters, attached and detached), a reset of
credentials shown once, resume and delete.

Every change calls the use case `POST|PATCH|DELETE /api/v1/serverless/projects/{type}/...`
calls (`citadel.use_cases.projects`); the pages differ from the API only in reading a form and
rendering HTML.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from citadel.authz.permissions import Permission
from citadel.console.form_tokens import AlreadySubmitted
from citadel.console.routing import console_router
from citadel.console.web import (
    PAGE_HEADERS,
    Form,
    PostedForm,
    SignedIn,
    Visitor,
    once,
    org_of,
    page,
    parse,
    redirect,
)
from citadel.errors import BadRequest, CitadelError
from citadel.projects import endpoints as where
from citadel.projects import service
from citadel.projects.errors import ProjectNotFound
from citadel.projects.models import Project
from citadel.projects.schemas import CREATE_BODIES, search_power
from citadel.projects.types import ProjectType
from citadel.traffic_filters import serverless as filters
from citadel.traffic_filters.errors import WouldBlockCaller
from citadel.use_cases import projects as use_cases

router = console_router()
TYPES = (
    (ProjectType.ELASTICSEARCH, "Elasticsearch", "Search and vector search over your data."),
    (ProjectType.OBSERVABILITY, "Observability", "Logs, metrics and traces; an ingest endpoint."),
    (ProjectType.SECURITY, "Security", "Security events and alerts; an ingest endpoint."),
)
TYPE_LABELS = {t.value: label for t, label, _ in TYPES}
ENDPOINT_LABELS = {
    "elasticsearch": "Elasticsearch",
    "kibana": "Kibana",
    "apm": "APM",
    "ingest": "Ingest",
}
FILTER_LABELS = {
    "ip": "IP addresses",
    "vpce": "AWS PrivateLink (VPC endpoint)",
    "private_endpoint": "Private endpoint",
}
BADGES = {"initialized": "ok", "suspended": "bad", "suspending": "bad"}
FINAL = frozenset({"initialized", "suspended"})


def describe(visitor: Visitor, row: Project) -> dict[str, Any]:
    """What the pages show of a project: its phase in words, endpoints and Cloud ID as the
    API returns them (`citadel.projects.endpoints`)."""
    s = visitor.services.settings
    status, detail = row.phase, ""
    if row.phase == "initialized" and row.idle_stopped:
        status, detail = "idle", "Stopped while idle: the next request starts it."
    elif row.phase == "suspended":
        detail = row.suspended_reason or ""
    return {
        "row": row,
        "type_label": TYPE_LABELS.get(row.type, row.type),
        "status": status,
        "detail": detail,
        "badge": BADGES.get(row.phase, "warn"),
        "final": row.phase in FINAL,
        "resumable": row.phase == "suspended" or (row.phase == "initialized" and row.idle_stopped),
        "endpoints": where.endpoints(row, s.deployment_domain, s.gateway_port),
        "cloud_id": where.cloud_id(row, s.deployment_domain, s.gateway_port),
        "search_power": search_power(row),
    }


def _type(value: str) -> ProjectType:
    """A type from a path or form; anything else is as unknown as a missing project."""
    try:
        return ProjectType(value)
    except ValueError:
        raise ProjectNotFound() from None


def _creatable(visitor: Visitor) -> list[ProjectType]:
    """The types the visitor may create projects of (the service decides again)."""
    return [t for t, _, _ in TYPES if visitor.may("projects:create", t.value, None, "all")]


@router.get("/projects")
def list_page(request: Request, visitor: SignedIn) -> Response:
    """The projects of every type the visitor may read."""
    org = org_of(visitor)
    rows = [shown.row for t, _, _ in TYPES for shown in use_cases.list_projects(visitor, org, t)]
    rows.sort(key=lambda r: r.created_at, reverse=True)
    return page(
        request,
        visitor,
        "projects.html",
        projects=[describe(visitor, r) for r in rows],
        creatable=bool(_creatable(visitor)),
    )


def _create_form(
    request: Request,
    visitor: Visitor,
    *,
    error: CitadelError | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    allowed = set(_creatable(visitor))
    return page(
        request,
        visitor,
        "projects_new.html",
        status=error.status if error else 200,
        error=error,
        values=values or {},
        types=[(t.value, label, blurb) for t, label, blurb in TYPES if t in allowed]
        or [(t.value, label, blurb) for t, label, blurb in TYPES],
        regions=visitor.services.settings.regions,
    )


@router.get("/projects/new")
def new_page(request: Request, visitor: SignedIn) -> Response:
    """The create form."""
    return _create_form(request, visitor)


def _create_body(project_type: ProjectType, form: Form) -> Any:
    """The API's create body for the type, from the form (search power: Elasticsearch only)."""
    body: dict[str, Any] = {
        "name": form.text("name"),
        "region_id": form.get("region") or "local",
    }
    alias = form.text("alias")
    if alias is not None:
        body["alias"] = alias
    power = form.text("search_power")
    if power is not None:
        if project_type is not ProjectType.ELASTICSEARCH:
            raise BadRequest(
                "Only Elasticsearch projects have a search power.", fields=["search_power"]
            )
        try:
            body["search_lake"] = {"search_power": int(power)}
        except ValueError:
            raise BadRequest("The search power is a number.", fields=["search_power"]) from None
    return parse(CREATE_BODIES[project_type], body)


@router.post("/projects")
def create(request: Request, visitor: SignedIn, form: PostedForm) -> Response:
    """Create a project as `POST /api/v1/serverless/projects/{type}` does; the `admin`
    password is shown on this page only (the form's one-time token makes a reload a notice,
    not a second project)."""
    org = org_of(visitor)
    try:
        project_type = ProjectType(form.get("type") or "elasticsearch")
    except ValueError:
        error = BadRequest("Choose a project type.", fields=["type"])
        return _create_form(request, visitor, error=error, values=form.values())
    try:
        body = _create_body(project_type, form)
        with once(request, visitor, form):
            made = use_cases.create_project(
                visitor,
                visitor.services.platform_keys,
                org,
                project_type,
                body,
                created_by=visitor.user_id,
            )
    except AlreadySubmitted:
        return redirect("/projects", "project_already_created")
    except CitadelError as exc:
        return _create_form(request, visitor, error=exc, values=form.values())
    return page(
        request,
        visitor,
        "projects_created.html",
        status=201,
        p=describe(visitor, made.row),
        username=made.username,
        password=made.password,
    )


def _detail(
    request: Request,
    visitor: Visitor,
    project_type: ProjectType,
    project_id: str,
    *,
    error: CitadelError | None = None,
    **extra: Any,
) -> Response:
    org = org_of(visitor)
    shown = use_cases.get_project(visitor, org, project_type, project_id)
    row, attached_ids = shown.row, shown.filters
    with visitor.read() as ctx:
        region, _ = filters.list_filters(
            ctx,
            org,
            region=row.region_id,
            include_by_default=None,
            csp=visitor.services.settings.serverless_csp,
        )
    attached = [f for f in region if f.id in attached_ids]
    available = [f for f in region if f.id not in attached_ids]
    return page(
        request,
        visitor,
        "projects_detail.html",
        status=error.status if error else 200,
        error=error,
        p=describe(visitor, row),
        attached=attached,
        available=available,
        endpoint_labels=ENDPOINT_LABELS,
        filter_labels=FILTER_LABELS,
        **extra,
    )


@router.get("/projects/{project_type}/{project_id}")
def detail_page(
    request: Request, visitor: SignedIn, project_type: str, project_id: str
) -> Response:
    """One project: endpoints, Cloud ID, phase, network security, credentials, delete."""
    return _detail(request, visitor, _type(project_type), project_id[:32])


@router.get("/projects/{project_type}/{project_id}/status")
def status(request: Request, visitor: SignedIn, project_type: str, project_id: str) -> Response:
    """The live phase the project page polls (JSON, no secrets; the fields the deployment
    page's poll reads)."""
    org = org_of(visitor)
    with visitor.read() as ctx:
        shown = describe(visitor, service.visible(ctx, org, _type(project_type), project_id[:32]))
    body = {
        "status": shown["status"],
        "healthy": shown["badge"] == "ok",
        "locked": shown["badge"] == "bad",
        "final": shown["final"],
        "detail": shown["detail"],
    }
    return JSONResponse(body, headers=PAGE_HEADERS)


@router.post("/projects/{project_type}/{project_id}/reset-credentials")
def reset_credentials(
    request: Request, visitor: SignedIn, form: PostedForm, project_type: str, project_id: str
) -> Response:
    """A new `admin` password, shown in this response only."""
    org, kind, pid = org_of(visitor), _type(project_type), project_id[:32]
    try:
        with once(request, visitor, form):
            _, username, password = use_cases.reset_credentials(
                visitor, org, kind, pid, if_match=None
            )
    except AlreadySubmitted:
        return redirect(f"/projects/{kind}/{pid}", "credentials_already_reset")
    except CitadelError as exc:
        return _detail(request, visitor, kind, pid, error=exc)
    return _detail(request, visitor, kind, pid, new_username=username, new_password=password)


@router.post("/projects/{project_type}/{project_id}/resume")
def resume(
    request: Request, visitor: SignedIn, form: PostedForm, project_type: str, project_id: str
) -> Response:
    """Start an idle-stopped or suspended project now, as `POST …/_resume` does."""
    org, kind, pid = org_of(visitor), _type(project_type), project_id[:32]
    try:
        use_cases.resume_project(visitor, org, kind, pid, if_match=None)
    except CitadelError as exc:
        return _detail(request, visitor, kind, pid, error=exc)
    return redirect(f"/projects/{kind}/{pid}", "project_resumed")


@router.post("/projects/{project_type}/{project_id}/delete")
def delete(
    request: Request, visitor: SignedIn, form: PostedForm, project_type: str, project_id: str
) -> Response:
    """Delete the project, as `DELETE …/{id}` does (phase deleting, then gone)."""
    org, kind, pid = org_of(visitor), _type(project_type), project_id[:32]
    try:
        use_cases.delete_project(visitor, org, kind, pid, if_match=None)
    except CitadelError as exc:
        return _detail(request, visitor, kind, pid, error=exc)
    return redirect("/projects", "project_deleted")


def _set_filters(
    request: Request,
    visitor: Visitor,
    form: Form,
    project_type: str,
    project_id: str,
    *,
    attach: bool,
) -> Response:
    """The project's traffic filters with one more or one less, checked and recorded as a
    `PATCH …/{id}` with `traffic_filters` does; the lockout guard warns before a filter that
    would block the visitor, and "Apply anyway" (`force`) applies it, as on a deployment's
    page."""
    org, kind, pid = org_of(visitor), _type(project_type), project_id[:32]
    filter_id = form.get("filter_id")[:32]
    try:
        with visitor.write() as ctx:
            row = service.for_change(
                ctx, org, kind, pid, Permission.TRAFFIC_FILTERS_ASSOCIATE, if_match=None
            )
            current = filters.project_filter_ids(ctx, pid)
            ids = [*current, filter_id] if attach else [i for i in current if i != filter_id]
            filters.set_project_filters(
                ctx,
                org,
                pid,
                row.region_id,
                list(dict.fromkeys(ids)),
                field="filter_id",
                force=form.flag("force"),
                clients=visitor.services.recent_clients.current(),
            )
            if ids != current:
                service.touch(ctx, row)
    except WouldBlockCaller as exc:
        return _detail(request, visitor, kind, pid, lockout=exc, lockout_filter=filter_id)
    except CitadelError as exc:
        return _detail(request, visitor, kind, pid, error=exc)
    notice = "project_filter_attached" if attach else "project_filter_detached"
    return redirect(f"/projects/{kind}/{pid}", notice)


@router.post("/projects/{project_type}/{project_id}/filters")
def attach_filter(
    request: Request, visitor: SignedIn, form: PostedForm, project_type: str, project_id: str
) -> Response:
    """Apply one more serverless traffic filter to the project."""
    return _set_filters(request, visitor, form, project_type, project_id, attach=True)


@router.post("/projects/{project_type}/{project_id}/filters/detach")
def detach_filter(
    request: Request, visitor: SignedIn, form: PostedForm, project_type: str, project_id: str
) -> Response:
    """Stop applying one traffic filter to the project."""
    return _set_filters(request, visitor, form, project_type, project_id, attach=False)
