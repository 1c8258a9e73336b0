"""Index lifecycle, mappings, settings and GET /, through the REST API (_cat: test_cat.py,
_cluster: test_cluster.py)."""

from __future__ import annotations

import pytest

from tests.node.builders import client_as, error_of

BOOKS_MAPPINGS = {
    "properties": {
        "title": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}},
        "tags": {"type": "keyword"},
        "year": {"type": "integer"},
        "price": {"type": "float"},
        "published": {"type": "date"},
        "in_stock": {"type": "boolean"},
    }
}


def create_books(es, **body):
    response = es.put("/books", json=body or {"mappings": BOOKS_MAPPINGS})
    assert response.status_code == 200, response.text
    return response


# -- GET / and health ------------------------------------------------------------------------


def test_root_describes_the_node_like_elasticsearch(es):
    response = es.get("/")
    body = response.json()
    assert response.status_code == 200
    assert response.headers["x-elastic-product"] == "Elasticsearch"
    assert response.headers["content-type"].startswith("application/json")
    assert body["name"] == "node-1"
    assert body["cluster_name"] == "test-cluster"
    assert len(body["cluster_uuid"]) == 22
    assert body["tagline"] == "You Know, for Search"
    version = body["version"]
    assert version["number"].startswith("8.")
    assert version["build_flavor"] == "default"
    for key in (
        "build_type",
        "lucene_version",
        "minimum_wire_compatibility_version",
        "minimum_index_compatibility_version",
    ):
        assert version[key]


def test_root_needs_credentials(anonymous):
    response = anonymous.get("/")
    assert response.status_code == 401
    assert error_of(response)["type"] == "security_exception"


def test_creating_an_index_acknowledges_it(es):
    response = create_books(es)
    assert response.json() == {"acknowledged": True, "shards_acknowledged": True, "index": "books"}


def test_creating_an_index_without_a_body_works(es):
    assert es.put("/empty").json()["acknowledged"] is True
    assert es.get("/empty/_mapping").json() == {"empty": {"mappings": {}}}


def test_an_index_exists_after_creation_and_not_after_deletion(es):
    assert es.head("/books").status_code == 404
    create_books(es)
    head = es.head("/books")
    assert (head.status_code, head.content) == (200, b"")
    assert es.delete("/books").json() == {"acknowledged": True}
    head = es.head("/books")
    assert (head.status_code, head.content) == (404, b"")


def test_creating_an_existing_index_is_resource_already_exists(es):
    create_books(es)
    response = es.put("/books")
    assert response.status_code == 400
    error = error_of(response)
    assert error["type"] == "resource_already_exists_exception"
    assert error["index"] == "books"
    assert error["reason"].startswith("index [books/")


@pytest.mark.parametrize("name", ["Books", "a%20b", "_private", "a*", "-x", "a%23b", "a%2Cb"])
def test_invalid_index_names_are_refused(es, name):
    response = es.put(f"/{name}")
    assert response.status_code == 400
    assert error_of(response)["type"] in (
        "invalid_index_name_exception",
        "no_handler_found_exception",
    )


def test_an_invalid_index_name_says_why(es):
    error = error_of(es.put("/Books"))
    assert error == {
        "root_cause": [error["root_cause"][0]],
        "type": "invalid_index_name_exception",
        "reason": "Invalid index name [Books], must be lowercase",
        "index_uuid": "_na_",
        "index": "Books",
    }


def test_an_overlong_index_name_is_refused(es):
    response = es.put("/" + "x" * 256)
    assert response.status_code == 400
    assert "too long" in error_of(response)["reason"]


def test_unknown_keys_in_the_create_body_are_a_parsing_error(es):
    response = es.put("/books", json={"mapping": {}})
    assert response.status_code == 400
    assert error_of(response)["type"] == "parsing_exception"


def test_malformed_json_in_the_create_body_is_a_400(es):
    response = es.put(
        "/books", content=b'{"mappings": {', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert error_of(response)["type"] == "x_content_parse_exception"


def test_deleting_a_missing_index_is_index_not_found(es):
    response = es.delete("/nope")
    assert response.status_code == 404
    error = error_of(response)
    assert error["type"] == "index_not_found_exception"
    assert error["reason"] == "no such index [nope]"


def test_deleting_with_a_wildcard_is_refused(es):
    create_books(es)
    response = es.delete("/boo*")
    assert response.status_code == 400
    assert error_of(response)["type"] == "illegal_argument_exception"
    assert es.head("/books").status_code == 200


def test_deleting_an_index_removes_its_documents(es, node_services):
    create_books(es)
    es.put("/books/_doc/1", json={"title": "gone soon"})
    es.delete("/books")
    create_books(es)
    assert es.get("/books/_doc/1").json()["found"] is False
    assert es.get("/books/_count").json()["count"] == 0
    shards = [p.name for p in node_services.engine.root.iterdir()]
    assert shards == [es.get("/books/_settings").json()["books"]["settings"]["index"]["uuid"]]


def test_deleting_a_comma_list_deletes_each(es):
    es.put("/a")
    es.put("/b")
    assert es.delete("/a,b").status_code == 200
    assert es.head("/a").status_code == 404
    assert es.head("/b").status_code == 404


# -- get -------------------------------------------------------------------------------------


def test_get_index_returns_aliases_mappings_and_settings(es):
    create_books(
        es, settings={"number_of_shards": 2, "number_of_replicas": 0}, mappings=BOOKS_MAPPINGS
    )
    body = es.get("/books").json()
    books = body["books"]
    assert books["aliases"] == {}
    assert books["mappings"]["properties"]["year"] == {"type": "integer"}
    settings = books["settings"]["index"]
    assert settings["number_of_shards"] == "2"
    assert settings["number_of_replicas"] == "0"
    assert settings["provided_name"] == "books"
    assert settings["uuid"]
    assert settings["creation_date"].isdigit()


def test_get_index_with_a_wildcard_returns_every_match(es):
    es.put("/logs-1")
    es.put("/logs-2")
    es.put("/other")
    assert sorted(es.get("/logs-*").json()) == ["logs-1", "logs-2"]


def test_get_missing_index_is_404(es):
    response = es.get("/nope")
    assert response.status_code == 404
    assert error_of(response)["type"] == "index_not_found_exception"


def test_settings_can_be_read_flat(es):
    create_books(es, settings={"index": {"number_of_shards": 1}})
    body = es.get("/books/_settings", params={"flat_settings": "true"}).json()
    assert body["books"]["settings"]["index.number_of_shards"] == "1"


def test_invalid_settings_are_refused(es):
    response = es.put("/books", json={"settings": {"number_of_shards": 0}})
    assert response.status_code == 400
    assert error_of(response)["type"] == "illegal_argument_exception"


def test_dynamic_settings_can_be_updated_but_the_shard_count_cannot(es):
    create_books(es)
    assert es.put("/books/_settings", json={"index": {"number_of_replicas": 0}}).status_code == 200
    assert (
        es.get("/books/_settings").json()["books"]["settings"]["index"]["number_of_replicas"] == "0"
    )
    response = es.put("/books/_settings", json={"index": {"number_of_shards": 3}})
    assert response.status_code == 400


# -- mappings --------------------------------------------------------------------------------


def test_get_mapping_returns_what_was_created(es):
    create_books(es)
    body = es.get("/books/_mapping").json()
    assert body == {"books": {"mappings": _sorted(BOOKS_MAPPINGS)}}


def _sorted(mappings):
    return {"properties": dict(sorted(mappings["properties"].items()))}


def test_put_mapping_adds_fields(es):
    create_books(es)
    response = es.put("/books/_mapping", json={"properties": {"isbn": {"type": "keyword"}}})
    assert response.json() == {"acknowledged": True}
    properties = es.get("/books/_mapping").json()["books"]["mappings"]["properties"]
    assert properties["isbn"] == {"type": "keyword"}
    assert properties["title"]["type"] == "text"


def test_put_mapping_cannot_change_a_type(es):
    create_books(es)
    response = es.put("/books/_mapping", json={"properties": {"year": {"type": "keyword"}}})
    assert response.status_code == 400
    error = error_of(response)
    assert error["type"] == "illegal_argument_exception"
    assert error["reason"] == "mapper [year] cannot be changed from type [integer] to [keyword]"


def test_put_mapping_with_an_unknown_type_is_mapper_parsing(es):
    create_books(es)
    response = es.put("/books/_mapping", json={"properties": {"x": {"type": "nope"}}})
    assert response.status_code == 400
    assert error_of(response)["type"] == "mapper_parsing_exception"


def test_put_mapping_on_a_missing_index_is_404(es):
    response = es.put("/nope/_mapping", json={"properties": {}})
    assert response.status_code == 404


def test_put_mapping_needs_a_body(es):
    create_books(es)
    response = es.put("/books/_mapping")
    assert response.status_code == 400


def test_a_text_field_added_by_put_mapping_is_searchable_storage(es, node_services):
    create_books(es)
    es.put("/books/_mapping", json={"properties": {"summary": {"type": "text"}}})
    es.put("/books/_doc/1", params={"refresh": "true"}, json={"summary": "Quick Brown"})
    query = {"query": {"match": {"summary": "brown"}}}
    assert es.post("/books/_search", json=query).json()["hits"]["total"]["value"] == 1


def test_get_mapping_for_all_indices(es):
    es.put("/a")
    es.put("/b", json={"mappings": {"properties": {"n": {"type": "long"}}}})
    body = es.get("/_mapping").json()
    assert body == {
        "a": {"mappings": {}},
        "b": {"mappings": {"properties": {"n": {"type": "long"}}}},
    }


def test_mapping_with_an_unknown_root_parameter_is_refused(es):
    response = es.put("/books", json={"mappings": {"_doc": {"properties": {}}}})
    assert response.status_code == 400
    assert error_of(response)["type"] == "mapper_parsing_exception"


# -- refresh ---------------------------------------------------------------------------------


def test_refresh_answers_in_the_elasticsearch_shape(es):
    create_books(es)
    assert es.post("/books/_refresh").json() == {
        "_shards": {"total": 1, "successful": 1, "failed": 0}
    }
    assert es.post("/_refresh").json()["_shards"]["failed"] == 0


def test_refresh_of_a_missing_index_is_404(es):
    assert es.post("/nope/_refresh").status_code == 404


# -- privileges ------------------------------------------------------------------------------


def test_creating_an_index_needs_create_index(es, node_app, node_services):
    grants = [{"names": ["logs-*"], "privileges": ["read"]}]
    with client_as(node_app, node_services, "reader", grants) as reader:
        response = reader.put("/logs-1")
        assert response.status_code == 403
        error = error_of(response)
        assert error["type"] == "security_exception"
        assert "create_index" in error["reason"]


def test_deleting_an_index_needs_delete_index(es, node_app, node_services):
    es.put("/logs-1")
    grants = [{"names": ["logs-*"], "privileges": ["read", "write", "create_index"]}]
    with client_as(node_app, node_services, "writer", grants) as writer:
        assert writer.delete("/logs-1").status_code == 403
    assert es.head("/logs-1").status_code == 200


def test_wildcard_reads_of_metadata_skip_indices_the_user_cannot_see(es, node_app, node_services):
    es.put("/logs-1")
    es.put("/logs-secret")
    grants = [{"names": ["logs-*"], "privileges": ["view_index_metadata"]}]
    with client_as(node_app, node_services, "viewer1", grants) as viewer:
        assert sorted(viewer.get("/logs-*/_mapping").json()) == ["logs-1", "logs-secret"]
    grants = [{"names": ["logs-1"], "privileges": ["view_index_metadata"]}]
    with client_as(node_app, node_services, "viewer2", grants) as viewer:
        assert list(viewer.get("/_mapping").json()) == ["logs-1"]
