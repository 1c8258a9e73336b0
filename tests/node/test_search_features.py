"""Highlighting, fields, collapse, the newer queries and the search tools, through the API."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from citadel.node.engine.query import lucene_regex
from citadel.node.errors import IllegalArgument
from tests.node.builders import error_of

NDJSON = {"content-type": "application/x-ndjson"}
MAPPINGS = {
    "properties": {
        "title": {"type": "text", "fields": {"raw": {"type": "keyword"}}},
        "body": {"type": "text", "analyzer": "english"},
        "tag": {"type": "keyword"},
        "n": {"type": "long"},
        "day": {"type": "date"},
    }
}
DOCS = {
    "1": {
        "title": "The quick brown fox",
        "body": "Foxes jump. Dogs sleep.",
        "tag": "a",
        "n": 3,
        "day": "2024-01-02",
    },
    "2": {
        "title": "Quick recipes",
        "body": "Cooking quickly",
        "tag": "b",
        "n": 1,
        "day": "2024-01-01",
    },
    "3": {
        "title": "Lazy brown dog",
        "body": "Dogs are lazy",
        "tag": "a",
        "n": 2,
        "day": "2024-01-03",
    },
}


@pytest.fixture
def docs(es: TestClient) -> TestClient:
    assert es.put("/docs", json={"mappings": MAPPINGS}).status_code == 200
    lines = []
    for doc_id, doc in DOCS.items():
        lines += [json.dumps({"index": {"_index": "docs", "_id": doc_id}}), json.dumps(doc)]
    response = es.post("/_bulk?refresh=true", content="\n".join(lines) + "\n", headers=NDJSON)
    assert not response.json()["errors"]
    return es


def search(es: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = es.post("/docs/_search", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def ids(body: dict[str, Any]) -> list[str]:
    return [h["_id"] for h in body["hits"]["hits"]]


def test_highlight_marks_the_matched_terms(docs: TestClient):
    body = search(
        docs, {"query": {"match": {"title": "quick fox"}}, "highlight": {"fields": {"title": {}}}}
    )
    marked = {h["_id"]: h["highlight"]["title"] for h in body["hits"]["hits"]}
    assert marked["1"] == ["The <em>quick</em> brown <em>fox</em>"]
    assert marked["2"] == ["<em>Quick</em> recipes"]


def test_highlight_uses_the_field_analyzer_and_custom_tags(docs: TestClient):
    body = search(
        docs,
        {
            "query": {"match": {"body": "fox"}},
            "highlight": {"pre_tags": ["["], "post_tags": ["]"], "fields": {"b*": {}}},
        },
    )
    assert body["hits"]["hits"][0]["highlight"] == {"body": ["[Foxes] jump. Dogs sleep."]}


def test_highlight_require_field_match_false_marks_other_fields(docs: TestClient):
    body = search(
        docs,
        {
            "query": {"match": {"title": "dog"}},
            "highlight": {"require_field_match": False, "fields": {"body": {}}},
        },
    )
    assert body["hits"]["hits"][0]["highlight"] == {"body": ["<em>Dogs</em> are lazy"]}


def test_highlight_fragments_and_no_match_size(docs: TestClient):
    body = search(
        docs,
        {
            "query": {"ids": {"values": ["2"]}},
            "highlight": {"fields": {"title": {"no_match_size": 5}}},
        },
    )
    assert body["hits"]["hits"][0]["highlight"] == {"title": ["Quick"]}


def test_highlight_query_replaces_the_search_query(docs: TestClient):
    body = search(
        docs,
        {
            "query": {"ids": {"values": ["3"]}},
            "highlight": {"fields": {"title": {"highlight_query": {"match": {"title": "lazy"}}}}},
        },
    )
    assert body["hits"]["hits"][0]["highlight"] == {"title": ["<em>Lazy</em> brown dog"]}


def test_fields_and_docvalue_fields(docs: TestClient):
    body = search(
        docs,
        {
            "query": {"ids": {"values": ["1"]}},
            "_source": False,
            "fields": ["title*", {"field": "day", "format": "yyyy/MM/dd"}, "n"],
            "docvalue_fields": ["tag"],
        },
    )
    assert body["hits"]["hits"][0]["fields"] == {
        "title": ["The quick brown fox"],
        "title.raw": ["The quick brown fox"],
        "day": ["2024/01/02"],
        "n": [3],
        "tag": ["a"],
    }
    assert "_source" not in body["hits"]["hits"][0]


def test_docvalue_fields_on_text_is_refused(docs: TestClient):
    response = docs.post("/docs/_search", json={"docvalue_fields": ["title"]})
    assert "Fielddata is disabled" in error_of(response, 400)["reason"]


def test_stored_fields_none_drops_source_and_id(docs: TestClient):
    hit = search(docs, {"stored_fields": "_none_", "size": 1})["hits"]["hits"][0]
    assert "_source" not in hit
    assert "_id" not in hit


def test_collapse_keeps_the_best_hit_per_value(docs: TestClient):
    body = search(docs, {"collapse": {"field": "tag"}, "sort": [{"n": "desc"}]})
    assert ids(body) == ["1", "2"]
    assert body["hits"]["hits"][0]["fields"] == {"tag": ["a"]}


def test_collapse_inner_hits_is_refused(docs: TestClient):
    response = docs.post(
        "/docs/_search", json={"collapse": {"field": "tag", "inner_hits": {"name": "x"}}}
    )
    assert "inner_hits" in error_of(response, 400)["reason"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"fuzzy": {"title": {"value": "quack"}}}, ["1", "2"]),
        ({"fuzzy": {"tag": "c"}}, []),  # AUTO: no edits under 3 characters
        ({"fuzzy": {"tag": {"value": "c", "fuzziness": 1}}}, ["1", "2", "3"]),
        ({"match": {"title": {"query": "quik", "fuzziness": "AUTO"}}}, ["1", "2"]),
        ({"regexp": {"title": "br.*n"}}, ["1", "3"]),
        ({"regexp": {"title.raw": "Quick.*"}}, ["2"]),
        ({"match_bool_prefix": {"title": "brown f"}}, ["1", "3"]),
        ({"term": {"_id": "2"}}, ["2"]),
        ({"terms": {"_id": ["1", "3"]}}, ["1", "3"]),
        ({"term": {"_index": "docs"}}, ["1", "2", "3"]),
        ({"wildcard": {"_index": "oth*"}}, []),
    ],
)
def test_term_level_and_fuzzy_queries(docs: TestClient, query: dict, expected: list[str]):
    body = search(docs, {"query": query, "sort": ["_doc"]})
    assert sorted(ids(body)) == expected


def test_regexp_complement_is_refused_not_misread(docs: TestClient):
    response = docs.post("/docs/_search", json={"query": {"regexp": {"tag": "~a"}}})
    assert "not supported" in error_of(response, 400)["reason"]


def test_lucene_regex_translation():
    assert lucene_regex('a"b.c"@^', frozenset({"ALL"})) == r"ab\.c.*\^"
    assert lucene_regex("a~b", frozenset({"NONE"})) == r"a\~b"
    with pytest.raises(IllegalArgument):
        lucene_regex("<1-5>", frozenset({"ALL"}))


def test_indices_boost_multiplies_an_index_scores(docs: TestClient):
    plain = search(docs, {"query": {"match": {"title": "quick"}}})
    boosted = search(
        docs, {"query": {"match": {"title": "quick"}}, "indices_boost": [{"do*": 2.0}]}
    )
    assert boosted["hits"]["max_score"] == pytest.approx(plain["hits"]["max_score"] * 2)


def test_terminate_after_caps_the_count(docs: TestClient):
    body = search(docs, {"terminate_after": 1})
    assert body["terminated_early"] is True
    assert body["hits"]["total"]["value"] == 1


def test_explain_of_a_matching_and_a_missing_document(docs: TestClient):
    found = docs.post("/docs/_explain/1", json={"query": {"match": {"title": "fox"}}}).json()
    assert found["matched"] is True
    assert found["explanation"]["value"] > 0
    other = docs.post("/docs/_explain/2", json={"query": {"match": {"title": "fox"}}}).json()
    assert other["matched"] is False
    missing = docs.post("/docs/_explain/9", json={"query": {"match_all": {}}})
    assert (missing.status_code, missing.json()["matched"]) == (404, False)


def test_validate_query(docs: TestClient):
    good = docs.post("/docs/_validate/query?explain=true", json={"query": {"term": {"tag": "a"}}})
    assert good.json()["valid"] is True
    assert good.json()["explanations"] == [{"index": "docs", "valid": True, "explanation": "tag:a"}]
    bad = docs.post("/docs/_validate/query", json={"query": {"nope": {}}})
    assert bad.json()["valid"] is False


def test_terms_enum_lists_keyword_terms_in_order(docs: TestClient):
    body = docs.post("/docs/_terms_enum", json={"field": "title.raw", "string": "Qu"}).json()
    assert body["terms"] == ["Quick recipes"]
    assert body["complete"] is True
    everything = docs.post("/docs/_terms_enum", json={"field": "tag"}).json()
    assert everything["terms"] == ["a", "b"]
    text = docs.post("/docs/_terms_enum", json={"field": "title"}).json()
    assert text["terms"] == []


def test_search_shards_names_the_one_shard(docs: TestClient):
    body = docs.get("/docs/_search_shards").json()
    (shard,) = body["shards"][0]
    assert shard["index"] == "docs"
    assert shard["primary"] is True
    assert shard["node"] in body["nodes"]


def test_still_unsupported_options_are_400(docs: TestClient):
    response = docs.post("/docs/_search", json={"rescore": {}})
    assert "not supported" in error_of(response, 400)["reason"]


@pytest.mark.parametrize(
    ("body", "params"),
    [
        ({"profile": True}, {}),
        ({"stats": ["group1"]}, {}),
        ({"ext": {"my_plugin": {}}}, {}),
        ({}, {"stats": "group1"}),
    ],
)
def test_options_this_node_has_nothing_behind_are_refused_not_ignored(es, body, params):
    es.put("/plain/_doc/1?refresh=true", json={"t": "x"})
    response = es.post("/plain/_search", params=params, json=body)
    assert response.status_code == 400
    assert "is not supported by this node" in response.json()["error"]["reason"]


def test_their_off_values_are_accepted(es):
    es.put("/plain/_doc/1?refresh=true", json={"t": "x"})
    body = {"profile": False, "stats": [], "ext": {}}
    assert es.post("/plain/_search", json=body).status_code == 200
