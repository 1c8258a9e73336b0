"""Field- and document-level security on a real node: roles with ``field_security`` and
``query`` narrow what search, count, aggregations, highlight, get, mget, explain, term vectors
and field capabilities show; updates under them are refused as Elasticsearch refuses them."""

from __future__ import annotations

import base64
import fnmatch
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citadel.node.http.app import NodeApp
from tests.node.builders import PASSWORD, client_of, error_of, put_user

BOOKS = [
    {"title": "Dune", "author": "Herbert", "price": 10, "team": "blue", "secret": "xdune"},
    {"title": "Emma", "author": "Austen", "price": 20, "team": "red", "secret": "xemma"},
    {"title": "Ulysses", "author": "Joyce", "price": 30, "team": "blue", "secret": "xulysses"},
]
MAPPINGS = {
    "properties": {
        "title": {"type": "text", "fields": {"raw": {"type": "keyword"}}},
        "author": {"type": "keyword"},
        "price": {"type": "long"},
        "team": {"type": "keyword"},
        "secret": {"type": "keyword"},
    }
}


def index_books(es: TestClient, name: str = "books") -> None:
    assert es.put(f"/{name}", json={"mappings": MAPPINGS}).status_code == 200
    for i, book in enumerate(BOOKS, start=1):
        response = es.put(f"/{name}/_doc/{i}", json=book)
        assert response.status_code == 201, response.text
    assert es.post(f"/{name}/_refresh").status_code == 200


def role(es: TestClient, name: str, *entries: dict[str, Any], **extra: Any) -> None:
    response = es.put(f"/_security/role/{name}", json={"indices": list(entries), **extra})
    assert response.status_code == 200, response.text


def entry(names: str = "books", privileges: tuple[str, ...] = ("read",), **rest: Any) -> dict:
    return {"names": [names], "privileges": list(privileges), **rest}


@pytest.fixture
def books(es: TestClient) -> TestClient:
    index_books(es)
    return es


def as_user(app: NodeApp, es: TestClient, name: str, *roles: str, **extra: Any) -> TestClient:
    put_user(es, name, roles=list(roles), **extra)
    client = TestClient(app, base_url="https://node")
    client.auth = (name, PASSWORD)
    return client


@pytest.fixture
def fls(node_app: NodeApp, books: TestClient) -> Iterator[TestClient]:
    """A reader of ``books`` who sees every field but ``secret`` (and not ``title.raw``)."""
    role(books, "no_secret", entry(field_security={"grant": ["*"], "except": ["secret", "*.raw"]}))
    with as_user(node_app, books, "fls", "no_secret") as client:
        yield client


@pytest.fixture
def dls(node_app: NodeApp, books: TestClient) -> Iterator[TestClient]:
    """A reader of ``books`` who sees only the blue team's documents."""
    role(books, "blue_only", entry(query={"term": {"team": "blue"}}))
    with as_user(node_app, books, "dls", "blue_only") as client:
        yield client


def hits_of(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return list(response.json()["hits"]["hits"])


def ids_of(response: Any) -> list[str]:
    return sorted(h["_id"] for h in hits_of(response))


# -- field-level security --------------------------------------------------------------------


def test_a_hidden_field_never_shows_in_source(fls: TestClient) -> None:
    for hit in hits_of(fls.post("/books/_search", json={"query": {"match_all": {}}})):
        assert "secret" not in hit["_source"]
        assert hit["_source"]["title"]


def test_a_hidden_field_never_shows_in_fields_or_docvalue_fields(fls: TestClient) -> None:
    body = {"fields": ["*"], "docvalue_fields": ["secret", "author"], "_source": False}
    for hit in hits_of(fls.post("/books/_search", json=body)):
        assert "secret" not in hit["fields"]
        assert "title.raw" not in hit["fields"]
        assert hit["fields"]["author"]


def test_a_query_on_a_hidden_field_matches_nothing(fls: TestClient) -> None:
    body = {"query": {"term": {"secret": "xdune"}}}
    assert hits_of(fls.post("/books/_search", json=body)) == []
    assert (
        fls.post("/books/_count", json={"query": {"exists": {"field": "secret"}}}).json()["count"]
        == 0
    )
    every = {"query": {"query_string": {"query": "xdune"}}}
    assert hits_of(fls.post("/books/_search", json=every)) == []


def test_an_aggregation_on_a_hidden_field_has_no_buckets(fls: TestClient) -> None:
    body = {
        "size": 0,
        "aggs": {"s": {"terms": {"field": "secret"}}, "a": {"terms": {"field": "author"}}},
    }
    aggregations = fls.post("/books/_search", json=body).json()["aggregations"]
    assert aggregations["s"]["buckets"] == []
    assert len(aggregations["a"]["buckets"]) == 3


def test_a_hidden_field_is_not_highlighted(fls: TestClient) -> None:
    body = {
        "query": {"query_string": {"query": "Dune OR xdune"}},
        "highlight": {"fields": {"*": {}}},
    }
    (hit,) = hits_of(fls.post("/books/_search", json=body))
    assert set(hit["highlight"]) == {"title"}


def test_sorting_on_a_hidden_field_sorts_as_if_it_had_no_values(fls: TestClient) -> None:
    body = {"sort": [{"secret": "desc"}, {"price": "asc"}]}
    hits = hits_of(fls.post("/books/_search", json=body))
    assert [h["_id"] for h in hits] == ["1", "2", "3"]
    assert all(h["sort"][0] is None for h in hits)


def test_get_and_mget_hide_the_field(fls: TestClient) -> None:
    got = fls.get("/books/_doc/1").json()
    assert got["found"]
    assert "secret" not in got["_source"]
    assert "secret" not in fls.get("/books/_source/1").json()
    docs = fls.post("/_mget", json={"docs": [{"_index": "books", "_id": "2"}]}).json()["docs"]
    assert docs[0]["found"]
    assert "secret" not in docs[0]["_source"]


def test_field_caps_do_not_list_a_hidden_field(fls: TestClient) -> None:
    fields = fls.get("/books/_field_caps?fields=*").json()["fields"]
    assert "secret" not in fields
    assert "title.raw" not in fields
    assert "author" in fields


def test_term_vectors_leave_out_a_hidden_field(fls: TestClient) -> None:
    body = fls.get("/books/_termvectors/1?fields=secret,author").json()
    assert body["found"]
    assert "secret" not in body.get("term_vectors", {})


def test_grant_patterns_pick_fields_and_objects(node_app: NodeApp, es: TestClient) -> None:
    assert es.put("/people", json={}).status_code == 200
    doc = {"name": "a", "address": {"city": "x", "zip": "1"}, "tags": [{"k": "v", "p": "q"}]}
    assert es.put("/people/_doc/1?refresh=true", json=doc).status_code == 201
    grant = {"grant": ["name", "address.*", "tags.k"], "except": ["address.zip"]}
    role(es, "people_part", entry("people", field_security=grant))
    with as_user(node_app, es, "carol", "people_part") as client:
        source = client.get("/people/_doc/1").json()["_source"]
    assert source == {"name": "a", "address": {"city": "x"}, "tags": [{"k": "v"}]}


def test_an_empty_grant_shows_only_metadata(node_app: NodeApp, books: TestClient) -> None:
    role(books, "ids_only", entry(field_security={"grant": []}))
    with as_user(node_app, books, "ids", "ids_only") as client:
        hits = hits_of(client.post("/books/_search", json={}))
    assert len(hits) == 3
    assert all(h["_source"] == {} and h["_id"] for h in hits)


# -- document-level security -----------------------------------------------------------------


def test_search_and_count_see_only_matching_documents(dls: TestClient) -> None:
    response = dls.post("/books/_search", json={"query": {"match_all": {}}})
    assert ids_of(response) == ["1", "3"]
    assert response.json()["hits"]["total"] == {"value": 2, "relation": "eq"}
    assert dls.post("/books/_count").json()["count"] == 2
    assert (
        dls.post("/books/_search", json={"query": {"term": {"team": "red"}}}).json()["hits"][
            "total"
        ]["value"]
        == 0
    )


def test_aggregations_count_only_matching_documents(dls: TestClient) -> None:
    body = {
        "size": 0,
        "aggs": {"t": {"terms": {"field": "team"}}, "p": {"sum": {"field": "price"}}},
    }
    aggregations = dls.post("/books/_search", json=body).json()["aggregations"]
    assert aggregations["t"]["buckets"] == [{"key": "blue", "doc_count": 2}]
    assert aggregations["p"]["value"] == 40


def test_get_of_a_hidden_document_is_not_found(dls: TestClient) -> None:
    assert dls.get("/books/_doc/1").json()["found"] is True
    hidden = dls.get("/books/_doc/2")
    assert hidden.status_code == 404
    assert hidden.json()["found"] is False
    assert dls.head("/books/_doc/2").status_code == 404
    assert dls.get("/books/_source/2").status_code == 404
    docs = dls.post("/books/_mget", json={"ids": ["1", "2"]}).json()["docs"]
    assert [d["found"] for d in docs] == [True, False]


def test_a_real_time_get_sees_the_latest_revision_under_the_query(
    dls: TestClient, books: TestClient
) -> None:
    changed = {**BOOKS[0], "team": "red"}
    assert books.put("/books/_doc/1", json=changed).status_code == 200  # not refreshed
    assert dls.get("/books/_doc/1").json()["found"] is False
    assert books.put("/books/_doc/2", json={**BOOKS[1], "team": "blue"}).status_code == 200
    assert dls.get("/books/_doc/2").json()["_source"]["team"] == "blue"


def test_scroll_pages_see_only_matching_documents(dls: TestClient) -> None:
    first = dls.post("/books/_search?scroll=1m", json={"size": 1, "sort": ["price"]}).json()
    seen = [h["_id"] for h in first["hits"]["hits"]]
    scroll_id = first["_scroll_id"]
    while True:
        page = dls.post("/_search/scroll", json={"scroll_id": scroll_id, "scroll": "1m"}).json()
        if not page["hits"]["hits"]:
            break
        seen += [h["_id"] for h in page["hits"]["hits"]]
    assert seen == ["1", "3"]


def test_search_after_pages_see_only_matching_documents(dls: TestClient) -> None:
    body: dict[str, Any] = {"size": 1, "sort": [{"price": "asc"}]}
    seen = []
    while hits := hits_of(dls.post("/books/_search", json=body)):
        seen.append(hits[0]["_id"])
        body["search_after"] = hits[0]["sort"]
    assert seen == ["1", "3"]


def test_explain_of_a_hidden_document_is_not_found(dls: TestClient) -> None:
    body = {"query": {"match_all": {}}}
    assert dls.post("/books/_explain/1", json=body).json()["matched"] is True
    assert dls.post("/books/_explain/2", json=body).status_code == 404


def test_the_query_may_use_a_field_the_user_cannot_see(
    node_app: NodeApp, books: TestClient
) -> None:
    both = entry(query={"term": {"secret": "xemma"}}, field_security={"grant": ["title"]})
    role(books, "emma_titles", both)
    with as_user(node_app, books, "eve", "emma_titles") as client:
        hits = hits_of(client.post("/books/_search", json={}))
    assert [(h["_id"], h["_source"]) for h in hits] == [("2", {"title": "Emma"})]


def test_a_template_query_renders_the_users_name_and_metadata(
    node_app: NodeApp, books: TestClient
) -> None:
    query = {
        "template": {
            "source": {
                "bool": {
                    "should": [
                        {"term": {"author": "{{_user.username}}"}},
                        {"term": {"team": "{{_user.metadata.team}}"}},
                    ]
                }
            }
        }
    }
    role(books, "own_books", entry(query=query))
    put_user(books, "Austen", roles=["own_books"], metadata={"team": "nobody"})
    with client_of(node_app, ("Austen", PASSWORD)) as client:
        assert ids_of(client.post("/books/_search", json={})) == ["2"]
    with as_user(node_app, books, "reader", "own_books", metadata={"team": "blue"}) as client:
        assert ids_of(client.post("/books/_search", json={})) == ["1", "3"]


def test_a_template_value_cannot_break_out_of_its_json_string(
    node_app: NodeApp, books: TestClient
) -> None:
    query = {"template": {"source": '{"term": {"author": "{{_user.metadata.who}}"}}'}}
    role(books, "who_books", entry(query=query))
    sneaky = 'x"}}, "match_all": {"boost": "1'
    with as_user(node_app, books, "mallory", "who_books", metadata={"who": sneaky}) as client:
        assert hits_of(client.post("/books/_search", json={})) == []


# -- combining roles, indices, API keys ------------------------------------------------------


def test_two_roles_show_the_union_of_fields_and_documents(
    node_app: NodeApp, books: TestClient
) -> None:
    role(
        books,
        "blue_titles",
        entry(query={"term": {"team": "blue"}}, field_security={"grant": ["title"]}),
    )
    role(
        books,
        "red_authors",
        entry(query={"term": {"team": "red"}}, field_security={"grant": ["author"]}),
    )
    with as_user(node_app, books, "both", "blue_titles", "red_authors") as client:
        hits = hits_of(client.post("/books/_search", json={}))
    # the fields of either role show on the documents of either (Elasticsearch's union)
    assert [h["_source"] for h in sorted(hits, key=lambda h: h["_id"])] == [
        {"title": "Dune", "author": "Herbert"},
        {"title": "Emma", "author": "Austen"},
        {"title": "Ulysses", "author": "Joyce"},
    ]


def test_a_role_without_restrictions_lifts_them(node_app: NodeApp, books: TestClient) -> None:
    role(books, "blue_only", entry(query={"term": {"team": "blue"}}))
    role(books, "plain", entry())
    with as_user(node_app, books, "lifted", "blue_only", "plain") as client:
        assert ids_of(client.post("/books/_search", json={})) == ["1", "2", "3"]


def test_each_index_of_a_search_has_its_own_restriction(
    node_app: NodeApp, books: TestClient
) -> None:
    index_books(books, "shelf")
    role(
        books,
        "mixed",
        entry("books", query={"term": {"team": "red"}}),
        entry("shelf", field_security={"grant": ["title"]}),
    )
    with as_user(node_app, books, "mixed", "mixed") as client:
        hits = hits_of(client.post("/books,shelf/_search", json={"size": 10}))
    assert sorted((h["_index"], h["_id"]) for h in hits) == [
        ("books", "2"),
        ("shelf", "1"),
        ("shelf", "2"),
        ("shelf", "3"),
    ]
    assert all(set(h["_source"]) == {"title"} for h in hits if h["_index"] == "shelf")
    assert all("secret" in h["_source"] for h in hits if h["_index"] == "books")


def test_a_grant_on_an_alias_restricts_its_indices(node_app: NodeApp, books: TestClient) -> None:
    assert books.put("/books/_alias/library").status_code == 200
    role(books, "library_blue", entry("library", query={"term": {"team": "blue"}}))
    with as_user(node_app, books, "lib", "library_blue") as client:
        assert ids_of(client.post("/library/_search", json={})) == ["1", "3"]
        assert client.get("/library/_doc/2").json()["found"] is False


def test_an_api_key_sees_the_intersection_with_its_owner(
    node_app: NodeApp, books: TestClient
) -> None:
    role(
        books,
        "no_secret_blue",
        entry(
            query={"term": {"team": "blue"}}, field_security={"grant": ["*"], "except": ["secret"]}
        ),
        cluster=["manage_own_api_key"],
    )
    with as_user(node_app, books, "owner", "no_secret_blue") as owner:
        descriptors = {
            "cheap": {
                "indices": [
                    entry(
                        query={"range": {"price": {"lte": 10}}},
                        field_security={"grant": ["title", "secret"]},
                    )
                ]
            }
        }
        created = owner.post(
            "/_security/api_key", json={"name": "k", "role_descriptors": descriptors}
        )
        assert created.status_code == 200, created.text
    key = base64.b64encode(f"{created.json()['id']}:{created.json()['api_key']}".encode()).decode()
    with TestClient(
        node_app, base_url="https://node", headers={"Authorization": f"ApiKey {key}"}
    ) as client:
        hits = hits_of(client.post("/books/_search", json={}))
    assert [(h["_id"], h["_source"]) for h in hits] == [("1", {"title": "Dune"})]


# -- refused writes --------------------------------------------------------------------------


def test_an_update_under_document_security_is_refused(node_app: NodeApp, books: TestClient) -> None:
    role(
        books, "blue_writer", entry(privileges=("read", "write"), query={"term": {"team": "blue"}})
    )
    with as_user(node_app, books, "writer", "blue_writer") as client:
        error = error_of(client.post("/books/_update/1", json={"doc": {"price": 1}}), 400)
        assert error["type"] == "security_exception"
        assert "field or document level security" in error["reason"]
        bulk = client.post(
            "/_bulk",
            content=b'{"update":{"_index":"books","_id":"1"}}\n{"doc":{"price":1}}\n'
            b'{"index":{"_index":"books","_id":"9"}}\n{"team":"blue"}\n',
            headers={"Content-Type": "application/x-ndjson"},
        ).json()
        assert bulk["items"][0]["update"]["status"] == 400
        assert bulk["items"][1]["index"]["status"] == 201
        by_query = client.post("/books/_update_by_query", json={})
        assert error_of(by_query, 400)["type"] == "security_exception"
    assert books.get("/books/_doc/1").json()["_source"]["price"] == 10


def test_an_update_through_an_unrestricted_write_grant_is_allowed(
    node_app: NodeApp, books: TestClient
) -> None:
    role(
        books,
        "fls_reader_writer",
        entry(field_security={"grant": ["title"]}),
        entry(privileges=("write",)),
    )
    with as_user(node_app, books, "w2", "fls_reader_writer") as client:
        assert client.post("/books/_update/1", json={"doc": {"price": 1}}).status_code == 200


def test_delete_by_query_deletes_only_visible_documents(
    node_app: NodeApp, books: TestClient
) -> None:
    role(
        books,
        "blue_deleter",
        entry(privileges=("read", "delete"), query={"term": {"team": "blue"}}),
    )
    put_user(books, "deleter", roles=["blue_deleter"])
    with client_of(node_app, ("deleter", PASSWORD)) as client:
        done = client.post(
            "/books/_delete_by_query?refresh=true", json={"query": {"match_all": {}}}
        )
        assert done.status_code == 200, done.text
        assert done.json()["deleted"] == 2
    assert ids_of(books.post("/books/_search", json={})) == ["2"]


def test_an_except_outside_the_grant_is_a_400(es: TestClient) -> None:
    body = {"indices": [entry(field_security={"grant": ["a*"], "except": ["b"]})]}
    error = error_of(es.put("/_security/role/bad", json=body), 400)
    assert "must be a subset of the granted fields" in error["reason"]


def test_the_role_shows_its_field_security_query_and_run_as(es: TestClient) -> None:
    role(
        es,
        "shown",
        entry(field_security={"grant": ["a"]}, query={"match_all": {}}),
        run_as=["bob"],
    )
    body = es.get("/_security/role/shown").json()["shown"]
    assert body["indices"][0]["field_security"] == {"grant": ["a"]}
    assert body["indices"][0]["query"] == '{"match_all":{}}'
    assert body["run_as"] == ["bob"]


# -- property: nothing hidden ever shows -----------------------------------------------------

PROP_MAPPINGS = {
    "properties": {
        "k0": {"type": "keyword"},
        "k1": {"type": "keyword"},
        "t0": {"type": "text"},
        "n0": {"type": "long"},
    }
}
PROP_FIELDS = ("k0", "k1", "t0", "n0")
VALUE_PREFIX = {"k0": "ka", "k1": "kb", "t0": "tc"}  # a hidden value is found by its prefix
AGGREGATED = ("k0", "k1", "n0")


def _value(name: str, n: int) -> Any:
    return n if name == "n0" else f"{VALUE_PREFIX[name]}{n}"


documents = st.lists(
    st.dictionaries(st.sampled_from(PROP_FIELDS), st.integers(0, 2), min_size=1).map(
        lambda picked: {name: _value(name, n) for name, n in picked.items()}
    ),
    min_size=1,
    max_size=6,
)
queries = st.one_of(
    st.none(),
    st.tuples(st.sampled_from(("k0", "k1")), st.integers(0, 2)).map(
        lambda p: ("term", p[0], _value(p[0], p[1]))
    ),
    st.tuples(st.integers(0, 2), st.integers(0, 2)).map(
        lambda p: ("range", "n0", tuple(sorted(p)))
    ),
)
field_grants = st.one_of(
    st.none(),
    st.sets(st.sampled_from((*PROP_FIELDS, "k*", "*"))).flatmap(
        lambda granted: st.tuples(
            st.just(sorted(granted)),
            st.sets(st.sampled_from(sorted(_covered(granted)))).map(sorted)
            if _covered(granted)
            else st.just([]),
        )
    ),
)
roles_strategy = st.lists(st.tuples(field_grants, queries), min_size=1, max_size=2)


def _covered(granted: set[str]) -> set[str]:
    """Field names an ``except`` may hold for `granted` (a subset of it, as ES requires)."""
    return {f for f in PROP_FIELDS if any(fnmatch.fnmatchcase(f, g) for g in granted)}


def _matches(query: tuple[str, str, Any] | None, doc: dict[str, Any]) -> bool:
    if query is None:
        return True
    kind, name, value = query
    if kind == "term":
        return doc.get(name) == value
    return name in doc and value[0] <= doc[name] <= value[1]


def _shown(grant: tuple[list[str], list[str]] | None, name: str) -> bool:
    if grant is None:
        return True
    granted, excepted = grant
    return any(fnmatch.fnmatchcase(name, g) for g in granted) and name not in excepted


def _role_body(grant: Any, query: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"names": ["prop"], "privileges": ["read"]}
    if grant is not None:
        body["field_security"] = {"grant": grant[0], "except": grant[1]}
    if query is not None:
        kind, name, value = query
        if kind == "term":
            body["query"] = {"term": {name: value}}
        else:
            body["query"] = {"range": {name: {"gte": value[0], "lte": value[1]}}}
    return body


@pytest.fixture
def prop_user(node_app: NodeApp, es: TestClient) -> Iterator[TestClient]:
    role(es, "p0", entry("nothing"))
    role(es, "p1", entry("nothing"))
    with as_user(node_app, es, "prop", "p0", "p1") as client:
        yield client


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(docs=documents, roles=roles_strategy)
def test_no_hidden_field_or_document_ever_shows(
    es: TestClient, prop_user: TestClient, docs: list[dict[str, Any]], roles: list[Any]
) -> None:
    es.delete("/prop")
    assert es.put("/prop", json={"mappings": PROP_MAPPINGS}).status_code == 200
    lines = "".join(
        json.dumps({"index": {"_id": str(i)}}) + "\n" + json.dumps(doc) + "\n"
        for i, doc in enumerate(docs)
    )
    written = es.post(
        "/prop/_bulk?refresh=true",
        content=lines.encode(),
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert written.status_code == 200, written.text
    assert not written.json()["errors"]
    for i in range(2):
        body = _role_body(*roles[i]) if i < len(roles) else entry("nothing")
        response = es.put(f"/_security/role/p{i}", json={"indices": [body]})
        assert response.status_code == 200, response.text

    shown_fields = {name for name in PROP_FIELDS if any(_shown(grant, name) for grant, _ in roles)}
    hidden = set(PROP_FIELDS) - shown_fields
    visible = {
        str(i): {k: v for k, v in doc.items() if k in shown_fields}
        for i, doc in enumerate(docs)
        if any(_matches(query, doc) for _, query in roles)
    }

    def no_hidden_value(text: str) -> None:
        for name in hidden - {"n0"}:
            assert f'"{VALUE_PREFIX[name]}' not in text, (name, text)
            assert f">{VALUE_PREFIX[name]}" not in text, (name, text)

    words = " ".join(f"{p}{n}" for p in VALUE_PREFIX.values() for n in range(3))
    search = {
        "size": 100,
        "query": {"bool": {"should": [{"match_all": {}}, {"query_string": {"query": words}}]}},
        "highlight": {"fields": {"*": {}}},
        "fields": ["*"],
        "docvalue_fields": list(AGGREGATED),
        "aggs": {
            **{name: {"terms": {"field": name}} for name in AGGREGATED},
            **{
                f"{name}-all": {"terms": {"field": name, "min_doc_count": 0}} for name in AGGREGATED
            },
        },
    }
    response = prop_user.post("/prop/_search", json=search)
    assert response.status_code == 200, response.text
    no_hidden_value(response.text)
    body = response.json()
    hits = {h["_id"]: h for h in body["hits"]["hits"]}
    assert body["hits"]["total"]["value"] == len(visible)
    assert set(hits) == set(visible)
    for doc_id, hit in hits.items():
        assert hit["_source"] == visible[doc_id]
        assert set(hit.get("fields", {})) <= shown_fields
        assert set(hit.get("highlight", {})) <= shown_fields
    for name in AGGREGATED:
        expected: dict[Any, int] = {}
        for doc in visible.values():
            if name in doc:
                expected[doc[name]] = expected.get(doc[name], 0) + 1
        for agg in (name, f"{name}-all"):
            buckets = {b["key"]: b["doc_count"] for b in body["aggregations"][agg]["buckets"]}
            assert buckets == expected, agg

    count = prop_user.post("/prop/_count").json()["count"]
    assert count == len(visible)
    for name in hidden:
        probe = {"query": {"exists": {"field": name}}}
        assert prop_user.post("/prop/_count", json=probe).json()["count"] == 0

    ids = [str(i) for i in range(len(docs))]
    got = prop_user.post("/prop/_mget", json={"ids": ids})
    no_hidden_value(got.text)
    for doc in got.json()["docs"]:
        assert doc["found"] is (doc["_id"] in visible)
        if doc["found"]:
            assert doc["_source"] == visible[doc["_id"]]
    for doc_id in ids:
        one = prop_user.get(f"/prop/_doc/{doc_id}")
        no_hidden_value(one.text)
        assert one.json()["found"] is (doc_id in visible)
        if doc_id in visible:
            assert one.json()["_source"] == visible[doc_id]


def test_mapping_apis_leave_out_a_hidden_field(node_app: NodeApp, books: TestClient) -> None:
    grant = {"grant": ["title", "author"]}
    role(
        books,
        "meta_titles",
        entry(privileges=("read", "view_index_metadata"), field_security=grant),
    )
    with as_user(node_app, books, "meta", "meta_titles") as client:
        mapped = client.get("/books/_mapping").json()["books"]["mappings"]["properties"]
        assert set(mapped) == {"title", "author"}
        assert "fields" not in mapped["title"]
        index = client.get("/books").json()["books"]["mappings"]["properties"]
        assert set(index) == {"title", "author"}
        fields = client.get("/books/_mapping/field/*").json()["books"]["mappings"]
        assert set(fields) == {"title", "author"}


def test_top_hits_show_only_visible_fields(fls: TestClient) -> None:
    body = {"size": 0, "aggs": {"top": {"top_hits": {"size": 3}}}}
    hits = fls.post("/books/_search", json=body).json()["aggregations"]["top"]["hits"]["hits"]
    assert len(hits) == 3
    assert all("secret" not in h["_source"] for h in hits)


def test_terms_enum_leaves_out_hidden_fields_and_documents(
    node_app: NodeApp, books: TestClient
) -> None:
    both = entry(query={"term": {"team": "red"}}, field_security={"grant": ["author", "team"]})
    role(books, "red_authors_only", both)
    with as_user(node_app, books, "te", "red_authors_only") as client:
        authors = client.post("/books/_terms_enum", json={"field": "author"}).json()["terms"]
        secrets = client.post("/books/_terms_enum", json={"field": "secret"}).json()["terms"]
    assert authors == ["Austen"]
    assert secrets == []


def test_terms_with_min_doc_count_zero_name_no_hidden_document_value(dls: TestClient) -> None:
    body = {"size": 0, "aggs": {"a": {"terms": {"field": "author", "min_doc_count": 0}}}}
    buckets = dls.post("/books/_search", json=body).json()["aggregations"]["a"]["buckets"]
    assert sorted(b["key"] for b in buckets) == ["Herbert", "Joyce"]


def test_term_vectors_of_a_hidden_document_are_not_found(dls: TestClient) -> None:
    assert dls.get("/books/_termvectors/1").json()["found"] is True
    assert dls.get("/books/_termvectors/2").json()["found"] is False


def test_cat_count_counts_only_matching_documents(dls: TestClient) -> None:
    assert dls.get("/_cat/count/books?format=json").json()[0]["count"] == "2"


def test_a_grant_on_a_data_stream_restricts_its_backing_indices(
    node_app: NodeApp, es: TestClient
) -> None:
    template = {"index_patterns": ["logs-*"], "data_stream": {}}
    assert es.put("/_index_template/logs", json=template).status_code == 200
    for level in ("info", "error"):
        doc = {"@timestamp": "2026-01-01T00:00:00Z", "level": level}
        assert es.post("/logs-app/_doc?refresh=true", json=doc).status_code == 201
    role(es, "errors_only", entry("logs-*", query={"term": {"level": "error"}}))
    with as_user(node_app, es, "ops", "errors_only") as client:
        hits = hits_of(client.post("/logs-app/_search", json={}))
    assert [h["_source"]["level"] for h in hits] == ["error"]
