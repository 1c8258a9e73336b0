"""``GET /``, ``_cluster/*`` (health, settings, state, stats, pending tasks, allocation
explain, reroute, voting config exclusions), ``_remote/info``, ``_dangling`` and ``_features``.

Reading needs the ``monitor`` cluster privilege; changing settings, rerouting and voting
exclusions need ``manage``. Health follows `citadel.node.cluster_health`: one started primary
per index, replicas unassignable (yellow), as on a one-node Elasticsearch cluster.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from citadel.node import cluster_health as ch
from citadel.node import cluster_state, features, local_node, project
from citadel.node.errors import (
    ActionRequestValidation,
    EsError,
    IllegalArgument,
    IndexNotFound,
    XContentParseError,
)
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import Router, cluster
from citadel.node.services import LUCENE_VERSION, NodeServices
from citadel.node.shard_stats import shard_stats
from citadel.node.store import cluster_settings as cs
from citadel.node.store import indices

MONITOR = cluster("monitor")
MANAGE = cluster("manage")
MAX_WAIT_S = 60.0
_MASTER_PARAMS = frozenset({"master_timeout", "timeout", "local"})
_NO_UNASSIGNED = (
    "No shard was specified in the request which means the response should explain a "
    "randomly-chosen unassigned shard, but there are no unassigned shards in this cluster. To "
    "explain the allocation of an assigned shard you must specify the target shard in the "
    "request. See https://www.elastic.co/guide/en/elasticsearch/reference/8.15/"
    "cluster-allocation-explain.html for more information."
)


class Timeout(EsError):
    type = "timeout_exception"
    status = 408


def register(router: Router, services: NodeServices) -> None:
    """Add this area's routes to `router`."""
    area = ClusterRoutes(services)
    router.add("GET", "/", lambda r: root(services), MONITOR)
    router.add("GET", "/_cluster/health", area.health, MONITOR)
    router.add("GET", "/_cluster/health/{index}", area.health, MONITOR)
    router.add("GET", "/_cluster/settings", area.get_settings, MONITOR)
    router.add("PUT", "/_cluster/settings", area.put_settings, MANAGE)
    router.add("GET", "/_cluster/state", area.state, MONITOR)
    router.add("GET", "/_cluster/state/{metric}", area.state, MONITOR)
    router.add("GET", "/_cluster/state/{metric}/{index}", area.state, MONITOR)
    router.add("GET", "/_cluster/stats", area.stats, MONITOR)
    router.add("GET", "/_cluster/stats/nodes/{node_id}", area.stats, MONITOR)
    router.add("GET", "/_cluster/pending_tasks", area.pending_tasks, MONITOR)
    router.add("GET", "/_cluster/allocation/explain", area.allocation_explain, MONITOR)
    router.add("POST", "/_cluster/allocation/explain", area.allocation_explain, MONITOR)
    router.add("POST", "/_cluster/reroute", area.reroute, MANAGE)
    router.add("POST", "/_cluster/voting_config_exclusions", area.add_exclusions, MANAGE)
    router.add("DELETE", "/_cluster/voting_config_exclusions", area.clear_exclusions, MANAGE)
    router.add("GET", "/_remote/info", area.remote_info, MONITOR)
    router.add("GET", "/_dangling", area.dangling, MONITOR)
    router.add("GET", "/_features", area.features, MONITOR)
    router.add("POST", "/_features/_reset", area.reset_features, MANAGE)


def root(services: NodeServices) -> NodeResponse:
    """Who this node is (a project's node answers as Elastic's serverless projects do)."""
    info = services.info
    if info.project_type is not None:
        return NodeResponse(
            body=project.root_body(
                info.node_name, info.cluster_name, info.cluster_uuid, LUCENE_VERSION
            )
        )
    return NodeResponse(
        body={
            "name": info.node_name,
            "cluster_name": info.cluster_name,
            "cluster_uuid": info.cluster_uuid,
            "version": {
                "number": info.version,
                "build_flavor": "default",
                "build_type": "citadel",
                "build_hash": "citadel",
                "build_date": "2024-08-05T10:05:34.233336849Z",
                "build_snapshot": False,
                "lucene_version": LUCENE_VERSION,
                "minimum_wire_compatibility_version": "7.17.0",
                "minimum_index_compatibility_version": "7.0.0",
            },
            "tagline": "You Know, for Search",
        }
    )


def check_params(request: NodeRequest, allowed: Iterable[str]) -> None:
    """Elasticsearch's 400 for a query parameter the API does not know."""
    known = set(allowed)
    for name in sorted(request.query):
        if name not in known:
            raise IllegalArgument(
                f"request [{request.path}] contains unrecognized parameter: [{name}]"
            )


def parse_seconds(text: str | None, name: str, default: float) -> float:
    """A time value (``30s``, ``500ms``, ``1m``) in seconds; 400 when unparsable."""
    if text is None:
        return default
    units = (
        ("micros", 1e-6),
        ("nanos", 1e-9),
        ("ms", 1e-3),
        ("s", 1.0),
        ("m", 60.0),
        ("h", 3600.0),
        ("d", 86400.0),
    )
    if text == "-1":
        return float("inf")
    for suffix, scale in units:
        number = text[: -len(suffix)]
        if text.endswith(suffix) and number.replace(".", "", 1).isdigit():
            return float(number) * scale
    raise IllegalArgument(
        f"failed to parse setting [{name}] with value [{text}] as a time value: unit is missing "
        "or unrecognized"
    )


class ClusterRoutes:
    """The cluster APIs over the node's services (transient settings live here)."""

    def __init__(self, services: NodeServices) -> None:
        self.services = services
        self.transient = cs.Transient()

    @property
    def node(self) -> local_node.LocalNode:
        return local_node.of(self.services.info, self.services.clock)

    def _records(self, expression: str | None = None, **flags: Any) -> list[indices.IndexRecord]:
        with self.services.store.read() as conn:
            return indices.resolve(conn, expression, **flags)

    # -- health ------------------------------------------------------------------------------

    def health(self, request: NodeRequest) -> NodeResponse:
        """``_cluster/health``: waits (bounded) for what ``wait_for_*`` asks, then answers."""
        check_params(
            request,
            _MASTER_PARAMS
            | {
                "level",
                "wait_for_status",
                "wait_for_nodes",
                "wait_for_active_shards",
                "wait_for_no_relocating_shards",
                "wait_for_no_initializing_shards",
                "wait_for_events",
                "expand_wildcards",
            },
        )
        level = request.query.get("level", "cluster")
        if level not in ("cluster", "indices", "shards"):
            raise IllegalArgument(f"No enum constant for level [{level}]")
        wanted = request.query.get("wait_for_status")
        if wanted is not None and wanted not in (ch.GREEN, ch.YELLOW, ch.RED):
            raise IllegalArgument(f"unknown cluster health status [{wanted}]")
        events = request.query.get("wait_for_events")
        if events is not None and events not in (
            "immediate",
            "urgent",
            "high",
            "normal",
            "low",
            "languid",
        ):
            raise IllegalArgument(f"No enum constant for wait_for_events [{events}]")
        nodes = _node_condition(request.query.get("wait_for_nodes"))
        shards = _active_shards_condition(request.query.get("wait_for_active_shards"))
        timeout = parse_seconds(request.query.get("timeout"), "timeout", 30.0)
        deadline = time.monotonic() + min(timeout, MAX_WAIT_S)
        while True:
            health, missing = self._health_of(request.params.get("index"))
            satisfied = (
                not missing
                and (wanted is None or not ch.worse_than(health.status, wanted))
                and nodes(1)
                and shards(health)
            )
            if satisfied or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        waited = any(
            request.query.get(p) is not None
            for p in ("wait_for_status", "wait_for_nodes", "wait_for_active_shards")
        ) or bool(missing)
        timed_out = waited and not satisfied
        status = ch.RED if missing else health.status
        body = self._health_body(health, status, timed_out)
        if level in ("indices", "shards"):
            body["indices"] = {
                i.name: i.body() | ({"shards": {"0": i.shard_body()}} if level == "shards" else {})
                for i in health.indices
            }
        return NodeResponse(status=408 if timed_out else 200, body=body)

    def _health_of(self, expression: str | None) -> tuple[ch.ClusterHealth, bool]:
        """The health of the named indices, and whether a concrete name does not exist (yet)."""
        try:
            records = self._records(expression, expand_hidden=True, expand_closed=True)
        except IndexNotFound:
            return ch.cluster_health(()), True
        return ch.cluster_health(ch.index_health(r.name, r.settings) for r in records), False

    def _health_body(
        self, health: ch.ClusterHealth, status: str, timed_out: bool
    ) -> dict[str, Any]:
        return {
            "cluster_name": self.services.info.cluster_name,
            "status": status,
            "timed_out": timed_out,
            "number_of_nodes": 1,
            "number_of_data_nodes": 1,
            "active_primary_shards": health.active_shards,
            "active_shards": health.active_shards,
            "relocating_shards": 0,
            "initializing_shards": 0,
            "unassigned_shards": health.unassigned_shards,
            "unassigned_primary_shards": 0,
            "delayed_unassigned_shards": 0,
            "number_of_pending_tasks": 0,
            "number_of_in_flight_fetch": 0,
            "task_max_waiting_in_queue_millis": 0,
            "active_shards_percent_as_number": health.active_percent,
        }

    # -- settings ----------------------------------------------------------------------------

    def get_settings(self, request: NodeRequest) -> NodeResponse:
        """``GET _cluster/settings`` (``include_defaults``, ``flat_settings``)."""
        check_params(request, _MASTER_PARAMS | {"flat_settings", "include_defaults"})
        with self.services.store.read() as conn:
            persistent = cs.load_persistent(conn)
        transient = self.transient.get()
        view = _settings_view(request.flag("flat_settings"))
        body = {"persistent": view(persistent), "transient": view(transient)}
        if request.flag("include_defaults"):
            defaults = {
                k: v for k, v in cs.DEFAULTS.items() if k not in persistent and k not in transient
            }
            body["defaults"] = view(defaults)
        return NodeResponse(body=body)

    def put_settings(self, request: NodeRequest) -> NodeResponse:
        """``PUT _cluster/settings``: only settings the node honours take values."""
        check_params(request, _MASTER_PARAMS | {"flat_settings"})
        update = cs.parse_update(request.json(required=True))
        with self.services.store.write() as conn:
            cs.save_persistent(conn, cs.apply(cs.load_persistent(conn), update.persistent))
        self.transient.update(update.transient)
        view = _settings_view(request.flag("flat_settings"))
        return NodeResponse(
            body={
                "acknowledged": True,
                "persistent": view({k: v for k, v in update.persistent.items() if v is not None}),
                "transient": view({k: v for k, v in update.transient.items() if v is not None}),
            }
        )

    def _setting(self, name: str) -> str:
        with self.services.store.read() as conn:
            persistent = cs.load_persistent(conn)
        return cs.effective(persistent, self.transient.get(), name)

    # -- state -------------------------------------------------------------------------------

    def _state_input(self, records: list[indices.IndexRecord]) -> cluster_state.StateInput:
        with self.services.store.read() as conn:
            exclusions = cs.load_exclusions(conn)
        info = self.services.info
        return cluster_state.StateInput(
            info.cluster_name, info.cluster_uuid, self.node, records, exclusions
        )

    def state(self, request: NodeRequest) -> NodeResponse:
        """``_cluster/state[/{metric}[/{index}]]``."""
        check_params(
            request,
            _MASTER_PARAMS
            | {
                "flat_settings",
                "expand_wildcards",
                "ignore_unavailable",
                "allow_no_indices",
                "wait_for_metadata_version",
                "wait_for_timeout",
            },
        )
        if request.query.get("wait_for_metadata_version") is not None:
            raise IllegalArgument(
                "[wait_for_metadata_version] is not supported: this node does not number "
                "cluster states"
            )
        metrics = cluster_state.parse_metrics(request.params.get("metric"))
        records = self._records(
            request.params.get("index"),
            expand_hidden=True,
            expand_closed=True,
            ignore_unavailable=request.flag("ignore_unavailable"),
        )
        body = cluster_state.state(
            self._state_input(records), metrics, flat_settings=request.flag("flat_settings")
        )
        return NodeResponse(body=body)

    # -- stats -------------------------------------------------------------------------------

    def stats(self, request: NodeRequest) -> NodeResponse:
        """``_cluster/stats``: indices, shards, documents, store, field types, the node."""
        check_params(request, {"timeout", "flat_settings", "include_remotes"})
        _check_node_filter(request.params.get("node_id"), self.node)
        records = self._records(None, expand_hidden=True, expand_closed=True)
        health = ch.cluster_health(ch.index_health(r.name, r.settings) for r in records)
        stats = [s for r in records if (s := shard_stats(self.services.engine, r)) is not None]
        host = local_node.host_facts(self.services.engine.root)
        count = len(records)
        shard_counts = (
            {"min": 1, "max": 1, "avg": 1.0} if count else {"min": 0, "max": 0, "avg": 0.0}
        )
        body = {
            "_nodes": {"total": 1, "successful": 1, "failed": 0},
            "cluster_name": self.services.info.cluster_name,
            "cluster_uuid": self.services.info.cluster_uuid,
            "timestamp": int(self.services.clock.now().timestamp() * 1000),
            "status": health.status,
            "indices": {
                "count": count,
                "shards": {
                    "total": count,
                    "primaries": count,
                    "replication": 0.0,
                    "index": {
                        "shards": shard_counts,
                        "primaries": shard_counts,
                        "replication": {"min": 0.0, "max": 0.0, "avg": 0.0},
                    },
                }
                if count
                else {},
                "docs": {
                    "count": sum(s.docs for s in stats),
                    "deleted": sum(s.deleted for s in stats),
                },
                "store": {
                    "size_in_bytes": sum(s.bytes for s in stats),
                    "total_data_set_size_in_bytes": sum(s.bytes for s in stats),
                    "reserved_in_bytes": 0,
                },
                "segments": {"count": sum(len(s.segments) for s in stats)},
                "mappings": {"field_types": field_types(records)},
            },
            "nodes": {
                "count": {"total": 1, "data": 1, "master": 1},
                "versions": [self.services.info.version],
                "os": {
                    "available_processors": host.cpus,
                    "allocated_processors": host.cpus,
                    "names": [{"name": host.os_name, "count": 1}],
                    "mem": _memory(host),
                },
                "process": {
                    "cpu": {"percent": host.cpu_percent or 0},
                    "open_file_descriptors": {
                        "min": host.open_fds or 0,
                        "max": host.open_fds or 0,
                        "avg": host.open_fds or 0,
                    },
                },
                "fs": {
                    "total_in_bytes": host.disk_total,
                    "free_in_bytes": host.disk_free,
                    "available_in_bytes": host.disk_free,
                },
                "plugins": [],
                "discovery_types": {"single-node": 1},
                "ingest": {"number_of_pipelines": 0, "processor_stats": {}},
            },
        }
        return NodeResponse(body=body)

    # -- tasks, allocation, reroute ----------------------------------------------------------

    def pending_tasks(self, request: NodeRequest) -> NodeResponse:
        """No cluster-state update ever waits on one node: none pending."""
        check_params(request, _MASTER_PARAMS)
        return NodeResponse(body={"tasks": []})

    def allocation_explain(self, request: NodeRequest) -> NodeResponse:
        """Why a shard is where it is (or, for a replica, why it cannot be anywhere)."""
        check_params(request, _MASTER_PARAMS | {"include_yes_decisions", "include_disk_info"})
        body = request.json() or {}
        if not isinstance(body, Mapping):
            raise XContentParseError("request body must be an object")
        unknown = sorted(set(body) - {"index", "shard", "primary", "current_node"})
        if unknown:
            raise XContentParseError(f"[cluster/allocation/explain] unknown field [{unknown[0]}]")
        records = self._records(None, expand_hidden=True, expand_closed=True)
        if not body:
            unassigned = [
                r for r in sorted(records, key=lambda r: r.name) if ch.replicas(r.settings)
            ]
            if not unassigned:
                raise IllegalArgument(_NO_UNASSIGNED)
            return NodeResponse(body=self._explain_replica(unassigned[0]))
        if body.get("index") is None or body.get("shard") is None or body.get("primary") is None:
            raise ActionRequestValidation(
                "Validation Failed: 1: index, shard and primary must all be set (or none of them);"
            )
        name = str(body["index"])
        record = _by_name(records, name)
        if record is None:
            raise IndexNotFound(name)
        if body["shard"] != 0:
            raise IllegalArgument(f"No shard was found for index [{name}] shard [{body['shard']}]")
        current = body.get("current_node")
        if current is not None and current not in (self.node.id, self.node.name):
            raise IllegalArgument(f"unable to find node [{current}] in the cluster")
        if body["primary"] is True:
            return NodeResponse(body=self._explain_primary(record))
        if not ch.replicas(record.settings):
            raise IllegalArgument(
                f"unable to find a replica shard assigned to node [{self.node.id}]"
                if current is not None
                else f"unable to find any replica shards for [{name}][0]"
            )
        return NodeResponse(body=self._explain_replica(record))

    def _node_summary(self) -> dict[str, Any]:
        node = self.node
        return {
            "id": node.id,
            "name": node.name,
            "attributes": dict(local_node.ATTRIBUTES),
            "roles": list(local_node.ROLES),
        }

    def _explain_primary(self, record: indices.IndexRecord) -> dict[str, Any]:
        return {
            "index": record.name,
            "shard": 0,
            "primary": True,
            "current_state": "started",
            "current_node": {**self._node_summary(), "weight_ranking": 1},
            "can_remain_on_current_node": "yes",
            "can_rebalance_cluster": "yes",
            "can_rebalance_to_other_node": "no",
            "rebalance_explanation": (
                "cannot rebalance as no target node exists that can both allocate this shard "
                "and improve the cluster balance"
            ),
        }

    def _explain_replica(self, record: indices.IndexRecord) -> dict[str, Any]:
        routing = cluster_state.replica_routing(record)
        node = self.node
        return {
            "index": record.name,
            "shard": 0,
            "primary": False,
            "current_state": "unassigned",
            "unassigned_info": {
                "reason": "INDEX_CREATED",
                "at": routing["unassigned_info"]["at"],
                "last_allocation_status": "no_attempt",
            },
            "can_allocate": "no",
            "allocate_explanation": (
                "Elasticsearch isn't allowed to allocate this shard to any of the nodes in the "
                "cluster. Choose a node to which you expect this shard to be allocated, find this "
                "node in the node-by-node explanation, and address the reasons which prevent "
                "Elasticsearch from allocating this shard there."
            ),
            "node_allocation_decisions": [
                {
                    "node_id": node.id,
                    "node_name": node.name,
                    "node_attributes": dict(local_node.ATTRIBUTES),
                    "roles": list(local_node.ROLES),
                    "node_decision": "no",
                    "weight_ranking": 1,
                    "deciders": [
                        {
                            "decider": "same_shard",
                            "decision": "NO",
                            "explanation": (
                                "a copy of this shard is already allocated to this node "
                                f"[[{record.name}][0], node[{node.id}], [P], s[STARTED], "
                                f"a[id={cluster_state.allocation_id(record)}]]"
                            ),
                        }
                    ],
                }
            ],
        }

    def reroute(self, request: NodeRequest) -> NodeResponse:
        """Nothing to move on one node: a reroute without commands is a no-op."""
        check_params(request, _MASTER_PARAMS | {"dry_run", "explain", "retry_failed", "metric"})
        body = request.json() or {}
        if not isinstance(body, Mapping):
            raise XContentParseError("request body must be an object")
        unknown = sorted(set(body) - {"commands"})
        if unknown:
            raise XContentParseError(f"[cluster_reroute] unknown field [{unknown[0]}]")
        if body.get("commands"):
            names = sorted({k for c in body["commands"] if isinstance(c, Mapping) for k in c})
            raise IllegalArgument(
                f"reroute commands [{','.join(names)}] are not supported: this cluster has one "
                "node and every primary is on it"
            )
        if request.flag("explain"):
            raise IllegalArgument("[explain] is not supported: there are no commands to explain")
        metric = request.query.get("metric")
        records = self._records(None, expand_hidden=True, expand_closed=True)
        metrics = cluster_state.parse_metrics(metric) if metric != "none" else ()
        response: dict[str, Any] = {"acknowledged": True}
        if metric != "none":
            state = cluster_state.state(self._state_input(records), metrics)
            response["state"] = {k: v for k, v in state.items() if k != "cluster_name"}
        return NodeResponse(body=response)

    # -- voting configuration exclusions -----------------------------------------------------

    def add_exclusions(self, request: NodeRequest) -> NodeResponse:
        """Exclude absent nodes from voting (this node itself cannot be excluded)."""
        check_params(request, {"node_ids", "node_names", "timeout", "master_timeout"})
        ids, names = request.query.get("node_ids"), request.query.get("node_names")
        if (ids is None) == (names is None):
            raise IllegalArgument("You must set [node_names] or [node_ids] but not both")
        wanted = [p.strip() for p in (ids or names or "").split(",") if p.strip()]
        if not wanted:
            raise IllegalArgument("You must set [node_names] or [node_ids] but not both")
        node = self.node
        if (node.id if ids is not None else node.name) in wanted:
            raise IllegalArgument(
                f"excluding node [{node.name}] is not supported: it is the only master-eligible "
                "node, so it can never leave the voting configuration"
            )
        limit = int(self._setting(cs.MAX_VOTING_EXCLUSIONS))
        with self.services.store.write() as conn:
            current = cs.load_exclusions(conn)
            key = "node_id" if ids is not None else "node_name"
            known = {e[key] for e in current}
            added = [
                {"node_id": w, "node_name": "_absent_"}
                if ids is not None
                else {"node_id": "_absent_", "node_name": w}
                for w in dict.fromkeys(wanted)
                if w not in known
            ]
            if len(current) + len(added) > limit:
                raise IllegalArgument(
                    f"add voting config exclusions request for nodes named {wanted} would add "
                    f"[{len(added)}] exclusions to the existing [{len(current)}] which would "
                    f"exceed the maximum of [{limit}] set by [{cs.MAX_VOTING_EXCLUSIONS}]"
                )
            cs.save_exclusions(conn, current + added)
        return NodeResponse(body=None)

    def clear_exclusions(self, request: NodeRequest) -> NodeResponse:
        """Drop every exclusion (excluded nodes are all absent, so nothing to wait for)."""
        check_params(request, {"wait_for_removal", "master_timeout"})
        with self.services.store.write() as conn:
            cs.save_exclusions(conn, [])
        return NodeResponse(body=None)

    # -- remote clusters, dangling indices, features -----------------------------------------

    def remote_info(self, request: NodeRequest) -> NodeResponse:
        """No remote clusters are configured."""
        check_params(request, set())
        return NodeResponse(body={})

    def dangling(self, request: NodeRequest) -> NodeResponse:
        """One node keeps no index data outside its catalog: nothing dangles."""
        check_params(request, set())
        return NodeResponse(
            body={
                "_nodes": {"total": 1, "successful": 1, "failed": 0},
                "cluster_name": self.services.info.cluster_name,
                "dangling_indices": [],
            }
        )

    def features(self, request: NodeRequest) -> NodeResponse:
        """The node's system features (`citadel.node.features`)."""
        check_params(request, {"master_timeout"})
        return NodeResponse(body={"features": features.describe()})

    def reset_features(self, request: NodeRequest) -> NodeResponse:
        """Drop the system features' state (async search and task results)."""
        check_params(request, {"master_timeout"})
        return NodeResponse(body={"features": features.reset(self.services)})


def _by_name(records: list[indices.IndexRecord], name: str) -> indices.IndexRecord | None:
    return next((r for r in records if r.name == name), None)


def _settings_view(flat: bool):
    if flat:
        return lambda values: dict(sorted(values.items()))
    return cs.nest


def _memory(host: local_node.HostFacts) -> dict[str, Any]:
    total = host.mem_total or 0
    free = host.mem_free or 0
    return {
        "total_in_bytes": total,
        "free_in_bytes": free,
        "used_in_bytes": total - free,
        "free_percent": round(100 * free / total) if total else 0,
        "used_percent": round(100 * (total - free) / total) if total else 0,
    }


def field_types(records: Iterable[indices.IndexRecord]) -> list[dict[str, Any]]:
    """How many fields of each mapped type, and in how many indices."""
    fields: dict[str, int] = {}
    in_indices: dict[str, set[str]] = {}
    for record in records:
        for kind in _types(record.mappings.get("properties", {})):
            fields[kind] = fields.get(kind, 0) + 1
            in_indices.setdefault(kind, set()).add(record.name)
    return [
        {"name": kind, "count": fields[kind], "index_count": len(in_indices[kind])}
        for kind in sorted(fields)
    ]


def _types(properties: Mapping[str, Any]) -> Iterable[str]:
    for spec in properties.values():
        if not isinstance(spec, Mapping):
            continue
        if "properties" in spec:
            yield str(spec.get("type", "object"))
            yield from _types(spec["properties"])
        else:
            yield str(spec.get("type", "object"))
        for sub in (spec.get("fields") or {}).values():
            if isinstance(sub, Mapping):
                yield str(sub.get("type", "object"))


def _node_condition(spec: str | None):
    if spec is None:
        return lambda n: True
    text = spec.strip()
    for prefix, test in (
        (">=", lambda n, v: n >= v),
        ("<=", lambda n, v: n <= v),
        ("ge(", lambda n, v: n >= v),
        ("le(", lambda n, v: n <= v),
        ("gt(", lambda n, v: n > v),
        ("lt(", lambda n, v: n < v),
        (">", lambda n, v: n > v),
        ("<", lambda n, v: n < v),
    ):
        if text.startswith(prefix):
            number = text[len(prefix) :].rstrip(")")
            if not number.isdigit():
                break
            value = int(number)
            return lambda n: test(n, value)
    if text.isdigit():
        value = int(text)
        return lambda n: n == value
    raise IllegalArgument(f"failed to parse [wait_for_nodes] with value [{spec}]")


def _active_shards_condition(spec: str | None):
    if spec is None:
        return lambda h: True
    if spec == "all":
        return lambda h: h.unassigned_shards == 0
    if not spec.isdigit():
        raise IllegalArgument(f"failed to parse [wait_for_active_shards] with value [{spec}]")
    value = int(spec)
    return lambda h: h.active_shards >= value


def _check_node_filter(selector: str | None, node: local_node.LocalNode) -> None:
    if selector is None:
        return
    for part in (p.strip() for p in selector.split(",")):
        if part in ("_all", "_local", "_master", "*", node.id, node.name):
            return
    raise IllegalArgument(f"node [{selector}] is not known; this cluster has one node")
