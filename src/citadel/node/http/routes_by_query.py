"""``POST _reindex``, ``POST /{index}/_update_by_query``, ``POST /{index}/_delete_by_query``.

Routes ask only for an authenticated caller: the searched indices are resolved for ``read``
(403 for a named index the caller may not read), and every write checks its own index
(``index``/``create`` for reindex and update, ``delete`` for delete). With
``wait_for_completion=false`` the run is a task on the node's bounded worker pool and the
answer is ``{"task": id}``; the task's result is read with ``GET _tasks/{id}``.
"""

from __future__ import annotations

from typing import Any

from citadel.node.http.access import IndexAccess
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import AUTHENTICATED, Router
from citadel.node.http.routes_tasks import add_routes
from citadel.node.reindex import requests as rq
from citadel.node.reindex import run
from citadel.node.search import service
from citadel.node.search.dsl import Query
from citadel.node.search.request import parse_index_options
from citadel.node.security.document_security import (
    refuse_update,
    restriction_of,
)
from citadel.node.security.realm import index_forbidden
from citadel.node.services import NodeServices
from citadel.node.tasks import Task, TaskManager

REINDEX = "indices:data/write/reindex"
UPDATE = "indices:data/write/update/byquery"
DELETE = "indices:data/write/delete/byquery"


def register(router: Router, services: NodeServices) -> None:
    """Add the by-query routes and the task routes (they share the node's task manager)."""
    tasks = services.tasks
    routes = ByQueryRoutes(services, tasks)
    router.add("POST", "/_reindex", routes.reindex, AUTHENTICATED)
    router.add("POST", "/{index}/_update_by_query", routes.update_by_query, AUTHENTICATED)
    router.add("POST", "/{index}/_delete_by_query", routes.delete_by_query, AUTHENTICATED)
    add_routes(router, services, tasks)


class ByQueryRoutes:
    """Handlers over the store, the engine and the task manager."""

    def __init__(self, services: NodeServices, tasks: TaskManager) -> None:
        self.services = services
        self.tasks = tasks

    def reindex(self, request: NodeRequest) -> NodeResponse:
        """``POST _reindex``."""
        rq.check_params(request.query, rq.REINDEX_PARAMS, request.path)
        parsed = rq.parse_reindex(request.json(required=True), request.query)
        job = self._job(request, parsed.source_indices, {})
        description = f"reindex from [{parsed.source_indices}] to [{parsed.dest_index}]"
        return self._start(
            REINDEX, description, job, parsed.query, parsed.options, run.copy_to(parsed)
        )

    def update_by_query(self, request: NodeRequest) -> NodeResponse:
        """``POST /{index}/_update_by_query`` (through ``pipeline``; scripts are a 400)."""
        rq.check_params(request.query, rq.UPDATE_PARAMS, request.path)
        parsed = rq.parse_by_query(request.json(), request.query, updating=True)
        job = self._job(request, request.params["index"], request.query)
        for record in job.records:  # it would write back what the caller cannot see
            refuse_update(restriction_of(record))
        description = f"update-by-query [{request.params['index']}]"
        return self._start(
            UPDATE, description, job, parsed.query, parsed.options, run.update_in_place(parsed)
        )

    def delete_by_query(self, request: NodeRequest) -> NodeResponse:
        """``POST /{index}/_delete_by_query``."""
        rq.check_params(request.query, rq.DELETE_PARAMS, request.path)
        parsed = rq.parse_by_query(request.json(), request.query, updating=False)
        job = self._job(request, request.params["index"], request.query)
        description = f"delete-by-query [{request.params['index']}]"
        return self._start(
            DELETE, description, job, parsed.query, parsed.options, run.delete_matching()
        )

    def _job(self, request: NodeRequest, expression: str, params: Any) -> run.Job:
        access = IndexAccess(self.services.realm, request.identity)
        options = parse_index_options(params)
        with self.services.store.read() as conn:
            opened = service.open_indices(conn, expression, options, access.expanding("read"))
            if opened.denied:
                raise index_forbidden(request.identity, "read", opened.denied)
            records = service.secured(conn, opened.indices, request.identity)
        return run.Job(
            store=self.services.store,
            engine=self.services.engine,
            clock=self.services.clock,
            authorize=access.require,
            records=records,
        )

    def _start(
        self,
        action: str,
        description: str,
        job: run.Job,
        query: Query,
        options: rq.Options,
        write: run.Write,
    ) -> NodeResponse:
        task = self.tasks.register(action, description)

        def work(current: Task) -> dict[str, Any]:
            return run.run(job, current, query, options, write)

        if not options.wait_for_completion:
            self.tasks.submit(task, work)
            return NodeResponse(body={"task": task.id})
        try:
            body = work(task)
        finally:
            self.tasks.forget(task)
        statuses = [f["status"] for f in body["failures"]]
        return NodeResponse(status=max(statuses) if statuses else 200, body=body)
