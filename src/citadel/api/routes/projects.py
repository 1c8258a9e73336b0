"""Serverless project routes (`serverless-api-subset.json`) and the serverless regions; the
organization is the caller's, as on deployment routes.

One route per operation serves the three types (`{project_type}`: ``elasticsearch``,
``observability``, ``security``); the create and patch bodies are read with the type's own
model (`CreateElasticsearchProjectRequest`...), so an unknown field is a 400 naming it.
Reads and changes answer an `ETag`; `If-Match` on a change that no longer matches is a 412.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, RootModel, ValidationError

from citadel.api.deps import ServicesDep, WorkDep, project_access, signed_in
from citadel.api.openapi import errors
from citadel.authz.permissions import Permission
from citadel.bootstrap import Services
from citadel.kit.pages import PageToken
from citadel.projects import regions as platform_regions
from citadel.projects.errors import InvalidProject, RegionNotFound
from citadel.projects.roles import project_roles
from citadel.projects.schemas import (
    CREATE_BODIES,
    PATCH_BODIES,
    CredentialsOut,
    ProjectCreatedOut,
    ProjectListOut,
    ProjectOut,
    ProjectRolesOut,
    ProjectStatusOut,
    RegionOut,
    RoleDetailsOut,
    Where,
    created_out,
    etag,
    project_out,
)
from citadel.projects.types import ProjectType
from citadel.use_cases import projects as use_cases

MAX_PAGE_SIZE = 1000

router = APIRouter(tags=["serverless projects"])
ProjectId = Path(max_length=32, description="Identifier for the project")
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=256,
        description="The ETag of an earlier answer; the change is refused (412) when the "
        "project has changed since.",
    ),
]
_PRECONDITION: dict[int | str, dict[str, Any]] = {
    412: {"description": "`If-Match` no longer names the project's revision."}
}
_BODY_DOC = (
    "The body is the type's request schema of the serverless API "
    "(`Create<Type>ProjectRequest`, `Patch<Type>ProjectRequest`); unknown fields are refused."
)


class ProjectRolesByIdOut(RootModel[dict[str, ProjectRolesOut]]):
    """`ProjectRolesByProjectID`: the project's id → its roles."""


class RegionsOut(RootModel[list[RegionOut]]):
    """The regions (an array)."""


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """`node` with every ``#/$defs/...`` reference replaced by its definition."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def _body_doc(models: dict[ProjectType, type[BaseModel]]) -> dict[str, Any]:
    """`openapi_extra` documenting a body read by type: any of the types' request schemas
    (the body is read with the one `project_type` names)."""
    variants = []
    for model in models.values():
        schema = model.model_json_schema()
        variants.append(_inline(schema, schema.get("$defs", {})))
    content = {"application/json": {"schema": {"anyOf": variants}}}
    return {"requestBody": {"required": True, "description": _BODY_DOC, "content": content}}


def _where(services: Services) -> Where:
    s = services.settings
    return Where(s.deployment_domain, s.gateway_port)


def _read(model: type[BaseModel], raw: Any) -> Any:
    """`raw` read with `model`; a violation is the 400 any body violation is (fields named)."""
    try:
        return model.model_validate(raw, strict=True)
    except ValidationError as exc:
        raise RequestValidationError(
            [
                {**e, "loc": ("body", *e["loc"])}
                for e in exc.errors(include_url=False, include_context=False)
            ]
        ) from None


def _tags(request: Request) -> dict[str, str]:
    """The `tags[key]=value` (deepObject) or `tag[key]=value` (the docs' spelling) filters."""
    found: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        for prefix in ("tags[", "tag["):
            if name.startswith(prefix) and name.endswith("]"):
                found[name[len(prefix) : -1]] = value
    return found


# --- regions -----------------------------------------------------------------------------------


@router.get("/serverless/regions", dependencies=[signed_in()])
def list_regions(services: ServicesDep) -> RegionsOut:
    """The regions where projects can be created: this platform's regions."""
    s = services.settings
    return RegionsOut(
        [
            RegionOut.model_validate(r, from_attributes=True)
            for r in platform_regions.regions(s.regions, s.serverless_csp)
        ]
    )


@router.get("/serverless/regions/{region_id}", dependencies=[signed_in()])
def get_region(services: ServicesDep, region_id: Annotated[str, Path(max_length=64)]) -> RegionOut:
    """One region; 404 `projects.region_not_found` for one this platform does not have."""
    s = services.settings
    found = platform_regions.region(s.regions, s.serverless_csp, region_id)
    if found is None:
        raise RegionNotFound()
    return RegionOut.model_validate(found, from_attributes=True)


# --- projects ----------------------------------------------------------------------------------


@router.post(
    "/serverless/projects/{project_type}",
    status_code=201,
    dependencies=[project_access(Permission.PROJECTS_CREATE)],
    responses=errors(503),
    openapi_extra=_body_doc(dict(CREATE_BODIES)),
)
def create_project(
    project_type: ProjectType,
    body: Annotated[dict[str, Any], Body(description=_BODY_DOC)],
    response: Response,
    work: WorkDep,
    services: ServicesDep,
) -> ProjectCreatedOut:
    """Create a project (phase `initializing` until its node first runs); the `admin`
    password in `credentials` is the only copy."""
    given = _read(CREATE_BODIES[project_type], body)
    principal = work.caller.principal
    created_by = (principal.user_id or principal.credential_id) if principal else None
    made = use_cases.create_project(
        work,
        services.platform_keys,
        work.organization,
        project_type,
        given,
        created_by=created_by,
    )
    response.headers["ETag"] = etag(made.row)
    return created_out(
        made.row,
        _where(services),
        made.filters,
        username=made.username,
        password=made.password,
    )


@router.get(
    "/serverless/projects/{project_type}",
    dependencies=[project_access(Permission.PROJECTS_READ)],
)
def list_projects(
    project_type: ProjectType,
    request: Request,
    work: WorkDep,
    services: ServicesDep,
    traffic_filter: Annotated[str | None, Query(max_length=32)] = None,
    linked: Annotated[str | None, Query(max_length=32)] = None,
    page_size: Annotated[int | None, Query(ge=1, le=MAX_PAGE_SIZE, deprecated=True)] = None,
    next_page: Annotated[str | None, Query(max_length=1024, deprecated=True)] = None,
) -> ProjectListOut:
    """The projects of the type the caller may read, oldest first. Filters:
    `traffic_filter=<id>`, `tags[key]=value` (or `tag[key]=value`); `linked` matches nothing
    (no cross-project search here). All in one answer unless the deprecated `page_size` asks
    for pages: then `next_page` is in the answer while more follow, to send back as
    `next_page`."""
    after = _page_token(next_page) if next_page is not None else None
    shown = use_cases.list_projects(
        work,
        work.organization,
        project_type,
        traffic_filter=traffic_filter,
        tags=_tags(request),
    )
    if linked is not None:
        shown = []
    if after is not None:
        shown = [s for s in shown if after.precedes(s.row.created_at, s.row.id)]
    token = None
    if page_size is not None and len(shown) > page_size:
        shown = shown[:page_size]
        token = PageToken(shown[-1].row.created_at, shown[-1].row.id).text()
    where = _where(services)
    return ProjectListOut(
        items=[project_out(s.row, where, s.filters) for s in shown], next_page=token
    )


def _page_token(text: str) -> PageToken:
    try:
        return PageToken.parse(text)
    except ValueError:
        raise InvalidProject(
            "This is not a next_page of this list.", fields=["query.next_page"]
        ) from None


@router.get(
    "/serverless/projects/{project_type}/{project_id}",
    dependencies=[project_access(Permission.PROJECTS_READ)],
)
def get_project(
    project_type: ProjectType,
    response: Response,
    work: WorkDep,
    services: ServicesDep,
    project_id: str = ProjectId,
) -> ProjectOut:
    """One project: endpoints, cloud_id, settings, traffic filters."""
    shown = use_cases.get_project(work, work.organization, project_type, project_id)
    response.headers["ETag"] = etag(shown.row)
    return project_out(shown.row, _where(services), shown.filters)


@router.patch(
    "/serverless/projects/{project_type}/{project_id}",
    dependencies=[project_access(Permission.PROJECTS_UPDATE)],
    responses=_PRECONDITION,
    openapi_extra=_body_doc(dict(PATCH_BODIES)),
)
def patch_project(
    project_type: ProjectType,
    body: Annotated[dict[str, Any], Body(description=_BODY_DOC)],
    response: Response,
    work: WorkDep,
    services: ServicesDep,
    if_match: IfMatch = None,
    project_id: str = ProjectId,
    force: Annotated[
        bool,
        Query(
            description="(ours) Apply a `traffic_filters` list even if it blocks the address "
            "this request comes from (the lockout guard, as on the hosted API)."
        ),
    ] = False,
) -> ProjectOut:
    """Change the name, alias, tags (`null` removes one), traffic filters (the whole list) or
    the type's settings (`null` restores a default). A filter list that would block your own
    address is refused (409 `traffic_filter.would_block_caller`) unless `force=true`."""
    given = _read(PATCH_BODIES[project_type], body)
    org = work.organization
    row = use_cases.patch_project(
        work,
        org,
        project_type,
        project_id,
        given,
        if_match=if_match,
        force=force,
        clients=services.recent_clients.current(),
    )
    shown = use_cases.get_project(work, org, project_type, row.id)
    response.headers["ETag"] = etag(shown.row)
    return project_out(shown.row, _where(services), shown.filters)


@router.delete(
    "/serverless/projects/{project_type}/{project_id}",
    dependencies=[project_access(Permission.PROJECTS_DELETE)],
    response_class=Response,
    responses={**_PRECONDITION, 200: {"description": "Deletion scheduled; no body."}},
)
def delete_project(
    project_type: ProjectType,
    work: WorkDep,
    if_match: IfMatch = None,
    project_id: str = ProjectId,
) -> Response:
    """Delete a project: its data key is destroyed at once, it answers `deleting` until its
    node is gone, then 404."""
    row = use_cases.delete_project(
        work, work.organization, project_type, project_id, if_match=if_match
    )
    return Response(status_code=200, headers={"ETag": etag(row)})


@router.get(
    "/serverless/projects/{project_type}/{project_id}/status",
    dependencies=[project_access(Permission.PROJECTS_READ)],
)
def get_project_status(
    project_type: ProjectType, work: WorkDep, project_id: str = ProjectId
) -> ProjectStatusOut:
    """The project's phase and when it last changed."""
    shown = use_cases.get_project(work, work.organization, project_type, project_id)
    return ProjectStatusOut(
        phase=shown.row.phase, phase_change_timestamp=shown.row.phase_changed_at
    )


@router.post(
    "/serverless/projects/{project_type}/{project_id}/_reset-credentials",
    dependencies=[project_access(Permission.PROJECTS_MANAGE_SECURITY)],
    responses=_PRECONDITION,
)
def reset_project_credentials(
    project_type: ProjectType,
    response: Response,
    work: WorkDep,
    if_match: IfMatch = None,
    project_id: str = ProjectId,
) -> CredentialsOut:
    """A new password for the `admin` user; this answer is its only copy, and the old one
    stops working as soon as the project's node applies it."""
    row, username, password = use_cases.reset_credentials(
        work, work.organization, project_type, project_id, if_match=if_match
    )
    response.headers["ETag"] = etag(row)
    return CredentialsOut(username=username, password=password)


@router.post(
    "/serverless/projects/{project_type}/{project_id}/_resume",
    dependencies=[project_access(Permission.PROJECTS_UPDATE)],
    response_class=Response,
    responses={**_PRECONDITION, 200: {"description": "Resuming, or running; no body."}},
)
def resume_project(
    project_type: ProjectType,
    work: WorkDep,
    if_match: IfMatch = None,
    project_id: str = ProjectId,
) -> Response:
    """Start a project stopped because idle, or resume a suspended one (back through
    `initializing`); a running project is left as it is."""
    row = use_cases.resume_project(
        work, work.organization, project_type, project_id, if_match=if_match
    )
    return Response(status_code=200, headers={"ETag": etag(row)})


@router.get(
    "/serverless/projects/{project_type}/{project_id}/roles",
    dependencies=[project_access(Permission.PROJECTS_READ)],
)
def get_project_roles(
    project_type: ProjectType,
    response: Response,
    work: WorkDep,
    project_id: str = ProjectId,
) -> ProjectRolesByIdOut:
    """The roles inside the project (its node's built-in roles for the type)."""
    shown = use_cases.get_project(work, work.organization, project_type, project_id)
    response.headers["ETag"] = etag(shown.row)
    roles = [RoleDetailsOut(name=n, description=d) for n, d in project_roles(project_type)]
    return ProjectRolesByIdOut({shown.row.id: ProjectRolesOut(roles=roles)})
