"""Enrich policies: stored, executed into an enrich index, and read by the enrich processor."""

from __future__ import annotations

from fastapi.testclient import TestClient

from citadel.node.enrich.execute import enrich_document, value_at
from citadel.node.enrich.policies import parse

POLICY = {"match": {"indices": ["users"], "match_field": "email", "enrich_fields": ["name"]}}


def _users(es: TestClient) -> None:
    es.put("/users", json={"mappings": {"properties": {"email": {"type": "keyword"}}}})
    es.put("/users/_doc/1?refresh=true", json={"email": "a@x.org", "name": "Ann", "age": 3})
    es.put("/users/_doc/2?refresh=true", json={"email": "b@x.org", "name": "Bob"})


def _executed(es: TestClient) -> None:
    _users(es)
    assert es.put("/_enrich/policy/users", json=POLICY).json() == {"acknowledged": True}
    executed = es.put("/_enrich/policy/users/_execute")
    assert executed.json() == {"status": {"phase": "COMPLETE"}}


def test_get_shows_the_stored_policy(es: TestClient) -> None:
    es.put("/_enrich/policy/users", json=POLICY)
    (shown,) = es.get("/_enrich/policy/users").json()["policies"]
    assert shown["config"]["match"]["name"] == "users"
    assert shown["config"]["match"]["enrich_fields"] == ["name"]
    assert es.get("/_enrich/policy/nothing").json() == {"policies": []}


def test_a_policy_cannot_be_replaced(es: TestClient) -> None:
    es.put("/_enrich/policy/users", json=POLICY)
    assert es.put("/_enrich/policy/users", json=POLICY).status_code == 400


def test_geo_match_is_refused_by_name(es: TestClient) -> None:
    body = {"geo_match": POLICY["match"]}
    response = es.put("/_enrich/policy/geo", json=body)
    assert response.status_code == 400
    assert "geo_match" in response.json()["error"]["reason"]


def test_execute_builds_a_hidden_enrich_index(es: TestClient) -> None:
    _executed(es)
    names = es.get("/_cat/indices/.enrich-*?h=index&expand_wildcards=all&format=json").json()
    assert names[0]["index"].startswith(".enrich-users-")


def test_the_enrich_processor_adds_the_matching_document(es: TestClient) -> None:
    _executed(es)
    pipeline = {
        "processors": [{"enrich": {"policy_name": "users", "field": "who", "target_field": "user"}}]
    }
    assert es.put("/_ingest/pipeline/p", json=pipeline).status_code == 200
    es.put("/logs/_doc/1?pipeline=p&refresh=true", json={"who": "b@x.org"})
    source = es.get("/logs/_doc/1").json()["_source"]
    assert source == {"who": "b@x.org", "user": {"email": "b@x.org", "name": "Bob"}}


def test_no_match_leaves_the_document_alone(es: TestClient) -> None:
    _executed(es)
    processor = {"enrich": {"policy_name": "users", "field": "who", "target_field": "user"}}
    body = {"pipeline": {"processors": [processor]}, "docs": [{"_source": {"who": "z@x.org"}}]}
    (doc,) = es.post("/_ingest/pipeline/_simulate", json=body).json()["docs"]
    assert doc["doc"]["_source"] == {"who": "z@x.org"}


def test_max_matches_gives_a_list(es: TestClient) -> None:
    _executed(es)
    processor = {
        "enrich": {
            "policy_name": "users",
            "field": "who",
            "target_field": "user",
            "max_matches": 2,
        }
    }
    body = {"pipeline": {"processors": [processor]}, "docs": [{"_source": {"who": "a@x.org"}}]}
    (doc,) = es.post("/_ingest/pipeline/_simulate", json=body).json()["docs"]
    assert doc["doc"]["_source"]["user"] == [{"email": "a@x.org", "name": "Ann"}]


def test_a_missing_field_fails_unless_ignored(es: TestClient) -> None:
    _executed(es)
    processor = {"policy_name": "users", "field": "who", "target_field": "user"}
    failing = {"pipeline": {"processors": [{"enrich": processor}]}, "docs": [{"_source": {}}]}
    (doc,) = es.post("/_ingest/pipeline/_simulate", json=failing).json()["docs"]
    assert "error" in doc
    ignoring = {"enrich": {**processor, "ignore_missing": True}}
    body = {"pipeline": {"processors": [ignoring]}, "docs": [{"_source": {}}]}
    (doc,) = es.post("/_ingest/pipeline/_simulate", json=body).json()["docs"]
    assert doc["doc"]["_source"] == {}


def test_a_policy_a_pipeline_uses_cannot_be_deleted(es: TestClient) -> None:
    _executed(es)
    processor = {"enrich": {"policy_name": "users", "field": "who", "target_field": "user"}}
    es.put("/_ingest/pipeline/p", json={"processors": [processor]})
    assert es.delete("/_enrich/policy/users").status_code == 400
    es.delete("/_ingest/pipeline/p")
    assert es.delete("/_enrich/policy/users").json() == {"acknowledged": True}
    assert es.get("/_enrich/policy").json() == {"policies": []}


def test_stats_count_lookups(es: TestClient) -> None:
    stats = es.get("/_enrich/_stats").json()
    assert stats["executing_policies"] == []
    assert stats["coordinator_stats"][0]["executed_searches_total"] == 0


def test_enrich_documents_keep_the_match_and_enrich_fields() -> None:
    policy = parse("p", {"match": {"indices": "i", "match_field": "a.b", "enrich_fields": ["c"]}})
    assert enrich_document(policy, {"a": {"b": "k"}, "c": 1, "d": 2}) == {"a.b": "k", "c": 1}
    assert enrich_document(policy, {"c": 1}) is None
    assert value_at({"a.b": 1}, "a.b") == 1
