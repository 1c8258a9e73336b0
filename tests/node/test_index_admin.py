"""Index administration through the REST API: open/close, blocks, stats, analyze, settings,
resolve, field mappings, and ip/normalizer fields end to end."""

from __future__ import annotations

from tests.node.builders import error_of


def test_a_closed_index_refuses_reads_and_writes_until_opened(es):
    es.put("/a")
    es.put("/a/_doc/1?refresh=true", json={"n": 1})
    body = es.post("/a/_close").json()
    assert body["acknowledged"] is True
    assert body["shards_acknowledged"] is True
    assert error_of(es.get("/a/_doc/1"), 400)["type"] == "index_closed_exception"
    assert error_of(es.put("/a/_doc/2", json={}), 400)["type"] == "index_closed_exception"
    assert error_of(es.post("/a/_search", json={}), 400)["type"] == "index_closed_exception"
    assert es.get("/a").status_code == 200
    assert es.post("/a/_open").json() == {"acknowledged": True, "shards_acknowledged": True}
    assert es.get("/a/_doc/1").json()["found"] is True


def test_wildcard_searches_skip_closed_indices(es):
    es.put("/a")
    es.put("/b/_doc/1?refresh=true", json={"n": 1})
    es.post("/a/_close")
    assert es.get("/*/_count").json()["count"] == 1


def test_a_write_block_refuses_writes(es):
    es.put("/a")
    assert es.put("/a/_block/write").json()["indices"] == [{"name": "a", "blocked": True}]
    error = error_of(es.put("/a/_doc/1", json={}), 403)
    assert error["type"] == "cluster_block_exception"
    es.put("/a/_settings", json={"index.blocks.write": False})
    assert es.put("/a/_doc/1", json={}).status_code == 201


def test_put_settings_without_an_index_updates_every_index(es):
    es.put("/a")
    es.put("/b")
    assert es.put("/_settings", json={"index": {"refresh_interval": "5s"}}).status_code == 200
    flat = es.get("/_settings?flat_settings=true").json()
    assert {flat[n]["settings"]["index.refresh_interval"] for n in ("a", "b")} == {"5s"}


def test_an_unknown_index_setting_is_refused_like_elasticsearch(es):
    error = error_of(es.put("/a", json={"settings": {"index.foo": 1}}), 400)
    assert error["reason"].startswith("unknown setting [index.foo] please check")


def test_custom_analysis_settings_are_refused_by_name(es):
    body = {"settings": {"analysis": {"analyzer": {"x": {"type": "custom"}}}}}
    assert "not supported" in error_of(es.put("/a", json=body), 400)["reason"]


def test_stats_count_documents_per_index_and_in_all(es):
    es.put("/a/_doc/1?refresh=true", json={"n": 1})
    body = es.get("/_stats").json()
    assert body["_all"]["primaries"]["docs"]["count"] == 1
    assert body["indices"]["a"]["total"]["docs"]["count"] == 1
    assert body["_shards"]["total"] == 1
    assert es.get("/a/_stats/store").json()["indices"]["a"]["primaries"].keys() == {"store"}


def test_stats_metrics_the_node_does_not_keep_are_a_400(es):
    es.put("/a")
    assert "not supported" in error_of(es.get("/a/_stats/fielddata"), 400)["reason"]


def test_forcemerge_flush_and_cache_clear_answer_shards(es):
    es.put("/a")
    for path in ("/a/_forcemerge", "/a/_flush", "/a/_cache/clear"):
        assert es.post(path).json()["_shards"] == {"total": 1, "successful": 1, "failed": 0}


def test_analyze_gives_tokens_with_offsets_and_positions(es):
    body = es.post("/_analyze", json={"analyzer": "standard", "text": "Hello, World 42"}).json()
    assert body["tokens"] == [
        {"token": "hello", "start_offset": 0, "end_offset": 5, "type": "<ALPHANUM>", "position": 0},
        {
            "token": "world",
            "start_offset": 7,
            "end_offset": 12,
            "type": "<ALPHANUM>",
            "position": 1,
        },
        {"token": "42", "start_offset": 13, "end_offset": 15, "type": "<NUM>", "position": 2},
    ]


def test_analyze_with_tokenizer_and_filter(es):
    body = es.post(
        "/_analyze", json={"tokenizer": "whitespace", "filter": ["uppercase"], "text": "a b"}
    ).json()
    assert [t["token"] for t in body["tokens"]] == ["A", "B"]


def test_analyze_by_field_uses_its_analyzer(es):
    es.put(
        "/a", json={"mappings": {"properties": {"t": {"type": "text", "analyzer": "whitespace"}}}}
    )
    body = es.post("/a/_analyze", json={"field": "t", "text": "Foo Bar"}).json()
    assert [t["token"] for t in body["tokens"]] == ["Foo", "Bar"]


def test_analyze_with_an_unknown_analyzer_is_a_400(es):
    assert es.post("/_analyze", json={"analyzer": "french", "text": "x"}).status_code == 400


def test_resolve_index_lists_indices_aliases_and_streams(es):
    es.put("/idx", json={"aliases": {"al": {}}})
    body = es.get("/_resolve/index/*").json()
    assert body == {
        "indices": [{"name": "idx", "aliases": ["al"], "attributes": ["open"]}],
        "aliases": [{"name": "al", "indices": ["idx"]}],
        "data_streams": [],
    }


def test_field_mapping_shows_the_field(es):
    es.put("/a", json={"mappings": {"properties": {"t": {"type": "text"}}}})
    body = es.get("/a/_mapping/field/t").json()
    assert body == {
        "a": {"mappings": {"t": {"full_name": "t", "mapping": {"t": {"type": "text"}}}}}
    }


def test_ip_fields_are_searchable_by_address_and_range(es):
    es.put("/a", json={"mappings": {"properties": {"ip": {"type": "ip"}}}})
    es.put("/a/_doc/1", json={"ip": "192.168.1.10"})
    es.put("/a/_doc/2?refresh=true", json={"ip": "10.0.0.1"})
    hits = es.post("/a/_search", json={"query": {"term": {"ip": "192.168.0.0/16"}}}).json()
    assert [h["_id"] for h in hits["hits"]["hits"]] == ["1"]


def test_a_lowercase_normalized_keyword_matches_any_case(es):
    body = {"mappings": {"properties": {"k": {"type": "keyword", "normalizer": "lowercase"}}}}
    es.put("/a", json=body)
    es.put("/a/_doc/1?refresh=true", json={"k": "MiXeD"})
    hits = es.post("/a/_search", json={"query": {"term": {"k": "mixed"}}}).json()
    assert hits["hits"]["total"]["value"] == 1
