"""Logstash central management pipelines through REST."""

from __future__ import annotations

from tests.node.builders import client_as, error_of

DOC = {
    "description": "d",
    "last_modified": "2021-01-02T02:50:51.250Z",
    "pipeline_metadata": {"type": "logstash_pipeline", "version": "1"},
    "username": "elastic",
    "pipeline": "input {}\n output {}",
    "pipeline_settings": {"pipeline.workers": 1},
}


def test_put_answers_201_then_200_with_no_body(es):
    first = es.put("/_logstash/pipeline/p1", json=DOC)
    assert (first.status_code, first.content) == (201, b"")
    assert es.put("/_logstash/pipeline/p1", json=DOC).status_code == 200


def test_get_answers_documents_as_sent_by_id(es):
    es.put("/_logstash/pipeline/p1", json=DOC)
    es.put("/_logstash/pipeline/p2", json={**DOC, "description": "two"})
    assert es.get("/_logstash/pipeline/p1").json() == {"p1": DOC}
    assert set(es.get("/_logstash/pipeline").json()) == {"p1", "p2"}
    assert set(es.get("/_logstash/pipeline/p*,x").json()) == {"p1", "p2"}


def test_missing_pipeline_is_404(es):
    response = es.get("/_logstash/pipeline/nope")
    assert (response.status_code, response.json()) == (404, {})
    assert es.delete("/_logstash/pipeline/nope").status_code == 404


def test_delete_removes_the_pipeline(es):
    es.put("/_logstash/pipeline/p1", json=DOC)
    assert es.delete("/_logstash/pipeline/p1").status_code == 200
    assert es.get("/_logstash/pipeline/p1").status_code == 404


def test_invalid_id_and_field_types_are_400(es):
    assert (
        "Invalid pipeline" in error_of(es.put("/_logstash/pipeline/1bad", json=DOC), 400)["reason"]
    )
    error_of(es.put("/_logstash/pipeline/p", json={**DOC, "pipeline": 3}), 400)


def test_pipelines_need_manage_logstash_pipelines(node_app, node_services):
    with client_as(node_app, node_services, "bob", [], cluster=["monitor"]) as bob:
        assert bob.get("/_logstash/pipeline").status_code == 403
    with client_as(
        node_app, node_services, "ann", [], cluster=["manage_logstash_pipelines"]
    ) as ann:
        assert ann.get("/_logstash/pipeline").status_code == 200
