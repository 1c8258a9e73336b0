"""``_bulk`` and ``_mget`` through the REST API, and the pure NDJSON parser."""

from __future__ import annotations

import json

import pytest

from citadel.node.errors import ActionRequestValidation, IllegalArgument, XContentParseError
from citadel.node.store.bulk import parse_bulk
from tests.node.builders import client_as, error_of

NDJSON = {"content-type": "application/x-ndjson"}


def ndjson(*lines) -> bytes:
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def bulk(es, *lines, path="/_bulk", headers=NDJSON):
    return es.post(path, content=ndjson(*lines), headers=headers)


# -- success ---------------------------------------------------------------------------------


def test_bulk_runs_every_action_and_reports_each(es):
    response = bulk(
        es,
        {"index": {"_index": "books", "_id": "1"}},
        {"title": "one"},
        {"create": {"_index": "books", "_id": "2"}},
        {"title": "two"},
        {"update": {"_index": "books", "_id": "1"}},
        {"doc": {"year": 1}},
        {"delete": {"_index": "books", "_id": "2"}},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["errors"] is False
    assert isinstance(body["took"], int)
    assert [list(item) for item in body["items"]] == [["index"], ["create"], ["update"], ["delete"]]
    index, create, update, delete = (next(iter(i.values())) for i in body["items"])
    assert index == {
        "_index": "books",
        "_id": "1",
        "_version": 1,
        "result": "created",
        "_shards": {"total": 1, "successful": 1, "failed": 0},
        "_seq_no": 0,
        "_primary_term": 1,
        "status": 201,
    }
    assert (create["result"], create["status"]) == ("created", 201)
    assert (update["result"], update["status"], update["_version"]) == ("updated", 200, 2)
    assert (delete["result"], delete["status"]) == ("deleted", 200)
    assert es.get("/books/_doc/1").json()["_source"] == {"title": "one", "year": 1}
    assert es.get("/books/_doc/2").status_code == 404


def test_bulk_on_an_index_path_uses_it_as_the_default(es):
    response = bulk(
        es, {"index": {"_id": "1"}}, {"a": 1}, {"index": {}}, {"a": 2}, path="/logs/_bulk"
    )
    items = response.json()["items"]
    assert [i["index"]["_index"] for i in items] == ["logs", "logs"]
    assert len(items[1]["index"]["_id"]) == 20


def test_bulk_items_may_name_another_index_than_the_path(es):
    response = bulk(es, {"index": {"_index": "other", "_id": "1"}}, {"a": 1}, path="/logs/_bulk")
    assert response.json()["items"][0]["index"]["_index"] == "other"


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-ndjson",
        "application/json",
        "application/vnd.elasticsearch+x-ndjson; compatible-with=8",
        "application/vnd.elasticsearch+x-ndjson; compatible-with=9",
    ],
)
def test_bulk_accepts_the_content_types_clients_send(es, content_type):
    response = bulk(
        es, {"index": {"_index": "a"}}, {"n": 1}, headers={"content-type": content_type}
    )
    assert response.status_code == 200
    assert response.json()["errors"] is False


def test_bulk_accepts_crlf_line_endings(es):
    body = b'{"index":{"_index":"a","_id":"1"}}\r\n{"n":1}\r\n'
    response = es.post("/_bulk", content=body, headers=NDJSON)
    assert response.json()["errors"] is False


def test_op_type_create_in_the_metadata_refuses_overwrites(es):
    es.put("/a/_doc/1", json={"n": 1})
    response = bulk(es, {"index": {"_index": "a", "_id": "1", "op_type": "create"}}, {"n": 2})
    assert response.json()["items"][0]["index"]["status"] == 409


def test_a_thousand_documents_in_one_request(es):
    lines = []
    for i in range(1000):
        lines += [{"index": {"_index": "many", "_id": str(i)}}, {"n": i, "text": f"doc {i}"}]
    body = bulk(es, *lines).json()
    assert body["errors"] is False
    assert len(body["items"]) == 1000
    assert es.post("/many/_refresh").status_code == 200
    rows = es.get("/_cat/indices/many", params={"format": "json"}).json()
    assert rows[0]["docs.count"] == "1000"


def test_sequence_numbers_in_a_bulk_follow_each_other(es):
    es.put("/a/_doc/0", json={})
    items = bulk(es, *[line for i in range(3) for line in ({"index": {"_index": "a"}}, {"i": i})])
    assert [i["index"]["_seq_no"] for i in items.json()["items"]] == [1, 2, 3]
    assert es.put("/a/_doc/x", json={}).json()["_seq_no"] == 4


# -- partial failures ------------------------------------------------------------------------


def test_a_failed_item_leaves_the_others_and_sets_errors(es):
    es.put("/books", json={"mappings": {"properties": {"year": {"type": "integer"}}}})
    es.put("/books/_doc/exists", json={"year": 1})
    response = bulk(
        es,
        {"index": {"_index": "books", "_id": "1"}},
        {"year": 2000},
        {"index": {"_index": "books", "_id": "2"}},
        {"year": "not a year"},
        {"create": {"_index": "books", "_id": "exists"}},
        {"year": 3},
        {"update": {"_index": "books", "_id": "missing"}},
        {"doc": {"year": 4}},
        {"index": {"_index": "Bad", "_id": "1"}},
        {"year": 5},
        {"delete": {"_index": "books", "_id": "never"}},
        {"index": {"_index": "books", "_id": "3"}},
        {"year": 2001},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["errors"] is True
    statuses = [next(iter(i.values()))["status"] for i in body["items"]]
    assert statuses == [201, 400, 409, 404, 400, 404, 201]
    parse_error = body["items"][1]["index"]["error"]
    assert parse_error["type"] == "document_parsing_exception"
    assert "root_cause" not in parse_error
    assert body["items"][2]["create"]["error"]["type"] == "version_conflict_engine_exception"
    assert body["items"][3]["update"]["error"]["type"] == "document_missing_exception"
    assert body["items"][4]["index"]["error"]["type"] == "invalid_index_name_exception"
    assert body["items"][5]["delete"]["result"] == "not_found"
    assert "error" not in body["items"][5]["delete"]
    assert es.get("/books/_doc/1").status_code == 200
    assert es.get("/books/_doc/2").status_code == 404
    assert es.get("/books/_doc/3").status_code == 200
    assert es.get("/books/_doc/exists").json()["_source"] == {"year": 1}


def test_a_malformed_source_line_fails_only_its_item(es):
    body = (
        b'{"index":{"_index":"a","_id":"1"}}\n{"broken": \n'
        b'{"index":{"_index":"a","_id":"2"}}\n{"ok":1}\n'
    )
    response = es.post("/_bulk", content=body, headers=NDJSON)
    assert response.status_code == 200
    items = response.json()["items"]
    assert items[0]["index"]["status"] == 400
    assert items[0]["index"]["error"]["type"] == "document_parsing_exception"
    assert items[1]["index"]["status"] == 201


def test_only_errors_are_reported_as_errors(es):
    body = bulk(es, {"delete": {"_index": "a", "_id": "1"}}).json()
    assert body["errors"] is True  # the index does not exist
    es.put("/a")
    body = bulk(es, {"delete": {"_index": "a", "_id": "1"}}).json()
    assert body["errors"] is False
    assert body["items"][0]["delete"]["status"] == 404


def test_optimistic_concurrency_per_item(es):
    first = es.put("/a/_doc/1", json={"n": 1}).json()
    es.put("/a/_doc/1", json={"n": 2})
    meta = {"_index": "a", "_id": "1", "if_seq_no": first["_seq_no"], "if_primary_term": 1}
    items = bulk(es, {"index": meta}, {"n": 3}).json()["items"]
    assert items[0]["index"]["status"] == 409


# -- whole-request failures ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b'{"index":{"_index":"a"}}\n{"n":1}', "illegal_argument_exception"),  # no final newline
        (b"not json\n", "x_content_parse_exception"),
        (b'["index"]\n', "illegal_argument_exception"),
        (b"{}\n", "illegal_argument_exception"),
        (b'{"index":{},"delete":{}}\n', "illegal_argument_exception"),
        (b'{"upsert":{"_index":"a"}}\n{}\n', "illegal_argument_exception"),
        (b'{"index":{"_index":"a","bogus":1}}\n{}\n', "illegal_argument_exception"),
        (b'{"index":"a"}\n{}\n', "illegal_argument_exception"),
        (b'{"index":{"_id":"1"}}\n{}\n', "action_request_validation_exception"),
        (b'{"update":{"_index":"a","_id":"1"}}\n{"doc": \n', "x_content_parse_exception"),
        (b'{"update":{"_index":"a","_id":"1"}}\n{"nope":1}\n', "x_content_parse_exception"),
        (b'{"delete":{"_index":"a"}}\n', "action_request_validation_exception"),
        (b'{"index":{"_index":"a"}}\n', "illegal_argument_exception"),  # no source line
        (b"", "action_request_validation_exception"),
        (b"\n\n", "action_request_validation_exception"),
    ],
)
def test_malformed_bulk_bodies_fail_the_whole_request(es, body, kind):
    response = es.post("/_bulk", content=body, headers=NDJSON)
    assert response.status_code == 400
    assert error_of(response)["type"] == kind
    assert es.head("/a").status_code == 404


def test_deeply_nested_lines_are_a_400(es):
    line = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    body = b'{"index":{"_index":"a"}}\n' + line + b"\n"
    response = es.post("/_bulk", content=body, headers=NDJSON)
    assert response.status_code == 200
    assert response.json()["items"][0]["index"]["status"] == 400
    response = es.post("/_bulk", content=line + b"\n", headers=NDJSON)
    assert response.status_code == 400


def test_a_failed_bulk_request_writes_nothing(es):
    body = ndjson({"index": {"_index": "a", "_id": "1"}}, {"n": 1}) + b"garbage\n"
    assert es.post("/_bulk", content=body, headers=NDJSON).status_code == 400
    assert es.head("/a").status_code == 404


# -- privileges ------------------------------------------------------------------------------


def test_each_item_is_authorized_on_its_own_index(es, node_app, node_services):
    es.put("/logs-1")
    es.put("/books")
    grants = [{"names": ["logs-*"], "privileges": ["write"]}]
    with client_as(node_app, node_services, "writer", grants) as writer:
        body = bulk(
            writer,
            {"index": {"_index": "logs-1", "_id": "1"}},
            {"msg": "ok"},
            {"index": {"_index": "books", "_id": "1"}},
            {"msg": "not allowed"},
            {"index": {"_index": "logs-new", "_id": "1"}},
            {"msg": "cannot create the index"},
        ).json()
    assert body["errors"] is True
    ok, denied, no_create = (i["index"] for i in body["items"])
    assert ok["status"] == 201
    assert denied["status"] == 403
    assert denied["error"]["type"] == "security_exception"
    assert no_create["status"] == 403
    assert "create_index" in no_create["error"]["reason"]
    assert es.get("/books/_doc/1").status_code == 404
    assert es.head("/logs-new").status_code == 404


def test_a_reader_cannot_write_through_bulk(es, node_app, node_services):
    es.put("/logs-1/_doc/1", json={"n": 1})
    grants = [{"names": ["logs-*"], "privileges": ["read"]}]
    with client_as(node_app, node_services, "reader", grants) as reader:
        body = bulk(reader, {"delete": {"_index": "logs-1", "_id": "1"}}).json()
    assert body["items"][0]["delete"]["status"] == 403
    assert es.get("/logs-1/_doc/1").status_code == 200


def test_bulk_needs_credentials(anonymous):
    response = anonymous.post("/_bulk", content=b'{"index":{"_index":"a"}}\n{}\n', headers=NDJSON)
    assert response.status_code == 401


# -- _mget -----------------------------------------------------------------------------------


def test_mget_returns_each_document_in_order(es):
    es.put("/books/_doc/1", json={"title": "one"})
    es.put("/logs/_doc/1", json={"msg": "hi"})
    response = es.post(
        "/_mget",
        json={
            "docs": [
                {"_index": "books", "_id": "1"},
                {"_index": "books", "_id": "2"},
                {"_index": "logs", "_id": "1", "_source": False},
                {"_index": "nope", "_id": "1"},
            ]
        },
    )
    assert response.status_code == 200
    docs = response.json()["docs"]
    assert docs[0]["_source"] == {"title": "one"}
    assert docs[0]["found"] is True
    assert docs[1] == {"_index": "books", "_id": "2", "found": False}
    assert docs[2]["found"] is True
    assert "_source" not in docs[2]
    assert docs[3]["error"]["type"] == "index_not_found_exception"
    assert docs[3]["error"]["root_cause"][0]["type"] == "index_not_found_exception"


def test_mget_with_ids_uses_the_path_index(es):
    es.put("/books/_doc/1", json={"a": 1})
    es.put("/books/_doc/2", json={"a": 2})
    docs = es.post("/books/_mget", json={"ids": ["2", "1", "3"]}).json()["docs"]
    assert [(d["_id"], d["found"]) for d in docs] == [("2", True), ("1", True), ("3", False)]


def test_mget_by_get_with_a_body_and_source_filtering(es):
    es.put("/books/_doc/1", json={"a": 1, "b": 2})
    response = es.request(
        "GET", "/books/_mget", params={"_source_includes": "a"}, json={"docs": [{"_id": "1"}]}
    )
    assert response.json()["docs"][0]["_source"] == {"a": 1}


@pytest.mark.parametrize(
    ("path", "body", "kind"),
    [
        ("/_mget", {"ids": ["1"]}, "action_request_validation_exception"),
        ("/_mget", {"docs": []}, "action_request_validation_exception"),
        ("/_mget", {"docs": [{"_id": "1"}]}, "action_request_validation_exception"),
        ("/books/_mget", {"docs": [{"_index": "books"}]}, "action_request_validation_exception"),
        ("/books/_mget", {"docs": "x"}, "x_content_parse_exception"),
        ("/books/_mget", {"documents": []}, "x_content_parse_exception"),
        ("/books/_mget", [1], "x_content_parse_exception"),
    ],
)
def test_bad_mget_bodies_are_400(es, path, body, kind):
    response = es.post(path, json=body)
    assert response.status_code == 400
    assert error_of(response)["type"] == kind


def test_mget_checks_read_privilege_per_document(es, node_app, node_services):
    es.put("/logs-1/_doc/1", json={"n": 1})
    es.put("/books/_doc/1", json={"n": 2})
    grants = [{"names": ["logs-*"], "privileges": ["read"]}]
    with client_as(node_app, node_services, "reader", grants) as reader:
        docs = reader.post(
            "/_mget",
            json={"docs": [{"_index": "logs-1", "_id": "1"}, {"_index": "books", "_id": "1"}]},
        ).json()["docs"]
    assert docs[0]["_source"] == {"n": 1}
    assert docs[1]["error"]["type"] == "security_exception"
    assert "_source" not in docs[1]


# -- the parser alone ------------------------------------------------------------------------


def test_the_parser_reads_actions_and_sources():
    ops = parse_bulk(
        ndjson(
            {"index": {"_index": "a", "_id": 1}},
            {"n": 1},
            {"delete": {"_id": "2"}},
            {"update": {"_id": "3", "if_seq_no": 4, "if_primary_term": 1}},
            {"doc": {"n": 2}},
        ),
        "default",
    )
    assert [(o.action, o.index, o.id) for o in ops] == [
        ("index", "a", "1"),
        ("delete", "default", "2"),
        ("update", "default", "3"),
    ]
    assert ops[0].source == b'{"n": 1}'
    assert ops[2].update == {"doc": {"n": 2}}
    assert (ops[2].concurrency.seq_no, ops[2].concurrency.primary_term) == (4, 1)


def test_the_parser_numbers_the_bad_line():
    with pytest.raises(IllegalArgument, match=r"line \[3\]"):
        parse_bulk(ndjson({"index": {}}, {"n": 1}, ["x"]), "a")


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", ActionRequestValidation),
        (b"{", IllegalArgument),
        (b"{\n", XContentParseError),
        (b'{"index":{"version":3}}\n{}\n', ActionRequestValidation),
        (b'{"index":{"if_seq_no":"x"}}\n{}\n', IllegalArgument),
    ],
)
def test_the_parser_refuses_malformed_bodies(body, error):
    with pytest.raises(error):
        parse_bulk(body, "a")
