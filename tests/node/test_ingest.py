"""Ingest pipelines through the REST API: storing, simulating, and running on writes."""

from __future__ import annotations

import json

NDJSON = {"content-type": "application/x-ndjson"}


def put_pipeline(es, name, *processors, **extra):
    response = es.put(f"/_ingest/pipeline/{name}", json={"processors": list(processors), **extra})
    assert response.status_code == 200, response.text
    return response


def test_pipeline_is_stored_as_sent_and_listed_by_wildcard(es):
    put_pipeline(es, "logs", {"set": {"field": "a", "value": 1}}, description="d", version=3)
    assert es.get("/_ingest/pipeline/logs").json() == {
        "logs": {
            "processors": [{"set": {"field": "a", "value": 1}}],
            "description": "d",
            "version": 3,
        }
    }
    assert list(es.get("/_ingest/pipeline/lo*").json()) == ["logs"]
    assert es.get("/_ingest/pipeline").status_code == 200


def test_missing_pipeline_is_404_empty_and_delete_404(es):
    response = es.get("/_ingest/pipeline/nope")
    assert (response.status_code, response.json()) == (404, {})
    response = es.delete("/_ingest/pipeline/nope")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "resource_not_found_exception"
    assert es.delete("/_ingest/pipeline/nope*").json() == {"acknowledged": True}


def test_delete_removes_the_pipeline(es):
    put_pipeline(es, "p")
    assert es.delete("/_ingest/pipeline/p").json() == {"acknowledged": True}
    assert es.get("/_ingest/pipeline/p").status_code == 404


def test_unknown_processor_is_a_parse_exception(es):
    response = es.put("/_ingest/pipeline/p", json={"processors": [{"nope": {}}]})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "parse_exception"
    assert error["reason"] == "No processor type exists with name [nope]"
    assert error["processor_type"] == "nope"


def test_missing_required_property_names_it(es):
    response = es.put("/_ingest/pipeline/p", json={"processors": [{"set": {"value": 1}}]})
    error = response.json()["error"]
    assert (response.status_code, error["reason"], error["property_name"]) == (
        400,
        "[field] required property is missing",
        "field",
    )


def test_unknown_processor_setting_is_refused(es):
    response = es.put(
        "/_ingest/pipeline/p", json={"processors": [{"set": {"field": "a", "value": 1, "x": 2}}]}
    )
    assert response.status_code == 400
    assert "doesn't support one or more provided configuration parameters [x]" in response.text


def test_if_condition_is_refused_as_a_script(es):
    response = es.put(
        "/_ingest/pipeline/p",
        json={"processors": [{"set": {"field": "a", "value": 1, "if": "ctx.b == 1"}}]},
    )
    assert response.status_code == 400
    assert "scripts are not supported" in response.json()["error"]["reason"]


def test_template_beyond_field_substitution_is_refused(es):
    response = es.put(
        "/_ingest/pipeline/p",
        json={"processors": [{"set": {"field": "a", "value": "{{#each}}x{{/each}}"}}]},
    )
    assert response.status_code == 400


def test_simulate_with_inline_pipeline(es, node_clock):
    body = {
        "pipeline": {"processors": [{"set": {"field": "greeting", "value": "hi {{name}}"}}]},
        "docs": [{"_index": "i", "_id": "1", "_source": {"name": "ann"}}],
    }
    doc = es.post("/_ingest/pipeline/_simulate", json=body).json()["docs"][0]["doc"]
    assert (doc["_index"], doc["_id"], doc["_version"]) == ("i", "1", "-3")
    assert doc["_source"] == {"name": "ann", "greeting": "hi ann"}
    assert doc["_ingest"]["timestamp"].endswith("Z")


def test_simulate_verbose_lists_each_processor(es):
    body = {
        "pipeline": {
            "processors": [
                {"uppercase": {"field": "name", "tag": "up"}},
                {"rename": {"field": "missing", "target_field": "x", "ignore_failure": True}},
                {"drop": {}},
            ]
        },
        "docs": [{"_source": {"name": "ann"}}],
    }
    results = es.post("/_ingest/pipeline/_simulate?verbose", json=body).json()["docs"][0]
    steps = results["processor_results"]
    assert [(s["processor_type"], s["status"]) for s in steps] == [
        ("uppercase", "success"),
        ("rename", "error_ignored"),
        ("drop", "dropped"),
    ]
    assert steps[0]["tag"] == "up"
    assert steps[0]["doc"]["_source"] == {"name": "ANN"}
    assert steps[1]["ignored_error"]["error"]["reason"] == "field [missing] doesn't exist"


def test_simulate_reports_a_failing_document(es):
    put_pipeline(es, "p", {"fail": {"message": "bad {{name}}"}})
    body = {"docs": [{"_source": {"name": "ann"}}]}
    doc = es.post("/_ingest/pipeline/p/_simulate", json=body).json()["docs"][0]
    assert doc["error"]["type"] == "fail_processor_exception"
    assert doc["error"]["reason"] == "bad ann"


def test_index_with_pipeline_param(es):
    put_pipeline(es, "p", {"lowercase": {"field": "name"}}, {"remove": {"field": "tmp"}})
    response = es.put("/people/_doc/1?pipeline=p", json={"name": "ANN", "tmp": 1})
    assert response.status_code == 201
    assert es.get("/people/_doc/1").json()["_source"] == {"name": "ann"}


def test_missing_pipeline_refuses_the_write(es):
    response = es.put("/people/_doc/1?pipeline=nope", json={"name": "ANN"})
    assert response.status_code == 400
    assert response.json()["error"]["reason"] == "pipeline with id [nope] does not exist"


def test_default_and_final_pipelines_run_and_none_skips_the_default(es):
    put_pipeline(es, "first", {"set": {"field": "first", "value": True}})
    put_pipeline(es, "last", {"set": {"field": "last", "value": True}})
    settings = {"index.default_pipeline": "first", "index.final_pipeline": "last"}
    assert es.put("/people", json={"settings": settings}).status_code == 200
    es.put("/people/_doc/1", json={"a": 1})
    assert es.get("/people/_doc/1").json()["_source"] == {"a": 1, "first": True, "last": True}
    es.put("/people/_doc/2?pipeline=_none", json={"a": 1})
    assert es.get("/people/_doc/2").json()["_source"] == {"a": 1, "last": True}


def test_drop_answers_noop_and_writes_nothing(es):
    put_pipeline(es, "p", {"drop": {}})
    response = es.put("/people/_doc/1?pipeline=p", json={"a": 1})
    assert response.status_code == 200
    assert response.json()["result"] == "noop"
    assert es.get("/people/_doc/1").status_code == 404


def test_on_failure_sees_the_failure_metadata(es):
    put_pipeline(
        es,
        "p",
        {"rename": {"field": "x", "target_field": "y"}},
        on_failure=[{"set": {"field": "why", "value": "{{_ingest.on_failure_message}}"}}],
    )
    es.put("/people/_doc/1?pipeline=p", json={"a": 1})
    assert es.get("/people/_doc/1").json()["_source"] == {
        "a": 1,
        "why": "field [x] doesn't exist",
    }


def test_bulk_items_take_their_own_pipeline(es):
    put_pipeline(es, "up", {"uppercase": {"field": "n"}})
    put_pipeline(es, "drop", {"drop": {}})
    lines = [
        {"index": {"_index": "people", "_id": "1", "pipeline": "up"}},
        {"n": "a"},
        {"index": {"_index": "people", "_id": "2"}},
        {"n": "b"},
        {"index": {"_index": "people", "_id": "3", "pipeline": "drop"}},
        {"n": "c"},
    ]
    body = "".join(json.dumps(line) + "\n" for line in lines)
    items = es.post("/_bulk", content=body, headers=NDJSON).json()["items"]
    assert items[2]["index"]["result"] == "noop"
    assert es.get("/people/_doc/1").json()["_source"] == {"n": "A"}
    assert es.get("/people/_doc/2").json()["_source"] == {"n": "b"}
    assert es.get("/people/_doc/3").status_code == 404


def test_pipeline_processor_and_cycle(es):
    put_pipeline(es, "inner", {"set": {"field": "inner", "value": 1}})
    put_pipeline(es, "outer", {"pipeline": {"name": "inner"}})
    es.put("/people/_doc/1?pipeline=outer", json={})
    assert es.get("/people/_doc/1").json()["_source"] == {"inner": 1}
    put_pipeline(es, "loop", {"pipeline": {"name": "loop"}})
    response = es.put("/people/_doc/2?pipeline=loop", json={})
    assert response.status_code == 400
    assert "Cycle detected" in response.json()["error"]["reason"]


def test_grok_patterns_are_listed(es):
    patterns = es.get("/_ingest/processor/grok").json()["patterns"]
    assert {"COMBINEDAPACHELOG", "IP"} <= set(patterns)


def test_simulate_ingest_reports_executed_pipelines(es):
    put_pipeline(es, "first", {"set": {"field": "x", "value": 1}})
    es.put("/people", json={"settings": {"index.default_pipeline": "first"}})
    body = {"docs": [{"_index": "people", "_id": "1", "_source": {"a": 1}}]}
    doc = es.post("/_ingest/_simulate", json=body).json()["docs"][0]["doc"]
    assert doc["executed_pipelines"] == ["first"]
    assert doc["_source"] == {"a": 1, "x": 1}
    assert es.get("/people/_doc/1").status_code == 404


def test_deleting_a_default_pipeline_in_use_is_refused(es):
    put_pipeline(es, "first")
    es.put("/people", json={"settings": {"index.default_pipeline": "first"}})
    assert es.delete("/_ingest/pipeline/first").status_code == 400


def test_a_pipeline_may_reroute_the_document(es):
    put_pipeline(es, "p", {"set": {"field": "_index", "value": "other"}})
    response = es.put("/people/_doc/1?pipeline=p", json={"a": 1})
    assert response.json()["_index"] == "other"
    assert es.get("/other/_doc/1").json()["_source"] == {"a": 1}
