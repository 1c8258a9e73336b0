"""Logstash central management: ``_logstash/pipeline[/{id}]`` (put, get, delete).

Every route needs ``manage_logstash_pipelines`` (which ``manage`` includes). As in
Elasticsearch, a put answers 201 for a new pipeline and 200 for a replaced one with no body,
a get of names none of which exist answers 404 with ``{}``, and a delete 404 when the pipeline
is not there.
"""

from __future__ import annotations

from collections.abc import Iterable

from citadel.node.errors import IllegalArgument
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import Router, cluster
from citadel.node.logstash import catalog
from citadel.node.logstash.pipelines import check_id, parse_document
from citadel.node.services import NodeServices

MANAGE = cluster("manage_logstash_pipelines")


def register(router: Router, services: NodeServices) -> None:
    """Add the Logstash pipeline routes to `router`."""
    routes = LogstashRoutes(services)
    router.add("GET", "/_logstash/pipeline", routes.get, MANAGE)
    router.add("GET", "/_logstash/pipeline/{id}", routes.get, MANAGE)
    router.add("PUT", "/_logstash/pipeline/{id}", routes.put, MANAGE)
    router.add("DELETE", "/_logstash/pipeline/{id}", routes.delete, MANAGE)


class LogstashRoutes:
    """Handlers over the catalog's Logstash pipelines."""

    def __init__(self, services: NodeServices) -> None:
        self.services = services

    def put(self, request: NodeRequest) -> NodeResponse:
        """``PUT _logstash/pipeline/{id}``: create or replace a pipeline document."""
        _check_params(request, ())
        pipeline_id = request.params["id"]
        check_id(pipeline_id)
        document = parse_document(request.json(required=True))
        with self.services.store.write() as conn:
            created = catalog.put(conn, pipeline_id, document)
        return NodeResponse(status=201 if created else 200)

    def get(self, request: NodeRequest) -> NodeResponse:
        """``GET _logstash/pipeline[/{id}]``: the named pipelines (wildcards, lists), by id."""
        _check_params(request, ())
        expression = request.params.get("id")
        with self.services.store.read() as conn:
            found = catalog.get(conn, expression)
        status = 404 if expression is not None and not found else 200
        return NodeResponse(status=status, body=found)

    def delete(self, request: NodeRequest) -> NodeResponse:
        """``DELETE _logstash/pipeline/{id}``."""
        _check_params(request, ())
        with self.services.store.write() as conn:
            deleted = catalog.delete(conn, request.params["id"])
        return NodeResponse(status=200 if deleted else 404)


def _check_params(request: NodeRequest, known: Iterable[str]) -> None:
    unknown = sorted(p for p in request.query if p not in known)
    if unknown:
        raise IllegalArgument(
            f"request [{request.path}] contains unrecognized parameter: [{','.join(unknown)}]"
        )
