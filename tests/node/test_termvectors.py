"""``_termvectors`` and ``_mtermvectors``: vectors re-analyzed from the source, index statistics."""

from __future__ import annotations

import pytest

from citadel.node import termvectors as tv
from tests.node.builders import client_as

MAPPINGS = {
    "properties": {
        "text": {"type": "text", "term_vector": "with_positions_offsets"},
        "plain": {"type": "text"},
        "tag": {"type": "keyword"},
        "en": {"type": "text", "analyzer": "english"},
    }
}


@pytest.fixture
def books(es):
    assert es.put("/books", json={"mappings": MAPPINGS}).status_code == 200
    es.put("/books/_doc/1", json={"text": "The quick brown fox is brown.", "plain": "Red fox"})
    es.put("/books/_doc/2", json={"text": "brown dog", "en": "dogs run", "tag": ["A", "b"]})
    es.post("/books/_refresh")
    return es


def test_mapped_term_vectors_come_with_positions_offsets_and_statistics(books):
    body = books.get("/books/_termvectors/1?term_statistics=true").json()
    assert (body["_id"], body["_version"], body["found"]) == ("1", 1, True)
    assert list(body["term_vectors"]) == ["text"]  # plain keeps no term vector
    text = body["term_vectors"]["text"]
    assert text["field_statistics"] == {"sum_doc_freq": 7, "doc_count": 2, "sum_ttf": 8}
    assert list(text["terms"]) == ["brown", "fox", "is", "quick", "the"]
    assert text["terms"]["brown"] == {
        "doc_freq": 2,
        "ttf": 3,
        "term_freq": 2,
        "tokens": [
            {"position": 2, "start_offset": 10, "end_offset": 15},
            {"position": 5, "start_offset": 23, "end_offset": 28},
        ],
    }


def test_mtermvectors_takes_docs_and_ids(books):
    body = books.post(
        "/books/_mtermvectors?term_statistics=true",
        json={"ids": ["1", "2"], "parameters": {"positions": False, "offsets": False}},
    ).json()
    assert [d["_id"] for d in body["docs"]] == ["1", "2"]
    assert body["docs"][0]["term_vectors"]["text"]["terms"]["brown"] == {
        "doc_freq": 2,
        "ttf": 3,
        "term_freq": 2,
    }


def test_mtermvectors_failures_are_per_item(books):
    body = books.post(
        "/_mtermvectors",
        json={"docs": [{"_index": "missing", "_id": "1"}, {"_index": "books", "_id": "2"}]},
    ).json()
    assert body["docs"][0]["error"]["type"] == "index_not_found_exception"
    assert body["docs"][1]["found"] is True


def test_fields_generate_vectors_for_any_text_or_keyword_field(books):
    body = books.get("/books/_termvectors/2?fields=en,tag,pl*&field_statistics=false").json()
    vectors = body["term_vectors"]
    assert sorted(vectors) == ["en", "tag"]
    assert list(vectors["en"]["terms"]) == ["dog", "run"]  # the english analyzer stems
    assert vectors["tag"]["terms"]["b"]["tokens"] == [
        {"position": 1, "start_offset": 2, "end_offset": 3}
    ]


def test_a_missing_document_is_found_false(books):
    body = books.get("/books/_termvectors/nope").json()
    assert body == {"_index": "books", "_id": "nope", "_version": 0, "found": False, "took": 0}


def test_artificial_document_with_filter_keeps_the_best_terms(books):
    body = books.post(
        "/books/_termvectors",
        json={"doc": {"text": "brown cow brown fox"}, "filter": {"max_num_terms": 1}},
    ).json()
    assert "_id" not in body
    terms = body["term_vectors"]["text"]["terms"]
    assert list(terms) == ["brown"]
    assert terms["brown"]["score"] == 2.0


def test_per_field_analyzer_reanalyzes_a_field(books):
    body = books.post(
        "/books/_termvectors/1", json={"per_field_analyzer": {"plain": "whitespace"}}
    ).json()
    assert list(body["term_vectors"]["plain"]["terms"]) == ["Red", "fox"]


def test_version_mismatch_is_a_conflict(books):
    response = books.get("/books/_termvectors/1?version=7")
    assert response.status_code == 409


@pytest.mark.parametrize(
    ("path", "body", "names"),
    [
        ("/books/_termvectors/1", {"filter": {"max_terms": 1}}, "max_terms"),
        ("/books/_termvectors/1", {"per_field_analyzer": {"text": "german"}}, "german"),
        ("/books/_termvectors/1?version_type=external", None, "version_type"),
        ("/books/_termvectors/1?foo=1", None, "foo"),
        ("/books/_termvectors", {}, "id or doc"),
        ("/_mtermvectors", {"docs": [{"_id": "1"}]}, "index is missing"),
    ],
)
def test_bad_requests_are_a_400_naming_the_problem(books, path, body, names):
    response = books.post(path, json=body) if body is not None else books.get(path)
    assert response.status_code == 400
    assert names in response.json()["error"]["reason"]


def test_reading_term_vectors_needs_read_on_the_index(books, node_app, node_services):
    grants = [{"names": ["other"], "privileges": ["read"]}]
    with client_as(node_app, node_services, "nobody", grants) as bob:
        assert bob.get("/books/_termvectors/1").status_code == 403


def test_offsets_count_utf16_units():
    spec = tv.FieldSpec("t", ("😀 ab",), "standard", True, True)
    assert tv.field_terms(spec)["ab"] == [tv.Token(0, 3, 5)]


def test_filter_drops_noise_before_scoring():
    tokens = {"a": [tv.Token(0, 0, 1)], "bb": [tv.Token(1, 2, 4)] * 2}
    chosen = tv.best_terms(tokens, {"a": 1, "bb": 1}, 10, tv.TermFilter(min_word_length=2))
    assert list(chosen) == ["bb"]
