"""The synonyms API through REST: sets, rules, listing, and the analyzer refusal."""

from __future__ import annotations

from tests.node.builders import client_as, error_of

NO_RELOAD = {"_shards": {"total": 0, "successful": 0, "failed": 0}, "reload_details": []}


def put_set(es, name, *rules):
    return es.put(f"/_synonyms/{name}", json={"synonyms_set": list(rules)})


def test_put_set_creates_then_updates(es):
    response = put_set(es, "s", {"id": "r1", "synonyms": "house, home"})
    assert response.json() == {"result": "created", "reload_analyzers_details": NO_RELOAD}
    assert put_set(es, "s", {"id": "r2", "synonyms": "a, b"}).json()["result"] == "updated"
    assert es.get("/_synonyms/s").json() == {
        "count": 1,
        "synonyms_set": [{"id": "r2", "synonyms": "a, b"}],
    }


def test_rules_without_ids_get_generated_ones(es):
    put_set(es, "s", {"synonyms": "house, home"}, {"synonyms": "car => automobile"})
    rules = es.get("/_synonyms/s").json()["synonyms_set"]
    assert sorted(r["synonyms"] for r in rules) == ["car => automobile", "house, home"]
    assert all(len(r["id"]) == 20 for r in rules)


def test_rules_are_listed_by_id_a_page_at_a_time(es):
    put_set(es, "s", *({"id": f"r{i}", "synonyms": f"a{i}, b{i}"} for i in (3, 1, 2)))
    out = es.get("/_synonyms/s?from=1&size=1").json()
    assert out == {"count": 3, "synonyms_set": [{"id": "r2", "synonyms": "a2, b2"}]}


def test_rule_put_get_delete(es):
    put_set(es, "s")
    response = es.put("/_synonyms/s/r", json={"synonyms": "bye, goodbye"})
    assert response.json() == {"result": "created", "reload_analyzers_details": NO_RELOAD}
    assert es.put("/_synonyms/s/r", json={"synonyms": "bye, ciao"}).json()["result"] == "updated"
    assert es.get("/_synonyms/s/r").json() == {"id": "r", "synonyms": "bye, ciao"}
    response = es.delete("/_synonyms/s/r")
    assert response.json() == {"result": "deleted", "reload_analyzers_details": NO_RELOAD}
    assert error_of(es.get("/_synonyms/s/r"), 404)["reason"] == "synonym rule [r] not found"


def test_missing_set_is_404_everywhere(es):
    reason = "synonyms set [nope] not found"
    assert error_of(es.get("/_synonyms/nope"), 404)["reason"] == reason
    assert error_of(es.delete("/_synonyms/nope"), 404)["reason"] == reason
    assert error_of(es.put("/_synonyms/nope/r", json={"synonyms": "a, b"}), 404)["reason"] == reason
    assert error_of(es.get("/_synonyms/nope/r"), 404)["type"] == "resource_not_found_exception"


def test_list_counts_rules_per_set(es):
    put_set(es, "b", {"synonyms": "x, y"})
    put_set(es, "a", {"synonyms": "x, y"}, {"synonyms": "p, q"})
    assert es.get("/_synonyms").json() == {
        "count": 2,
        "results": [{"synonyms_set": "a", "count": 2}, {"synonyms_set": "b", "count": 1}],
    }


def test_delete_set_removes_its_rules(es):
    put_set(es, "s", {"id": "r", "synonyms": "x, y"})
    assert es.delete("/_synonyms/s").json() == {"acknowledged": True}
    put_set(es, "s")
    assert es.get("/_synonyms/s").json() == {"count": 0, "synonyms_set": []}


def test_empty_synonyms_and_unknown_fields_are_refused(es):
    error = error_of(put_set(es, "s", {"synonyms": " "}), 400)
    assert "synonyms field can't be empty" in error["reason"]
    error = error_of(put_set(es, "s", {"synonyms": "a, b", "x": 1}), 400)
    assert "unknown field [x]" in error["reason"]
    error = error_of(es.put("/_synonyms/s", json={"rules": []}), 400)
    assert "unknown field [rules]" in error["reason"]


def test_duplicate_rule_ids_are_refused(es):
    error = error_of(
        put_set(es, "s", {"id": "r", "synonyms": "a, b"}, {"id": "r", "synonyms": "c, d"}), 400
    )
    assert "[r] more than once" in error["reason"]


def test_a_set_holds_at_most_ten_thousand_rules(es):
    rules = [{"synonyms": "a, b"}] * 10_001
    error = error_of(es.put("/_synonyms/s", json={"synonyms_set": rules}), 400)
    assert "cannot exceed 10000" in error["reason"]


def test_using_a_set_in_an_analyzer_is_a_400(es):
    put_set(es, "s", {"synonyms": "a, b"})
    settings = {
        "analysis": {
            "filter": {"syn": {"type": "synonym", "synonyms_set": "s"}},
            "analyzer": {"my": {"tokenizer": "standard", "filter": ["syn"]}},
        }
    }
    error = error_of(es.put("/idx", json={"settings": settings}), 400)
    assert "custom analysis" in error["reason"]


def test_synonyms_need_manage_search_synonyms(node_app, node_services):
    with client_as(node_app, node_services, "bob", [], cluster=["monitor"]) as bob:
        assert bob.get("/_synonyms").status_code == 403
    with client_as(node_app, node_services, "ann", [], cluster=["manage_search_synonyms"]) as ann:
        assert ann.get("/_synonyms").status_code == 200
