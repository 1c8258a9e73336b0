"""Connectors API: ``_connector[/{id}]`` (put, post, get, list, delete), its update
endpoints (``_connector/{id}/_name`` ...) and sync jobs (``_connector/_sync_job``).

Elasticsearch runs no connector: it keeps the documents an external connector service reads
and updates, and so does this node (`citadel.node.connectors.documents`). Routes need
``manage_connector`` (``monitor_connector`` to read), as in Elasticsearch.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from citadel.node.connectors import catalog
from citadel.node.connectors import documents as docs
from citadel.node.errors import IllegalArgument
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import Router, cluster
from citadel.node.services import NodeServices

MANAGE = cluster("manage_connector")
MONITOR = cluster("monitor_connector")
UPDATED = {"result": "updated"}
MAX_WINDOW = 10_000


def register(router: Router, services: NodeServices) -> None:
    """Add the connector routes to `router`."""
    r = ConnectorRoutes(services)
    jobs = "/_connector/_sync_job"
    router.add("POST", jobs, r.post_job, MANAGE)
    router.add("GET", jobs, r.list_jobs, MONITOR)
    router.add("GET", jobs + "/{job}", r.get_job, MONITOR)
    router.add("DELETE", jobs + "/{job}", r.delete_job, MANAGE)
    router.add("PUT", jobs + "/{job}/_cancel", r.cancel_job, MANAGE)
    router.add("PUT", jobs + "/{job}/_check_in", r.check_in_job, MANAGE)
    router.add("PUT", jobs + "/{job}/_claim", r.claim_job, MANAGE)
    router.add("PUT", jobs + "/{job}/_error", r.error_job, MANAGE)
    router.add("PUT", jobs + "/{job}/_stats", r.stats_job, MANAGE)
    router.add("GET", "/_connector", r.list, MONITOR)
    router.add("POST", "/_connector", r.post, MANAGE)
    router.add("PUT", "/_connector", r.post, MANAGE)
    router.add("PUT", "/_connector/{id}", r.put, MANAGE)
    router.add("GET", "/_connector/{id}", r.get, MONITOR)
    router.add("DELETE", "/_connector/{id}", r.delete, MANAGE)
    router.add("PUT", "/_connector/{id}/_check_in", r.check_in, MANAGE)
    router.add("PUT", "/_connector/{id}/_filtering/_validation", r.validate_filtering, MANAGE)
    router.add("PUT", "/_connector/{id}/_filtering/_activate", r.activate_filtering, MANAGE)
    for endpoint in docs.UPDATES:
        router.add("PUT", f"/_connector/{{id}}/{endpoint}", r.updater(endpoint), MANAGE)


def _new_id() -> str:
    return secrets.token_urlsafe(15).replace("-", "a").replace("_", "b")


def _page(request: NodeRequest) -> tuple[int, int]:
    try:
        start = int(request.query.get("from", "0"))
        size = int(request.query.get("size", "100"))
    except ValueError:
        raise IllegalArgument("[from] and [size] must be integers") from None
    if start < 0 or size < 0:
        raise IllegalArgument("[from] and [size] must not be negative")
    if start + size > MAX_WINDOW:
        raise IllegalArgument(f"[from] + [size] must be at most {MAX_WINDOW}")
    return start, size


def _listed(found: list[dict[str, Any]], request: NodeRequest) -> NodeResponse:
    start, size = _page(request)
    return NodeResponse(body={"count": len(found), "results": found[start : start + size]})


def _csv(request: NodeRequest, name: str) -> set[str] | None:
    value = request.query.get(name)
    return set(value.split(",")) if value else None


class ConnectorRoutes:
    """Handlers over the catalog's connectors and sync jobs."""

    def __init__(self, services: NodeServices) -> None:
        self.services = services

    def _now(self) -> str:
        return self.services.clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    # -- connectors --------------------------------------------------------------------------

    def _create(self, connector_id: str, request: NodeRequest) -> dict[str, Any]:
        doc = docs.new_connector(connector_id, request.json(), self._now())
        with self.services.store.write() as conn:
            existed = catalog.exists(conn, connector_id)
            if existed:
                old = catalog.get(conn, connector_id, include_deleted=True)
                doc["filtering"] = old.get("filtering", doc["filtering"])
            catalog.put(conn, doc)
        return {"result": "updated" if existed else "created", "id": connector_id}

    def put(self, request: NodeRequest) -> NodeResponse:
        """``PUT _connector/{id}``: create or replace a connector."""
        connector_id = request.params["id"]
        if not connector_id or connector_id.startswith("_"):
            raise IllegalArgument(f"Invalid connector id [{connector_id}]")
        body = self._create(connector_id, request)
        return NodeResponse(body=body, status=201 if body["result"] == "created" else 200)

    def post(self, request: NodeRequest) -> NodeResponse:
        """``POST _connector``: a connector with a generated id."""
        return NodeResponse(body=self._create(_new_id(), request), status=201)

    def get(self, request: NodeRequest) -> NodeResponse:
        """``GET _connector/{id}``."""
        with self.services.store.read() as conn:
            doc = catalog.get(
                conn, request.params["id"], include_deleted=request.flag("include_deleted")
            )
        return NodeResponse(body=doc)

    def list(self, request: NodeRequest) -> NodeResponse:
        """``GET _connector``: filtered by index_name, connector_name, service_type, query."""
        with self.services.store.read() as conn:
            found = catalog.every(conn, include_deleted=request.flag("include_deleted"))
        wanted: dict[str, set[str] | None] = {
            "index_name": _csv(request, "index_name"),
            "name": _csv(request, "connector_name"),
            "service_type": _csv(request, "service_type"),
        }
        for key, values in wanted.items():
            if values is not None:
                found = [d for d in found if d.get(key) in values]
        query = request.query.get("query")
        if query:
            text = query.lower()
            found = [
                d
                for d in found
                if any(
                    text in str(d.get(k) or "").lower()
                    for k in ("name", "description", "index_name")
                )
            ]
        return _listed(found, request)

    def delete(self, request: NodeRequest) -> NodeResponse:
        """``DELETE _connector/{id}`` (``hard``, ``delete_sync_jobs``)."""
        with self.services.store.write() as conn:
            catalog.delete(
                conn,
                request.params["id"],
                hard=request.flag("hard"),
                sync_jobs=request.flag("delete_sync_jobs"),
            )
        return NodeResponse(body={"acknowledged": True})

    def _change(
        self, request: NodeRequest, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> NodeResponse:
        with self.services.store.write() as conn:
            doc = catalog.get(conn, request.params["id"])
            catalog.put(conn, change(doc))
        return NodeResponse(body=UPDATED)

    def updater(self, endpoint: str) -> Callable[[NodeRequest], NodeResponse]:
        """The handler of ``PUT _connector/{id}/{endpoint}``."""

        def handle(request: NodeRequest) -> NodeResponse:
            body = request.json(required=True)
            return self._change(request, lambda d: docs.update(d, endpoint, body, self._now()))

        handle.__doc__ = f"``PUT _connector/{{id}}/{endpoint}``."
        return handle

    def check_in(self, request: NodeRequest) -> NodeResponse:
        """``PUT _connector/{id}/_check_in``: the service was seen now."""
        return self._change(request, lambda d: {**d, "last_seen": self._now()})

    def validate_filtering(self, request: NodeRequest) -> NodeResponse:
        """``PUT _connector/{id}/_filtering/_validation``."""
        body = request.json(required=True)
        return self._change(request, lambda d: docs.validate_filtering(d, body))

    def activate_filtering(self, request: NodeRequest) -> NodeResponse:
        """``PUT _connector/{id}/_filtering/_activate``."""
        return self._change(request, docs.activate_filtering)

    # -- sync jobs ---------------------------------------------------------------------------

    def post_job(self, request: NodeRequest) -> NodeResponse:
        """``POST _connector/_sync_job``: a pending job for a connector."""
        body = request.json(required=True)
        connector_id = body.get("id") if isinstance(body, dict) else None
        if not isinstance(connector_id, str) or not connector_id:
            raise IllegalArgument("[id] of the connector is required")
        with self.services.store.write() as conn:
            connector = catalog.get(conn, connector_id)
            job = docs.new_sync_job(_new_id(), connector, body, self._now())
            catalog.put_job(conn, job)
        return NodeResponse(body={"id": job["id"]})

    def get_job(self, request: NodeRequest) -> NodeResponse:
        """``GET _connector/_sync_job/{job}``."""
        with self.services.store.read() as conn:
            job = catalog.get_job(conn, request.params["job"])
        return NodeResponse(body=job)

    def list_jobs(self, request: NodeRequest) -> NodeResponse:
        """``GET _connector/_sync_job``: filtered by connector_id, status, job_type."""
        with self.services.store.read() as conn:
            found = catalog.jobs(conn)
        connector = request.query.get("connector_id")
        if connector:
            found = [j for j in found if j["connector"]["id"] == connector]
        status = request.query.get("status")
        if status:
            found = [j for j in found if j["status"] == status]
        types = _csv(request, "job_type")
        if types:
            found = [j for j in found if j["job_type"] in types]
        return _listed(found, request)

    def delete_job(self, request: NodeRequest) -> NodeResponse:
        """``DELETE _connector/_sync_job/{job}``."""
        with self.services.store.write() as conn:
            catalog.delete_job(conn, request.params["job"])
        return NodeResponse(body={"acknowledged": True})

    def _job_change(
        self, request: NodeRequest, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> NodeResponse:
        with self.services.store.write() as conn:
            job = catalog.get_job(conn, request.params["job"])
            catalog.put_job(conn, change(job))
        return NodeResponse(body=UPDATED)

    def cancel_job(self, request: NodeRequest) -> NodeResponse:
        """``PUT _connector/_sync_job/{job}/_cancel``."""
        return self._job_change(request, lambda j: docs.cancel(j, self._now()))

    def check_in_job(self, request: NodeRequest) -> NodeResponse:
        """``PUT _connector/_sync_job/{job}/_check_in``."""
        return self._job_change(request, lambda j: {**j, "last_seen": self._now()})

    def claim_job(self, request: NodeRequest) -> NodeResponse:
        """``PUT _connector/_sync_job/{job}/_claim``."""
        body = request.json(required=True)
        return self._job_change(request, lambda j: docs.claim(j, body, self._now()))

    def error_job(self, request: NodeRequest) -> NodeResponse:
        """``PUT _connector/_sync_job/{job}/_error``."""
        body = request.json(required=True)
        return self._job_change(request, lambda j: docs.set_error(j, body))

    def stats_job(self, request: NodeRequest) -> NodeResponse:
        """``PUT _connector/_sync_job/{job}/_stats``."""
        body = request.json(required=True)
        return self._job_change(request, lambda j: docs.set_stats(j, body, self._now()))
