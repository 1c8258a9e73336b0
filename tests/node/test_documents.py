"""Documents through the REST API: index, create, get, update, delete, versions, seq_no."""

from __future__ import annotations

import pytest

from tests.node.builders import client_as, error_of

SHARDS = {"total": 1, "successful": 1, "failed": 0}


def found(es, query, index="books"):
    """The ids a query finds once every write is searchable (a refresh first)."""
    assert es.post(f"/{index}/_refresh").status_code == 200
    body = es.post(f"/{index}/_search", json={"query": query}).json()
    return sorted(hit["_id"] for hit in body["hits"]["hits"])


def put_doc(es, doc_id="1", index="books", **source):
    response = es.put(f"/{index}/_doc/{doc_id}", json=source or {"title": "Quick fox"})
    assert response.status_code in (200, 201), response.text
    return response.json()


# -- index -----------------------------------------------------------------------------------


def test_indexing_a_new_document_is_201_created(es):
    response = es.put("/books/_doc/1", json={"title": "Quick fox"})
    assert response.status_code == 201
    assert response.json() == {
        "_index": "books",
        "_id": "1",
        "_version": 1,
        "result": "created",
        "_shards": SHARDS,
        "_seq_no": 0,
        "_primary_term": 1,
    }
    assert response.headers["location"] == "/books/_doc/1"


def test_indexing_again_is_200_updated_with_the_next_version(es):
    put_doc(es)
    response = es.put("/books/_doc/1", json={"title": "Slow fox"})
    assert response.status_code == 200
    body = response.json()
    assert (body["result"], body["_version"], body["_seq_no"]) == ("updated", 2, 1)
    assert es.get("/books/_doc/1").json()["_source"] == {"title": "Slow fox"}


def test_post_with_an_id_indexes_too(es):
    response = es.post("/books/_doc/7", json={"title": "x"})
    assert response.status_code == 201
    assert response.json()["_id"] == "7"


def test_post_without_an_id_generates_one(es):
    response = es.post("/books/_doc", json={"title": "x"})
    assert response.status_code == 201
    doc_id = response.json()["_id"]
    assert len(doc_id) == 20
    assert doc_id[0] not in "_-"
    assert es.get(f"/books/_doc/{doc_id}").json()["_source"] == {"title": "x"}


def test_sequence_numbers_increase_per_index(es):
    seqs = [put_doc(es, str(i), index=f"idx-{i % 2}")["_seq_no"] for i in range(4)]
    assert seqs == [0, 0, 1, 1]
    assert es.delete("/idx-0/_doc/0").json()["_seq_no"] == 2


def test_indexing_auto_creates_the_index_with_dynamic_mappings(es):
    put_doc(es, index="auto", title="Quick fox", year=1999, ok=True, when="2024-01-15")
    properties = es.get("/auto/_mapping").json()["auto"]["mappings"]["properties"]
    assert properties["title"] == {
        "type": "text",
        "fields": {"keyword": {"type": "keyword", "ignore_above": 256}},
    }
    assert properties["year"] == {"type": "long"}
    assert properties["ok"] == {"type": "boolean"}
    assert properties["when"] == {"type": "date"}


def test_new_fields_are_added_to_the_mapping_as_they_come(es):
    put_doc(es, title="a")
    put_doc(es, "2", extra={"nested": 1.5})
    properties = es.get("/books/_mapping").json()["books"]["mappings"]["properties"]
    assert properties["extra"] == {"properties": {"nested": {"type": "float"}}}


def test_auto_creating_an_index_with_an_invalid_name_is_refused(es):
    response = es.put("/Books/_doc/1", json={"a": 1})
    assert response.status_code == 400
    assert error_of(response)["type"] == "invalid_index_name_exception"


def test_an_empty_body_is_a_validation_error(es):
    response = es.put("/books/_doc/1")
    assert response.status_code == 400
    assert error_of(response)["type"] == "action_request_validation_exception"


def test_malformed_json_is_an_x_content_parse_error(es):
    response = es.put(
        "/books/_doc/1",
        content=b'{"title": "unterminated',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert error_of(response)["type"] == "x_content_parse_exception"


def test_a_non_object_document_is_refused(es):
    response = es.put("/books/_doc/1", json=[1, 2, 3])
    assert response.status_code == 400


def test_a_value_of_the_wrong_type_is_a_document_parsing_error(es):
    es.put("/books", json={"mappings": {"properties": {"year": {"type": "integer"}}}})
    response = es.put("/books/_doc/1", json={"year": "nineteen"})
    assert response.status_code == 400
    error = error_of(response)
    assert error["type"] == "document_parsing_exception"
    assert "failed to parse field [year] of type [integer]" in error["reason"]
    assert es.get("/books/_doc/1").json()["found"] is False


def test_a_refused_document_leaves_the_mapping_unchanged(es):
    es.put("/books", json={"mappings": {"properties": {"year": {"type": "integer"}}}})
    es.put("/books/_doc/1", json={"year": "x", "newfield": "y"})
    properties = es.get("/books/_mapping").json()["books"]["mappings"]["properties"]
    assert "newfield" not in properties


def test_strict_mappings_refuse_unknown_fields(es):
    es.put(
        "/books", json={"mappings": {"dynamic": "strict", "properties": {"a": {"type": "long"}}}}
    )
    response = es.put("/books/_doc/1", json={"b": 1})
    assert response.status_code == 400
    assert "strict" in error_of(response)["reason"]


def test_an_overlong_id_is_refused(es):
    response = es.put("/books/_doc/" + "x" * 513, json={"a": 1})
    assert response.status_code == 400
    assert error_of(response)["type"] == "action_request_validation_exception"


def test_unicode_ids_and_sources_round_trip(es):
    es.put("/books/_doc/caf%C3%A9", json={"title": "naïve café ☕"})
    body = es.get("/books/_doc/caf%C3%A9").json()
    assert body["_id"] == "café"
    assert body["_source"] == {"title": "naïve café ☕"}


def test_a_5_mb_document_is_accepted(es):
    text = "lorem ipsum " * (5 * 1024 * 1024 // 12)
    response = es.put("/books/_doc/big", json={"body": text})
    assert response.status_code == 201
    assert len(es.get("/books/_doc/big").json()["_source"]["body"]) == len(text)


def test_a_body_over_100_mb_is_413(es):
    huge = b'{"body": "' + b"x" * (100 * 1024 * 1024 + 1) + b'"}'
    response = es.put(
        "/books/_doc/huge", content=huge, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert error_of(response)["type"] == "content_too_long_exception"


def test_deep_nesting_is_a_400_not_a_crash(es):
    deep = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    response = es.put("/books/_doc/1", content=deep, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert error_of(response)["type"] == "x_content_parse_exception"


def test_moderate_nesting_hits_the_mapping_depth_limit(es):
    doc: dict = {}
    node = doc
    for _ in range(30):
        node["a"] = {}
        node = node["a"]
    response = es.put("/books/_doc/1", json=doc)
    assert response.status_code == 400
    assert "depth" in error_of(response)["reason"]


def test_a_replaced_document_is_found_by_its_new_values_only(es):
    es.put("/books", json={"mappings": {"properties": {"title": {"type": "text"}}}})
    put_doc(es, title=["Quick fox", "Lazy dog"], tags="x", year=3)
    put_doc(es, title="Only this", year=4)
    assert found(es, {"match": {"title": "lazy"}}) == []
    assert found(es, {"match": {"title": "only"}}) == ["1"]
    assert found(es, {"term": {"year": 4}}) == ["1"]
    assert found(es, {"term": {"year": 3}}) == []
    assert found(es, {"exists": {"field": "tags"}}) == []


def test_every_value_of_a_multi_valued_text_field_is_searchable(es):
    put_doc(es, title=["Quick fox", "Lazy dog"])
    assert found(es, {"match": {"title": "lazy"}}) == ["1"]
    assert found(es, {"match": {"title": "quick"}}) == ["1"]


# -- create ----------------------------------------------------------------------------------


def test_create_refuses_an_existing_document_with_409(es):
    assert es.put("/books/_create/1", json={"a": 1}).status_code == 201
    response = es.put("/books/_create/1", json={"a": 2})
    assert response.status_code == 409
    error = error_of(response)
    assert error["type"] == "version_conflict_engine_exception"
    assert error["reason"] == "[1]: version conflict, document already exists (current version [1])"
    assert error["index"] == "books"
    assert es.get("/books/_doc/1").json()["_source"] == {"a": 1}


def test_op_type_create_is_the_same_as_create(es):
    put_doc(es)
    response = es.put("/books/_doc/1", params={"op_type": "create"}, json={"a": 2})
    assert response.status_code == 409


def test_an_unknown_op_type_is_400(es):
    assert es.put("/books/_doc/1", params={"op_type": "upsert"}, json={"a": 1}).status_code == 400


# -- get -------------------------------------------------------------------------------------


def test_get_returns_the_source_and_metadata(es):
    put_doc(es, title="Quick fox", year=1999)
    response = es.get("/books/_doc/1")
    assert response.status_code == 200
    assert response.json() == {
        "_index": "books",
        "_id": "1",
        "_version": 1,
        "_seq_no": 0,
        "_primary_term": 1,
        "found": True,
        "_source": {"title": "Quick fox", "year": 1999},
    }


def test_get_a_missing_document_is_404_found_false(es):
    put_doc(es)
    response = es.get("/books/_doc/2")
    assert response.status_code == 404
    assert response.json() == {"_index": "books", "_id": "2", "found": False}


def test_get_in_a_missing_index_is_index_not_found(es):
    response = es.get("/nope/_doc/1")
    assert response.status_code == 404
    assert error_of(response)["type"] == "index_not_found_exception"


def test_head_tells_whether_a_document_exists(es):
    put_doc(es)
    assert (es.head("/books/_doc/1").status_code, es.head("/books/_doc/1").content) == (200, b"")
    assert es.head("/books/_doc/2").status_code == 404


def test_get_filters_the_source(es):
    put_doc(es, title="t", user={"name": "ann", "age": 3})
    assert "_source" not in es.get("/books/_doc/1", params={"_source": "false"}).json()
    body = es.get("/books/_doc/1", params={"_source_includes": "user.name"}).json()
    assert body["_source"] == {"user": {"name": "ann"}}
    body = es.get("/books/_doc/1", params={"_source_excludes": "user"}).json()
    assert body["_source"] == {"title": "t"}
    body = es.get("/books/_doc/1", params={"_source": "title"}).json()
    assert body["_source"] == {"title": "t"}


def test_get_source_returns_only_the_source(es):
    put_doc(es, title="t")
    assert es.get("/books/_source/1").json() == {"title": "t"}
    assert es.get("/books/_source/2").status_code == 404


# -- update ----------------------------------------------------------------------------------


def test_partial_update_merges_the_doc(es):
    put_doc(es, title="t", user={"name": "ann", "age": 3}, tags=["a"])
    response = es.post(
        "/books/_update/1", json={"doc": {"user": {"age": 4}, "tags": ["b"], "new": True}}
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["result"], body["_version"], body["_seq_no"]) == ("updated", 2, 1)
    assert es.get("/books/_doc/1").json()["_source"] == {
        "title": "t",
        "user": {"name": "ann", "age": 4},
        "tags": ["b"],
        "new": True,
    }


def test_an_update_that_changes_nothing_is_a_noop(es):
    put_doc(es, title="t")
    response = es.post("/books/_update/1", json={"doc": {"title": "t"}})
    body = response.json()
    assert response.status_code == 200
    assert body["result"] == "noop"
    assert body["_version"] == 1
    assert body["_seq_no"] == 0
    assert body["_shards"] == {"total": 0, "successful": 0, "failed": 0}


def test_detect_noop_false_always_writes(es):
    put_doc(es, title="t")
    body = es.post("/books/_update/1", json={"doc": {"title": "t"}, "detect_noop": False}).json()
    assert (body["result"], body["_version"]) == ("updated", 2)


def test_updating_a_missing_document_is_document_missing(es):
    put_doc(es)
    response = es.post("/books/_update/2", json={"doc": {"a": 1}})
    assert response.status_code == 404
    error = error_of(response)
    assert error["type"] == "document_missing_exception"
    assert error["reason"] == "[2]: document missing"


def test_doc_as_upsert_creates_a_missing_document(es):
    response = es.post("/books/_update/1", json={"doc": {"a": 1}, "doc_as_upsert": True})
    assert response.status_code == 201
    assert response.json()["result"] == "created"
    assert es.get("/books/_doc/1").json()["_source"] == {"a": 1}


def test_upsert_is_used_only_when_the_document_is_missing(es):
    body = {"doc": {"n": 2}, "upsert": {"n": 1}}
    es.post("/books/_update/1", json=body)
    assert es.get("/books/_doc/1").json()["_source"] == {"n": 1}
    es.post("/books/_update/1", json=body)
    assert es.get("/books/_doc/1").json()["_source"] == {"n": 2}


def test_update_can_return_the_new_source(es):
    put_doc(es, title="t")
    body = es.post("/books/_update/1", params={"_source": "true"}, json={"doc": {"year": 1}}).json()
    assert body["get"]["_source"] == {"title": "t", "year": 1}
    assert body["get"]["found"] is True


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({}, "action_request_validation_exception"),
        ({"doc": {"a": 1}, "unknown": 1}, "x_content_parse_exception"),
        ({"doc": "not an object"}, "x_content_parse_exception"),
        ({"script": {"source": "ctx._source.n++"}}, "illegal_argument_exception"),
    ],
)
def test_bad_update_bodies_are_400(es, body, kind):
    put_doc(es)
    response = es.post("/books/_update/1", json=body)
    assert response.status_code == 400
    assert error_of(response)["type"] == kind


def test_an_update_with_a_wrongly_typed_value_is_refused(es):
    es.put("/books", json={"mappings": {"properties": {"n": {"type": "long"}}}})
    put_doc(es, n=1)
    response = es.post("/books/_update/1", json={"doc": {"n": "many"}})
    assert response.status_code == 400
    assert es.get("/books/_doc/1").json()["_source"] == {"n": 1}


def test_an_updated_document_is_found_by_its_new_values(es):
    put_doc(es, title="old words", n=1)
    es.post("/books/_update/1", json={"doc": {"title": "new words"}})
    assert found(es, {"match": {"title": "old"}}) == []
    assert found(es, {"match": {"title": "new"}}) == ["1"]
    assert found(es, {"term": {"n": 1}}) == ["1"]


# -- delete ----------------------------------------------------------------------------------


def test_delete_removes_the_document(es, node_services):
    put_doc(es, title="t", n=1)
    response = es.delete("/books/_doc/1")
    assert response.status_code == 200
    body = response.json()
    assert (body["result"], body["_version"], body["_seq_no"]) == ("deleted", 2, 1)
    assert es.get("/books/_doc/1").status_code == 404
    assert found(es, {"match": {"title": "t"}}) == []
    assert found(es, {"term": {"n": 1}}) == []


def test_deleting_a_missing_document_is_404_not_found(es):
    put_doc(es)
    response = es.delete("/books/_doc/2")
    assert response.status_code == 404
    assert response.json()["result"] == "not_found"


def test_deleting_in_a_missing_index_is_index_not_found(es):
    response = es.delete("/nope/_doc/1")
    assert response.status_code == 404
    assert error_of(response)["type"] == "index_not_found_exception"


# -- optimistic concurrency ------------------------------------------------------------------


def test_if_seq_no_and_primary_term_allow_a_write_over_that_revision(es):
    first = put_doc(es)
    params = {"if_seq_no": first["_seq_no"], "if_primary_term": first["_primary_term"]}
    assert es.put("/books/_doc/1", params=params, json={"a": 2}).status_code == 200


def test_a_stale_seq_no_is_a_409(es):
    first = put_doc(es)
    put_doc(es)
    params = {"if_seq_no": first["_seq_no"], "if_primary_term": 1}
    for response in (
        es.put("/books/_doc/1", params=params, json={"a": 3}),
        es.post("/books/_update/1", params=params, json={"doc": {"a": 3}}),
        es.delete("/books/_doc/1", params=params),
    ):
        assert response.status_code == 409
        error = error_of(response)
        assert error["type"] == "version_conflict_engine_exception"
        assert (
            "required seqNo [0], primary term [1]. current document has seqNo [1]"
            in (error["reason"])
        )
    assert es.get("/books/_doc/1").json()["_version"] == 2


def test_if_seq_no_on_a_missing_document_is_a_409(es):
    put_doc(es)
    response = es.put("/books/_doc/2", params={"if_seq_no": 0, "if_primary_term": 1}, json={})
    assert response.status_code == 409
    assert "no document was found" in error_of(response)["reason"]


def test_a_non_numeric_if_seq_no_is_400(es):
    assert es.put("/books/_doc/1", params={"if_seq_no": "x"}, json={"a": 1}).status_code == 400


def test_internal_version_parameters_are_refused(es):
    response = es.put("/books/_doc/1", params={"version": 1}, json={"a": 1})
    assert response.status_code == 400
    assert error_of(response)["type"] == "action_request_validation_exception"


# -- privileges ------------------------------------------------------------------------------


def test_a_reader_can_get_but_not_write(es, node_app, node_services):
    put_doc(es, index="logs-1")
    grants = [{"names": ["logs-*"], "privileges": ["read"]}]
    with client_as(node_app, node_services, "reader", grants) as reader:
        assert reader.get("/logs-1/_doc/1").status_code == 200
        response = reader.put("/logs-1/_doc/2", json={"a": 1})
        assert response.status_code == 403
        assert error_of(response)["type"] == "security_exception"
        assert reader.delete("/logs-1/_doc/1").status_code == 403
        assert reader.post("/logs-1/_update/1", json={"doc": {"a": 1}}).status_code == 403
        assert reader.get("/books/_doc/1").status_code == 403


def test_auto_creating_an_index_needs_create_index_too(es, node_app, node_services):
    es.put("/logs-1")
    grants = [{"names": ["logs-*"], "privileges": ["write"]}]
    with client_as(node_app, node_services, "writer", grants) as writer:
        assert writer.put("/logs-1/_doc/1", json={"a": 1}).status_code == 201
        response = writer.put("/logs-2/_doc/1", json={"a": 1})
        assert response.status_code == 403
        assert "create_index" in error_of(response)["reason"]
    assert es.head("/logs-2").status_code == 404


def test_the_source_comes_back_as_given(es):
    put_doc(es, title="t", n=[1, 2], nested={"deep": [{"x": None}]})
    body = es.get("/books/_doc/1").json()
    assert body["_source"] == {"title": "t", "n": [1, 2], "nested": {"deep": [{"x": None}]}}
