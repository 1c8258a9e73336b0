"""Shard allocation on one node, and the health it gives. Pure: no I/O.

Every index has one primary shard, always started on this node. Replicas can never be
assigned (a copy may not live on the node holding its primary), so an index asking for
replicas is yellow with that many unassigned shards, exactly as a one-node Elasticsearch
cluster reports it; ``index.auto_expand_replicas`` expands to zero here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GREEN, YELLOW, RED = "green", "yellow", "red"
_ORDER = {GREEN: 0, YELLOW: 1, RED: 2}
DEFAULT_REPLICAS = 1


def replicas(settings: Mapping[str, Any]) -> int:
    """The replicas an index asks for on a one-node cluster."""
    auto = str(settings.get("index.auto_expand_replicas", "false"))
    if auto != "false":
        low = auto.partition("-")[0]
        return int(low) if low.isdigit() else 0
    try:
        return max(0, int(settings.get("index.number_of_replicas", DEFAULT_REPLICAS)))
    except (TypeError, ValueError):
        return DEFAULT_REPLICAS


@dataclass(frozen=True)
class IndexHealth:
    """One index's shards: one started primary and its unassignable replicas."""

    name: str
    replicas: int

    @property
    def status(self) -> str:
        """Green with no replicas asked for, yellow otherwise."""
        return GREEN if self.replicas == 0 else YELLOW

    def body(self) -> dict[str, Any]:
        """The index's entry in ``_cluster/health?level=indices``."""
        return {
            "status": self.status,
            "number_of_shards": 1,
            "number_of_replicas": self.replicas,
            "active_primary_shards": 1,
            "active_shards": 1,
            "relocating_shards": 0,
            "initializing_shards": 0,
            "unassigned_shards": self.replicas,
            "unassigned_primary_shards": 0,
        }

    def shard_body(self) -> dict[str, Any]:
        """Shard 0's entry in ``_cluster/health?level=shards``."""
        return {
            "status": self.status,
            "primary_active": True,
            "active_shards": 1,
            "relocating_shards": 0,
            "initializing_shards": 0,
            "unassigned_shards": self.replicas,
            "unassigned_primary_shards": 0,
        }


def index_health(name: str, settings: Mapping[str, Any]) -> IndexHealth:
    """The health of one index from its settings."""
    return IndexHealth(name, replicas(settings))


@dataclass(frozen=True)
class ClusterHealth:
    """The health of a set of indices on the one node."""

    indices: tuple[IndexHealth, ...]

    @property
    def status(self) -> str:
        """The worst index status (green with no indices)."""
        return max((i.status for i in self.indices), key=_ORDER.__getitem__, default=GREEN)

    @property
    def active_shards(self) -> int:
        """Started shards: one primary per index."""
        return len(self.indices)

    @property
    def unassigned_shards(self) -> int:
        """Replicas that cannot be assigned."""
        return sum(i.replicas for i in self.indices)

    @property
    def active_percent(self) -> float:
        """Started shards as a percent of all shards (100.0 with none)."""
        total = self.active_shards + self.unassigned_shards
        return 100.0 if total == 0 else 100.0 * self.active_shards / total


def cluster_health(indices: Iterable[IndexHealth]) -> ClusterHealth:
    """The health of these indices, sorted by name."""
    return ClusterHealth(tuple(sorted(indices, key=lambda i: i.name)))


def worse_than(status: str, wanted: str) -> bool:
    """Whether `status` is worse than the status a ``wait_for_status`` asks for."""
    return _ORDER[status] > _ORDER[wanted]
