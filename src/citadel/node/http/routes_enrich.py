"""Enrich routes: ``_enrich/policy[/{name}]`` (put, get, delete), ``_enrich/policy/{name}/
_execute`` and ``_enrich/_stats``. Every route needs ``manage_enrich`` (``monitor_enrich`` for
stats), as in Elasticsearch."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from citadel.node import local_node
from citadel.node.enrich import catalog, lookup
from citadel.node.enrich.execute import execute
from citadel.node.enrich.policies import parse
from citadel.node.errors import IllegalArgument
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import Router, cluster
from citadel.node.services import NodeServices
from citadel.node.store import indices
from citadel.node.store.indices import wildcard

MANAGE = cluster("manage_enrich")
ACKNOWLEDGED = {"acknowledged": True}


def register(router: Router, services: NodeServices) -> None:
    """Add the enrich routes to `router` and load the node's executed policies."""
    r = EnrichRoutes(services)
    router.add("GET", "/_enrich/_stats", r.stats, cluster("monitor_enrich"))
    router.add("GET", "/_enrich/policy", r.get, MANAGE)
    router.add("PUT", "/_enrich/policy/{name}", r.put, MANAGE)
    router.add("POST", "/_enrich/policy/{name}", r.put, MANAGE)
    router.add("GET", "/_enrich/policy/{name}", r.get, MANAGE)
    router.add("DELETE", "/_enrich/policy/{name}", r.delete, MANAGE)
    router.add("PUT", "/_enrich/policy/{name}/_execute", r.execute, MANAGE)
    router.add("POST", "/_enrich/policy/{name}/_execute", r.execute, MANAGE)


class EnrichRoutes:
    """Handlers over the catalog's enrich policies and the node's enrich indices."""

    def __init__(self, services: NodeServices) -> None:
        self.services = services
        self.indices = lookup.install(services.store, services.engine, services.clock)

    def put(self, request: NodeRequest) -> NodeResponse:
        """``PUT _enrich/policy/{name}``: store a new policy (not executed yet)."""
        policy = parse(request.params["name"], request.json(required=True))
        with self.services.store.write() as conn:
            catalog.put(conn, policy)
        self.indices.set(policy, None)
        return NodeResponse(body=ACKNOWLEDGED)

    def get(self, request: NodeRequest) -> NodeResponse:
        """``GET _enrich/policy[/{name}]``: comma lists and wildcards; unknown names are left
        out."""
        names = request.params.get("name")
        with self.services.store.read() as conn:
            found = catalog.every(conn)
        if names and names not in ("*", "_all"):
            patterns = [wildcard(n) for n in names.split(",")]
            found = [(p, i) for p, i in found if any(w.fullmatch(p.name) for w in patterns)]
        return NodeResponse(body={"policies": [{"config": p.as_json()} for p, _ in found]})

    def delete(self, request: NodeRequest) -> NodeResponse:
        """``DELETE _enrich/policy/{name}``: refused while a pipeline uses the policy."""
        name = request.params["name"]
        with self.services.store.write() as conn:
            users = sorted(_pipelines_using(conn, name))
            if users:
                raise IllegalArgument(
                    f"Could not delete policy [{name}] because a pipeline is referencing it "
                    f"[{', '.join(users)}]"
                )
            index = catalog.delete(conn, name)
            record = indices.load_index(conn, index) if index else None
            if record is not None:
                indices.delete(conn, record)
        if record is not None:
            self.services.engine.drop(record.uuid)
        self.indices.forget(name)
        return NodeResponse(body=ACKNOWLEDGED)

    def execute(self, request: NodeRequest) -> NodeResponse:
        """``PUT _enrich/policy/{name}/_execute``: build the enrich index, then answer."""
        if not request.flag("wait_for_completion", True):
            raise IllegalArgument(
                "[wait_for_completion=false] is not supported by this node for enrich policy "
                "execution; the request waits until the enrich index is built"
            )
        services = self.services
        policy, record = execute(
            services.store, services.engine, services.clock, request.params["name"]
        )
        self.indices.set(policy, record)
        return NodeResponse(body={"status": {"phase": "COMPLETE"}})

    def stats(self, request: NodeRequest) -> NodeResponse:
        """``GET _enrich/_stats``: nothing executes in the background; this node's lookups."""
        node_id = local_node.node_id(self.services.info.cluster_uuid)
        searches = self.indices.searches
        return NodeResponse(
            body={
                "executing_policies": [],
                "coordinator_stats": [
                    {
                        "node_id": node_id,
                        "queue_size": 0,
                        "remote_requests_current": 0,
                        "remote_requests_total": searches,
                        "executed_searches_total": searches,
                    }
                ],
                "cache_stats": [
                    {
                        "node_id": node_id,
                        "count": 0,
                        "hits": 0,
                        "misses": searches,
                        "evictions": 0,
                        "hits_time_in_millis": 0,
                        "misses_time_in_millis": 0,
                        "size_in_bytes": 0,
                    }
                ],
            }
        )


def _pipelines_using(conn: Any, policy: str) -> Iterator[str]:
    for pipeline_id, definition in conn.execute("SELECT id, definition FROM ingest_pipelines"):
        if any(_enrich_policies(json.loads(definition), policy)):
            yield pipeline_id


def _enrich_policies(value: Any, policy: str) -> Iterator[bool]:
    if isinstance(value, dict):
        spec = value.get("enrich")
        if isinstance(spec, dict) and spec.get("policy_name") == policy:
            yield True
        for child in value.values():
            yield from _enrich_policies(child, policy)
    elif isinstance(value, list):
        for child in value:
            yield from _enrich_policies(child, policy)
