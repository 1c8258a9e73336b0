"""``_async_search``: submit, get, status, delete; owned by the submitter; bounded."""

from __future__ import annotations

import pytest

from citadel.node.errors import EsError
from citadel.node.search.async_search import AsyncSearches, TooManyAsyncSearches
from tests.node.builders import client_as


@pytest.fixture
def books(es):
    es.put("/books/_doc/1?refresh=true", json={"name": "Bestiario", "author": "Julio Cortazar"})
    es.put("/books/_doc/2?refresh=true", json={"name": "Ficciones", "author": "Jorge Borges"})
    return es


def _submit(es, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return es.post(f"/books/_async_search?{query}", json={"query": {"match": {"author": "julio"}}})


def test_a_kept_search_is_read_by_id_and_status(books):
    body = _submit(books, keep_on_completion="true", wait_for_completion_timeout="10s").json()
    assert body["is_running"] is False
    assert body["is_partial"] is False
    assert body["response"]["hits"]["hits"][0]["_source"]["name"] == "Bestiario"
    assert body["expiration_time_in_millis"] - body["start_time_in_millis"] == 5 * 86_400_000
    again = books.get(f"/_async_search/{body['id']}").json()
    assert again["response"]["hits"]["total"] == body["response"]["hits"]["total"]
    status = books.get(f"/_async_search/status/{body['id']}").json()
    assert status["completion_status"] == 200
    assert status["is_running"] is False


def test_a_search_done_within_the_wait_is_not_kept_by_default(books):
    body = _submit(books, wait_for_completion_timeout="10s").json()
    assert "id" not in body
    assert body["response"]["hits"]["total"]["value"] == 1


def test_delete_forgets_the_search(books):
    search_id = _submit(books, keep_on_completion="true", wait_for_completion_timeout="10s").json()[
        "id"
    ]
    assert books.delete(f"/_async_search/{search_id}").json() == {"acknowledged": True}
    assert books.get(f"/_async_search/{search_id}").status_code == 404


def test_keep_alive_expires_the_result(books, node_clock):
    search_id = _submit(
        books, keep_on_completion="true", keep_alive="1m", wait_for_completion_timeout="10s"
    ).json()["id"]
    node_clock.advance(seconds=61)
    response = books.get(f"/_async_search/{search_id}")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "resource_not_found_exception"


def test_only_the_submitter_reads_the_result(books, node_app, node_services):
    search_id = _submit(books, keep_on_completion="true", wait_for_completion_timeout="10s").json()[
        "id"
    ]
    grants = [{"names": ["books"], "privileges": ["read"]}]
    with client_as(node_app, node_services, "mallory", grants) as other:
        assert other.get(f"/_async_search/{search_id}").status_code == 404
        assert other.delete(f"/_async_search/{search_id}").status_code == 404
        assert other.get(f"/_async_search/status/{search_id}").status_code == 404


def test_a_failing_search_reports_its_error_with_its_status(books):
    response = books.post(
        "/missing/_async_search?keep_on_completion=true&wait_for_completion_timeout=10s", json={}
    )
    assert response.status_code == 404
    body = response.json()
    assert body["error"]["type"] == "index_not_found_exception"
    assert body["is_partial"] is True
    status = books.get(f"/_async_search/status/{body['id']}").json()
    assert status["completion_status"] == 404


@pytest.mark.parametrize(
    ("query", "body", "names"),
    [
        ("scroll=1m", {}, "scroll"),
        ("", {"pit": {"id": "x"}}, "pit"),
        ("keep_alive=10ms", {}, "keep_alive"),
        ("", {"query": {"nope": {}}}, "nope"),
    ],
)
def test_bad_submissions_are_a_400(books, query, body, names):
    response = books.post(f"/books/_async_search?{query}", json=body)
    assert response.status_code == 400
    assert names in str(response.json()["error"])


def test_entries_are_bounded():
    searches = AsyncSearches(limit=2)
    searches.create("a", 0, 60)
    searches.create("a", 0, 60)
    with pytest.raises(TooManyAsyncSearches):
        searches.create("a", 0, 60)
    searches.create("a", 61_000, 60)  # the expired ones made room


def test_a_running_entry_answers_a_partial_response():
    entry = AsyncSearches().create("a", 5, 60)
    body = entry.body()
    assert (body["is_running"], body["is_partial"]) == (True, True)
    assert body["response"]["hits"]["hits"] == []
    assert "completion_status" not in entry.status_body()
    entry.finish(None, EsError("boom"), 9)
    assert entry.status_body()["completion_status"] == 500
