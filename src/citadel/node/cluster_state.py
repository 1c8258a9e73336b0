"""``_cluster/state`` of the one-node cluster, built from the catalog. Pure: no I/O.

Metrics: ``master_node``, ``blocks``, ``nodes``, ``metadata``, ``routing_table``,
``routing_nodes`` (and ``_all``). The node does not number cluster-state versions or election
terms, so ``version``, ``state_uuid`` and the coordination ``term`` are not reported (asking
for the ``version`` metric is a 400). Allocation ids are derived from the index uuid, stable for
the index's life.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from citadel.node import cluster_health as ch
from citadel.node import local_node
from citadel.node.errors import IllegalArgument
from citadel.node.store.indices import IndexRecord, settings_view

METRICS = ("master_node", "blocks", "nodes", "metadata", "routing_table", "routing_nodes")
INDEX_VERSION = "8512000"
_BLOCKS = {
    "index.blocks.read_only": (
        "5",
        {
            "description": "index read-only (api)",
            "retryable": False,
            "levels": ["write", "metadata_write"],
        },
    ),
    "index.blocks.read": (
        "7",
        {"description": "index read (api)", "retryable": False, "levels": ["read"]},
    ),
    "index.blocks.write": (
        "8",
        {"description": "index write (api)", "retryable": False, "levels": ["write"]},
    ),
    "index.blocks.metadata": (
        "9",
        {
            "description": "index metadata (api)",
            "retryable": False,
            "levels": ["metadata_read", "metadata_write"],
        },
    ),
}
_CLOSED_BLOCK = (
    "4",
    {"description": "index closed", "retryable": False, "levels": ["read", "write"]},
)


def parse_metrics(spec: str | None) -> tuple[str, ...]:
    """The metrics a path asks for (all without one); 400 naming an unknown or unsupported one."""
    if spec is None:
        return METRICS
    out: list[str] = []
    for metric in (m.strip() for m in spec.split(",") if m.strip()):
        if metric == "_all":
            return METRICS
        if metric == "version":
            raise IllegalArgument(
                "metric [version] is not supported: this node does not number cluster states"
            )
        if metric not in METRICS:
            raise IllegalArgument(
                f"Unknown metric [{metric}]; expected one of {', '.join(METRICS)}"
            )
        out.append(metric)
    return tuple(out)


@dataclass(frozen=True)
class StateInput:
    """Everything a cluster state shows."""

    cluster_name: str
    cluster_uuid: str
    node: local_node.LocalNode
    records: Sequence[IndexRecord]
    exclusions: Sequence[Mapping[str, str]]


def allocation_id(record: IndexRecord) -> str:
    """The primary's allocation id (derived from the index uuid)."""
    digest = hashlib.sha256(b"allocation:" + record.uuid.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()[:22]


def node_entry(node: local_node.LocalNode) -> dict[str, Any]:
    """The node as ``nodes`` lists it."""
    return {
        "name": node.name,
        "ephemeral_id": node.ephemeral_id,
        "external_id": node.name,
        "attributes": dict(local_node.ATTRIBUTES),
        "roles": list(local_node.ROLES),
        "version": node.version,
        "min_index_version": 7000099,
        "max_index_version": int(INDEX_VERSION),
    }


def primary_routing(record: IndexRecord, node_id: str) -> dict[str, Any]:
    """The started primary's routing entry."""
    return {
        "state": "STARTED",
        "primary": True,
        "node": node_id,
        "relocating_node": None,
        "shard": 0,
        "index": record.name,
        "allocation_id": {"id": allocation_id(record)},
    }


def replica_routing(record: IndexRecord) -> dict[str, Any]:
    """An unassignable replica's routing entry."""
    created = datetime.fromtimestamp(record.created_at / 1000, UTC)
    return {
        "state": "UNASSIGNED",
        "primary": False,
        "node": None,
        "relocating_node": None,
        "shard": 0,
        "index": record.name,
        "recovery_source": {"type": "PEER"},
        "unassigned_info": {
            "reason": "INDEX_CREATED",
            "at": created.strftime("%Y-%m-%dT%H:%M:%S.") + f"{created.microsecond // 1000:03d}Z",
            "delayed": False,
            "allocation_status": "no_attempt",
        },
    }


def routing(record: IndexRecord, node_id: str) -> list[dict[str, Any]]:
    """Shard 0's copies: the primary, then its replicas."""
    replicas = ch.replicas(record.settings)
    return [primary_routing(record, node_id)] + [replica_routing(record)] * replicas


def state(
    data: StateInput, metrics: Iterable[str], *, flat_settings: bool = False
) -> dict[str, Any]:
    """The cluster state body for `metrics`."""
    wanted = set(metrics)
    node = data.node
    records = sorted(data.records, key=lambda r: r.name)
    body: dict[str, Any] = {"cluster_name": data.cluster_name, "cluster_uuid": data.cluster_uuid}
    if "master_node" in wanted:
        body["master_node"] = node.id
    if "blocks" in wanted:
        body["blocks"] = blocks(records)
    if "nodes" in wanted:
        body["nodes"] = {node.id: node_entry(node)}
    if "metadata" in wanted:
        body["metadata"] = metadata(data, records, flat_settings=flat_settings)
    if "routing_table" in wanted:
        body["routing_table"] = {
            "indices": {r.name: {"shards": {"0": routing(r, node.id)}} for r in records}
        }
    if "routing_nodes" in wanted:
        body["routing_nodes"] = {
            "unassigned": [s for r in records for s in routing(r, node.id)[1:]],
            "nodes": {node.id: [primary_routing(r, node.id) for r in records]},
        }
    return body


def blocks(records: Iterable[IndexRecord]) -> dict[str, Any]:
    """Index blocks from closed indices and ``index.blocks.*`` settings."""
    out: dict[str, Any] = {}
    for record in records:
        entry = {}
        if getattr(record, "closed", False):
            entry[_CLOSED_BLOCK[0]] = _CLOSED_BLOCK[1]
        for setting, (block_id, block) in _BLOCKS.items():
            if str(record.settings.get(setting, "false")) == "true":
                entry[block_id] = block
        if entry:
            out[record.name] = entry
    return {"indices": out} if out else {}


def metadata(
    data: StateInput, records: Sequence[IndexRecord], *, flat_settings: bool
) -> dict[str, Any]:
    """The ``metadata`` section: coordination, settings, indices."""
    config = [data.node.id]
    return {
        "cluster_uuid": data.cluster_uuid,
        "cluster_uuid_committed": True,
        "cluster_coordination": {
            "last_committed_config": config,
            "last_accepted_config": config,
            "voting_config_exclusions": [dict(e) for e in data.exclusions],
        },
        "templates": {},
        "indices": {r.name: index_metadata(r, flat_settings=flat_settings) for r in records},
        "index-graveyard": {"tombstones": []},
    }


def index_metadata(record: IndexRecord, *, flat_settings: bool) -> dict[str, Any]:
    """One index in ``metadata.indices``."""
    return {
        "state": "close" if getattr(record, "closed", False) else "open",
        "settings": settings_view(record, flat=flat_settings),
        "mappings": {"_doc": record.mappings} if record.mappings else {},
        "aliases": sorted(getattr(record, "aliases", {}) or {}),
        "in_sync_allocations": {"0": [allocation_id(record)]},
        "rollover_info": {},
        "system": False,
    }
