"""Request bodies of the deployment realm routes, and the shaping of answers (no secret)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from citadel.deployment_realms.models import DeploymentRealm
from citadel.kit.schema import ResponseModel, StrictModel


class RealmIn(StrictModel):
    """One realm, whole (PUT replaces it): its type, place in the realm chain and settings
    with Elasticsearch's keys (``idp.entity_id``, ``rp.client_id``, ...)."""

    type: Literal["saml", "oidc"]
    order: int = Field(ge=0, le=1_000_000)
    enabled: bool = True
    settings: dict[str, Any] = Field(max_length=64)


class RealmOut(ResponseModel):
    """A realm as the API shows it: never its client secret, only whether it has one."""

    name: str
    type: str
    order: int
    enabled: bool
    settings: dict[str, Any]
    idp_metadata_xml: str | None = None
    idp_metadata_fetched: datetime | None = None
    """When the document was last fetched from ``idp.metadata.path`` (SAML by URL only)."""
    client_secret_set: bool | None = None
    created: datetime
    updated: datetime


class RealmsOut(ResponseModel):
    """The deployment's realms, by order."""

    realms: list[RealmOut]


def shown(row: DeploymentRealm) -> RealmOut:
    """`row` without its sealed secret."""
    return RealmOut(
        name=row.name,
        type=row.type,
        order=row.order,
        enabled=row.enabled,
        settings=dict(row.settings),
        idp_metadata_xml=row.idp_metadata if row.type == "saml" else None,
        idp_metadata_fetched=row.idp_metadata_fetched_at,
        client_secret_set=row.client_secret_sealed is not None if row.type == "oidc" else None,
        created=row.created_at,
        updated=row.updated_at,
    )
