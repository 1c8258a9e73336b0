"""_rank_eval through the REST API over a small index."""

from __future__ import annotations

import pytest

from tests.node.builders import client_as, error_of


@pytest.fixture
def docs(es):
    es.put("/docs", json={"mappings": {"properties": {"text": {"type": "text"}}}})
    texts = {"1": "amsterdam canals", "2": "amsterdam amsterdam museum", "3": "berlin"}
    for doc_id, text in texts.items():
        es.put(f"/docs/_doc/{doc_id}", json={"text": text})
    es.post("/docs/_refresh")
    return es


def rated(request_id, query, *ratings, **extra):
    return {
        "id": request_id,
        "request": {"query": query},
        "ratings": [{"_index": "docs", "_id": i, "rating": r} for i, r in ratings],
        **extra,
    }


def test_precision_answer_has_elasticsearchs_shape(docs):
    body = {
        "requests": [rated("q", {"match": {"text": "amsterdam"}}, ("2", 1), ("3", 1))],
        "metric": {"precision": {"k": 5}},
    }
    out = docs.post("/docs/_rank_eval", json=body).json()
    detail = out["details"]["q"]
    assert out["metric_score"] == 0.5
    assert out["failures"] == {}
    assert detail["metric_score"] == 0.5
    assert detail["metric_details"] == {
        "precision": {"relevant_docs_retrieved": 1, "docs_retrieved": 2}
    }
    assert [h["hit"]["_id"] for h in detail["hits"]] == ["2", "1"]
    assert [h["rating"] for h in detail["hits"]] == [1, None]
    assert detail["unrated_docs"] == [{"_index": "docs", "_id": "1"}]
    assert set(detail["hits"][0]["hit"]) >= {"_index", "_id", "_score"}
    assert "_source" not in detail["hits"][0]["hit"]


def test_summary_fields_bring_those_source_fields(docs):
    body = {
        "requests": [rated("q", {"match": {"text": "berlin"}}, ("3", 1), summary_fields=["text"])],
        "metric": {"recall": {}},
    }
    hit = docs.post("/docs/_rank_eval", json=body).json()["details"]["q"]["hits"][0]["hit"]
    assert hit["_source"] == {"text": "berlin"}


def test_the_overall_score_is_the_mean_over_requests(docs):
    body = {
        "requests": [
            rated("hit", {"match": {"text": "berlin"}}, ("3", 1)),
            rated("miss", {"match": {"text": "berlin"}}, ("1", 1)),
        ],
        "metric": {"mean_reciprocal_rank": {}},
    }
    out = docs.post("/_rank_eval", json=body).json()
    assert out["metric_score"] == 0.5
    assert out["details"]["miss"]["metric_details"] == {
        "mean_reciprocal_rank": {"first_relevant": -1}
    }


def test_a_failing_request_lands_in_failures(docs):
    body = {
        "requests": [
            rated("bad", {"nonsense": {}}, ("1", 1)),
            rated("good", {"match_all": {}}, ("1", 1)),
        ],
        "metric": {"precision": {}},
    }
    out = docs.post("/docs/_rank_eval", json=body).json()
    assert list(out["details"]) == ["good"]
    assert out["failures"]["bad"]["error"]["type"] == "parsing_exception"


def test_templated_requests_render_with_their_params(docs):
    body = {
        "templates": [{"id": "t", "template": {"source": {"query": {"match": {"text": "{{q}}"}}}}}],
        "requests": [
            {
                "id": "q",
                "template_id": "t",
                "params": {"q": "berlin"},
                "ratings": [{"_index": "docs", "_id": "3", "rating": 2}],
            }
        ],
        "metric": {"dcg": {"normalize": True}},
    }
    out = docs.post("/docs/_rank_eval", json=body).json()
    assert out["details"]["q"]["metric_score"] == 1.0


def test_unknown_template_id_is_refused(docs):
    body = {
        "requests": [{"id": "q", "template_id": "t", "params": {"q": "x"}, "ratings": []}],
        "metric": {"precision": {}},
    }
    assert "uses template [t]" in error_of(docs.post("/docs/_rank_eval", json=body), 400)["reason"]


def test_no_requests_is_refused(docs):
    body = {"requests": [], "metric": {"precision": {}}}
    error = error_of(docs.post("/docs/_rank_eval", json=body), 400)
    assert error["reason"].startswith("Cannot evaluate ranking if no search requests")


def test_no_request_ran_gives_nan_as_elasticsearch(docs):
    body = {"requests": [rated("bad", {"nonsense": {}}, ("1", 1))], "metric": {"precision": {}}}
    assert docs.post("/docs/_rank_eval", json=body).json()["metric_score"] == "NaN"


def test_an_index_the_caller_may_not_read_is_a_failure(docs, node_app, node_services):
    with client_as(
        node_app, node_services, "bob", [{"names": ["other"], "privileges": ["read"]}]
    ) as bob:
        body = {"requests": [rated("q", {"match_all": {}}, ("1", 1))], "metric": {"precision": {}}}
        out = bob.post("/docs/_rank_eval", json=body).json()
        assert out["failures"]["q"]["error"]["type"] == "security_exception"
