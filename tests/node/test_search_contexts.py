"""Scroll, point in time, search_after and _msearch through the REST API (a node per test)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from citadel.kit.clock import SettableClock
from citadel.node.search.contexts import ContextKind, Contexts, TooManyContexts
from tests.node.builders import error_of

NDJSON = {"content-type": "application/x-ndjson"}


def index_docs(es: TestClient, count: int, index: str = "logs") -> None:
    lines = []
    for n in range(count):
        lines.append(json.dumps({"index": {"_index": index, "_id": str(n)}}))
        lines.append(json.dumps({"n": n, "tag": f"t{n % 3}", "msg": f"event number {n}"}))
    response = es.post("/_bulk?refresh=true", content="\n".join(lines) + "\n", headers=NDJSON)
    assert response.status_code == 200, response.text
    assert not response.json()["errors"], response.text


def ids(body: dict[str, Any]) -> list[str]:
    return [h["_id"] for h in body["hits"]["hits"]]


def test_scroll_pages_through_every_match_once(es: TestClient):
    index_docs(es, 7)
    first = es.post("/logs/_search?scroll=1m", json={"size": 3, "sort": ["n"]}).json()
    seen = ids(first)
    scroll_id = first["_scroll_id"]
    while True:
        page = es.post("/_search/scroll", json={"scroll_id": scroll_id, "scroll": "1m"}).json()
        assert page["_scroll_id"] == scroll_id
        if not page["hits"]["hits"]:
            break
        seen += ids(page)
    assert seen == [str(n) for n in range(7)]


def test_scroll_sees_the_moment_it_opened(es: TestClient):
    index_docs(es, 4)
    first = es.post("/logs/_search?scroll=1m", json={"size": 2, "sort": ["_doc"]}).json()
    es.delete("/logs/_doc/3?refresh=true")
    page = es.post("/_search/scroll", json={"scroll_id": first["_scroll_id"]}).json()
    assert page["hits"]["total"]["value"] == 4
    assert len(page["hits"]["hits"]) == 2


def test_clear_scroll_frees_it_and_answers_404_the_second_time(es: TestClient):
    index_docs(es, 2)
    scroll_id = es.post("/logs/_search?scroll=1m", json={"size": 1}).json()["_scroll_id"]
    cleared = es.request("DELETE", "/_search/scroll", json={"scroll_id": scroll_id})
    assert (cleared.status_code, cleared.json()) == (200, {"succeeded": True, "num_freed": 1})
    again = es.request("DELETE", "/_search/scroll", json={"scroll_id": scroll_id})
    assert (again.status_code, again.json()["num_freed"]) == (404, 0)
    missing = es.post("/_search/scroll", json={"scroll_id": scroll_id})
    assert error_of(missing, 404)["type"] == "search_context_missing_exception"


def test_clear_all_scrolls(es: TestClient):
    index_docs(es, 2)
    for _ in range(3):
        es.post("/logs/_search?scroll=1m", json={"size": 1})
    assert es.delete("/_search/scroll/_all").json() == {"succeeded": True, "num_freed": 3}


def test_scroll_expires_after_its_keep_alive(es: TestClient, node_clock: SettableClock):
    index_docs(es, 2)
    scroll_id = es.post("/logs/_search?scroll=30s", json={"size": 1}).json()["_scroll_id"]
    node_clock.advance(seconds=31)
    assert es.post("/_search/scroll", json={"scroll_id": scroll_id}).status_code == 404


def test_scroll_keep_alive_over_a_day_is_refused(es: TestClient):
    index_docs(es, 1)
    response = es.post("/logs/_search?scroll=2d", json={})
    assert "search.max_keep_alive" in error_of(response, 400)["reason"]


def test_scroll_with_search_after_is_refused(es: TestClient):
    index_docs(es, 1)
    response = es.post("/logs/_search?scroll=1m", json={"sort": ["n"], "search_after": [1]})
    assert error_of(response, 400)["type"] == "action_request_validation_exception"


def test_contexts_are_bounded_per_kind():
    contexts = Contexts(max_scrolls=1, max_pits=1)
    clock = SettableClock()
    args: dict[str, Any] = {"owner": "a", "records": [], "searchers": {}, "keep_alive_s": 60}
    contexts.open(ContextKind.SCROLL, now=clock.now(), **args)
    contexts.open(ContextKind.PIT, now=clock.now(), **args)
    with pytest.raises(TooManyContexts):
        contexts.open(ContextKind.SCROLL, now=clock.now(), **args)
    clock.advance(seconds=61)
    contexts.open(ContextKind.SCROLL, now=clock.now(), **args)  # the expired one was freed
    assert contexts.count(ContextKind.SCROLL) == 1


def test_point_in_time_pins_documents_and_pages_with_search_after(es: TestClient):
    index_docs(es, 5)
    pit = es.post("/logs/_pit?keep_alive=1m").json()["id"]
    es.delete("/logs/_doc/0?refresh=true")
    body = {"size": 2, "sort": [{"n": "asc"}], "pit": {"id": pit, "keep_alive": "1m"}}
    first = es.post("/_search", json=body).json()
    assert first["pit_id"] == pit
    assert ids(first) == ["0", "1"]
    assert len(first["hits"]["hits"][0]["sort"]) == 2  # the implicit _shard_doc tiebreaker
    after = first["hits"]["hits"][-1]["sort"]
    second = es.post("/_search", json={**body, "search_after": after}).json()
    assert ids(second) == ["2", "3"]
    closed = es.request("DELETE", "/_pit", json={"id": pit})
    assert closed.json() == {"succeeded": True, "num_freed": 1}
    gone = es.post("/_search", json=body)
    assert error_of(gone, 404)["type"] == "search_context_missing_exception"


def test_point_in_time_refuses_an_index_in_the_path(es: TestClient):
    index_docs(es, 1)
    pit = es.post("/logs/_pit?keep_alive=1m").json()["id"]
    response = es.post("/logs/_search", json={"pit": {"id": pit}})
    assert "cannot be used with point in time" in error_of(response, 400)["reason"]


def test_point_in_time_needs_keep_alive(es: TestClient):
    index_docs(es, 1)
    assert es.post("/logs/_pit").status_code == 400


def test_search_after_on_a_keyword_and_a_number(es: TestClient):
    index_docs(es, 6)
    body = {"size": 2, "sort": [{"tag.keyword": "asc"}, {"n": "desc"}], "search_after": ["t0", 3]}
    assert ids(es.post("/logs/_search", json=body).json()) == [
        "0",
        "4",
    ]  # t0: 3 0, t1: 4 1, t2: 5 2


def test_search_after_must_match_the_sort_length(es: TestClient):
    index_docs(es, 1)
    response = es.post("/logs/_search", json={"sort": ["n"], "search_after": [1, 2]})
    assert "search_after has 2 value(s) but sort has 1" in error_of(response, 400)["reason"]


def test_msearch_answers_each_search_in_order_with_errors_inline(es: TestClient):
    index_docs(es, 3)
    lines = [
        {"index": "logs"},
        {"query": {"term": {"n": 1}}},
        {},
        {"query": {"nope": {}}},
        {"index": "missing"},
        {},
    ]
    body = "\n".join(json.dumps(line) for line in lines) + "\n"
    response = es.post("/_msearch", content=body, headers=NDJSON)
    answers = response.json()["responses"]
    assert ids(answers[0]) == ["1"]
    assert answers[0]["status"] == 200
    assert answers[1]["status"] == 400
    assert answers[1]["error"]["type"] == "parsing_exception"
    assert answers[2]["status"] == 404
