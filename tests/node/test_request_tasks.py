"""Every request in flight is a task: ``_tasks`` and ``_cat/tasks`` list it, then forget it."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from citadel.node.errors import IllegalArgument
from citadel.node.http.app import NodeApp
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import NONE, Router
from citadel.node.http.task_actions import action_for, api_of
from citadel.node.tasks import TaskManager


def test_cat_tasks_lists_the_listing_request_itself(es):
    rows = es.get("/_cat/tasks?format=json").json()
    assert [r["action"] for r in rows] == ["cluster:monitor/tasks/lists"]
    node, number = rows[0]["task_id"].split(":")
    assert node
    assert number.isdigit()
    assert rows[0]["parent_task_id"] == "-"
    assert rows[0]["type"] == "transport"


def test_cat_tasks_text_has_elasticsearch_columns(es):
    text = es.get("/_cat/tasks?v&h=action,ti,x", headers={"X-Opaque-Id": "job-7"}).text
    header, row = text.splitlines()
    assert header.split() == ["action", "ti", "x"]
    assert row.split()[0] == "cluster:monitor/tasks/lists"
    assert row.split()[2] == "job-7"


def test_cat_tasks_filters_by_action(es):
    assert es.get("/_cat/tasks?format=json&actions=indices:*").json() == []


def test_cat_tasks_refuses_node_and_parent_filters(es):
    response = es.get("/_cat/tasks?parent_task_id=x:1")
    assert response.status_code == 400
    assert "parent_task_id" in response.json()["error"]["reason"]


def test_tasks_carry_the_opaque_id_header(es):
    nodes = es.get("/_tasks", headers={"X-Opaque-Id": "abc"}).json()["nodes"]
    (task,) = next(iter(nodes.values()))["tasks"].values()
    assert task["headers"] == {"X-Opaque-Id": "abc"}


def _blocking_app(tasks: TaskManager, entered: threading.Event, release: threading.Event):
    def slow(request: NodeRequest) -> NodeResponse:
        entered.set()
        release.wait(10)
        return NodeResponse(body={"ok": True})

    def failing(request: NodeRequest) -> NodeResponse:
        raise IllegalArgument("no")

    router = Router()
    router.add("POST", "/{index}/_search", slow, NONE)
    router.add("GET", "/{index}/_doc/{id}", failing, NONE)
    return NodeApp(router, realm=None, tasks=tasks)


def test_a_request_is_a_task_while_it_runs_and_is_forgotten_after():
    tasks = TaskManager("node-a", lambda: 1_700_000_000_000)
    entered, release = threading.Event(), threading.Event()
    app = _blocking_app(tasks, entered, release)
    with TestClient(app, base_url="https://node") as client:
        answers: list[int] = []
        worker = threading.Thread(
            target=lambda: answers.append(client.post("/books/_search", json={}).status_code)
        )
        worker.start()
        assert entered.wait(10)
        (running,) = tasks.running()
        info = running.info()
        assert (info["action"], info["description"]) == (
            "indices:data/read/search",
            "indices[books]",
        )
        assert info["cancellable"] is False
        assert tasks.running("indices:data/read/*") == [running]
        release.set()
        worker.join(10)
    assert answers == [200]
    assert tasks.running() == []


def test_a_failing_request_leaves_no_task():
    tasks = TaskManager("node-a", lambda: 0)
    app = _blocking_app(tasks, threading.Event(), threading.Event())
    with TestClient(app, base_url="https://node") as client:
        assert client.get("/books/_doc/1").status_code == 400
    assert tasks.running() == []


@pytest.mark.parametrize(
    ("method", "pattern", "action"),
    [
        ("GET", "/", "cluster:monitor/main"),
        ("POST", "/{index}/_search", "indices:data/read/search"),
        ("GET", "/_search/scroll/{scroll_id}", "indices:data/read/scroll"),
        ("POST", "/_msearch", "indices:data/read/msearch"),
        ("GET", "/{index}/_doc/{id}", "indices:data/read/get"),
        ("PUT", "/{index}/_doc/{id}", "indices:data/write/index"),
        ("DELETE", "/{index}/_doc/{id}", "indices:data/write/delete"),
        ("POST", "/_bulk", "indices:data/write/bulk"),
        ("PUT", "/{index}", "indices:admin/create"),
        ("DELETE", "/{index}", "indices:admin/delete"),
        ("GET", "/_cluster/health", "cluster:monitor/health"),
        ("GET", "/_nodes/{node_id}/stats/{metric}", "cluster:monitor/nodes/stats"),
        ("GET", "/_tasks", "cluster:monitor/tasks/lists"),
        ("GET", "/_cat/tasks", "cluster:monitor/tasks/lists"),
        ("POST", "/_reindex/{task_id}/_rethrottle", "cluster:admin/reindex/rethrottle"),
        ("PUT", "/_index_template/{name}", "cluster:admin/index_template/put"),
    ],
)
def test_action_names_follow_elasticsearch(method, pattern, action):
    assert action_for(method, pattern) == action


def test_routes_that_register_their_own_task_are_not_tracked_twice():
    assert action_for("POST", "/_reindex") is None
    assert action_for("POST", "/{index}/_delete_by_query") is None


def test_api_of_names_the_first_underscore_segment():
    assert api_of("/{index}/_doc/{id}") == "_doc"
    assert api_of("/_cluster/health/{index}") == "_cluster/health"
    assert api_of("/{index}") == ""
