"""Serverless traffic filters (`/serverless/traffic-filters`): network security for projects.

A serverless filter is a row of `traffic_filter_rulesets` with ``api = "serverless"``; the
hosted API never sees it, and this one never sees a hosted ruleset. Both count towards the
organization's 1024, both are compiled by the same `rules.compiled` and matched by the
gateway's same matcher, so a project's filter decides exactly as a deployment's does.

Stored forms (what the matcher reads): ``ip`` and ``vpce`` keep their type and `source`;
``private_endpoint`` (Azure) is stored as the hosted type ``azure_private_endpoint`` with
`azure_endpoint_name` and `azure_endpoint_guid`, which compiles through the organization's
claimed LINKIDs (ADR 10). The region is stored as the platform's region id; the API accepts
it bare (``local``) or with the platform's provider prefix (``aws-local``).

Rules follow serverless-notes §8: ``ip`` sources are IPv4 addresses or CIDR blocks; a VPC
endpoint id is ``vpce-`` and 17 lowercase hex digits; an Azure endpoint name has 2-80
characters and its GUID is a lowercase UUID; a rule carries only its type's fields.

Who may do what (§8): any member reads; an Organization owner, or an admin or editor of at
least one project, creates, edits and deletes; `include_by_default` needs that role on all
Elasticsearch, Observability and Security projects. Associations live on the project
(`set_project_filters`, called by the project use cases, which authorize them).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import Field

from citadel.audit.tags import AuditAction, TargetType
from citadel.authn.context import Context
from citadel.authz.decide import Target, decide
from citadel.authz.permissions import Permission
from citadel.authz.roles import ScopeKind
from citadel.db.tenancy import scoped
from citadel.deployments.lifecycle import Desired
from citadel.deployments.models import Deployment
from citadel.kit.ids import new_id
from citadel.kit.pages import PageToken
from citadel.kit.schema import ResponseModel, StrictModel
from citadel.orgs.service import load as load_org
from citadel.traffic_filters import lockout, rules, service
from citadel.traffic_filters.clients import SeenClient
from citadel.traffic_filters.errors import (
    InvalidRuleset,
    RegionMismatch,
    RulesetInUse,
    RulesetNotFound,
    UnknownRuleset,
)
from citadel.traffic_filters.matching import InvalidSource, RulesetRules, parse_ip_source
from citadel.traffic_filters.models import Association, Ruleset, RulesetVersion
from citadel.traffic_filters.schemas import MAX_RULES

IP = "ip"
VPCE = "vpce"
PRIVATE_ENDPOINT = "private_endpoint"
TYPES = (IP, VPCE, PRIVATE_ENDPOINT)
STORED_TYPE = {IP: rules.IP, VPCE: rules.VPCE, PRIVATE_ENDPOINT: rules.AZURE}
API_TYPE = {stored: api for api, stored in STORED_TYPE.items()}
RULE_FIELDS = {
    IP: ("source",),
    VPCE: ("source",),
    PRIVATE_ENDPOINT: ("azure_endpoint_name", "azure_endpoint_guid"),
}
PROJECT_KINDS = (ScopeKind.ELASTICSEARCH, ScopeKind.OBSERVABILITY, ScopeKind.SECURITY)
MAX_PAGE_SIZE = 1000
_VPCE_ID = re.compile(r"vpce-[0-9a-f]{17}")
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


# --- request and response shapes (the subset's) ----------------------------------------------


class RuleIn(StrictModel):
    """`TrafficFilterRule`: `source` for ip and vpce, the two Azure fields for private_endpoint."""

    description: str | None = Field(default=None, max_length=1024)
    source: str | None = Field(default=None, max_length=128)
    azure_endpoint_name: str | None = Field(default=None, max_length=128)
    azure_endpoint_guid: str | None = Field(default=None, max_length=64)


class FilterIn(StrictModel):
    """`CreateTrafficFilterRequest`."""

    name: str = Field(min_length=1, max_length=128)
    description: str | None = Field(default=None, max_length=512)
    type: str = Field(min_length=1, max_length=32)
    region: str = Field(min_length=1, max_length=32)
    include_by_default: bool = False
    rules: list[RuleIn] = Field(default_factory=list, max_length=MAX_RULES)


class FilterPatchIn(StrictModel):
    """`PatchTrafficFilterRequest`: every field optional; `rules` replaces the whole list.
    `type` and `region` are accepted only unchanged (they cannot change: 400 otherwise)."""

    name: str | None = Field(default=None, min_length=1, max_length=128)
    description: str | None = Field(default=None, max_length=512)
    include_by_default: bool | None = None
    rules: list[RuleIn] | None = Field(default=None, max_length=MAX_RULES)
    type: str | None = Field(default=None, max_length=32)
    region: str | None = Field(default=None, max_length=32)


class RuleOut(ResponseModel):
    """`TrafficFilterRule` as stored."""

    description: str | None = None
    source: str | None = None
    azure_endpoint_name: str | None = None
    azure_endpoint_guid: str | None = None


class FilterOut(ResponseModel):
    """`TrafficFilterInfo`."""

    id: str
    name: str
    description: str
    type: str
    include_by_default: bool
    region: str
    rules: list[RuleOut]


class FilterListOut(ResponseModel):
    """`TrafficFilterList`: `next_page` only while more follow."""

    items: list[FilterOut]
    next_page: str | None = None


class AvailabilityZoneOut(ResponseModel):
    name: str
    id: str


class RegionMetadataOut(ResponseModel):
    """`TrafficFilterRegionMetadata`."""

    region: str
    csp: str
    private_service_name: str
    vpc_service_name: str
    private_hosted_zone_domain_name: str
    availability_zones: list[AvailabilityZoneOut]


class MetadataOut(ResponseModel):
    """`TrafficFilterMetadata`."""

    regions: list[RegionMetadataOut]


def info(row: Ruleset) -> FilterOut:
    """The filter as the API shows it (never its associations)."""
    return FilterOut(
        id=row.id,
        name=row.name,
        description=row.description,
        type=API_TYPE.get(row.type, row.type),
        include_by_default=row.include_by_default,
        region=row.region,
        rules=[RuleOut.model_validate(_shown(rule)) for rule in row.rules],
    )


def _shown(rule: dict[str, Any]) -> dict[str, Any]:
    keys = ("description", "source", "azure_endpoint_name", "azure_endpoint_guid")
    return {key: rule[key] for key in keys if rule.get(key) is not None}


def etag(row: Ruleset) -> str:
    """The filter's version as an entity tag."""
    return f'"{row.version}"'


# --- checking (pure) --------------------------------------------------------------------------


def platform_region(value: str, regions: Sequence[str], csp: str) -> str | None:
    """The platform region a request names, bare or as ``<csp>-<region>``; None if none."""
    if value in regions:
        return value
    bare = value.removeprefix(f"{csp}-")
    return bare if bare != value and bare in regions else None


def check_type(value: str) -> str:
    """The API type, or 400 naming `body.type`."""
    if value not in TYPES:
        raise InvalidRuleset(
            f"Unknown traffic filter type; use one of: {', '.join(TYPES)}.", fields=["body.type"]
        )
    return value


def check_region(value: str, regions: Sequence[str], csp: str) -> str:
    """The platform region id a create names, or 400 naming `body.region`."""
    region = platform_region(value, regions, csp)
    if region is None:
        offered = ", ".join(f"{r} (or {csp}-{r})" for r in regions)
        raise InvalidRuleset(
            f"Unknown region; this platform has: {offered}.", fields=["body.region"]
        )
    return region


def check_rules(kind: str, given: Sequence[RuleIn]) -> list[dict[str, Any]]:
    """The rules of a filter of API type `kind`, validated and in their stored form."""
    if kind == IP and not given:
        raise InvalidRuleset("An IP filter needs at least one source.", fields=["body.rules"])
    return [check_rule(kind, rule, f"body.rules[{i}]") for i, rule in enumerate(given)]


def check_rule(kind: str, rule: RuleIn, at: str) -> dict[str, Any]:
    """One rule: only its type's fields, each well formed (serverless-notes §8)."""
    fields = ("source", "azure_endpoint_name", "azure_endpoint_guid")
    present = {name for name in fields if getattr(rule, name) is not None}
    wanted = set(RULE_FIELDS[kind])
    extra, missing = sorted(present - wanted), sorted(wanted - present)
    if extra:
        message = f"'{extra[0]}' does not apply to a '{kind}' filter's rule."
        raise InvalidRuleset(message, fields=[f"{at}.{name}" for name in extra])
    if missing:
        message = f"A '{kind}' filter's rule needs '{missing[0]}'."
        raise InvalidRuleset(message, fields=[f"{at}.{name}" for name in missing])
    out: dict[str, Any] = {}
    if rule.description is not None:
        out["description"] = rule.description
    if kind == IP:
        out["source"] = _ipv4_source(rule.source or "", f"{at}.source")
    elif kind == VPCE:
        out["source"] = _vpce_id(rule.source or "", f"{at}.source")
    else:
        name, guid = _azure_endpoint(
            rule.azure_endpoint_name or "", rule.azure_endpoint_guid or "", at
        )
        out["azure_endpoint_name"], out["azure_endpoint_guid"] = name, guid
    return out


def _ipv4_source(value: str, field: str) -> str:
    try:
        network = parse_ip_source(value)
    except InvalidSource:
        network = None
    if network is None or network.version != 4 or ":" in value:
        raise InvalidRuleset(
            "The source must be an IPv4 address or CIDR block (192.0.2.0/24); "
            "DNS names are not allowed.",
            fields=[field],
        )
    return value


def _vpce_id(value: str, field: str) -> str:
    if not _VPCE_ID.fullmatch(value):
        raise InvalidRuleset(
            "A VPC endpoint id is 'vpce-' and 17 lowercase hex digits (vpce-0123456789abcdef0).",
            fields=[field],
        )
    return value


def _azure_endpoint(name: str, guid: str, at: str) -> tuple[str, str]:
    if len(name) < 2:
        raise InvalidRuleset(
            "An Azure private endpoint name has 2-80 characters.",
            fields=[f"{at}.azure_endpoint_name"],
        )
    name, checked = rules._azure(name, guid, at, InvalidRuleset)
    if not _GUID.fullmatch(guid):
        raise InvalidRuleset(
            "Write the Azure private endpoint's GUID as a lowercase UUID "
            "(7c0f05e4-e32b-4b10-a246-7b77f7dcc63c).",
            fields=[f"{at}.azure_endpoint_guid"],
        )
    return name, checked


def page_token(text: str) -> PageToken:
    """The token of an ``X-Elastic-Next-Page`` header, or 400 naming the header."""
    try:
        return PageToken.parse(text)
    except ValueError:
        raise InvalidRuleset(
            "This is not a next_page token of this list.",
            fields=["header.x-elastic-next-page"],
        ) from None


def metadata(
    regions: Sequence[str],
    csp: str,
    domain: str,
    *,
    region: str | None = None,
    provider: str | None = None,
) -> MetadataOut:
    """Per region, what a private endpoint connects to (pure).

    The service a private endpoint reaches is this platform's gateway in the region, which
    answers for ``<region>.<domain>`` and every project host below it; that is also the zone
    to resolve privately. The platform has no availability zones of its own to name. A filter
    matching nothing gives an empty list.
    """
    out = []
    for name in regions:
        if region is not None and platform_region(region, [name], csp) is None:
            continue
        if provider is not None and provider != csp:
            continue
        zone = f"{name}.{domain}"
        out.append(
            RegionMetadataOut(
                region=name,
                csp=csp,
                private_service_name=zone,
                vpc_service_name=zone,
                private_hosted_zone_domain_name=zone,
                availability_zones=[],
            )
        )
    return MetadataOut(regions=out)


# --- authorization ------------------------------------------------------------------------


def _authorize_on_any_project(ctx: Context, org: str) -> None:
    """An Organization owner, or an admin or editor of at least one project of any type."""
    targets = [Target.any_of(org, kind) for kind in PROJECT_KINDS]
    permission = Permission.TRAFFIC_FILTERS_MANAGE
    if ctx.caller.system or any(decide(ctx.caller.subject, permission, t) for t in targets):
        return
    ctx.authorize(permission, targets[0])  # raises, with the decision's error


def _authorize_default(ctx: Context, org: str) -> None:
    """`include_by_default`: the role on all projects of every type."""
    for kind in PROJECT_KINDS:
        ctx.authorize(Permission.TRAFFIC_FILTERS_SET_DEFAULT, Target.all_of(org, kind))


# --- reading ------------------------------------------------------------------------------


def _load(ctx: Context, org: str, filter_id: str, *, for_update: bool = False) -> Ruleset:
    return service._load(ctx, org, filter_id, for_update=for_update, api=service.SERVERLESS)


def list_filters(
    ctx: Context,
    org: str,
    *,
    region: str | None,
    include_by_default: bool | None,
    csp: str,
    page_size: int = MAX_PAGE_SIZE,
    next_page: str | None = None,
) -> tuple[list[Ruleset], str | None]:
    """One page of the organization's serverless filters, oldest first, and the token of the
    next page (None on the last)."""
    ctx.authorize(Permission.TRAFFIC_FILTERS_READ, Target.organization(org))
    stmt = scoped(Ruleset, org, Ruleset.api == service.SERVERLESS)
    if region is not None:
        wanted = platform_region(region, ctx.policies.regions, csp)
        if wanted is None:
            return [], None
        stmt = stmt.where(Ruleset.region == wanted)
    if include_by_default is not None:
        stmt = stmt.where(Ruleset.include_by_default.is_(include_by_default))
    if next_page is not None:
        after = page_token(next_page)
        stmt = stmt.where(
            sa.or_(
                Ruleset.created_at > after.created_at,
                sa.and_(Ruleset.created_at == after.created_at, Ruleset.id > after.id),
            )
        )
    stmt = stmt.order_by(Ruleset.created_at, Ruleset.id).limit(page_size + 1)
    rows = list(ctx.session.scalars(stmt))
    if len(rows) <= page_size:
        return rows, None
    rows = rows[:page_size]
    return rows, PageToken(rows[-1].created_at, rows[-1].id).text()


def get_filter(ctx: Context, org: str, filter_id: str) -> Ruleset:
    ctx.authorize(Permission.TRAFFIC_FILTERS_READ, Target.organization(org))
    return _load(ctx, org, filter_id)


# --- changing filters -------------------------------------------------------------------------


def create_filter(ctx: Context, org: str, body: FilterIn, *, csp: str) -> Ruleset:
    """A new filter bound to one region (it filters nothing until a project uses it)."""
    _authorize_on_any_project(ctx, org)
    if body.include_by_default:
        _authorize_default(ctx, org)
    kind = check_type(body.type)
    region = check_region(body.region, ctx.policies.regions, csp)
    checked = check_rules(kind, body.rules)
    service._check_not_claimed_elsewhere(ctx, org, STORED_TYPE[kind], region, checked)
    now = ctx.clock.now()
    row = Ruleset(
        id=new_id(),
        organization_id=org,
        name=body.name,
        description=body.description or "",
        type=STORED_TYPE[kind],
        region=region,
        include_by_default=body.include_by_default,
        rules=checked,
        version=1,
        api=service.SERVERLESS,
        created_at=now,
        updated_at=now,
    )
    load_org(ctx.session, org, for_update=True)  # the count below holds until commit
    service._check_room(ctx, org)
    ctx.session.add(row)
    ctx.session.flush()
    service._remember_version(ctx, row)
    ctx.record(
        AuditAction.TRAFFIC_FILTER_CREATED,
        organization_id=org,
        target_type=TargetType.TRAFFIC_FILTER_RULESET,
        target_id=row.id,
        details=_summary(row),
    )
    return row


def patch_filter(
    ctx: Context,
    org: str,
    filter_id: str,
    body: FilterPatchIn,
    *,
    csp: str,
    force: bool = False,
    clients: Sequence[SeenClient] = (),
) -> Ruleset:
    """Change the given fields; new `rules` replace the old and reach every project using the
    filter at once (the lockout guard refuses to block the caller's address without `force`)."""
    _authorize_on_any_project(ctx, org)
    row = _load(ctx, org, filter_id, for_update=True)
    kind = API_TYPE[row.type]
    if body.type is not None and body.type != kind:
        raise InvalidRuleset("A traffic filter's type cannot change.", fields=["body.type"])
    if body.region is not None and platform_region(body.region, [row.region], csp) is None:
        raise InvalidRuleset("A traffic filter's region cannot change.", fields=["body.region"])
    if body.include_by_default is not None and body.include_by_default != row.include_by_default:
        _authorize_default(ctx, org)
    projects: list[str] = []
    if body.rules is not None:
        checked = check_rules(kind, body.rules)
        service._check_not_claimed_elsewhere(ctx, org, row.type, row.region, checked)
        draft = Ruleset(id=row.id, organization_id=org, type=row.type, region=row.region)
        draft.rules = checked
        projects = projects_using(ctx, row.id)
        replace: dict[str, RulesetRules | None] = {row.id: service._compiled(ctx, org, draft)}
        changes = service._changes(ctx, org, projects, replace=replace)
        service._judge(
            ctx,
            changes,
            service.Guard(force=force, clients=clients),
            enforce=True,
            entities="projects",
        )
        row.rules = checked
    if body.name is not None:
        row.name = body.name
    if body.description is not None:
        row.description = body.description
    if body.include_by_default is not None:
        row.include_by_default = body.include_by_default
    row.version += 1
    row.updated_at = ctx.clock.now()
    ctx.session.flush()
    service._remember_version(ctx, row)
    service._touch(ctx, projects)
    ctx.record(
        AuditAction.TRAFFIC_FILTER_UPDATED,
        organization_id=org,
        target_type=TargetType.TRAFFIC_FILTER_RULESET,
        target_id=row.id,
        details=_summary(row) | {"projects_affected": len(projects)},
    )
    return row


def delete_filter(ctx: Context, org: str, filter_id: str) -> Ruleset:
    """Delete a filter no project uses (409 saying how many still do: their ids are not named,
    the caller may not be allowed to see them)."""
    _authorize_on_any_project(ctx, org)
    row = _load(ctx, org, filter_id, for_update=True)
    using = projects_using(ctx, row.id)
    if using:
        raise RulesetInUse(
            f"The traffic filter is used by {len(using)} project(s); remove it from their "
            "traffic_filters first (GET /serverless/projects/{type}?traffic_filter=<id> "
            "lists them).",
            fields=["path.id"],
        )
    ctx.session.execute(sa.delete(Association).where(Association.ruleset_id == row.id))
    ctx.session.execute(sa.delete(RulesetVersion).where(RulesetVersion.ruleset_id == row.id))
    ctx.session.delete(row)
    ctx.session.flush()
    ctx.record(
        AuditAction.TRAFFIC_FILTER_DELETED,
        organization_id=org,
        target_type=TargetType.TRAFFIC_FILTER_RULESET,
        target_id=filter_id,
        details={"name": row.name, "api": service.SERVERLESS},
    )
    return row


def _summary(row: Ruleset) -> dict[str, Any]:
    return service._summary(row) | {"type": API_TYPE[row.type], "api": service.SERVERLESS}


# --- projects' associations (called by the project use cases) ---------------------------------


def project_filter_ids(ctx: Context, project_id: str) -> list[str]:
    """The ids of the filters a project uses, in the order they were attached."""
    return list(
        ctx.session.scalars(
            sa.select(Association.ruleset_id)
            .where(Association.entity_type == service.PROJECT, Association.entity_id == project_id)
            .order_by(Association.created_at, Association.ruleset_id)
        )
    )


def projects_using(ctx: Context, filter_id: str) -> list[str]:
    """The projects (not being deleted) that use a filter, by id."""
    live = sa.select(Deployment.id).where(Deployment.desired_state != Desired.DELETED)
    return list(
        ctx.session.scalars(
            sa.select(Association.entity_id)
            .where(
                Association.ruleset_id == filter_id,
                Association.entity_type == service.PROJECT,
                Association.entity_id.in_(live),
            )
            .order_by(Association.entity_id)
        )
    )


def set_project_filters(
    ctx: Context,
    organization_id: str,
    project_id: str,
    region_id: str,
    ids: Sequence[str],
    *,
    field: str,
    force: bool = False,
    clients: Sequence[SeenClient] = (),
) -> None:
    """Make `ids` the project's whole list of filters (`traffic_filters` on create or PATCH).

    Each must be a serverless filter of the organization in the project's region (else 400
    naming ``<field>[i].id``). The lockout guard applies as to deployments: a change that
    newly blocks the caller's address is refused (409) unless `force` (not while the project
    is being created: nobody reached it yet). The caller authorizes
    the association (TRAFFIC_FILTERS_ASSOCIATE on the project).
    """
    wanted: list[str] = []
    for i, filter_id in enumerate(ids):
        at = f"{field}[{i}].id"
        try:
            row = _load(ctx, organization_id, filter_id)
        except RulesetNotFound:
            raise UnknownRuleset(
                f"This organization has no serverless traffic filter '{filter_id}'.",
                fields=[at],
            ) from None
        if row.region != region_id:
            raise RegionMismatch(
                f"Traffic filter {row.id} is for region '{row.region}'; the project is in "
                f"'{region_id}'.",
                fields=[at],
            )
        if row.id not in wanted:
            wanted.append(row.id)
    current = project_filter_ids(ctx, project_id)
    added = [i for i in wanted if i not in current]
    removed = [i for i in current if i not in wanted]
    if not added and not removed:
        return
    if _reachable(ctx, project_id):
        after = [i for i in [*current, *added] if i not in removed]
        changes = [_project_change(ctx, organization_id, project_id, current, after)]
        service._judge(
            ctx,
            changes,
            service.Guard(force=force, clients=clients),
            enforce=True,
            entities="projects",
        )
    if removed:
        ctx.session.execute(
            sa.delete(Association).where(
                Association.entity_type == service.PROJECT,
                Association.entity_id == project_id,
                Association.ruleset_id.in_(removed),
            )
        )
    _attach(ctx, organization_id, project_id, added)
    service._touch(ctx, [project_id])
    for filter_id in removed:
        _record_link(
            ctx, AuditAction.TRAFFIC_FILTER_DISASSOCIATED, organization_id, filter_id, project_id
        )
    for filter_id in added:
        _record_link(
            ctx, AuditAction.TRAFFIC_FILTER_ASSOCIATED, organization_id, filter_id, project_id
        )


def _reachable(ctx: Context, project_id: str) -> bool:
    """Whether anyone may have reached the project: its instance has been observed. A project
    being created has not, so its first filters lock nobody out (as a deployment's on create)."""
    instance = ctx.session.get(Deployment, project_id)
    return instance is not None and instance.observed_at is not None


def _project_change(
    ctx: Context,
    org: str,
    project_id: str,
    before_ids: Sequence[str],
    after_ids: Sequence[str],
) -> lockout.Change:
    """The project's compiled filters before and after (for the lockout guard)."""
    rows = {r.id: r for r in service._rows(ctx, list(dict.fromkeys([*before_ids, *after_ids])))}
    before = [service._compiled(ctx, org, rows[i]) for i in before_ids if i in rows]
    after = [service._compiled(ctx, org, rows[i]) for i in after_ids if i in rows]
    return lockout.Change(project_id, before, after)


def attach_defaults(
    ctx: Context, organization_id: str, project_id: str, region_id: str
) -> list[str]:
    """Attach the region's include-by-default filters to a new project; their ids.

    Never retroactive: only a project being created gets them (no lockout guard: nobody
    reached the project before)."""
    defaults = ctx.session.scalars(
        scoped(
            Ruleset,
            organization_id,
            Ruleset.api == service.SERVERLESS,
            Ruleset.region == region_id,
            Ruleset.include_by_default.is_(True),
        ).order_by(Ruleset.created_at, Ruleset.id)
    ).all()
    current = set(project_filter_ids(ctx, project_id))
    added = [row.id for row in defaults if row.id not in current]
    if not added:
        return []
    _attach(ctx, organization_id, project_id, added)
    service._touch(ctx, [project_id])
    for filter_id in added:
        _record_link(
            ctx,
            AuditAction.TRAFFIC_FILTER_ASSOCIATED,
            organization_id,
            filter_id,
            project_id,
            by_default=True,
        )
    return added


def _attach(ctx: Context, org: str, project_id: str, filter_ids: Sequence[str]) -> None:
    """Associate the filters in the order given: each a microsecond after the one before, so
    `project_filter_ids` answers the list as the request wrote it."""
    now = ctx.clock.now()
    for i, filter_id in enumerate(filter_ids):
        ctx.session.add(
            Association(
                ruleset_id=filter_id,
                entity_type=service.PROJECT,
                entity_id=project_id,
                organization_id=org,
                created_at=now + timedelta(microseconds=i),
            )
        )
    ctx.session.flush()


def _record_link(
    ctx: Context,
    action: AuditAction,
    org: str,
    filter_id: str,
    project_id: str,
    *,
    by_default: bool = False,
) -> None:
    details: dict[str, Any] = {"entity_type": service.PROJECT, "entity_id": project_id}
    if by_default:
        details["on"] = "project_create"
    ctx.record(
        action,
        organization_id=org,
        target_type=TargetType.TRAFFIC_FILTER_RULESET,
        target_id=filter_id,
        details=details,
    )
