"""_reindex, _update_by_query, _delete_by_query and the tasks API, through the REST API."""

from __future__ import annotations

import time


def seed(es, index, *docs):
    for number, doc in enumerate(docs, start=1):
        assert es.put(f"/{index}/_doc/{number}", json=doc).status_code == 201
    es.post(f"/{index}/_refresh")


def wait_task(es, task_id):
    for _ in range(200):
        body = es.get(f"/_tasks/{task_id}").json()
        if body["completed"]:
            return body
        time.sleep(0.02)
    raise AssertionError("task did not finish")


def test_reindex_copies_every_document(es):
    seed(es, "src", {"a": 1}, {"a": 2})
    response = es.post(
        "/_reindex?refresh=true", json={"source": {"index": "src"}, "dest": {"index": "dst"}}
    )
    body = response.json()
    assert response.status_code == 200
    assert (body["total"], body["created"], body["updated"], body["batches"]) == (2, 2, 0, 1)
    assert body["failures"] == []
    assert es.get("/dst/_doc/2").json()["_source"] == {"a": 2}
    assert es.get("/dst/_count").json()["count"] == 2


def test_reindex_again_updates_and_query_limits(es):
    seed(es, "src", {"a": 1}, {"a": 2})
    es.post("/_reindex", json={"source": {"index": "src"}, "dest": {"index": "dst"}})
    body = es.post(
        "/_reindex",
        json={"source": {"index": "src", "query": {"term": {"a": 2}}}, "dest": {"index": "dst"}},
    ).json()
    assert (body["total"], body["updated"], body["created"]) == (1, 1, 0)


def test_reindex_op_type_create_conflicts(es):
    seed(es, "src", {"a": 1})
    es.post("/_reindex", json={"source": {"index": "src"}, "dest": {"index": "dst"}})
    dest = {"index": "dst", "op_type": "create"}
    response = es.post("/_reindex", json={"source": {"index": "src"}, "dest": dest})
    assert response.status_code == 409
    assert response.json()["failures"][0]["cause"]["type"] == "version_conflict_engine_exception"
    body = es.post(
        "/_reindex", json={"source": {"index": "src"}, "dest": dest, "conflicts": "proceed"}
    ).json()
    assert (body["version_conflicts"], body["failures"]) == (1, [])


def test_reindex_through_a_pipeline_and_max_docs(es):
    es.put("/_ingest/pipeline/up", json={"processors": [{"set": {"field": "p", "value": 1}}]})
    seed(es, "src", {"a": 1}, {"a": 2}, {"a": 3})
    body = es.post(
        "/_reindex?refresh",
        json={
            "source": {"index": "src"},
            "dest": {"index": "dst", "pipeline": "up"},
            "max_docs": 2,
        },
    ).json()
    assert body["created"] == 2
    hits = es.get("/dst/_search").json()["hits"]["hits"]
    assert all(h["_source"]["p"] == 1 for h in hits)


def test_reindex_refuses_remote_scripts_and_same_index(es):
    seed(es, "src", {"a": 1})
    remote = {"source": {"index": "src", "remote": {"host": "http://x"}}, "dest": {"index": "d"}}
    assert es.post("/_reindex", json=remote).status_code == 400
    script = {"source": {"index": "src"}, "dest": {"index": "d"}, "script": {"source": "x"}}
    assert es.post("/_reindex", json=script).status_code == 400
    same = {"source": {"index": "src"}, "dest": {"index": "src"}}
    assert es.post("/_reindex", json=same).status_code == 400


def test_unknown_parameter_is_refused(es):
    seed(es, "src", {"a": 1})
    response = es.post("/src/_delete_by_query?nope=1", json={"query": {"match_all": {}}})
    assert response.status_code == 400
    assert "unrecognized parameter: [nope]" in response.json()["error"]["reason"]


def test_delete_by_query_deletes_the_matches(es):
    seed(es, "people", {"name": "ann"}, {"name": "bob"}, {"name": "cy"})
    response = es.post(
        "/people/_delete_by_query?refresh", json={"query": {"term": {"name": "ann"}}}
    )
    body = response.json()
    assert (body["deleted"], body["total"]) == (1, 1)
    assert es.get("/people/_count").json()["count"] == 2
    assert es.get("/people/_doc/1").status_code == 404


def test_delete_by_query_needs_a_query(es):
    seed(es, "people", {"name": "ann"})
    assert es.post("/people/_delete_by_query", json={}).status_code == 400


def test_update_by_query_bumps_versions_through_a_pipeline(es):
    es.put("/_ingest/pipeline/tag", json={"processors": [{"set": {"field": "t", "value": "x"}}]})
    seed(es, "people", {"name": "ann"}, {"name": "bob"})
    body = es.post("/people/_update_by_query?pipeline=tag&refresh").json()
    assert (body["updated"], body["total"]) == (2, 2)
    doc = es.get("/people/_doc/1").json()
    assert (doc["_version"], doc["_source"]) == (2, {"name": "ann", "t": "x"})


def test_update_by_query_runs_a_simple_script(es):
    seed(es, "people", {"age": 1})
    body = {"query": {"term": {"age": 1}}, "script": {"source": "ctx._source.age++"}}
    assert es.post("/people/_update_by_query", json=body).json()["updated"] == 1
    assert es.get("/people/_doc/1").json()["_source"] == {"age": 2}


def test_update_by_query_with_another_script_is_refused(es):
    seed(es, "people", {"age": 1})
    body = {"script": {"source": "ctx._source.age = ctx._source.age * 2"}}
    response = es.post("/people/_update_by_query", json=body)
    assert response.status_code == 400


def test_update_by_query_reports_a_conflict_when_a_doc_changed(es):
    seed(es, "people", {"name": "ann"})
    es.put("/people/_doc/1", json={"name": "ann2"})  # not refreshed: the snapshot is older
    response = es.post("/people/_update_by_query")
    assert response.status_code == 409
    assert response.json()["version_conflicts"] == 1


def test_wait_for_completion_false_runs_a_task(es):
    seed(es, "people", {"name": "ann"})
    response = es.post(
        "/people/_delete_by_query?wait_for_completion=false", json={"query": {"match_all": {}}}
    )
    task_id = response.json()["task"]
    body = wait_task(es, task_id)
    assert body["task"]["action"] == "indices:data/write/delete/byquery"
    assert body["response"]["deleted"] == 1


def test_unknown_task_is_404_and_malformed_400(es):
    assert es.get("/_tasks/node:123").status_code == 404
    assert es.get("/_tasks/nonsense").status_code == 400


def test_tasks_list_shows_the_listing_itself_and_filters(es):
    nodes = es.get("/_tasks?detailed").json()["nodes"]
    tasks = next(iter(nodes.values()))["tasks"]
    assert [t["action"] for t in tasks.values()] == ["cluster:monitor/tasks/lists"]
    assert es.get("/_tasks?actions=indices:*").json() == {"nodes": {}}
    assert es.post("/_tasks/_cancel?actions=unknown").json() == {"nodes": {}}


def test_rethrottle_of_another_node_is_a_node_failure(es):
    body = es.post("/_delete_by_query/other:7/_rethrottle?requests_per_second=2").json()
    assert body["node_failures"][0]["caused_by"]["type"] == "no_such_node_exception"
