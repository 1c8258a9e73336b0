"""Request bodies of the deployment routes (Cloud API shapes) and the shaping of answers.

The Cloud API's cluster info is deep, and most of it is fixed for a single-node deployment:
the answers are built as dictionaries and validated into the response models below, which
document exactly what is sent (the parts that are always empty are lists of objects).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from citadel.deployments import snapshots
from citadel.deployments.lifecycle import Desired, Observed, is_healthy, status
from citadel.deployments.models import Deployment
from citadel.kit.schema import ResponseModel, StrictModel

ALIAS_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
DEFAULT_SIZE_MB = 1024


class Lenient(BaseModel):
    """Nested plan parts: clients send much we do not use yet; unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore", strict=True)


class TopologySizeIn(Lenient):
    value: int = Field(ge=0)
    resource: str = "memory"


class TopologyElementIn(Lenient):
    id: str | None = None
    size: TopologySizeIn | None = None


class ElasticsearchConfigIn(Lenient):
    version: str | None = Field(default=None, max_length=32)


class RestorePayloadIn(StrictModel):
    """`RestoreSnapshotApiConfiguration`: which indices, and raw restore settings."""

    indices: list[str] | None = Field(default=None, max_length=1024)
    raw_settings: dict[str, Any] | None = None


class RestoreSnapshotIn(StrictModel):
    """`RestoreSnapshotConfiguration`: fill the new deployment from a snapshot of another
    (`source_cluster_id`; `snapshot_name` ``__latest_success__`` or absent: the latest).
    Checked by `citadel.deployments.snapshots.restore_request`."""

    source_cluster_id: str | None = Field(default=None, min_length=1, max_length=32)
    snapshot_name: str | None = Field(default=None, min_length=1, max_length=255)
    repository_name: str | None = Field(default=None, max_length=255)
    repository_config: dict[str, Any] | None = None
    restore_payload: RestorePayloadIn | None = None
    strategy: str | None = Field(default=None, max_length=16)


class TransientPlanIn(Lenient):
    """`TransientElasticsearchPlanConfiguration`: only `restore_snapshot` is used."""

    restore_snapshot: RestoreSnapshotIn | None = None


class ElasticsearchPlanIn(Lenient):
    cluster_topology: list[TopologyElementIn] = Field(default_factory=list, max_length=16)
    elasticsearch: ElasticsearchConfigIn = Field(default_factory=ElasticsearchConfigIn)
    transient: TransientPlanIn | None = None


class ElasticsearchPayloadIn(Lenient):
    ref_id: str = Field(default="main-elasticsearch", min_length=1, max_length=64)
    region: str | None = Field(default=None, max_length=32)
    display_name: str | None = Field(default=None, max_length=64)
    plan: ElasticsearchPlanIn = Field(default_factory=ElasticsearchPlanIn)


class ResourcesIn(Lenient):
    elasticsearch: list[ElasticsearchPayloadIn] = Field(default_factory=list, max_length=1)


class TrafficFilterSettingsIn(StrictModel):
    rulesets: list[str] = Field(default_factory=list, max_length=256)


class ByokIn(StrictModel):
    """A customer-managed key: `key_resource_path` names the key (`pkcs11:...`,
    `vault-transit://...`, `kmip://...`, `arn:aws:kms:...`); `key_manager_id` (ours) picks one
    of the organization's key managers when it has several of that kind."""

    key_resource_path: str = Field(min_length=1, max_length=512)
    key_manager_id: str | None = Field(default=None, max_length=32)


class SettingsIn(Lenient):
    traffic_filter_settings: TrafficFilterSettingsIn | None = None
    byok: ByokIn | None = None


class TagIn(StrictModel):
    key: str = Field(min_length=1, max_length=64)
    value: str = Field(max_length=256)


class MetadataIn(StrictModel):
    tags: list[TagIn] = Field(default_factory=list, max_length=64)


class CreateDeploymentIn(StrictModel):
    name: str | None = Field(default=None, min_length=1, max_length=64)
    alias: str | None = Field(default=None, pattern=ALIAS_PATTERN)
    region: str | None = Field(default=None, min_length=1, max_length=32)
    version: str | None = Field(default=None, min_length=1, max_length=32)
    resources: ResourcesIn = Field(default_factory=ResourcesIn)
    settings: SettingsIn | None = None
    metadata: MetadataIn | None = None


class UpdateDeploymentIn(StrictModel):
    prune_orphans: bool = False
    name: str | None = Field(default=None, min_length=1, max_length=64)
    alias: str | None = Field(default=None, pattern=r"^$|" + ALIAS_PATTERN[1:])
    metadata: MetadataIn | None = None
    resources: dict[str, Any] | None = None
    settings: dict[str, Any] | None = None


# --- answers (Cloud API shapes) --------------------------------------------------------------

Empty = list[dict[str, Any]]
"""A list the Cloud API has that is always empty for a single-node deployment."""


class ClusterCredentialsOut(ResponseModel):
    """`ClusterCredentials`: this answer is the password's only copy."""

    username: str
    password: str


class DeploymentResourceOut(ResponseModel):
    """`DeploymentResource`."""

    ref_id: str
    id: str
    kind: str
    region: str
    cloud_id: str
    credentials: ClusterCredentialsOut | None = None


class DeploymentCreateOut(ResponseModel):
    """`DeploymentCreateResponse` (with `validate_only`: empty `id`, no resources)."""

    id: str
    name: str
    alias: str | None = None
    created: bool
    resources: list[DeploymentResourceOut]


class DeploymentsListingDataOut(ResponseModel):
    id: str
    name: str
    resources: list[DeploymentResourceOut]


class DeploymentsListOut(ResponseModel):
    """`DeploymentsListResponse`."""

    deployments: list[DeploymentsListingDataOut]


class DeploymentSummaryOut(ResponseModel):
    """`DeploymentShutdownResponse` / `DeploymentDeleteResponse`."""

    id: str
    name: str


class DeploymentUpdateOut(ResponseModel):
    """`DeploymentUpdateResponse`."""

    id: str
    name: str
    alias: str | None = None
    resources: list[DeploymentResourceOut]


class PlanInfoOut(ResponseModel):
    healthy: bool
    history: Empty


class ShardInfoOut(ResponseModel):
    healthy: bool
    available_shards: Empty
    unavailable_shards: Empty
    unavailable_replicas: Empty


class MasterInfoOut(ResponseModel):
    healthy: bool
    masters: Empty
    instances_with_no_master: Empty


class BlockingIssuesOut(ResponseModel):
    healthy: bool
    cluster_level: Empty
    index_level: Empty


class ElasticsearchHealthOut(ResponseModel):
    healthy: bool
    shard_info: ShardInfoOut
    master_info: MasterInfoOut
    blocking_issues: BlockingIssuesOut


class PortsOut(ResponseModel):
    http: int
    https: int
    transport_passthrough: int


class ClusterMetadataOut(ResponseModel):
    """`ClusterMetadataInfo`: where the deployment is reached."""

    version: int
    last_modified: str
    endpoint: str
    service_url: str
    cloud_id: str
    ports: PortsOut
    aliased_endpoint: str | None = None
    aliased_url: str | None = None


class TopologyOut(ResponseModel):
    healthy: bool
    instances: Empty


class SnapshotsOut(ResponseModel):
    """`SnapshotStatusInfo`, from what the allocator last reported."""

    healthy: bool
    count: int
    recent_success: bool
    latest_successful: bool | None = None
    latest_status: str | None = None
    latest_end_time: str | None = None
    latest_successful_end_time: str | None = None


class PendingRestoreOut(ResponseModel):
    source_cluster_id: str
    snapshot_name: str


class RestoredFromOut(ResponseModel):
    """Ours: the snapshot the deployment came back from (writes after `taken_at` are lost),
    and a restore still to do."""

    snapshot_name: str | None = None
    taken_at: str | None = None
    pending: PendingRestoreOut | None = None


class LockedOut(ResponseModel):
    """Ours: why the deployment is locked (its customer key is unavailable)."""

    reason: str


class ElasticsearchClusterInfoOut(ResponseModel):
    """`ElasticsearchClusterInfo`."""

    cluster_id: str
    cluster_name: str
    deployment_id: str
    region: str
    healthy: bool
    status: str
    plan_info: PlanInfoOut
    elasticsearch: ElasticsearchHealthOut
    metadata: ClusterMetadataOut
    topology: TopologyOut
    snapshots: SnapshotsOut
    external_links: Empty
    associated_kibana_clusters: Empty
    associated_apm_clusters: Empty
    associated_appsearch_clusters: Empty
    associated_enterprise_search_clusters: Empty
    locked: LockedOut | None = None
    restored_from: RestoredFromOut | None = None


class ElasticsearchResourceInfoOut(ResponseModel):
    """`ElasticsearchResourceInfo`."""

    ref_id: str
    id: str
    region: str
    info: ElasticsearchClusterInfoOut


class DeploymentResourcesOut(ResponseModel):
    """`DeploymentResources`: one Elasticsearch resource, nothing else."""

    elasticsearch: list[ElasticsearchResourceInfoOut]
    kibana: Empty
    apm: Empty
    appsearch: Empty
    enterprise_search: Empty
    integrations_server: Empty


class TrafficFilterSettingsOut(ResponseModel):
    """`TrafficFilterSettings`."""

    rulesets: list[str]


class AutoOpsOut(ResponseModel):
    status: str


class ByokOut(ResponseModel):
    """The customer-managed key holding the data key."""

    key_resource_path: str
    key_manager_id: str


class DeploymentSettingsOut(ResponseModel):
    """`DeploymentSettings`."""

    traffic_filter_settings: TrafficFilterSettingsOut
    auto_ops: AutoOpsOut
    byok: ByokOut | None = None


class MetadataItemOut(ResponseModel):
    key: str
    value: str


class DeploymentMetadataOut(ResponseModel):
    """`DeploymentMetadata`."""

    tags: list[MetadataItemOut]
    byok_enabled: bool


class DeploymentGetOut(ResponseModel):
    """`DeploymentGetResponse`."""

    id: str
    name: str
    alias: str | None = None
    healthy: bool
    resources: DeploymentResourcesOut
    settings: DeploymentSettingsOut
    metadata: DeploymentMetadataOut


class RegionAddressesOut(ResponseModel):
    """Where traffic to a region's deployments arrives, and where theirs leaves from."""

    ingress: list[str]
    egress: list[str]


class StaticIpsOut(ResponseModel):
    """The platform's static IPs per region (`GET /platform/static-ips`, ours)."""

    regions: dict[str, RegionAddressesOut]


@dataclass(frozen=True)
class Endpoints:
    """Where deployments are reached: `<id>.<region>.<domain>:<port>`."""

    domain: str
    port: int

    def host(self, row: Deployment, *, by_alias: bool = False) -> str:
        label = row.alias if by_alias and row.alias else row.id
        return f"{label}.{row.region}.{self.domain}"

    def cloud_id(self, row: Deployment) -> str:
        """``<name>:base64("<region>.<domain>:<port>$<es-id>$<kibana-id>")`` as ES clients read it
        (no Kibana: its id is empty)."""
        text = f"{row.region}.{self.domain}:{self.port}${row.id}$"
        return f"{row.name}:{base64.b64encode(text.encode()).decode()}"


def resource_summary(
    row: Deployment, endpoints: Endpoints, *, password: str | None = None
) -> DeploymentResourceOut:
    """The `DeploymentResource` of the Elasticsearch resource; credentials with `password`."""
    return DeploymentResourceOut(
        ref_id=row.ref_id,
        id=row.id,
        kind="elasticsearch",
        region=row.region,
        cloud_id=endpoints.cloud_id(row),
        credentials=ClusterCredentialsOut(username="elastic", password=password)
        if password is not None
        else None,
    )


def created(
    row: Deployment, endpoints: Endpoints, *, password: str | None, fresh: bool
) -> DeploymentCreateOut:
    """The `DeploymentCreateResponse`; credentials only when `password` is given."""
    return DeploymentCreateOut(
        id=row.id,
        name=row.name,
        alias=row.alias or None,
        created=fresh,
        resources=[resource_summary(row, endpoints, password=password)],
    )


def validated(name: str | None) -> DeploymentCreateOut:
    """The answer of `validate_only=true`: nothing was created."""
    return DeploymentCreateOut(id="", name=name or "", created=False, resources=[])


def listing(row: Deployment, endpoints: Endpoints) -> DeploymentsListingDataOut:
    """One `DeploymentsListingData`."""
    return DeploymentsListingDataOut(
        id=row.id, name=row.name, resources=[resource_summary(row, endpoints)]
    )


def summary(row: Deployment) -> DeploymentSummaryOut:
    """`DeploymentShutdownResponse` / `DeploymentDeleteResponse`."""
    return DeploymentSummaryOut(id=row.id, name=row.name)


def updated(row: Deployment, endpoints: Endpoints) -> DeploymentUpdateOut:
    """The `DeploymentUpdateResponse`."""
    return DeploymentUpdateOut(
        id=row.id,
        name=row.name,
        alias=row.alias or None,
        resources=[resource_summary(row, endpoints)],
    )


def detail(
    row: Deployment,
    endpoints: Endpoints,
    rulesets: list[str],
    *,
    now: datetime | None = None,
    snapshot_interval_s: int = 1800,
) -> DeploymentGetOut:
    """The `DeploymentGetResponse`; `rulesets` are the associated traffic-filter rulesets.
    `now` and the platform's snapshot interval tell whether the latest snapshot is recent
    (without `now`: as of the allocator's last report)."""
    desired, observed = Desired(row.desired_state), Observed(row.observed_state)
    healthy = is_healthy(desired, observed, row.healthy)
    host = endpoints.host(row)
    url = f"https://{host}:{endpoints.port}"
    modified = (row.observed_at or row.updated_at).isoformat()
    metadata: dict[str, Any] = {
        "version": row.revision,
        "last_modified": modified,
        "endpoint": host,
        "service_url": url,
        "cloud_id": endpoints.cloud_id(row),
        "ports": {"http": endpoints.port, "https": endpoints.port, "transport_passthrough": 0},
    }
    if row.alias:
        metadata["aliased_endpoint"] = endpoints.host(row, by_alias=True)
        metadata["aliased_url"] = f"https://{metadata['aliased_endpoint']}:{endpoints.port}"
    info = {
        "cluster_id": row.id,
        "cluster_name": row.name,
        "deployment_id": row.id,
        "region": row.region,
        "healthy": healthy,
        "status": status(desired, observed),
        "plan_info": {"healthy": True, "history": []},
        "elasticsearch": {
            "healthy": healthy,
            "shard_info": {
                "healthy": healthy,
                "available_shards": [],
                "unavailable_shards": [],
                "unavailable_replicas": [],
            },
            "master_info": {"healthy": healthy, "masters": [], "instances_with_no_master": []},
            "blocking_issues": {"healthy": True, "cluster_level": [], "index_level": []},
        },
        "metadata": metadata,
        "topology": {"healthy": healthy, "instances": []},
        "snapshots": snapshots.status(
            row,
            now=now or row.observed_at or row.updated_at,
            interval_s=snapshot_interval_s,
        ),
        "external_links": [],
        "associated_kibana_clusters": [],
        "associated_apm_clusters": [],
        "associated_appsearch_clusters": [],
        "associated_enterprise_search_clusters": [],
    }
    body: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "healthy": healthy,
        "resources": {
            "elasticsearch": [
                {"ref_id": row.ref_id, "id": row.id, "region": row.region, "info": info}
            ],
            "kibana": [],
            "apm": [],
            "appsearch": [],
            "enterprise_search": [],
            "integrations_server": [],
        },
        "settings": {
            "traffic_filter_settings": {"rulesets": rulesets},
            "auto_ops": {"status": "not_connected"},
        },
        "metadata": {"tags": list(row.tags), "byok_enabled": row.key_manager_id is not None},
    }
    if row.alias:
        body["alias"] = row.alias
    if row.key_manager_id is not None:
        body["settings"]["byok"] = {
            "key_resource_path": row.key_path,
            "key_manager_id": row.key_manager_id,
        }
    if observed is Observed.LOCKED:
        info["locked"] = {"reason": row.observed_detail or "the customer key is unavailable"}
    restored = snapshots.restored_from(row)
    if restored is not None:
        info["restored_from"] = restored
    return DeploymentGetOut.model_validate(body)


# --- internal API (ADR 9) ------------------------------------------------------------------


class StatusIn(StrictModel):
    observed_state: Observed
    healthy: bool
    detail: str = Field(default="", max_length=4096)
    elastic_password_applied: bool = False

    model_config = ConfigDict(extra="forbid", strict=False)


class NodeCsrIn(StrictModel):
    csr: str = Field(min_length=1, max_length=16_384)
