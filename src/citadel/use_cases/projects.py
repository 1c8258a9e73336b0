"""Serverless project use cases (ADR 28): the project API and the console call the same
functions.

Creating is three steps, as creating a deployment is (`citadel.use_cases.deployments`): check
in a short read, wrap the new data key with no transaction open (the platform key may live in
a remote key service), then write the instance, the project and its traffic filters in one
transaction that makes the checks again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from citadel.allocators import service as allocators
from citadel.authn.context import Context
from citadel.authz.permissions import Permission
from citadel.crypto.providers.base import KeyProvider
from citadel.deployments import service as deployments
from citadel.deployments.lifecycle import Observed
from citadel.deployments.service import DataKey
from citadel.key_managers import service as key_managers
from citadel.kit.ids import new_id
from citadel.projects import service as projects
from citadel.projects.models import Project
from citadel.projects.schemas import CreateProjectIn, PatchProjectIn, TrafficFilterRefIn
from citadel.projects.types import ProjectType
from citadel.traffic_filters import serverless as serverless_filters
from citadel.traffic_filters.clients import SeenClient
from citadel.use_cases.units import Units

FILTERS_FIELD = "body.traffic_filters"
_APPLY_POLL_S = 0.1


@dataclass(frozen=True)
class CreatedProject:
    """A new project, its `admin` credentials (the only copy of the password) and the ids of
    its traffic filters."""

    row: Project
    username: str
    password: str = field(repr=False)
    filters: list[str] = field(default_factory=list)


def _ids(refs: list[TrafficFilterRefIn]) -> list[str]:
    return [ref.id for ref in refs]


def _may_associate(ctx: Context, organization_id: str, type: ProjectType, project_id: str) -> None:
    ctx.authorize(
        Permission.TRAFFIC_FILTERS_ASSOCIATE, projects.target(organization_id, type, project_id)
    )


def create_project(
    units: Units,
    platform: KeyProvider,
    organization_id: str,
    type: ProjectType,
    body: CreateProjectIn,
    *,
    created_by: str | None,
) -> CreatedProject:
    """Create a project: its instance (desired running, sized by its search power), its data
    key wrapped by the platform key, the traffic filters it names (or, when it names none,
    those of its region included by default); phase initializing."""
    project_id = new_id()
    with units.read() as ctx:
        projects.check_create(ctx, organization_id, type, body, project_id)
        if body.traffic_filters:
            _may_associate(ctx, organization_id, type, project_id)
    with key_managers.provider_errors():
        key = DataKey(deployments.new_data_key(platform, project_id), platform.describe().key_path)
    with units.write() as ctx:
        plan = projects.check_create(ctx, organization_id, type, body, project_id)
        instance, password = deployments.create_instance(
            ctx,
            organization_id,
            key,
            instance_id=project_id,
            name=body.name,
            region=plan.region_id,
            size=plan.size_mb,
        )
        allocators.place(ctx, instance)  # ADR 31: none with room leaves it waiting
        row = projects.create_project(
            ctx, organization_id, type, body, plan, project_id=instance.id, created_by=created_by
        )
        if body.traffic_filters is not None:
            if body.traffic_filters:
                _may_associate(ctx, organization_id, type, row.id)
            serverless_filters.set_project_filters(
                ctx,
                organization_id,
                row.id,
                row.region_id,
                _ids(body.traffic_filters),
                field=FILTERS_FIELD,
            )
            filters = serverless_filters.project_filter_ids(ctx, row.id)
        else:
            filters = serverless_filters.attach_defaults(
                ctx, organization_id, row.id, row.region_id
            )
        return CreatedProject(row, projects.ADMIN_USERNAME, password, filters)


@dataclass(frozen=True)
class ShownProject:
    """A project and the ids of its traffic filters."""

    row: Project
    filters: list[str]


def get_project(
    units: Units, organization_id: str, type: ProjectType, project_id: str
) -> ShownProject:
    """One project the caller may read."""
    with units.read() as ctx:
        row = projects.visible(ctx, organization_id, type, project_id)
        return ShownProject(row, serverless_filters.project_filter_ids(ctx, row.id))


def list_projects(
    units: Units,
    organization_id: str,
    type: ProjectType,
    *,
    traffic_filter: str | None = None,
    tags: dict[str, str] | None = None,
) -> list[ShownProject]:
    """The projects of `type` the caller may read, with their traffic filters."""
    with units.read() as ctx:
        rows = projects.list_projects(
            ctx, organization_id, type, traffic_filter=traffic_filter, tags=tags or {}
        )
        return [ShownProject(r, serverless_filters.project_filter_ids(ctx, r.id)) for r in rows]


def patch_project(
    units: Units,
    organization_id: str,
    type: ProjectType,
    project_id: str,
    body: PatchProjectIn,
    *,
    if_match: str | None,
    force: bool = False,
    clients: Sequence[SeenClient] = (),
) -> Project:
    """Change a project; `traffic_filters` replaces its whole list (``[]`` or ``null``
    detaches all, left out leaves them). The lockout guard refuses a list that newly blocks
    the caller's address unless `force`; `clients` are those the gateways saw recently."""
    with units.write() as ctx:
        row = projects.update_project(
            ctx, organization_id, type, project_id, body, if_match=if_match
        )
        if "traffic_filters" in body.model_fields_set:
            _may_associate(ctx, organization_id, type, row.id)
            wanted = _ids(body.traffic_filters or [])
            if wanted != serverless_filters.project_filter_ids(ctx, row.id):
                serverless_filters.set_project_filters(
                    ctx,
                    organization_id,
                    row.id,
                    row.region_id,
                    wanted,
                    field=FILTERS_FIELD,
                    force=force,
                    clients=clients,
                )
                projects.touch(ctx, row)
        return row


def delete_project(
    units: Units, organization_id: str, type: ProjectType, project_id: str, *, if_match: str | None
) -> Project:
    """Schedule a project's deletion (phase deleting; gone once its instance is)."""
    with units.write() as ctx:
        return projects.delete_project(ctx, organization_id, type, project_id, if_match=if_match)


def reset_credentials(
    units: Units,
    organization_id: str,
    type: ProjectType,
    project_id: str,
    *,
    if_match: str | None,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[Project, str, str]:
    """A new `admin` password, returned once. When the project's node is running, this waits
    (at most `Policies.project_credentials_apply_s`) until the allocator has restarted it with
    the new password, so the old one no longer works once the caller has the answer; a
    stopped project's node will start with the new one."""
    with units.write() as ctx:
        row, username, password = projects.reset_credentials(
            ctx, organization_id, type, project_id, if_match=if_match
        )
        running = projects.instance_of(ctx, row).observed_state == Observed.RUNNING
        limit = ctx.policies.project_credentials_apply_s
        started = time.monotonic()
    while running and time.monotonic() - started < limit:
        sleep(_APPLY_POLL_S)
        with units.read() as ctx:
            instance = projects.instance_of(ctx, row)
            running = instance.elastic_password_sealed is not None and instance.observed_state in (
                Observed.RUNNING,
                Observed.STOPPING,
                Observed.INITIALIZING,
                Observed.RESTARTING,
            )
    return row, username, password


def resume_project(
    units: Units, organization_id: str, type: ProjectType, project_id: str, *, if_match: str | None
) -> Project:
    """Wake an idle-stopped project or resume a suspended one (a running one: nothing)."""
    with units.write() as ctx:
        return projects.resume_project(ctx, organization_id, type, project_id, if_match=if_match)
