"""Task routes: ``GET _tasks[/{task_id}]``, ``POST _tasks[/{task_id}]/_cancel``, and the
``_rethrottle`` of reindex, update-by-query and delete-by-query tasks.

Listing needs ``monitor``, cancelling and rethrottling ``manage`` (as in Elasticsearch).
Only this node's tasks exist: a task id naming another node is a ``no_such_node_exception``
node failure for rethrottle and cancel, a 404 for get.
"""

from __future__ import annotations

import time
from typing import Any

from citadel.node import local_node
from citadel.node.errors import IllegalArgument
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import Router, cluster
from citadel.node.reindex.requests import parse_rate
from citadel.node.services import NodeServices
from citadel.node.tasks import Task, TaskManager, parse_task_id

MAX_WAIT_S = 30.0
_LIST_PARAMS = frozenset(
    {"actions", "detailed", "group_by", "nodes", "parent_task_id", "timeout", "wait_for_completion"}
)


def add_routes(router: Router, services: NodeServices, tasks: TaskManager) -> None:
    """Add the task routes over `tasks`."""
    routes = TaskRoutes(services, tasks)
    router.add("GET", "/_tasks", routes.list, cluster("monitor"))
    router.add("GET", "/_tasks/{task_id}", routes.get, cluster("monitor"))
    router.add("POST", "/_tasks/_cancel", routes.cancel, cluster("manage"))
    router.add("POST", "/_tasks/{task_id}/_cancel", routes.cancel, cluster("manage"))
    for api in ("_reindex", "_update_by_query", "_delete_by_query"):
        router.add("POST", f"/{api}/{{task_id}}/_rethrottle", routes.rethrottle, cluster("manage"))


class TaskRoutes:
    """Handlers over the node's task manager."""

    def __init__(self, services: NodeServices, tasks: TaskManager) -> None:
        self.services = services
        self.tasks = tasks

    def _node(self, tasks: dict[str, Any]) -> dict[str, Any]:
        node = local_node.of(self.services.info, self.services.clock)
        return {
            "name": node.name,
            "transport_address": f"{node.ip}:9300",
            "host": node.host,
            "ip": f"{node.ip}:9300",
            "roles": list(local_node.ROLES),
            "tasks": tasks,
        }

    def list(self, request: NodeRequest) -> NodeResponse:
        """``GET _tasks``: running tasks (this request's own task among them, as ES lists it:
        the app registers every request)."""
        for name in request.query:
            if name not in _LIST_PARAMS:
                raise IllegalArgument(
                    f"request [{request.path}] contains unrecognized parameter: [{name}]"
                )
        if request.query.get("parent_task_id") or request.query.get("nodes") not in (
            None,
            "",
            "_all",
            "_local",
            self.tasks.node_id,
        ):
            raise IllegalArgument("[nodes] and [parent_task_id] filters are not supported")
        detailed = request.flag("detailed")
        actions = request.query.get("actions")
        infos = {t.id: t.info(detailed=detailed) for t in self.tasks.running(actions)}
        group_by = request.query.get("group_by", "nodes")
        if group_by == "none":
            return NodeResponse(body={"tasks": list(infos.values())})
        if group_by == "parents":
            return NodeResponse(body={"tasks": infos})
        if group_by != "nodes":
            raise IllegalArgument(f"No group_by value matches [{group_by}]")
        nodes = {self.tasks.node_id: self._node(infos)} if infos else {}
        return NodeResponse(body={"nodes": nodes})

    def get(self, request: NodeRequest) -> NodeResponse:
        """``GET _tasks/{task_id}[?wait_for_completion]``."""
        task = self.tasks.get(request.params["task_id"])
        if request.flag("wait_for_completion"):
            timeout = _seconds(request.query.get("timeout"), MAX_WAIT_S)
            task.finished.wait(min(timeout, MAX_WAIT_S))
        return NodeResponse(body=_task_body(task))

    def cancel(self, request: NodeRequest) -> NodeResponse:
        """``POST _tasks[/{task_id}]/_cancel[?actions=]``."""
        if "task_id" in request.params:
            node, _ = parse_task_id(request.params["task_id"])
            if node != self.tasks.node_id:
                return NodeResponse(body=_no_such_node(node))
            task = self.tasks.get(request.params["task_id"])
            if task.finished.is_set():
                raise IllegalArgument(f"task [{task.id}] is already finished")
            matched = [task]
        else:
            matched = [t for t in self.tasks.running(request.query.get("actions")) if t.cancellable]
        for task in matched:
            task.cancelled = True
        infos = {t.id: t.info() for t in matched}
        return NodeResponse(
            body={"nodes": {self.tasks.node_id: self._node(infos)} if infos else {}}
        )

    def rethrottle(self, request: NodeRequest) -> NodeResponse:
        """``POST _reindex|_update_by_query|_delete_by_query/{task_id}/_rethrottle``."""
        if "requests_per_second" not in request.query:
            raise IllegalArgument("requests_per_second is a required parameter")
        rate = parse_rate(request.query["requests_per_second"])
        node, _ = parse_task_id(request.params["task_id"])
        if node != self.tasks.node_id:
            return NodeResponse(body=_no_such_node(node))
        task = self.tasks.get(request.params["task_id"])
        task.requests_per_second = rate
        return NodeResponse(
            body={"nodes": {self.tasks.node_id: self._node({task.id: task.info()})}}
        )


def _task_body(task: Task) -> dict[str, Any]:
    out: dict[str, Any] = {"completed": task.finished.is_set(), "task": task.info()}
    if task.response is not None:
        out["response"] = task.response
    if task.error is not None:
        out["error"] = task.error
    return out


def _no_such_node(node: str) -> dict[str, Any]:
    cause = {"type": "no_such_node_exception", "reason": f"No such node [{node}]", "node_id": node}
    return {
        "node_failures": [
            {
                "type": "failed_node_exception",
                "reason": f"Failed node [{node}]",
                "node_id": node,
                "caused_by": cause,
            }
        ],
        "nodes": {},
    }


def _seconds(value: str | None, default: float) -> float:
    if value is None:
        return default
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    for unit in ("ms", "s", "m", "h"):
        if value.endswith(unit) and value[: -len(unit)].isdigit():
            return int(value[: -len(unit)]) * units[unit]
    raise IllegalArgument(f"failed to parse setting [timeout] with value [{value}] as a time value")


def clock_ms(services: NodeServices) -> int:
    """The node's clock in epoch milliseconds."""
    return (
        int(services.clock.now().timestamp() * 1000) if services.clock else int(time.time() * 1000)
    )
