"""Ingest routes: ``_ingest/pipeline`` (put, get, delete, simulate), ``_ingest/_simulate``,
``_ingest/processor/grok``.

Managing pipelines needs ``manage_pipeline``; reading and simulating ``read_pipeline`` (which
``manage_pipeline``, ``manage`` and ``all`` include).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from citadel.node.errors import IllegalArgument
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import Router, cluster
from citadel.node.ingest import catalog, simulate
from citadel.node.ingest.errors import PipelineNotFound
from citadel.node.ingest.grok_patterns import PATTERNS
from citadel.node.ingest.writes import DEFAULT_SETTING, FINAL_SETTING
from citadel.node.services import NodeServices
from citadel.node.store import indices

MANAGE = cluster("manage_pipeline")
READ = cluster("read_pipeline")


def register(router: Router, services: NodeServices) -> None:
    """Add the ingest routes to `router`."""
    routes = IngestRoutes(services)
    router.add("PUT", "/_ingest/pipeline/{id}", routes.put, MANAGE)
    router.add("GET", "/_ingest/pipeline", routes.get, READ)
    router.add("GET", "/_ingest/pipeline/{id}", routes.get, READ)
    router.add("DELETE", "/_ingest/pipeline/{id}", routes.delete, MANAGE)
    for method in ("GET", "POST"):
        router.add(method, "/_ingest/pipeline/_simulate", routes.simulate, READ)
        router.add(method, "/_ingest/pipeline/{id}/_simulate", routes.simulate, READ)
        router.add(method, "/_ingest/_simulate", routes.simulate_ingest, READ)
        router.add(method, "/_ingest/{index}/_simulate", routes.simulate_ingest, READ)
    router.add("GET", "/_ingest/processor/grok", routes.grok_patterns, READ)


class IngestRoutes:
    """Handlers over the catalog's pipelines."""

    def __init__(self, services: NodeServices) -> None:
        self.services = services

    def put(self, request: NodeRequest) -> NodeResponse:
        """``PUT _ingest/pipeline/{id}`` (``if_version`` for optimistic concurrency)."""
        body = request.json(required=True)
        if_version = _int_param(request, "if_version")
        with self.services.store.write() as conn:
            catalog.put(conn, request.params["id"], body, if_version=if_version)
        return NodeResponse(body={"acknowledged": True})

    def get(self, request: NodeRequest) -> NodeResponse:
        """``GET _ingest/pipeline[/{id}]``: 404 ``{}`` when nothing matches."""
        summary = request.flag("summary")
        with self.services.store.read() as conn:
            found = catalog.definitions(conn, request.params.get("id"))
        if summary:
            found = {name: {} for name in found}
        return NodeResponse(status=200 if found else 404, body=found)

    def delete(self, request: NodeRequest) -> NodeResponse:
        """``DELETE _ingest/pipeline/{id}`` (wildcards); 400 for an index's default pipeline."""
        with self.services.store.write() as conn:
            matched = list(catalog.definitions(conn, request.params["id"]))
            _refuse_in_use(conn, matched)
            catalog.delete(conn, request.params["id"])
        return NodeResponse(body={"acknowledged": True})

    def simulate(self, request: NodeRequest) -> NodeResponse:
        """``POST _ingest/pipeline[/{id}]/_simulate[?verbose]``."""
        body = request.json(required=True)
        verbose = request.flag("verbose")
        with self.services.store.read() as conn:
            stored = None
            if "id" in request.params:
                stored = catalog.load(conn, request.params["id"])
                if stored is None:
                    raise PipelineNotFound(f"pipeline [{request.params['id']}] is missing")
            out = simulate.simulate_pipeline(
                body,
                stored,
                lambda name: catalog.load(conn, name),
                verbose=verbose,
                now=self.services.clock.now(),
            )
        return NodeResponse(body=out)

    def simulate_ingest(self, request: NodeRequest) -> NodeResponse:
        """``POST _ingest[/{index}]/_simulate``: a write's pipelines, nothing written."""
        body = request.json(required=True)
        with self.services.store.read() as conn:

            def settings_of(name: str) -> Mapping[str, Any] | None:
                record = indices.load(conn, name)
                return record.settings if record is not None else None

            out = simulate.simulate_ingest(
                body,
                request.params.get("index"),
                settings_of,
                lambda name: catalog.load(conn, name),
                requested=request.query.get("pipeline"),
                now=self.services.clock.now(),
            )
        return NodeResponse(body=out)

    def grok_patterns(self, request: NodeRequest) -> NodeResponse:
        """``GET _ingest/processor/grok``: the built-in pattern library."""
        ecs = request.query.get("ecs_compatibility", "disabled")
        if ecs != "disabled":
            raise IllegalArgument(
                f"unsupported ECS compatibility mode [{ecs}]: this node has the legacy patterns"
            )
        patterns = dict(sorted(PATTERNS.items())) if request.flag("s") else dict(PATTERNS)
        return NodeResponse(body={"patterns": patterns})


def _refuse_in_use(conn: Any, pipeline_ids: list[str]) -> None:
    for name in indices.all_names(conn):
        record = indices.load(conn, name)
        if record is None:
            continue
        for setting, kind in ((DEFAULT_SETTING, "default"), (FINAL_SETTING, "final")):
            if record.settings.get(setting) in pipeline_ids:
                raise IllegalArgument(
                    f"pipeline [{record.settings[setting]}] cannot be deleted because it is the "
                    f"{kind} pipeline for 1 index(es) including [{name}]"
                )


def _int_param(request: NodeRequest, name: str) -> int | None:
    value = request.query.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise IllegalArgument(
            f"Failed to parse int parameter [{name}] with value [{value}]"
        ) from None
