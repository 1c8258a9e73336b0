"""``_clone``, ``_shrink`` and ``_split``: the target gets the source's settings, mappings and
documents under Elasticsearch's rules."""

from __future__ import annotations

from tests.node.builders import error_of


def _source(es, shards=2):
    es.put("/src", json={"settings": {"number_of_shards": shards, "number_of_replicas": 0}})
    es.put("/src/_mapping", json={"properties": {"tag": {"type": "keyword"}}})
    for i in range(3):
        es.put(f"/src/_doc/{i}", json={"foo": f"hello world {i}", "tag": f"t{i}"})
    es.put("/src/_settings", json={"index.blocks.write": True})


def test_a_clone_holds_the_source_documents_and_mappings(es):
    _source(es)
    body = es.put("/src/_clone/dst").json()
    assert body == {"acknowledged": True, "shards_acknowledged": True, "index": "dst"}
    got = es.get("/dst/_doc/1").json()
    assert (got["_index"], got["_source"]) == ("dst", {"foo": "hello world 1", "tag": "t1"})
    assert got["_version"] == 1
    assert (
        es.get("/dst/_mapping").json()["dst"]["mappings"]
        == es.get("/src/_mapping").json()["src"]["mappings"]
    )
    query = {"query": {"term": {"tag": "t2"}}}
    assert es.post("/dst/_count", json=query).json()["count"] == 1


def test_the_target_copies_settings_and_records_its_source(es):
    _source(es)
    es.post("/src/_shrink/dst", json={"settings": {"index.blocks.write": None}})
    settings = es.get("/dst/_settings?flat_settings=true").json()["dst"]["settings"]
    assert settings["index.number_of_shards"] == "1"
    assert settings["index.number_of_replicas"] == "0"
    assert settings["index.resize.source.name"] == "src"
    assert "index.blocks.write" not in settings
    assert es.put("/dst/_doc/9", json={"n": 1}).status_code == 201


def test_a_split_target_is_searchable(es):
    _source(es)
    es.put("/src/_split/dst", json={"settings": {"index.number_of_shards": 4}})
    es.post("/dst/_refresh")
    assert es.post("/dst/_search", json={}).json()["hits"]["total"]["value"] == 3


def test_a_writable_source_is_refused(es):
    es.put("/src")
    error = error_of(es.put("/src/_clone/dst"), 400)
    assert error["type"] == "illegal_state_exception"
    assert "must be read-only to resize index" in error["reason"]


def test_shard_counts_are_checked_as_elasticsearch_does(es):
    _source(es, shards=2)
    clone = error_of(es.put("/src/_clone/d", json={"settings": {"number_of_shards": 3}}), 400)
    assert "must be the same as the number of source shards" in clone["reason"]
    split = error_of(es.put("/src/_split/d", json={"settings": {"number_of_shards": 3}}), 400)
    assert "must be a factor of [3]" in split["reason"]
    assert "required" in error_of(es.put("/src/_split/d"), 400)["reason"]
    shrink = error_of(es.put("/src/_shrink/d", json={"settings": {"number_of_shards": 4}}), 400)
    assert "must be less that the number of source shards" in shrink["reason"]


def test_mappings_in_the_request_are_refused(es):
    _source(es)
    body = {"mappings": {"properties": {"x": {"type": "long"}}}}
    assert "mappings are not allowed" in error_of(es.put("/src/_clone/d", json=body), 400)["reason"]


def test_an_existing_target_is_refused(es):
    _source(es)
    es.put("/dst")
    error = error_of(es.put("/src/_clone/dst"), 400)
    assert error["type"] == "resource_already_exists_exception"


def test_aliases_in_the_request_point_at_the_target(es):
    _source(es)
    es.put("/src/_clone/dst", json={"aliases": {"view": {}}})
    assert es.get("/view/_doc/0").json()["_index"] == "dst"
