"""Reading and changing serverless projects (ADR 28).

Routes decide access first (`citadel.api.deps.project_access`); each function here checks
again inside its transaction. A project the caller may not read does not exist for them: the
answer is `projects.not_found`, the same as for an unknown id, one of another type or of
another organization.

A project's runtime state lives on its instance (`citadel.deployments.models.Deployment`,
``kind = 'project'``, same id); this module keeps the project row and the instance in step:
a new alias bumps the instance's revision (the gateway's snapshot names the alias), a new
search power changes its size, a delete marks it deleted and shreds its data key. The phase
follows the instance's observed state (`observe`, pure rules in `citadel.projects.phases`).

Changes take an optional `If-Match` (the ETag a read returned, ``"<revision>"``): a mismatch
is a 412 and nothing changes.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from citadel.audit.tags import AuditAction, TargetType
from citadel.authn.context import Context
from citadel.authz.decide import Target, decide
from citadel.authz.permissions import Permission
from citadel.authz.roles import ScopeKind
from citadel.contract.states import DesiredState, ObservedState
from citadel.db.tenancy import owned, scoped
from citadel.deployments.models import PROJECT as INSTANCE
from citadel.deployments.models import Deployment
from citadel.deployments.service import password_context
from citadel.deployments.service import touch as touch_instance
from citadel.projects.errors import (
    AliasTaken,
    EtagMismatch,
    InvalidProject,
    ProjectNotFound,
    WrongPhase,
)
from citadel.projects.models import Project
from citadel.projects.phases import (
    SUSPENDED_KEY_UNAVAILABLE,
    Outcome,
    Phase,
    after_observation,
    may_change,
)
from citadel.projects.schemas import (
    CreateElasticsearchProjectIn,
    CreateProjectIn,
    PatchProjectIn,
    initial_settings,
    patched_settings,
    search_power,
)
from citadel.projects.sizing import sizing
from citadel.projects.types import ProjectType
from citadel.traffic_filters.models import Association

ADMIN_USERNAME = "admin"
"""The superuser of every project (`credentials.username`); its node calls it so."""
SUFFIX_LENGTH = 6
"""The returned alias is the requested one, ``-``, and this many characters of the id."""
MAX_REQUESTED_ALIAS = 50
PROJECT_ENTITY = "project"
"""`traffic_filter_associations.entity_type` of a project's filters."""


def target(organization_id: str, type: ProjectType, project_id: str) -> Target:
    """What a project's permissions are decided on."""
    return Target.resource(organization_id, ScopeKind(type.value), project_id)


# --- reading -----------------------------------------------------------------------------------


def visible(ctx: Context, organization_id: str, type: ProjectType, project_id: str) -> Project:
    """The project if it exists, is of `type`, belongs to the organization and the caller may
    read it; else 404 `projects.not_found`."""
    row = owned(ctx.session, Project, organization_id, project_id)
    if row is None or row.type != type.value:
        raise ProjectNotFound()
    if not ctx.caller.system and not decide(
        ctx.caller.subject, Permission.PROJECTS_READ, target(organization_id, type, project_id)
    ):
        raise ProjectNotFound()
    return row


def list_projects(
    ctx: Context,
    organization_id: str,
    type: ProjectType,
    *,
    traffic_filter: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> list[Project]:
    """The organization's projects of `type` the caller may read, oldest first; with
    `traffic_filter` only those associated with that filter, with `tags` only those carrying
    every one of those tags."""
    query = scoped(Project, organization_id, Project.type == type.value)
    if traffic_filter is not None:
        query = query.where(
            Project.id.in_(
                sa.select(Association.entity_id).where(
                    Association.entity_type == PROJECT_ENTITY,
                    Association.ruleset_id == traffic_filter,
                )
            )
        )
    rows = ctx.session.scalars(query.order_by(Project.created_at, Project.id)).all()
    wanted = dict(tags or {})
    return [
        r
        for r in rows
        if all(r.tags.get(k) == v for k, v in wanted.items())
        and (
            ctx.caller.system
            or decide(
                ctx.caller.subject,
                Permission.PROJECTS_READ,
                target(organization_id, type, r.id),
            )
        )
    ]


def instance_of(ctx: Context, row: Project) -> Deployment:
    """The project's runtime instance (always there while the project row is)."""
    instance = ctx.session.get(Deployment, row.id)
    assert instance is not None, row.id
    assert instance.kind == INSTANCE, row.id
    return instance


# --- creating ----------------------------------------------------------------------------------


def label_of(name: str) -> str:
    """The alias a project gets when none is asked for: its name as a host label (lowercase
    letters, digits and single dashes, starting with a letter, at most 50 characters)."""
    text = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    text = re.sub(r"^[^a-z]+", "", text)
    text = text[:MAX_REQUESTED_ALIAS].rstrip("-")
    return text or "project"


def full_alias(requested: str, project_id: str) -> str:
    """The alias as stored and returned: ``<requested>-<first 6 characters of the id>``."""
    return f"{requested.lower()}-{project_id[:SUFFIX_LENGTH]}"


@dataclass(frozen=True)
class Plan:
    """A checked create request."""

    alias: str
    region_id: str
    size_mb: int


def check_create(
    ctx: Context,
    organization_id: str,
    type: ProjectType,
    body: CreateProjectIn,
    project_id: str,
) -> Plan:
    """The caller may create projects of `type` (on all of them), the region exists, the
    request is one Citadel serves, the alias is free."""
    ctx.authorize(Permission.PROJECTS_CREATE, Target.all_of(organization_id, ScopeKind(type)))
    if body.region_id not in ctx.policies.regions:
        raise InvalidProject(
            f"Unknown region; this platform has: {', '.join(ctx.policies.regions)}.",
            fields=["body.region_id"],
        )
    _refuse_linked(body.linked)
    alias = full_alias(body.alias or label_of(body.name), project_id)
    _check_alias(ctx, alias, body.region_id, project_id)
    optimized_for = body.optimized_for if isinstance(body, CreateElasticsearchProjectIn) else None
    power = (
        body.search_lake.search_power
        if isinstance(body, CreateElasticsearchProjectIn) and body.search_lake
        else None
    )
    return Plan(alias, body.region_id, sizing(power, optimized_for).memory_mb)


def _refuse_linked(linked: Any) -> None:
    if linked is not None:
        raise InvalidProject(
            "Cross-project search (linked projects) is not part of Citadel.",
            fields=["body.linked"],
        )


def _check_alias(ctx: Context, alias: str, region_id: str, project_id: str) -> None:
    taken = ctx.session.scalar(
        sa.select(Project.id).where(
            Project.alias == alias, Project.region_id == region_id, Project.id != project_id
        )
    )
    if taken is not None:
        raise AliasTaken(fields=["body.alias"])


def create_project(
    ctx: Context,
    organization_id: str,
    type: ProjectType,
    body: CreateProjectIn,
    plan: Plan,
    *,
    project_id: str,
    created_by: str | None,
) -> Project:
    """Record the project row of a new project whose instance `project_id` was just inserted
    (phase initializing)."""
    now = ctx.clock.now()
    row = Project(
        id=project_id,
        organization_id=organization_id,
        type=type.value,
        name=body.name,
        alias=plan.alias,
        region_id=plan.region_id,
        optimized_for=(body.optimized_for or "general_purpose")
        if isinstance(body, CreateElasticsearchProjectIn)
        else None,
        settings=initial_settings(body),
        tags=dict(body.metadata.tags) if body.metadata else {},
        created_by=created_by,
        phase=Phase.INITIALIZING.value,
        phase_changed_at=now,
        idle_stopped=False,
        revision=1,
        created_at=now,
        updated_at=now,
    )
    with _alias_unique(ctx):
        ctx.session.add(row)
    ctx.record(
        AuditAction.PROJECT_CREATED,
        organization_id=organization_id,
        target_type=TargetType.PROJECT,
        target_id=row.id,
        details={"type": row.type, "name": row.name, "region": row.region_id},
    )
    return row


# --- changing ----------------------------------------------------------------------------------


def check_etag(row: Project, if_match: str | None) -> None:
    """412 when `if_match` (an ETag, or ``*``) does not name the project's current revision."""
    if if_match is None or if_match.strip() == "*":
        return
    given = {t.strip().removeprefix("W/") for t in if_match.split(",")}
    if f'"{row.revision}"' not in given:
        raise EtagMismatch(fields=["header.if-match"])


def for_change(
    ctx: Context,
    organization_id: str,
    type: ProjectType,
    project_id: str,
    permission: Permission,
    *,
    if_match: str | None,
) -> Project:
    """A project the caller may read and holds `permission` on, at the revision `if_match`
    names, not being deleted (409 `projects.wrong_phase`)."""
    row = visible(ctx, organization_id, type, project_id)
    ctx.authorize(permission, target(organization_id, type, project_id))
    check_etag(row, if_match)
    if not may_change(Phase(row.phase)):
        raise WrongPhase("The project is being deleted.")
    return row


@contextmanager
def _alias_unique(ctx: Context) -> Iterator[None]:
    """Flush what the block changed; an alias another project took meanwhile (the unique
    constraint on region and alias) is a 409, not a 500."""
    try:
        with ctx.session.begin_nested():
            yield
            ctx.session.flush()
    except IntegrityError:
        raise AliasTaken(fields=["body.alias"]) from None


def touch(ctx: Context, row: Project) -> None:
    """Bump the project's revision (its ETag)."""
    row.revision += 1
    row.updated_at = ctx.clock.now()
    ctx.session.flush()


def update_project(
    ctx: Context,
    organization_id: str,
    type: ProjectType,
    project_id: str,
    body: PatchProjectIn,
    *,
    if_match: str | None,
) -> Project:
    """Change the name, alias, tags or the type's settings; `traffic_filters` are the use
    case's (`citadel.use_cases.projects.patch_project`)."""
    row = for_change(
        ctx, organization_id, type, project_id, Permission.PROJECTS_UPDATE, if_match=if_match
    )
    sent = body.model_fields_set
    if "linked" in sent:
        _refuse_linked(body.linked)
    changed: list[str] = []
    instance = instance_of(ctx, row)
    if body.name is not None and body.name != row.name:
        row.name = body.name
        instance.name = body.name[:64]
        changed.append("name")
    if body.alias is not None:
        alias = full_alias(body.alias, row.id)
        if alias != row.alias:
            _check_alias(ctx, alias, row.region_id, row.id)
            with _alias_unique(ctx):
                row.alias = alias
            changed.append("alias")
    if body.metadata is not None:
        tags = _patched_tags(row.tags, body.metadata.tags)
        if tags != row.tags:
            row.tags = tags
            changed.append("tags")
    settings = patched_settings(row.settings or {}, body)
    if settings != (row.settings or {}):
        row.settings = settings
        changed.append("settings")
        instance.size = sizing(search_power(row), row.optimized_for).memory_mb
    if changed:
        touch(ctx, row)
        touch_instance(ctx, instance)  # the gateway's snapshot and the allocation change
        ctx.record(
            AuditAction.PROJECT_UPDATED,
            organization_id=organization_id,
            target_type=TargetType.PROJECT,
            target_id=row.id,
            details={"changed": changed},
        )
    return row


def _patched_tags(tags: Mapping[str, str], patch: Mapping[str, str | None]) -> dict[str, str]:
    result = dict(tags)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    if len(result) > 64:
        raise InvalidProject("A project has at most 64 tags.", fields=["body.metadata.tags"])
    return result


def delete_project(
    ctx: Context,
    organization_id: str,
    type: ProjectType,
    project_id: str,
    *,
    if_match: str | None,
) -> Project:
    """Schedule the deletion: phase deleting, the instance desired deleted, its data key
    destroyed (crypto-shredding) and its traffic filters detached; the row goes once the
    instance is observed deleted (`observe`). Deleting again answers the same."""
    row = visible(ctx, organization_id, type, project_id)
    ctx.authorize(Permission.PROJECTS_DELETE, target(organization_id, type, project_id))
    check_etag(row, if_match)
    if row.phase == Phase.DELETING:
        return row
    now = ctx.clock.now()
    instance = instance_of(ctx, row)
    instance.desired_state = DesiredState.DELETED
    instance.data_key_wrapped = None
    instance.elastic_password_sealed = None
    instance.deleted_at = now
    touch_instance(ctx, instance)
    forget_filters(ctx, row.id)
    _set_phase(ctx, row, Phase.DELETING)
    touch(ctx, row)
    ctx.record(
        AuditAction.PROJECT_DELETED,
        organization_id=organization_id,
        target_type=TargetType.PROJECT,
        target_id=row.id,
        details={"data_key": "destroyed"},
    )
    return row


def forget_filters(ctx: Context, project_id: str) -> None:
    """A deleted project keeps no traffic-filter associations (they would block deleting the
    filters)."""
    ctx.session.execute(
        sa.delete(Association).where(
            Association.entity_type == PROJECT_ENTITY, Association.entity_id == project_id
        )
    )


def reset_credentials(
    ctx: Context,
    organization_id: str,
    type: ProjectType,
    project_id: str,
    *,
    if_match: str | None,
) -> tuple[Project, str, str]:
    """A new password for the project's `admin` user, pending on its instance until the
    allocator applies it (the old one stops working then); returned this once."""
    row = for_change(
        ctx,
        organization_id,
        type,
        project_id,
        Permission.PROJECTS_MANAGE_SECURITY,
        if_match=if_match,
    )
    password = secrets.token_urlsafe(24)
    instance = instance_of(ctx, row)
    instance.elastic_password_sealed = ctx.keyring.barrier.seal(
        password.encode(), context=password_context(instance.id)
    )
    touch_instance(ctx, instance)
    touch(ctx, row)
    ctx.record(
        AuditAction.PROJECT_CREDENTIALS_RESET,
        organization_id=organization_id,
        target_type=TargetType.PROJECT,
        target_id=row.id,
        details={"username": ADMIN_USERNAME},
    )
    return row, ADMIN_USERNAME, password


def resume_project(
    ctx: Context,
    organization_id: str,
    type: ProjectType,
    project_id: str,
    *,
    if_match: str | None,
) -> Project:
    """Wake a project stopped because idle, or resume a suspended one (back through
    initializing); a running project is left as it is."""
    row = for_change(
        ctx, organization_id, type, project_id, Permission.PROJECTS_UPDATE, if_match=if_match
    )
    instance = instance_of(ctx, row)
    suspended = row.phase in (Phase.SUSPENDED, Phase.SUSPENDING)
    if not suspended and not row.idle_stopped and instance.desired_state == DesiredState.RUNNING:
        return row
    row.idle_stopped = False
    if instance.desired_state != DesiredState.RUNNING:
        instance.desired_state = DesiredState.RUNNING
        touch_instance(ctx, instance)
    if suspended:
        row.suspended_at = None
        row.suspended_reason = None
        _set_phase(ctx, row, Phase.INITIALIZING)
    touch(ctx, row)
    ctx.record(
        AuditAction.PROJECT_RESUMED,
        organization_id=organization_id,
        target_type=TargetType.PROJECT,
        target_id=row.id,
        details={"from": "suspended" if suspended else "idle"},
    )
    return row


def _set_phase(ctx: Context, row: Project, phase: Phase) -> None:
    row.phase = phase.value
    row.phase_changed_at = ctx.clock.now()


# --- the instance's observations ---------------------------------------------------------------


def observe(ctx: Context, project_id: str, observed: ObservedState) -> None:
    """Follow the instance's observed state (called for every status report of a project's
    instance): initialized once it runs, suspended while its key is unavailable, the row
    removed once a deleting project's instance is gone. The ETag does not change: it tracks
    the changes callers make."""
    row = ctx.session.get(Project, project_id)
    if row is None:
        return
    outcome = after_observation(Phase(row.phase), observed)
    if outcome is Outcome.NOTHING:
        return
    if outcome is Outcome.REMOVE:
        forget_filters(ctx, row.id)
        ctx.session.delete(row)
        ctx.session.flush()
        return
    assert isinstance(outcome, Phase)
    if outcome is Phase.SUSPENDED:
        row.suspended_at = ctx.clock.now()
        row.suspended_reason = SUSPENDED_KEY_UNAVAILABLE
    elif row.phase == Phase.SUSPENDED:
        row.suspended_at = None
        row.suspended_reason = None
    _set_phase(ctx, row, outcome)
    ctx.session.flush()
