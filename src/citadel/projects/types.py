"""The three project types and the applications each one serves (ADR 28): pure, no I/O."""

from __future__ import annotations

from enum import StrEnum


class ProjectType(StrEnum):
    """A serverless project's type, as the API spells it in `/serverless/projects/{type}`."""

    ELASTICSEARCH = "elasticsearch"
    OBSERVABILITY = "observability"
    SECURITY = "security"


APPS: dict[ProjectType, tuple[str, ...]] = {
    ProjectType.ELASTICSEARCH: ("es", "kb"),
    ProjectType.OBSERVABILITY: ("es", "kb", "apm", "ingest"),
    ProjectType.SECURITY: ("es", "kb", "ingest"),
}
"""The host labels of each type's endpoints (`<alias>.<app>.<region>.<domain>`): ``es`` the
Elasticsearch API, ``kb`` Kibana (not part of Citadel: its host answers so), ``apm`` the APM
intake, ``ingest`` the managed OTLP/bulk intake (document writes only)."""
