"""`_search` and `_count` through the REST API, on a small corpus with hand-written answers.

Ten books are indexed in order 1..10 (so equal scores tie in that order). Expected hits are
worked out by hand from the corpus below; where the order comes from BM25 the reason is in a
comment (FTS5's bm25 with k1 = 1.2, b = 0.75 over the title lengths; average length 3.9).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from citadel.kit.clock import SettableClock
from tests.node.builders import (
    ELASTIC,
    PASSWORD,
    app_of,
    client_of,
    error_of,
    logs_reader,
    open_node,
)

BOOKS: dict[str, dict[str, Any]] = {
    "1": {
        "title": "The quick brown fox",
        "tags": ["animals", "classic"],
        "year": 1998,
        "price": 9.5,
        "published": "1998-03-01",
        "in_stock": True,
        "author": {"name": "Ann Lee"},
    },
    "2": {
        "title": "Quick recipes for busy people",
        "tags": ["cooking"],
        "year": 2015,
        "price": 21.0,
        "published": "2015-06-10",
        "in_stock": True,
        "author": {"name": "Bob Stone"},
    },
    "3": {
        "title": "The lazy dog sleeps",
        "tags": ["animals"],
        "year": 2003,
        "price": 5.0,
        "published": "2003-01-20",
        "in_stock": False,
    },
    "4": {
        "title": "Brown bread baking",
        "tags": ["cooking", "classic"],
        "year": 2010,
        "price": 15.0,
        "published": "2010-11-05",
        "in_stock": True,
        "author": {"name": "Ann Lee"},
    },
    "5": {
        "title": "Foxes of the northern forest",
        "tags": ["animals", "nature"],
        "year": 2021,
        "price": 30.0,
        "published": "2021-02-14",
        "in_stock": True,
    },
    "6": {
        "title": "A history of bread",
        "tags": ["history"],
        "year": 1987,
        "price": 12.5,
        "published": "1987-09-30",
        "in_stock": False,
    },
    "7": {
        "title": "The fox and the hound",
        "tags": ["animals", "classic"],
        "year": 1967,
        "price": 7.25,
        "published": "1967-05-01",
        "in_stock": True,
    },
    "8": {
        "title": "Baking with kids",
        "tags": ["cooking", "family"],
        "year": 2019,
        "published": "2019-08-15",
        "in_stock": False,
    },
    "9": {
        "title": "Northern lights",
        "tags": ["nature"],
        "year": 2023,
        "price": 18.0,
        "published": "2023-11-30",
        "in_stock": True,
    },
    "10": {
        "title": "Quick quick quick guide",
        "tags": ["guides", "50%_off"],
        "year": 2020,
        "price": 3.0,
        "published": "2020-01-01T10:30:00Z",
        "in_stock": True,
    },
}
MAPPINGS = {
    "properties": {
        "title": {"type": "text", "fields": {"raw": {"type": "keyword"}}},
        "tags": {"type": "keyword"},
        "year": {"type": "integer"},
        "price": {"type": "float"},
        "published": {"type": "date"},
        "in_stock": {"type": "boolean"},
        "author": {"properties": {"name": {"type": "keyword"}}},
    }
}
NOW = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


# -- builders -----------------------------------------------------------------------------


def bulk(es: TestClient, index: str, docs: dict[str, dict[str, Any]]) -> None:
    lines = []
    for doc_id, source in docs.items():
        lines.append(json.dumps({"index": {"_index": index, "_id": doc_id}}))
        lines.append(json.dumps(source))
    response = es.post(
        "/_bulk?refresh=true",
        content="\n".join(lines) + "\n",
        headers={"content-type": "application/x-ndjson"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["errors"] is False, response.text


def load_books(es: TestClient) -> TestClient:
    assert es.put("/books", json={"mappings": MAPPINGS}).status_code == 200
    bulk(es, "books", BOOKS)
    return es


@contextmanager
def node_client(data_dir: Path, clock: SettableClock) -> Iterator[TestClient]:
    """A node of its own, signed in as elastic (the `es` fixture, for a whole module)."""
    with (
        open_node(data_dir, clock) as services,
        client_of(app_of(services), ELASTIC) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One node per module with `books` loaded and its clock at `NOW`, shared by the tests
    that only read (a node costs two slow password hashes)."""
    with node_client(tmp_path_factory.mktemp("books"), SettableClock(NOW)) as client:
        yield load_books(client)


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One node per module with `books`, two log indices (dynamically mapped fields) and
    the user ``bob``, who may read ``logs-*`` only."""
    with node_client(tmp_path_factory.mktemp("logs"), SettableClock(NOW)) as client:
        bulk(client, "books", {"1": BOOKS["1"]})
        bulk(
            client,
            "logs-1",
            {
                "a": {"message": "disk full on node one", "level": "error"},
                "b": {"message": "user signed in", "level": "info"},
            },
        )
        bulk(client, "logs-2", {"c": {"message": "disk replaced", "level": "error"}})
        logs_reader(client)
        yield client


def search(
    es: TestClient, body: dict[str, Any] | None = None, path: str = "/books/_search", **params: Any
):
    response = (
        es.post(path, json=body, params=params) if body is not None else es.get(path, params=params)
    )
    return response


def hits_of(response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return response.json()["hits"]["hits"]


def ids(response) -> list[str]:
    return [hit["_id"] for hit in hits_of(response)]


def query_ids(es: TestClient, query: dict[str, Any], **body: Any) -> list[str]:
    return ids(search(es, {"query": query, "size": 20, **body}))


def millis(text: str) -> int:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


# -- full text ----------------------------------------------------------------------------

# Expected orders from BM25 (tf part = f·2.2 / (f + 1.2·(0.25 + 0.75·len/3.9))):
#   "quick" is in 1 (len 4), 2 (len 5) and 10 (three times, len 4): 10, then 1, then 2.
#   "quick fox": 1 has both (1.97); 10 has quick 3 times (1.19); 7 has fox in 5 tokens
#   (1.10); 2 (0.68).
#   "bread": 4 (len 3) before 6 (len 4).
FULL_TEXT_CASES = [
    ("match one token", {"match": {"title": "quick"}}, ["10", "1", "2"]),
    ("match or", {"match": {"title": "quick fox"}}, ["1", "10", "7", "2"]),
    ("match and", {"match": {"title": {"query": "quick fox", "operator": "and"}}}, ["1"]),
    ("match folds case", {"match": {"title": "QUICK Fox"}}, ["1", "10", "7", "2"]),
    ("match no token", {"match": {"title": "!!!"}}, []),
    (
        "match no token, zero_terms all",
        {"match": {"title": {"query": "!!", "zero_terms_query": "all"}}},
        ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"],
    ),
    ("match unknown word", {"match": {"title": "zebra"}}, []),
    ("match unmapped field", {"match": {"nope": "quick"}}, []),
    ("match bread", {"match": {"title": "bread"}}, ["4", "6"]),
    ("match on keyword is exact", {"match": {"tags": "cooking"}}, ["2", "4", "8"]),
    ("match on keyword whole value", {"match": {"author.name": "Ann Lee"}}, ["1", "4"]),
    ("match on keyword partial value", {"match": {"author.name": "Ann"}}, []),
    ("match on integer", {"match": {"year": "2003"}}, ["3"]),
    ("match on boolean", {"match": {"in_stock": "false"}}, ["3", "6", "8"]),
    ("match on date is the day", {"match": {"published": "2020-01-01"}}, ["10"]),
    ("match_phrase", {"match_phrase": {"title": "quick brown"}}, ["1"]),
    ("match_phrase needs order", {"match_phrase": {"title": "brown quick"}}, []),
    ("match_phrase_prefix", {"match_phrase_prefix": {"title": "quick bro"}}, ["1"]),
    (
        "fts syntax in user text is only words",
        {"match": {"title": 'fox OR "NEAR(" * ^ -zzz NOT:'}},
        ["1", "7"],
    ),
]


@pytest.mark.parametrize(
    ("query", "expected"),
    [case[1:] for case in FULL_TEXT_CASES],
    ids=[case[0] for case in FULL_TEXT_CASES],
)
def test_full_text_queries_find_and_rank(books, query, expected):
    assert query_ids(books, query) == expected


def test_match_minimum_should_match_keeps_documents_with_enough_tokens(books):
    # two of "the fox bread history": 1 (the, fox), 6 (history, bread), 7 (the, fox);
    # 6 ranks first: history and bread are both rare, "the" is common.
    found = query_ids(
        books,
        {"match": {"title": {"query": "the fox bread history", "minimum_should_match": "50%"}}},
    )
    assert found[0] == "6"
    assert sorted(found) == ["1", "6", "7"]


def test_match_minimum_should_match_above_token_count_finds_nothing(books):
    query = {"match": {"title": {"query": "quick fox", "minimum_should_match": 3}}}
    assert query_ids(books, query) == []


def test_match_minimum_should_match_over_many_tokens(books):
    # 4 of 8 tokens is 70 subsets, past the FTS5-expression form: the grouped form runs.
    # Only 1 has four of them (the, quick, brown, fox); 3 has three (the, lazy, dog).
    text = "the fox bread history quick brown lazy dog"
    plain = {
        h["_id"]: h["_score"] for h in hits_of(search(books, {"query": {"match": {"title": text}}}))
    }
    query = {"match": {"title": {"query": text, "minimum_should_match": 4}}}
    hits = hits_of(search(books, {"query": query}))
    assert [h["_id"] for h in hits] == ["1"]
    assert hits[0]["_score"] == pytest.approx(plain["1"])


def test_match_minimum_should_match_scores_like_a_plain_or(books):
    plain = hits_of(search(books, {"query": {"match": {"title": "quick brown fox"}}}))
    at_least_two = hits_of(
        search(
            books,
            {
                "query": {
                    "match": {"title": {"query": "quick brown fox", "minimum_should_match": 2}}
                }
            },
        )
    )
    assert [h["_id"] for h in at_least_two] == ["1"]
    assert at_least_two[0]["_score"] == pytest.approx(plain[0]["_score"])


def test_match_scores_are_positive_and_descending(books):
    hits = hits_of(search(books, {"query": {"match": {"title": "quick fox"}}}))
    scores = [h["_score"] for h in hits]
    assert all(s > 0 for s in scores)
    assert scores == sorted(scores, reverse=True)


def test_boost_multiplies_the_score(books):
    plain = hits_of(search(books, {"query": {"match": {"title": "bread"}}}))
    boosted = hits_of(
        search(books, {"query": {"match": {"title": {"query": "bread", "boost": 3}}}})
    )
    assert boosted[0]["_score"] == pytest.approx(3 * plain[0]["_score"])


# -- multi_match --------------------------------------------------------------------------


def test_multi_match_best_fields_takes_the_best_field(books):
    title = hits_of(search(books, {"query": {"match": {"title": "history"}}}))[0]["_score"]
    hits = hits_of(
        search(books, {"query": {"multi_match": {"query": "history", "fields": ["title", "tags"]}}})
    )
    assert [h["_id"] for h in hits] == ["6"]
    assert hits[0]["_score"] == pytest.approx(title)  # title beats the keyword's 1.0


def test_multi_match_most_fields_sums_fields(books):
    title = hits_of(search(books, {"query": {"match": {"title": "history"}}}))[0]["_score"]
    query = {
        "multi_match": {"query": "history", "fields": ["title", "tags"], "type": "most_fields"}
    }
    hits = hits_of(search(books, {"query": query}))
    assert hits[0]["_score"] == pytest.approx(title + 1.0)


def test_multi_match_tie_breaker_adds_a_share_of_other_fields(books):
    title = hits_of(search(books, {"query": {"match": {"title": "history"}}}))[0]["_score"]
    query = {"multi_match": {"query": "history", "fields": ["title", "tags"], "tie_breaker": 0.5}}
    assert hits_of(search(books, {"query": query}))[0]["_score"] == pytest.approx(title + 0.5)


def test_multi_match_field_boost(books):
    query = {"multi_match": {"query": "classic", "fields": ["title", "tags^2"]}}
    hits = hits_of(search(books, {"query": query}))
    assert [(h["_id"], h["_score"]) for h in hits] == [("1", 2.0), ("4", 2.0), ("7", 2.0)]


def test_multi_match_without_fields_searches_every_field_leniently(books):
    # "classic" is no number, date or boolean: those fields are skipped, not a 400
    assert query_ids(books, {"multi_match": {"query": "classic"}}) == ["1", "4", "7"]


def test_multi_match_field_wildcard(books):
    query = {"multi_match": {"query": "Ann Lee", "fields": ["auth*"]}}
    assert query_ids(books, query) == ["1", "4"]


def test_multi_match_phrase(books):
    query = {"multi_match": {"query": "quick brown", "fields": ["title"], "type": "phrase"}}
    assert query_ids(books, query) == ["1"]


# -- term level ---------------------------------------------------------------------------

TERM_CASES = [
    ("term keyword", {"term": {"tags": "cooking"}}, ["2", "4", "8"]),
    ("term keyword object form", {"term": {"tags": {"value": "nature"}}}, ["5", "9"]),
    ("term keyword is case sensitive", {"term": {"tags": "Cooking"}}, []),
    (
        "term keyword case_insensitive",
        {"term": {"tags": {"value": "Cooking", "case_insensitive": True}}},
        ["2", "4", "8"],
    ),
    ("term object field", {"term": {"author.name": "Ann Lee"}}, ["1", "4"]),
    ("term integer", {"term": {"year": 2010}}, ["4"]),
    ("term float", {"term": {"price": 7.25}}, ["7"]),
    ("term boolean", {"term": {"in_stock": False}}, ["3", "6", "8"]),
    ("term boolean as text", {"term": {"in_stock": "true"}}, ["1", "2", "4", "5", "7", "9", "10"]),
    ("term date", {"term": {"published": "2015-06-10"}}, ["2"]),
    ("term text token", {"term": {"title": "fox"}}, ["1", "7"]),
    ("term text is not analyzed", {"term": {"title": "Fox"}}, []),
    ("term multi-field keyword", {"term": {"title.raw": "Northern lights"}}, ["9"]),
    ("terms keyword", {"terms": {"tags": ["nature", "history"]}}, ["5", "6", "9"]),
    ("terms integer", {"terms": {"year": [1967, 2023, 1234]}}, ["7", "9"]),
    ("terms date", {"terms": {"published": ["1987-09-30", "2019-08-15"]}}, ["6", "8"]),
    ("terms empty", {"terms": {"tags": []}}, []),
    ("ids", {"ids": {"values": ["3", "1", "99"]}}, ["1", "3"]),
    ("exists keyword", {"exists": {"field": "author.name"}}, ["1", "2", "4"]),
    ("exists object", {"exists": {"field": "author"}}, ["1", "2", "4"]),
    (
        "exists number",
        {"exists": {"field": "price"}},
        ["1", "2", "3", "4", "5", "6", "7", "9", "10"],
    ),
    (
        "exists text",
        {"exists": {"field": "title"}},
        ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"],
    ),
    ("exists unmapped", {"exists": {"field": "nope"}}, []),
    ("prefix keyword", {"prefix": {"tags": "c"}}, ["1", "2", "4", "7", "8"]),
    ("prefix keyword object form", {"prefix": {"tags": {"value": "fam"}}}, ["8"]),
    ("prefix keyword is case sensitive", {"prefix": {"tags": "C"}}, []),
    (
        "prefix keyword case_insensitive",
        {"prefix": {"tags": {"value": "COOK", "case_insensitive": True}}},
        ["2", "4", "8"],
    ),
    (
        "prefix case_insensitive escapes LIKE wildcards",
        {"prefix": {"tags": {"value": "50%_", "case_insensitive": True}}},
        ["10"],
    ),
    (
        "prefix percent is literal",
        {"prefix": {"tags": {"value": "5%", "case_insensitive": True}}},
        [],
    ),
    ("prefix text token", {"prefix": {"title": "bre"}}, ["4", "6"]),
    ("prefix text covers longer tokens", {"prefix": {"title": "fox"}}, ["1", "5", "7"]),
    ("wildcard keyword star", {"wildcard": {"tags": "c*ing"}}, ["2", "4", "8"]),
    ("wildcard keyword question mark", {"wildcard": {"tags": {"value": "n?ture"}}}, ["5", "9"]),
]


@pytest.mark.parametrize(
    ("query", "expected"),
    [case[1:] for case in TERM_CASES],
    ids=[case[0] for case in TERM_CASES],
)
def test_term_level_queries_match_exactly(books, query, expected):
    assert query_ids(books, query) == expected


def test_term_level_queries_score_their_boost(books):
    hits = hits_of(search(books, {"query": {"term": {"tags": {"value": "nature", "boost": 2.5}}}}))
    assert [h["_score"] for h in hits] == [2.5, 2.5]
    hits = hits_of(search(books, {"query": {"range": {"year": {"gte": 2021}}}}))
    assert [h["_score"] for h in hits] == [1.0, 1.0]


# -- range --------------------------------------------------------------------------------

RANGE_CASES = [
    ("integer gte lt", {"year": {"gte": 2003, "lt": 2016}}, ["2", "3", "4"]),
    ("integer gt lte", {"year": {"gt": 2003, "lte": 2015}}, ["2", "4"]),
    ("float", {"price": {"gt": 10, "lte": 18}}, ["4", "6", "9"]),
    ("number as text", {"price": {"lt": "6"}}, ["3", "10"]),
    ("legacy from to", {"year": {"from": 2019, "to": 2020}}, ["8", "10"]),
    (
        "legacy exclusive",
        {"year": {"from": 2019, "to": 2020, "include_lower": False}},
        ["10"],
    ),
    ("date before", {"published": {"lt": "2000-01-01"}}, ["1", "6", "7"]),
    ("date year gte starts the year", {"published": {"gte": "2020"}}, ["5", "9", "10"]),
    (
        "date year lte ends the year",
        {"published": {"lte": "2019"}},
        ["1", "2", "3", "4", "6", "7", "8"],
    ),
    ("date gt a day excludes the day", {"published": {"gt": "2020-01-01"}}, ["5", "9"]),
    ("date gte a day includes the day", {"published": {"gte": "2020-01-01"}}, ["5", "9", "10"]),
    ("date with time", {"published": {"gt": "2020-01-01T10:00:00Z"}}, ["5", "9", "10"]),
    ("date after that time", {"published": {"gt": "2020-01-01T11:00:00+00:00"}}, ["5", "9"]),
    (
        "date time zone",
        {
            "published": {
                "gte": "2020-01-01T12:00:00",
                "lte": "2020-01-01T12:45:00",
                "time_zone": "+02:00",
            }
        },
        ["10"],
    ),
    ("date epoch millis", {"published": {"gte": 1577836800000}}, ["5", "9", "10"]),
    ("date math now minus a year rounded", {"published": {"gte": "now-1y/y"}}, ["9"]),
    ("date math days", {"published": {"gte": "now-35d/d"}}, ["9"]),
    ("date math years", {"published": {"gte": "now-5y"}}, ["5", "8", "9", "10"]),
    (
        "date math on an anchor",
        {"published": {"gte": "2015-06-01||+9d", "lte": "2015-06-10"}},
        ["2"],
    ),
    (
        "date math rounds up for lte",
        {"published": {"gte": "2019-08-15", "lte": "2019-08-01||/M"}},
        ["8"],
    ),
    ("date format", {"published": {"gte": "01/01/2021", "format": "dd/MM/yyyy"}}, ["5", "9"]),
    ("keyword", {"tags": {"gte": "guides", "lt": "history"}}, ["10"]),
    ("boolean", {"in_stock": {"lt": True}}, ["3", "6", "8"]),
    ("no bounds is exists", {"price": {}}, ["1", "2", "3", "4", "5", "6", "7", "9", "10"]),
    ("unmapped", {"nope": {"gte": 1}}, []),
]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [case[1:] for case in RANGE_CASES],
    ids=[case[0] for case in RANGE_CASES],
)
def test_range_queries(books, spec, expected):
    assert query_ids(books, {"range": spec}) == expected


# -- bool ---------------------------------------------------------------------------------


def test_bool_must_with_filter(books):
    query = {
        "bool": {"must": {"match": {"title": "bread"}}, "filter": {"term": {"in_stock": True}}}
    }
    assert query_ids(books, query) == ["4"]


def test_bool_filter_only_scores_zero(books):
    hits = hits_of(search(books, {"query": {"bool": {"filter": [{"term": {"tags": "animals"}}]}}}))
    assert [(h["_id"], h["_score"]) for h in hits] == [
        ("1", 0.0),
        ("3", 0.0),
        ("5", 0.0),
        ("7", 0.0),
    ]


def test_bool_must_not_only_keeps_everything_else(books):
    hits = hits_of(search(books, {"query": {"bool": {"must_not": {"term": {"tags": "animals"}}}}}))
    assert [(h["_id"], h["_score"]) for h in hits] == [
        ("2", 0.0),
        ("4", 0.0),
        ("6", 0.0),
        ("8", 0.0),
        ("9", 0.0),
        ("10", 0.0),
    ]


def test_empty_bool_matches_all_with_score_one(books):
    hits = hits_of(search(books, {"query": {"bool": {}}, "size": 3}))
    assert [(h["_id"], h["_score"]) for h in hits] == [("1", 1.0), ("2", 1.0), ("3", 1.0)]


def test_bool_should_alone_needs_one_clause(books):
    query = {"bool": {"should": [{"term": {"tags": "nature"}}, {"term": {"tags": "history"}}]}}
    assert query_ids(books, query) == ["5", "6", "9"]


def test_bool_should_minimum_should_match(books):
    query = {
        "bool": {
            "should": [
                {"term": {"tags": "classic"}},
                {"term": {"tags": "animals"}},
                {"range": {"year": {"lt": 2000}}},
            ],
            "minimum_should_match": 2,
        }
    }
    hits = hits_of(search(books, {"query": query}))
    assert [(h["_id"], h["_score"]) for h in hits] == [("1", 3.0), ("7", 3.0)]


def test_bool_should_is_optional_next_to_must_and_adds_score(books):
    query = {
        "bool": {"must": {"term": {"tags": "animals"}}, "should": {"term": {"tags": "classic"}}}
    }
    hits = hits_of(search(books, {"query": query}))
    assert [(h["_id"], h["_score"]) for h in hits] == [
        ("1", 2.0),
        ("7", 2.0),
        ("3", 1.0),
        ("5", 1.0),
    ]


def test_bool_should_required_next_to_filter_when_asked(books):
    query = {
        "bool": {
            "filter": {"term": {"in_stock": True}},
            "should": [{"term": {"tags": "classic"}}, {"term": {"tags": "nature"}}],
            "minimum_should_match": 1,
        }
    }
    assert query_ids(books, query) == ["1", "4", "5", "7", "9"]


def test_bool_should_with_one_full_text_clause(books):
    query = {"bool": {"should": [{"match": {"title": "bread"}}]}}
    assert query_ids(books, query) == ["4", "6"]


def test_bool_several_musts_sum_scores(books):
    query = {"bool": {"must": [{"term": {"tags": "animals"}}, {"term": {"tags": "classic"}}]}}
    hits = hits_of(search(books, {"query": query}))
    assert [(h["_id"], h["_score"]) for h in hits] == [("1", 2.0), ("7", 2.0)]


def test_nested_bools(books):
    # fox: 1, 7; bread: 4, 6; not in stock: 3, 6, 8. By BM25: 4 (bread, 3 tokens), 1, 7.
    query = {
        "bool": {
            "must": {
                "bool": {"should": [{"match": {"title": "fox"}}, {"match": {"title": "bread"}}]}
            },
            "must_not": [{"term": {"in_stock": False}}],
        }
    }
    assert query_ids(books, query) == ["4", "1", "7"]


def test_bool_boost(books):
    query = {"bool": {"must": {"term": {"tags": "nature"}}, "boost": 4}}
    assert [h["_score"] for h in hits_of(search(books, {"query": query}))] == [4.0, 4.0]


def test_constant_score_and_dis_max(books):
    constant = {"constant_score": {"filter": {"match": {"title": "bread"}}, "boost": 2}}
    assert [(h["_id"], h["_score"]) for h in hits_of(search(books, {"query": constant}))] == [
        ("4", 2.0),
        ("6", 2.0),
    ]
    dis_max = {
        "dis_max": {
            "queries": [
                {"term": {"tags": "classic"}},
                {"term": {"tags": {"value": "animals", "boost": 3}}},
            ],
            "tie_breaker": 0.5,
        }
    }
    hits = hits_of(search(books, {"query": dis_max}))
    assert [(h["_id"], h["_score"]) for h in hits] == [
        ("1", 3.5),
        ("7", 3.5),
        ("3", 3.0),
        ("5", 3.0),
        ("4", 1.0),
    ]


def test_wide_bools_run(books):
    many_shoulds = [{"term": {"tags": f"none-{i}"}} for i in range(1000)]
    query = {"bool": {"should": [*many_shoulds, {"term": {"tags": "history"}}]}}
    assert query_ids(books, query) == ["6"]
    musts = [{"match": {"title": "fox"}}] * 20
    assert query_ids(books, {"bool": {"must": musts}}) == ["1", "7"]
    filters = [{"range": {"year": {"gte": 1960 + i}}} for i in range(20)]
    assert query_ids(books, {"bool": {"filter": filters, "must_not": many_shoulds}}) == [
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
        "8",
        "9",
        "10",
    ]
    dis_max = {"dis_max": {"queries": [{"match": {"title": "bread"}}] * 600}}
    assert query_ids(books, dis_max) == ["4", "6"]


def test_too_many_clauses_is_a_400(books):
    query = {"bool": {"should": [{"term": {"tags": f"t{i}"}} for i in range(1025)]}}
    error = error_of(search(books, {"query": query}), 400)
    assert error["type"] == "too_many_nested_clauses"
    error = error_of(search(books, q=" OR ".join(["fox"] * 300)), 400)  # x every field
    assert error["type"] == "too_many_nested_clauses"


def test_match_all_and_match_none(books):
    assert len(query_ids(books, {"match_all": {}})) == 10
    assert query_ids(books, {"match_none": {}}) == []


# -- q= -----------------------------------------------------------------------------------

Q_CASES = [
    ("field word", "title:fox", ["1", "7"]),
    ("word over all fields", "cooking", ["2", "4", "8"]),
    ("full text over all fields", "bread", ["4", "6"]),
    ("and", "title:quick AND tags:guides", ["10"]),
    ("not", "tags:animals -title:fox", ["3", "5"]),
    ("range", "year:[2000 TO 2010]", ["3", "4"]),
    ("exclusive range", "year:{2003 TO 2010]", ["4"]),
    ("comparison", "price:>=18", ["2", "5", "9"]),
    ("phrase", 'title:"brown fox"', ["1"]),
    ("prefix is case insensitive", "title:Bre*", ["4", "6"]),
    ("all", "*", ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]),
    ("field exists", "author.name:*", ["1", "2", "4"]),
    ("group", "tags:(nature OR history)", ["5", "6", "9"]),
]


@pytest.mark.parametrize(
    ("q", "expected"), [case[1:] for case in Q_CASES], ids=[case[0] for case in Q_CASES]
)
def test_q_parameter(books, q, expected):
    assert ids(search(books, q=q, size=20)) == expected


def test_q_with_default_field_and_operator(books):
    assert ids(search(books, q="quick fox", df="title", default_operator="AND")) == ["1"]


def test_q_replaces_the_body_query(books):
    assert ids(search(books, {"query": {"match_all": {}}}, q="tags:nature")) == ["5", "9"]


def test_query_string_query(books):
    query = {"query_string": {"query": "bread OR fox", "fields": ["title"]}}
    assert sorted(query_ids(books, query)) == ["1", "4", "6", "7"]


# -- sort ---------------------------------------------------------------------------------


def test_sort_by_integer_desc(books):
    response = search(books, {"sort": [{"year": "desc"}], "size": 3})
    hits = hits_of(response)
    assert [(h["_id"], h["sort"], h["_score"]) for h in hits] == [
        ("9", [2023], None),
        ("5", [2021], None),
        ("10", [2020], None),
    ]
    assert response.json()["hits"]["max_score"] is None


def test_sort_by_float_puts_missing_last_both_ways(books):
    ascending = hits_of(search(books, {"sort": ["price"], "size": 20}))
    assert [h["_id"] for h in ascending] == ["10", "3", "7", "1", "6", "4", "9", "2", "5", "8"]
    assert [h["sort"] for h in ascending][:3] == [[3.0], [5.0], [7.25]]
    assert ascending[-1]["sort"] == [None]
    descending = ids(search(books, {"sort": [{"price": {"order": "desc"}}], "size": 20}))
    assert descending == ["5", "2", "9", "4", "6", "1", "7", "3", "10", "8"]


def test_sort_missing_first_and_custom(books):
    first = ids(
        search(books, {"sort": [{"price": {"order": "asc", "missing": "_first"}}], "size": 2})
    )
    assert first == ["8", "10"]
    custom = ids(search(books, {"sort": [{"price": {"order": "asc", "missing": 6}}], "size": 4}))
    assert custom == ["10", "3", "8", "7"]


def test_sort_multi_valued_keyword_uses_min_ascending(books):
    hits = hits_of(search(books, {"sort": [{"tags": "asc"}], "size": 20}))
    assert [h["_id"] for h in hits] == ["10", "1", "3", "5", "7", "4", "2", "8", "6", "9"]
    assert hits[0]["sort"] == ["50%_off"]


def test_sort_multi_valued_keyword_uses_max_descending(books):
    # largest tags: 9 nature, 5 nature, 6 history, 10 guides, 8 family, 2 cooking, 4 cooking, ...
    found = ids(search(books, {"sort": [{"tags": "desc"}], "size": 6}))
    assert found == ["5", "9", "6", "10", "8", "2"]


def test_sort_by_keyword_sub_field(books):
    found = ids(search(books, {"sort": ["title.raw"], "size": 20}))
    assert found == ["6", "8", "4", "5", "9", "10", "2", "7", "3", "1"]


def test_sort_by_date_gives_epoch_millis(books):
    hits = hits_of(search(books, {"sort": [{"published": "desc"}], "size": 2}))
    assert [(h["_id"], h["sort"]) for h in hits] == [
        ("9", [millis("2023-11-30")]),
        ("5", [millis("2021-02-14")]),
    ]


def test_sort_by_several_keys(books):
    hits = hits_of(search(books, {"sort": [{"in_stock": "desc"}, {"year": "asc"}], "size": 20}))
    assert [h["_id"] for h in hits] == ["7", "1", "4", "2", "10", "5", "9", "6", "3", "8"]
    assert hits[0]["sort"] == [1, 1967]


def test_sort_by_score_then_field_keeps_scores(books):
    response = search(
        books, {"query": {"term": {"tags": "classic"}}, "sort": ["_score", {"year": "desc"}]}
    )
    hits = hits_of(response)
    assert [(h["_id"], h["_score"], h["sort"]) for h in hits] == [
        ("4", 1.0, [1.0, 2010]),
        ("1", 1.0, [1.0, 1998]),
        ("7", 1.0, [1.0, 1967]),
    ]
    assert response.json()["hits"]["max_score"] == 1.0


def test_sort_by_doc_is_index_order(books):
    assert ids(search(books, {"query": {"match": {"title": "quick"}}, "sort": ["_doc"]})) == [
        "1",
        "2",
        "10",
    ]


def test_sort_with_track_scores(books):
    response = search(
        books,
        {"query": {"match": {"title": "quick"}}, "sort": [{"year": "asc"}], "track_scores": True},
    )
    hits = hits_of(response)
    assert [h["_id"] for h in hits] == ["1", "2", "10"]
    assert all(h["_score"] > 0 for h in hits)
    assert response.json()["hits"]["max_score"] == max(h["_score"] for h in hits)


def test_sort_parameter(books):
    assert ids(search(books, sort="year:desc", size=2)) == ["9", "5"]


def test_sort_on_text_is_refused(books):
    error = error_of(search(books, {"sort": ["title"]}), 400)
    assert error["type"] == "illegal_argument_exception"
    assert "Text fields are not optimised" in error["reason"]


def test_sort_on_unmapped_field_is_refused_unless_unmapped_type(books):
    error = error_of(search(books, {"sort": ["nope"]}), 400)
    assert error["reason"] == "No mapping found for [nope] in order to sort on"
    body = {"sort": [{"nope": {"unmapped_type": "long"}}], "size": 2}
    assert ids(search(books, body)) == ["1", "2"]


# -- paging and totals --------------------------------------------------------------------


def test_size_defaults_to_ten_and_from_pages(books):
    assert len(ids(search(books, {}))) == 10
    assert ids(search(books, {"from": 3, "size": 3})) == ["4", "5", "6"]
    assert ids(search(books, **{"from": 8, "size": 5})) == ["9", "10"]


def test_max_score_is_the_best_even_on_a_later_page(books):
    first = search(books, {"query": {"match": {"title": "quick"}}, "size": 1}).json()
    later = search(books, {"query": {"match": {"title": "quick"}}, "from": 1, "size": 1}).json()
    assert (
        later["hits"]["max_score"]
        == first["hits"]["max_score"]
        == first["hits"]["hits"][0]["_score"]
    )


def test_size_zero_counts_only(books):
    body = search(books, {"query": {"term": {"tags": "animals"}}, "size": 0}).json()
    assert body["hits"] == {"total": {"value": 4, "relation": "eq"}, "max_score": None, "hits": []}


def test_result_window_is_limited(books):
    error = error_of(search(books, {"from": 9995, "size": 10}), 400)
    assert error["type"] == "illegal_argument_exception"
    assert error["reason"].startswith("Result window is too large")


@pytest.mark.parametrize(
    ("track", "total"),
    [
        (None, {"value": 10, "relation": "eq"}),
        (True, {"value": 10, "relation": "eq"}),
        (4, {"value": 4, "relation": "gte"}),
        (10, {"value": 10, "relation": "eq"}),
    ],
)
def test_track_total_hits(books, track, total):
    body = {} if track is None else {"track_total_hits": track}
    assert search(books, body).json()["hits"]["total"] == total


def test_track_total_hits_false_omits_the_total(books):
    hits = search(books, {"track_total_hits": False}).json()["hits"]
    assert "total" not in hits
    assert len(hits["hits"]) == 10


def test_rest_total_hits_as_int(books):
    assert search(books, rest_total_hits_as_int="true").json()["hits"]["total"] == 10


def test_response_shape(books):
    body = search(books, {"query": {"ids": {"values": ["9"]}}}).json()
    assert isinstance(body["took"], int)
    assert body["timed_out"] is False
    assert body["_shards"] == {"total": 1, "successful": 1, "skipped": 0, "failed": 0}
    assert body["hits"]["hits"] == [
        {"_index": "books", "_id": "9", "_score": 1.0, "_source": BOOKS["9"]}
    ]


def test_version_and_seq_no_on_request(books):
    hit = hits_of(
        search(
            books,
            {"query": {"ids": {"values": ["2"]}}, "version": True, "seq_no_primary_term": True},
        )
    )[0]
    assert hit["_version"] == 1
    assert isinstance(hit["_seq_no"], int)
    assert hit["_primary_term"] == 1


def test_post_filter_and_min_score(books):
    assert ids(search(books, {"post_filter": {"term": {"tags": "nature"}}})) == ["5", "9"]
    query = {"bool": {"should": [{"term": {"tags": "animals"}}, {"term": {"tags": "classic"}}]}}
    assert ids(search(books, {"query": query, "min_score": 2})) == ["1", "7"]


# -- _source ------------------------------------------------------------------------------

SOURCE_CASES = [
    ("false", {"_source": False}, {}, None),
    ("one field", {"_source": "title"}, {}, {"title": "The quick brown fox"}),
    (
        "includes with wildcard",
        {"_source": ["ti*", "author.*"]},
        {},
        {"title": "The quick brown fox", "author": {"name": "Ann Lee"}},
    ),
    (
        "excludes",
        {"_source": {"excludes": ["tags", "author", "p*"]}},
        {},
        {"title": "The quick brown fox", "year": 1998, "in_stock": True},
    ),
    (
        "includes and excludes",
        {"_source": {"includes": ["*"], "excludes": ["*.name", "t*", "p*", "year"]}},
        {},
        {"in_stock": True, "author": {}},
    ),
    ("parameter false", {}, {"_source": "false"}, None),
    (
        "parameter list",
        {},
        {"_source": "year,author"},
        {"year": 1998, "author": {"name": "Ann Lee"}},
    ),
    (
        "parameter excludes",
        {},
        {"_source_excludes": "title,tags,author,p*,year"},
        {"in_stock": True},
    ),
    (
        "parameter includes",
        {},
        {"_source_includes": "author.name"},
        {"author": {"name": "Ann Lee"}},
    ),
    ("parameter wins over body", {"_source": False}, {"_source": "year"}, {"year": 1998}),
]


@pytest.mark.parametrize(
    ("body", "params", "expected"),
    [case[1:] for case in SOURCE_CASES],
    ids=[case[0] for case in SOURCE_CASES],
)
def test_source_filtering(books, body, params, expected):
    response = search(books, {"query": {"ids": {"values": ["1"]}}, **body}, **params)
    hit = hits_of(response)[0]
    if expected is None:
        assert "_source" not in hit
    else:
        assert hit["_source"] == expected


# -- _count -------------------------------------------------------------------------------


def test_count(books):
    assert books.get("/books/_count").json() == {
        "count": 10,
        "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
    }
    assert (
        books.post("/books/_count", json={"query": {"term": {"tags": "animals"}}}).json()["count"]
        == 4
    )
    assert books.get("/books/_count", params={"q": "title:quick"}).json()["count"] == 3
    assert books.get("/_count").json()["count"] == 10


def test_count_refuses_search_options(books):
    error = error_of(books.post("/books/_count", json={"size": 1}), 400)
    assert error == {
        "root_cause": [{"type": "parsing_exception", "reason": "request does not support [size]"}],
        "type": "parsing_exception",
        "reason": "request does not support [size]",
    }


# -- index expressions and authorization --------------------------------------------------


def test_search_without_index_covers_every_index(logs):
    hits = hits_of(search(logs, {"query": {"match": {"message": "disk"}}}, path="/_search"))
    assert sorted((h["_index"], h["_id"]) for h in hits) == [("logs-1", "a"), ("logs-2", "c")]
    body = search(logs, {}, path="/_all/_search").json()
    assert body["hits"]["total"]["value"] == 4
    assert body["_shards"]["total"] == 3


def test_search_over_a_wildcard_and_a_list(logs):
    assert sorted(ids(search(logs, {}, path="/logs-*/_search"))) == ["a", "b", "c"]
    assert sorted(ids(search(logs, {}, path="/logs-2,books/_search"))) == ["1", "c"]
    assert sorted(ids(search(logs, {}, path="/*,-logs-1/_search"))) == ["1", "c"]


def test_search_over_indices_with_dynamic_keyword(logs):
    found = search(
        logs,
        {"query": {"term": {"level.keyword": "error"}}, "sort": ["_doc"]},
        path="/logs-*/_search",
    )
    assert [(h["_index"], h["_id"]) for h in hits_of(found)] == [("logs-1", "a"), ("logs-2", "c")]


def test_sort_and_pages_across_indices(logs):
    body = {"sort": [{"level.keyword": "asc"}, {"message.keyword": "desc"}], "size": 2}
    found = hits_of(search(logs, body, path="/logs-*/_search"))
    assert [(h["_index"], h["_id"], h["sort"]) for h in found] == [
        ("logs-2", "c", ["error", "disk replaced"]),
        ("logs-1", "a", ["error", "disk full on node one"]),
    ]
    # BM25 per index, as per shard in Elasticsearch: "disk" is rarer in logs-1 (1 of 2)
    body = {"query": {"match": {"message": "disk"}}, "from": 1, "size": 1}
    assert [h["_id"] for h in hits_of(search(logs, body, path="/logs-*/_search"))] == ["c"]


def test_total_across_indices_stops_at_the_cap(logs):
    total = search(logs, {"track_total_hits": 2}, path="/logs-*/_search").json()["hits"]["total"]
    assert total == {"value": 2, "relation": "gte"}


def test_unknown_index_is_404_unless_ignored(logs):
    error = error_of(search(logs, {}, path="/nope/_search"), 404)
    assert error["type"] == "index_not_found_exception"
    assert error["reason"] == "no such index [nope]"
    response = search(logs, {}, path="/nope,logs-2/_search", ignore_unavailable="true")
    assert ids(response) == ["c"]
    assert ids(search(logs, {}, path="/zzz*/_search")) == []
    error_of(search(logs, {}, path="/zzz*/_search", allow_no_indices="false"), 404)


BOB = ("bob", PASSWORD)


def test_reader_sees_only_readable_indices_through_wildcards(logs):
    assert sorted(ids(logs.post("/_search", json={}, auth=BOB))) == ["a", "b", "c"]
    assert logs.post("/*/_count", json={}, auth=BOB).json()["count"] == 3


@pytest.mark.parametrize(
    "path", ["/books/_search", "/logs-1,books/_search", "/books/_count", "/secret/_search"]
)
def test_reader_cannot_search_an_index_named_explicitly(logs, path):
    error = error_of(logs.post(path, json={}, auth=BOB), 403)
    assert error["type"] == "security_exception"
    assert "on indices [" in error["reason"]


def test_reader_searches_an_index_it_may_read(logs):
    assert ids(logs.post("/logs-1/_search", json={}, auth=BOB)) == ["a", "b"]


def test_search_needs_authentication(logs):
    response = logs.post("/_search", json={}, auth=None)
    assert error_of(response, 401)["type"] == "security_exception"


# -- bad requests -------------------------------------------------------------------------

BAD_REQUESTS = [
    (
        "unknown query",
        {"query": {"fuzzy_wuzzy": {}}},
        "parsing_exception",
        "unknown query [fuzzy_wuzzy]",
    ),
    (
        "unknown key in a clause",
        {"query": {"match": {"title": {"query": "x", "bogus": 1}}}},
        "parsing_exception",
        "[match] query does not support [bogus]",
    ),
    (
        "two fields in a term",
        {"query": {"term": {"a": 1, "b": 2}}},
        "parsing_exception",
        "[term] query doesn't support multiple fields, found [a] and [b]",
    ),
    (
        "two queries in one object",
        {"query": {"match_all": {}, "match_none": {}}},
        "parsing_exception",
        "[match_all] malformed query, expected [END_OBJECT] but found [FIELD_NAME]",
    ),
    ("query not an object", {"query": "quick"}, "parsing_exception", None),
    ("empty query", {"query": {}}, "parsing_exception", None),
    (
        "unknown bool key",
        {"query": {"bool": {"shoud": []}}},
        "parsing_exception",
        "[bool] query does not support [shoud]",
    ),
    (
        "unknown body key",
        {"querry": {}},
        "parsing_exception",
        "Unknown key for a START_OBJECT in [querry].",
    ),
    ("size of wrong type", {"size": "ten"}, "x_content_parse_exception", None),
    ("negative size", {"size": -1}, "illegal_argument_exception", None),
    (
        "boost of wrong type",
        {"query": {"match_all": {"boost": "x"}}},
        "x_content_parse_exception",
        None,
    ),
    (
        "bad operator",
        {"query": {"match": {"title": {"query": "x", "operator": "xor"}}}},
        "illegal_argument_exception",
        None,
    ),
    (
        "number for a number field",
        {"query": {"term": {"year": "abc"}}},
        "query_shard_exception",
        None,
    ),
    (
        "bad date",
        {"query": {"range": {"published": {"gte": "yesterday"}}}},
        "parse_exception",
        None,
    ),
    (
        "bad date math",
        {"query": {"range": {"published": {"gte": "now-1x"}}}},
        "parse_exception",
        None,
    ),
    ("prefix on a number", {"query": {"prefix": {"year": "19"}}}, "query_shard_exception", None),
    (
        "aggregation on a text field",
        {"aggs": {"a": {"terms": {"field": "title"}}}},
        "illegal_argument_exception",
        None,
    ),
    ("bad sort order", {"sort": [{"year": "up"}]}, "illegal_argument_exception", None),
    (
        "bad minimum_should_match",
        {"query": {"match": {"title": {"query": "a b", "minimum_should_match": "lots"}}}},
        "illegal_argument_exception",
        None,
    ),
    ("terms not a list", {"query": {"terms": {"tags": "cooking"}}}, "parsing_exception", None),
    (
        "match without query",
        {"query": {"match": {"title": {"operator": "and"}}}},
        "parsing_exception",
        None,
    ),
]


@pytest.mark.parametrize(
    ("body", "kind", "reason"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_bad_requests_are_400s(books, body, kind, reason):
    error = error_of(search(books, body), 400)
    assert error["type"] == kind
    if reason is not None:
        assert error["reason"] == reason


def test_malformed_json_is_a_400(books):
    response = books.post(
        "/books/_search",
        content=b'{"query": {"match_all": {',
        headers={"content-type": "application/json"},
    )
    assert error_of(response, 400)["type"] == "x_content_parse_exception"


def test_deeply_nested_bools_are_refused_cleanly(books):
    query: dict[str, Any] = {"match_all": {}}
    for _ in range(200):
        query = {"bool": {"must": query}}
    response = books.post(
        "/books/_search",
        content=json.dumps({"query": query}),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400


def test_unknown_url_parameter_is_a_400(books):
    error = error_of(search(books, {}, bogus="1"), 400)
    assert error["reason"] == "request [/books/_search] contains unrecognized parameter: [bogus]"


def test_get_with_a_body_searches(books):
    response = books.request("GET", "/books/_search", json={"query": {"term": {"tags": "history"}}})
    assert ids(response) == ["6"]


def test_search_sees_updates_and_deletes(es):
    books = load_books(es)
    assert books.delete("/books/_doc/9?refresh=true").status_code == 200
    put = books.put("/books/_doc/5?refresh=true", json={**BOOKS["5"], "tags": ["fiction"]})
    assert put.status_code == 200
    assert query_ids(books, {"term": {"tags": "nature"}}) == []
    assert query_ids(books, {"match": {"title": "northern"}}) == ["5"]


# -- aggregations through _search -----------------------------------------------------------


def test_search_runs_aggregations_over_the_query(books):
    body = {
        "size": 0,
        "query": {"range": {"year": {"gte": 2000}}},
        "aggs": {
            "tags": {
                "terms": {"field": "tags", "size": 3},
                "aggs": {"top": {"max": {"field": "year"}}},
            },
            "years": {"stats": {"field": "year"}},
        },
    }
    response = search(books, body)
    assert response.status_code == 200, response.text
    aggs = response.json()["aggregations"]
    years = [
        b["_source"]["year"] for b in hits_of(search(books, {"size": 20, "query": body["query"]}))
    ]
    assert aggs["years"]["count"] == len(years)
    assert aggs["years"]["max"] == max(years)
    assert aggs["tags"]["buckets"][0]["doc_count"] >= aggs["tags"]["buckets"][-1]["doc_count"]
    assert all("top" in bucket for bucket in aggs["tags"]["buckets"])


def test_post_filter_narrows_hits_but_not_aggregations(books):
    body = {
        "post_filter": {"term": {"tags": "nature"}},
        "aggs": {"all": {"value_count": {"field": "year"}}},
    }
    response = search(books, body).json()
    assert response["hits"]["total"]["value"] == 2
    assert response["aggregations"]["all"]["value"] > 2
