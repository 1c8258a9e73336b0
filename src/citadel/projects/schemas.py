"""Request bodies and answers of the serverless project API (`serverless-api-subset.json`).

Every create and patch body refuses unknown fields, naming them (the subset's
``additionalProperties: false``), and carries each field of the subset's request with its
limits. A patch tells a field left out (unchanged) from one sent as ``null`` (back to the
default, or removed) by `model_fields_set`.

Answers are built from the project row by `project_out` and `created_out`; `endpoints` and
`cloud_id` come from `citadel.projects.endpoints`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from citadel.kit.schema import ResponseModel, StrictModel
from citadel.projects import endpoints as project_endpoints
from citadel.projects.models import Project
from citadel.projects.types import ProjectType

ALIAS_PATTERN = r"^[a-zA-Z]{1}(?:[a-zA-Z0-9-]*[a-zA-Z0-9]{1})?$"
TAG_KEY_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"
TAG_VALUE_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
MAX_TAGS = 64
DEFAULT_RETENTION_DAYS = 396
"""The maximum data retention a Security project gets when none is given at creation."""
DEFAULT_PRODUCT_TYPES: tuple[dict[str, str], ...] = (
    {"product_line": "security", "product_tier": "complete"},
    {"product_line": "cloud", "product_tier": "complete"},
    {"product_line": "endpoint", "product_tier": "complete"},
)

Name = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Alias = Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=ALIAS_PATTERN)]
RegionId = Annotated[str, StringConstraints(min_length=1, max_length=32)]
TagValue = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=TAG_VALUE_PATTERN)
]
OptimizedFor = Literal["general_purpose", "vector"]
ObservabilityTier = Literal["complete", "logs_essentials"]
AdminFeaturesPackage = Literal["standard", "enterprise"]
RetentionDays = Annotated[int, Field(ge=7, le=3681)]


def _check_tag_keys(tags: dict[str, Any]) -> dict[str, Any]:
    bad = sorted(k for k in tags if not re.fullmatch(TAG_KEY_PATTERN, k))
    if bad:
        raise ValueError(
            f"tag keys start with a-z and use a-z, 0-9, '_' and '-' (at most 32): {bad[0]!r}"
        )
    return tags


# --- requests ---------------------------------------------------------------------------------


class TrafficFilterRefIn(StrictModel):
    """One serverless traffic filter associated with the project."""

    id: str = Field(min_length=1, max_length=32)


class MetadataIn(StrictModel):
    """Create: the project's tags (1-64)."""

    tags: Annotated[
        dict[str, TagValue],
        Field(min_length=1, max_length=MAX_TAGS),
        AfterValidator(_check_tag_keys),
    ]


class PatchMetadataIn(StrictModel):
    """Patch: tags to set, or to remove (``null``); other tags stay."""

    tags: Annotated[
        dict[str, TagValue | None],
        Field(min_length=1, max_length=MAX_TAGS),
        AfterValidator(_check_tag_keys),
    ]


class LinkedProjectIn(StrictModel):
    type: Literal["elasticsearch", "observability", "security"]


class LinkedIn(StrictModel):
    """Cross-project search links (the subset's `linked`): validated, then refused by the
    service (Citadel does not serve cross-project search, ADR 28)."""

    projects: dict[str, LinkedProjectIn | None] = Field(min_length=1, max_length=64)


class ElasticsearchSearchLakeIn(StrictModel):
    search_power: int | None = Field(default=None, ge=28, le=3000)
    boost_window: int | None = Field(default=None, ge=1, le=180)


class DataRetentionIn(StrictModel):
    """Days of data kept: at most `max_retention_days`, by default `default_retention_days`;
    ``null`` means unlimited."""

    max_retention_days: RetentionDays | None = None
    default_retention_days: RetentionDays | None = None

    @model_validator(mode="after")
    def _default_within_max(self) -> DataRetentionIn:
        top, default = self.max_retention_days, self.default_retention_days
        if top is not None and default is not None and default > top:
            raise ValueError("default_retention_days must not exceed max_retention_days")
        return self


class SecuritySearchLakeIn(StrictModel):
    data_retention: DataRetentionIn | None = None


class SecurityProductTypeIn(StrictModel):
    product_line: Literal["security", "cloud", "endpoint"]
    product_tier: Literal["complete", "essentials"]


def _distinct_lines(value: list[SecurityProductTypeIn]) -> list[SecurityProductTypeIn]:
    lines = [p.product_line for p in value]
    if len(set(lines)) != len(lines):
        raise ValueError("each product_line may appear once")
    return value


ProductTypes = Annotated[
    list[SecurityProductTypeIn], Field(min_length=1, max_length=3), AfterValidator(_distinct_lines)
]


class _CreateIn(StrictModel):
    name: Name
    alias: Alias | None = None
    region_id: RegionId
    traffic_filters: list[TrafficFilterRefIn] | None = Field(default=None, max_length=256)
    linked: LinkedIn | None = None
    metadata: MetadataIn | None = None


class _PatchIn(StrictModel):
    name: Name | None = None
    alias: Alias | None = None
    traffic_filters: list[TrafficFilterRefIn] | None = Field(default=None, max_length=256)
    linked: LinkedIn | None = None
    metadata: PatchMetadataIn | None = None


class CreateElasticsearchProjectIn(_CreateIn):
    """`CreateElasticsearchProjectRequest`."""

    optimized_for: OptimizedFor | None = None
    search_lake: ElasticsearchSearchLakeIn | None = None


class PatchElasticsearchProjectIn(_PatchIn):
    """`PatchElasticsearchProjectRequest`: `search_lake` values ``null`` restore defaults."""

    search_lake: ElasticsearchSearchLakeIn | None = None


class CreateObservabilityProjectIn(_CreateIn):
    """`CreateObservabilityProjectRequest`."""

    product_tier: ObservabilityTier | None = None


class PatchObservabilityProjectIn(_PatchIn):
    """`PatchObservabilityProjectRequest`."""

    product_tier: ObservabilityTier | None = None


class CreateSecurityProjectIn(_CreateIn):
    """`CreateSecurityProjectRequest`."""

    admin_features_package: AdminFeaturesPackage | None = None
    product_types: ProductTypes | None = None
    search_lake: SecuritySearchLakeIn | None = None


class PatchSecurityProjectIn(_PatchIn):
    """`PatchSecurityProjectRequest`."""

    admin_features_package: AdminFeaturesPackage | None = None
    product_types: ProductTypes | None = None
    search_lake: SecuritySearchLakeIn | None = None


CreateProjectIn = (
    CreateElasticsearchProjectIn | CreateObservabilityProjectIn | CreateSecurityProjectIn
)
PatchProjectIn = PatchElasticsearchProjectIn | PatchObservabilityProjectIn | PatchSecurityProjectIn

CREATE_BODIES: dict[ProjectType, type[_CreateIn]] = {
    ProjectType.ELASTICSEARCH: CreateElasticsearchProjectIn,
    ProjectType.OBSERVABILITY: CreateObservabilityProjectIn,
    ProjectType.SECURITY: CreateSecurityProjectIn,
}
PATCH_BODIES: dict[ProjectType, type[_PatchIn]] = {
    ProjectType.ELASTICSEARCH: PatchElasticsearchProjectIn,
    ProjectType.OBSERVABILITY: PatchObservabilityProjectIn,
    ProjectType.SECURITY: PatchSecurityProjectIn,
}


def initial_settings(body: CreateProjectIn) -> dict[str, Any]:
    """The type's settings of a new project as stored (`Project.settings`), defaults filled."""
    if isinstance(body, CreateElasticsearchProjectIn):
        lake = body.search_lake or ElasticsearchSearchLakeIn()
        return {"search_lake": lake.model_dump()}
    if isinstance(body, CreateObservabilityProjectIn):
        return {"product_tier": body.product_tier or "complete"}
    lake_in = body.search_lake.data_retention if body.search_lake else None
    retention = (
        lake_in.model_dump()
        if lake_in is not None
        else {"max_retention_days": DEFAULT_RETENTION_DAYS, "default_retention_days": None}
    )
    return {
        "admin_features_package": body.admin_features_package or "standard",
        "product_types": [p.model_dump() for p in body.product_types]
        if body.product_types
        else [dict(p) for p in DEFAULT_PRODUCT_TYPES],
        "search_lake": {"data_retention": retention},
    }


def patched_settings(settings: dict[str, Any], body: PatchProjectIn) -> dict[str, Any]:
    """The type's settings after `body`: a field left out stays, ``null`` restores the
    default."""
    sent = body.model_fields_set
    result = {k: v for k, v in settings.items()}
    if isinstance(body, PatchElasticsearchProjectIn) and "search_lake" in sent:
        lake = dict(result.get("search_lake") or {})
        given = body.search_lake
        if given is None:
            lake = {"search_power": None, "boost_window": None}
        else:
            for key in given.model_fields_set:
                lake[key] = getattr(given, key)
        result["search_lake"] = lake
    if isinstance(body, PatchObservabilityProjectIn) and "product_tier" in sent:
        result["product_tier"] = body.product_tier or "complete"
    if isinstance(body, PatchSecurityProjectIn):
        if "admin_features_package" in sent:
            result["admin_features_package"] = body.admin_features_package or "standard"
        if "product_types" in sent:
            result["product_types"] = (
                [p.model_dump() for p in body.product_types]
                if body.product_types
                else [dict(p) for p in DEFAULT_PRODUCT_TYPES]
            )
        if "search_lake" in sent:
            given_lake = body.search_lake
            retention = given_lake.data_retention if given_lake else None
            result["search_lake"] = {
                "data_retention": retention.model_dump()
                if retention is not None
                else {"max_retention_days": DEFAULT_RETENTION_DAYS, "default_retention_days": None}
            }
    return result


def search_power(row: Project) -> int | None:
    """The project's search power (None: the default; only Elasticsearch projects have one)."""
    lake = row.settings.get("search_lake") or {}
    value = lake.get("search_power")
    return value if isinstance(value, int) else None


# --- answers ----------------------------------------------------------------------------------


class TrafficFilterRefOut(ResponseModel):
    id: str


class CredentialsOut(ResponseModel):
    """`ProjectCredentials`: shown once, at creation and at a reset."""

    username: str
    password: str


class MetadataOut(ResponseModel):
    created_at: datetime
    created_by: str
    organization_id: str
    suspended_at: datetime | None = None
    suspended_reason: str | None = None
    tags: dict[str, str] | None = None
    system_tags: dict[str, str] | None = None


class _ProjectOut(ResponseModel):
    id: str
    name: str
    alias: str
    region_id: str
    metadata: MetadataOut
    cloud_id: str
    traffic_filters: list[TrafficFilterRefOut] | None = None


class ElasticsearchEndpointsOut(ResponseModel):
    elasticsearch: str
    kibana: str


class ObservabilityEndpointsOut(ResponseModel):
    elasticsearch: str
    kibana: str
    apm: str
    ingest: str


class SecurityEndpointsOut(ResponseModel):
    elasticsearch: str
    kibana: str
    ingest: str


class ElasticsearchSearchLakeOut(ResponseModel):
    search_power: int | None = None
    boost_window: int | None = None


class DataRetentionOut(ResponseModel):
    max_retention_days: int | None = None
    default_retention_days: int | None = None


class SecuritySearchLakeOut(ResponseModel):
    data_retention: DataRetentionOut | None = None


class SecurityProductTypeOut(ResponseModel):
    product_line: str
    product_tier: str


class ElasticsearchProjectOut(_ProjectOut):
    """`ElasticsearchProject`."""

    type: Literal["elasticsearch"]
    optimized_for: str
    search_lake: ElasticsearchSearchLakeOut | None = None
    endpoints: ElasticsearchEndpointsOut


class ObservabilityProjectOut(_ProjectOut):
    """`ObservabilityProject`."""

    type: Literal["observability"]
    product_tier: str | None = None
    endpoints: ObservabilityEndpointsOut


class SecurityProjectOut(_ProjectOut):
    """`SecurityProject`."""

    type: Literal["security"]
    admin_features_package: str | None = None
    product_types: list[SecurityProductTypeOut] | None = None
    search_lake: SecuritySearchLakeOut | None = None
    endpoints: SecurityEndpointsOut


class ElasticsearchProjectCreatedOut(ElasticsearchProjectOut):
    """`ElasticsearchProjectCreated`: the project and its credentials (the only copy)."""

    credentials: CredentialsOut


class ObservabilityProjectCreatedOut(ObservabilityProjectOut):
    """`ObservabilityProjectCreated`."""

    credentials: CredentialsOut


class SecurityProjectCreatedOut(SecurityProjectOut):
    """`SecurityProjectCreated`."""

    credentials: CredentialsOut


ProjectOut = ElasticsearchProjectOut | ObservabilityProjectOut | SecurityProjectOut
ProjectCreatedOut = (
    ElasticsearchProjectCreatedOut | ObservabilityProjectCreatedOut | SecurityProjectCreatedOut
)


class ProjectListOut(ResponseModel):
    """`…ProjectList`: the projects the caller may read; `next_page` while more follow (only
    when the deprecated `page_size` asked for pages)."""

    items: list[ProjectOut]
    next_page: str | None = None


class ProjectStatusOut(ResponseModel):
    """`ProjectStatus`."""

    phase: str
    phase_change_timestamp: datetime | None = None


class RoleDetailsOut(ResponseModel):
    name: str
    description: str


class ProjectRolesOut(ResponseModel):
    roles: list[RoleDetailsOut]


class RegionOut(ResponseModel):
    """`Region`: one region of this platform where projects can be created."""

    id: str
    name: str
    csp: str
    csp_region: str
    country_code: str
    project_creation_enabled: bool


@dataclass(frozen=True)
class Where:
    """Where projects are reached: the gateway's domain and port."""

    domain: str
    port: int


_OUT: dict[ProjectType, tuple[type[_ProjectOut], type[_ProjectOut]]] = {
    ProjectType.ELASTICSEARCH: (ElasticsearchProjectOut, ElasticsearchProjectCreatedOut),
    ProjectType.OBSERVABILITY: (ObservabilityProjectOut, ObservabilityProjectCreatedOut),
    ProjectType.SECURITY: (SecurityProjectOut, SecurityProjectCreatedOut),
}


def _fields(row: Project, where: Where, filters: list[str]) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "alias": row.alias,
        "region_id": row.region_id,
        "type": row.type,
        "metadata": {
            "created_at": row.created_at,
            "created_by": row.created_by or "",
            "organization_id": row.organization_id,
            "suspended_at": row.suspended_at,
            "suspended_reason": row.suspended_reason,
            "tags": dict(row.tags) or None,
        },
        "cloud_id": project_endpoints.cloud_id(row, where.domain, where.port),
        "endpoints": project_endpoints.endpoints(row, where.domain, where.port),
        "traffic_filters": [{"id": f} for f in filters],
    }
    settings = row.settings or {}
    if row.type == ProjectType.ELASTICSEARCH:
        fields["optimized_for"] = row.optimized_for or "general_purpose"
        fields["search_lake"] = settings.get("search_lake")
    elif row.type == ProjectType.OBSERVABILITY:
        fields["product_tier"] = settings.get("product_tier")
    else:
        fields["admin_features_package"] = settings.get("admin_features_package")
        fields["product_types"] = settings.get("product_types")
        fields["search_lake"] = settings.get("search_lake")
    return fields


def project_out(row: Project, where: Where, filters: list[str]) -> ProjectOut:
    """The project as GET, list and PATCH show it (never its credentials)."""
    model = _OUT[ProjectType(row.type)][0]
    return model.model_validate(_fields(row, where, filters))  # type: ignore[return-value]


def created_out(
    row: Project, where: Where, filters: list[str], *, username: str, password: str
) -> ProjectCreatedOut:
    """The create answer: the project and its credentials, shown this once."""
    model = _OUT[ProjectType(row.type)][1]
    fields = _fields(row, where, filters) | {
        "credentials": {"username": username, "password": password}
    }
    return model.model_validate(fields)  # type: ignore[return-value]


def etag(row: Project) -> str:
    """The project's ETag: its revision, quoted."""
    return f'"{row.revision}"'
