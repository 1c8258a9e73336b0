"""Aliases through the REST API: defining them, reading them, and using them as targets."""

from __future__ import annotations

from tests.node.builders import error_of


def make_index(es, name, **body):
    assert es.put(f"/{name}", json=body).status_code == 200


def put_doc(es, index, doc_id, source):
    response = es.put(f"/{index}/_doc/{doc_id}?refresh=true", json=source)
    assert response.status_code in (200, 201), response.text
    return response.json()


def test_put_alias_then_get_it_by_name(es):
    make_index(es, "books")
    assert es.put("/books/_alias/library").json() == {"acknowledged": True}
    assert es.get("/_alias/library").json() == {"books": {"aliases": {"library": {}}}}


def test_head_alias_is_200_when_it_exists_and_404_when_not(es):
    make_index(es, "books")
    es.put("/books/_alias/library")
    assert es.head("/_alias/library").status_code == 200
    assert es.head("/_alias/nothing").status_code == 404


def test_get_missing_alias_is_elasticsearchs_plain_404(es):
    make_index(es, "books")
    response = es.get("/_alias/nothing")
    assert response.status_code == 404
    assert response.json() == {"error": "alias [nothing] missing", "status": 404}


def test_aliases_given_at_creation_show_in_get_index(es):
    make_index(es, "books", aliases={"library": {}, "shelf": {"is_write_index": True}})
    assert es.get("/books").json()["books"]["aliases"] == {
        "library": {},
        "shelf": {"is_write_index": True},
    }


def test_update_aliases_adds_and_removes_atomically(es):
    make_index(es, "a")
    make_index(es, "b")
    body = {
        "actions": [{"add": {"index": "a", "alias": "x"}}, {"add": {"index": "b", "alias": "x"}}]
    }
    assert es.post("/_aliases", json=body).json()["acknowledged"] is True
    assert sorted(es.get("/_alias/x").json()) == ["a", "b"]
    failing = {
        "actions": [
            {"remove": {"index": "a", "alias": "x"}},
            {"remove": {"index": "a", "alias": "y"}},
        ]
    }
    assert es.post("/_aliases", json=failing).status_code == 404
    assert sorted(es.get("/_alias/x").json()) == ["a", "b"]


def test_delete_alias_with_a_wildcard_index(es):
    make_index(es, "a")
    make_index(es, "b")
    es.post("/_aliases", json={"actions": [{"add": {"indices": ["a", "b"], "alias": "x"}}]})
    assert es.delete("/*/_alias/x").json() == {"acknowledged": True}
    assert es.get("/_alias/x").status_code == 404


def test_an_alias_may_not_take_an_index_name(es):
    make_index(es, "a")
    make_index(es, "b")
    error = error_of(es.put("/a/_alias/b"), 400)
    assert error["type"] == "invalid_alias_name_exception"


def test_alias_routing_is_refused_clearly(es):
    make_index(es, "a")
    error = error_of(es.put("/a/_alias/x", json={"routing": "1"}), 400)
    assert "[routing]" in error["reason"]
    assert "not supported" in error["reason"]


def test_search_and_count_through_an_alias_cover_its_indices(es):
    make_index(es, "a")
    make_index(es, "b")
    put_doc(es, "a", "1", {"n": 1})
    put_doc(es, "b", "2", {"n": 2})
    es.post("/_aliases", json={"actions": [{"add": {"indices": ["a", "b"], "alias": "x"}}]})
    assert es.get("/x/_count").json()["count"] == 2
    hits = es.post("/x/_search", json={"sort": ["n"]}).json()["hits"]["hits"]
    assert [h["_index"] for h in hits] == ["a", "b"]


def test_a_filtered_alias_applies_its_filter_to_searches(es):
    make_index(es, "a", mappings={"properties": {"tag": {"type": "keyword"}}})
    put_doc(es, "a", "1", {"tag": "red"})
    put_doc(es, "a", "2", {"tag": "blue"})
    es.put("/a/_alias/reds", json={"filter": {"term": {"tag": "red"}}})
    hits = es.post("/reds/_search", json={}).json()["hits"]["hits"]
    assert [h["_id"] for h in hits] == ["1"]
    assert es.get("/a/_count").json()["count"] == 2


def test_an_invalid_alias_filter_is_a_400(es):
    make_index(es, "a")
    assert es.put("/a/_alias/x", json={"filter": {"no_such_query": {}}}).status_code == 400


def test_writes_through_a_single_index_alias_go_to_that_index(es):
    make_index(es, "a")
    es.put("/a/_alias/x")
    assert put_doc(es, "x", "1", {"n": 1})["_index"] == "a"
    got = es.get("/x/_doc/1").json()
    assert got["_index"] == "a"
    assert got["_source"] == {"n": 1}


def test_writes_through_an_alias_go_to_its_write_index(es):
    make_index(es, "a")
    make_index(es, "b")
    es.post(
        "/_aliases",
        json={
            "actions": [
                {"add": {"index": "a", "alias": "x"}},
                {"add": {"index": "b", "alias": "x", "is_write_index": True}},
            ]
        },
    )
    assert put_doc(es, "x", "1", {"n": 1})["_index"] == "b"


def test_a_multi_index_alias_without_write_index_refuses_writes(es):
    make_index(es, "a")
    make_index(es, "b")
    es.post("/_aliases", json={"actions": [{"add": {"indices": ["a", "b"], "alias": "x"}}]})
    error = error_of(es.put("/x/_doc/1", json={"n": 1}), 400)
    assert "no write index is defined for alias [x]" in error["reason"]


def test_two_write_indices_for_one_alias_are_refused(es):
    make_index(es, "a", aliases={"x": {"is_write_index": True}})
    make_index(es, "b")
    error = error_of(es.put("/b/_alias/x", json={"is_write_index": True}), 400)
    assert "more than one write index" in error["reason"]


def test_deleting_an_index_drops_its_aliases(es):
    make_index(es, "a", aliases={"x": {}})
    es.delete("/a")
    assert es.get("/_alias/x").status_code == 404


def test_deleting_through_an_alias_name_is_refused(es):
    make_index(es, "a", aliases={"x": {}})
    error = error_of(es.delete("/x"), 400)
    assert "matches an alias" in error["reason"]


def test_cat_aliases_lists_each_alias_and_index(es):
    make_index(es, "a", aliases={"x": {"is_write_index": True}})
    rows = es.get("/_cat/aliases?format=json").json()
    assert rows == [
        {
            "alias": "x",
            "index": "a",
            "filter": "-",
            "routing.index": "-",
            "routing.search": "-",
            "is_write_index": "true",
        }
    ]


def test_rollover_of_an_alias_moves_it_to_a_new_index(es):
    make_index(es, "logs-1", aliases={"logs": {}})
    body = es.post("/logs/_rollover").json()
    assert (body["old_index"], body["new_index"], body["rolled_over"]) == (
        "logs-1",
        "logs-000002",
        True,
    )
    assert list(es.get("/_alias/logs").json()) == ["logs-000002"]
