"""``_xpack`` (what the node offers, honestly), ``_license`` (a basic license, never replaced)
and ``_health_report`` (indicators the node can compute: master, shards, disk, capacity,
repositories; the ones for features it lacks, such as ILM and SLM, are left out).
"""

from __future__ import annotations

import uuid
from typing import Any

from citadel.node import cluster_health as ch
from citadel.node import local_node
from citadel.node.errors import IllegalArgument, ResourceNotFound
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import Router, cluster
from citadel.node.http.routes_cat import all_health
from citadel.node.http.routes_cluster import check_params
from citadel.node.services import NodeServices

MONITOR = cluster("monitor")
MANAGE = cluster("manage")
# Features Elasticsearch's _xpack lists; the node offers security and data streams only.
OFFERED = frozenset({"security", "data_streams"})
FEATURES = (
    "aggregate_metric",
    "analytics",
    "archive",
    "ccr",
    "data_streams",
    "data_tiers",
    "enrich",
    "enterprise_search",
    "eql",
    "esql",
    "frozen_indices",
    "graph",
    "ilm",
    "logstash",
    "ml",
    "monitoring",
    "rollup",
    "searchable_snapshots",
    "security",
    "slm",
    "spatial",
    "sql",
    "transform",
    "universal_profiling",
    "voting_only",
    "watcher",
)
HIGH_WATERMARK = 90
FLOOD_STAGE = 95
MAX_SHARDS = 1000
INDICATORS = (
    "master_is_stable",
    "shards_availability",
    "disk",
    "shards_capacity",
    "repository_integrity",
)


def register(router: Router, services: NodeServices) -> None:
    """Add this area's routes to `router`."""
    router.add("GET", "/_xpack", lambda r: xpack(services, r), MONITOR)
    router.add("GET", "/_license", lambda r: get_license(services, r), MONITOR)
    router.add("PUT", "/_license", refuse_license, MANAGE)
    router.add("POST", "/_license", refuse_license, MANAGE)
    router.add("DELETE", "/_license", delete_license, MANAGE)
    router.add("GET", "/_license/basic_status", basic_status, MONITOR)
    router.add("GET", "/_license/trial_status", trial_status, MONITOR)
    router.add("POST", "/_license/start_basic", start_basic, MANAGE)
    router.add("POST", "/_license/start_trial", start_trial, MANAGE)
    router.add("GET", "/_health_report", lambda r: health_report(services, r), MONITOR)
    router.add("GET", "/_health_report/{feature}", lambda r: health_report(services, r), MONITOR)


def license_uid(services: NodeServices) -> str:
    """The basic license's uid (derived from the cluster uuid: the same for the cluster's life)."""
    return str(
        uuid.uuid5(uuid.NAMESPACE_URL, "citadel-basic-license:" + services.info.cluster_uuid)
    )


def xpack(services: NodeServices, request: NodeRequest) -> NodeResponse:
    """``GET /_xpack``: build, license, and which features are available and enabled."""
    check_params(request, {"categories", "accept_enterprise", "human"})
    raw = request.query.get("categories", "build,license,features")
    categories = {c.strip() for c in raw.split(",") if c.strip()}
    unknown = sorted(categories - {"build", "license", "features", "_none"})
    if unknown:
        raise IllegalArgument(f"Unknown category [{unknown[0]}]")
    body: dict[str, Any] = {}
    if "build" in categories:
        body["build"] = {"hash": "citadel", "date": "2024-08-05T10:05:34.233336849Z"}
    if "license" in categories:
        body["license"] = {
            "uid": license_uid(services),
            "type": "basic",
            "mode": "basic",
            "status": "active",
        }
    if "features" in categories:
        body["features"] = {
            name: {"available": name in OFFERED, "enabled": name in OFFERED} for name in FEATURES
        }
    body["tagline"] = "You know, for X"
    return NodeResponse(body=body)


def get_license(services: NodeServices, request: NodeRequest) -> NodeResponse:
    """``GET /_license``: the basic license the node runs under (no expiry)."""
    check_params(request, {"local", "accept_enterprise"})
    return NodeResponse(
        body={
            "license": {
                "status": "active",
                "uid": license_uid(services),
                "type": "basic",
                "max_nodes": 1000,
                "max_resource_units": None,
                "issued_to": services.info.cluster_name,
                "issuer": "elasticsearch",
                "start_date_in_millis": -1,
            }
        }
    )


def refuse_license(request: NodeRequest) -> NodeResponse:
    """Installing a license is not supported."""
    raise IllegalArgument(
        "installing a license is not supported: this node runs under the basic license"
    )


def delete_license(request: NodeRequest) -> NodeResponse:
    """Deleting reverts to basic, which is what the node already runs."""
    check_params(request, {"master_timeout", "timeout"})
    return NodeResponse(body={"acknowledged": True})


def basic_status(request: NodeRequest) -> NodeResponse:
    """Already basic: not eligible to start it."""
    check_params(request, set())
    return NodeResponse(body={"eligible_to_start_basic": False})


def trial_status(request: NodeRequest) -> NodeResponse:
    """Trials are not offered."""
    check_params(request, set())
    return NodeResponse(body={"eligible_to_start_trial": False})


def start_basic(request: NodeRequest) -> NodeResponse:
    """Elasticsearch's 403 answer when the license is basic already."""
    check_params(request, {"acknowledge", "master_timeout", "timeout"})
    return NodeResponse(
        status=403,
        body={
            "acknowledged": True,
            "basic_was_started": False,
            "error_message": "Operation failed: Current license is basic.",
        },
    )


def start_trial(request: NodeRequest) -> NodeResponse:
    """Trials are not offered: Elasticsearch's 403 answer for an ineligible cluster."""
    check_params(request, {"acknowledge", "type", "master_timeout", "type_query_string"})
    return NodeResponse(
        status=403,
        body={
            "acknowledged": True,
            "trial_was_started": False,
            "error_message": "Operation failed: trial licenses are not offered by this node.",
        },
    )


# -- health report ---------------------------------------------------------------------------


def health_report(services: NodeServices, request: NodeRequest) -> NodeResponse:
    """``_health_report[/{feature}]``: the indicators this node computes."""
    check_params(request, {"verbose", "size", "timeout"})
    feature = request.params.get("feature")
    if feature is not None and feature not in INDICATORS:
        raise ResourceNotFound(f"Did not find indicator {feature}")
    verbose = request.flag("verbose", default=True)
    health = all_health(services)
    host = local_node.host_facts(services.engine.root)
    indicators = {
        "master_is_stable": _indicator(ch.GREEN, "The cluster has a stable master node"),
        "shards_availability": _shards(health),
        "disk": _disk(host.disk_percent or 0),
        "shards_capacity": _indicator(
            ch.GREEN if health.active_shards < MAX_SHARDS else ch.YELLOW,
            "The cluster has enough room to add new shards."
            if health.active_shards < MAX_SHARDS
            else "Cluster is close to reaching the configured maximum number of shards for data "
            "nodes.",
            {
                "data": {
                    "max_shards_in_cluster": MAX_SHARDS,
                    "current_used_shards": health.active_shards,
                }
            },
        ),
        "repository_integrity": _indicator(ch.GREEN, "No snapshot repositories configured."),
    }
    if not verbose:
        for indicator in indicators.values():
            indicator.pop("details", None)
    if feature is not None:
        indicators = {feature: indicators[feature]}
    body: dict[str, Any] = {"cluster_name": services.info.cluster_name}
    if feature is None:
        body["status"] = max(
            (i["status"] for i in indicators.values()),
            key=lambda s: (ch.GREEN, ch.YELLOW, ch.RED).index(s),
        )
    body["indicators"] = indicators
    return NodeResponse(body=body)


def _indicator(status: str, symptom: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"status": status, "symptom": symptom}
    if details is not None:
        out["details"] = details
    return out


def _shards(health: ch.ClusterHealth) -> dict[str, Any]:
    replicas = health.unassigned_shards
    details = {
        "unassigned_primaries": 0,
        "initializing_primaries": 0,
        "creating_primaries": 0,
        "restarting_primaries": 0,
        "started_primaries": health.active_shards,
        "unassigned_replicas": replicas,
        "initializing_replicas": 0,
        "creating_replicas": 0,
        "restarting_replicas": 0,
        "started_replicas": 0,
    }
    if not replicas:
        return _indicator(ch.GREEN, "This cluster has all shards available.", details)
    return _indicator(
        ch.YELLOW,
        f"This cluster has {replicas} unavailable replica shard{'s' if replicas > 1 else ''}.",
        details,
    )


def _disk(percent: int) -> dict[str, Any]:
    over_high = percent >= HIGH_WATERMARK
    over_flood = percent >= FLOOD_STAGE
    details = {
        "indices_with_readonly_block": 0,
        "nodes_with_enough_disk_space": 0 if over_high else 1,
        "nodes_with_unknown_disk_status": 0,
        "nodes_over_high_watermark": 1 if over_high and not over_flood else 0,
        "nodes_over_flood_stage_watermark": 1 if over_flood else 0,
    }
    if over_flood:
        return _indicator(ch.RED, "1 node is out of disk or running low on disk space.", details)
    if over_high:
        return _indicator(ch.YELLOW, "1 node is out of disk or running low on disk space.", details)
    return _indicator(ch.GREEN, "The cluster has enough available disk space.", details)
