"""Shard-level administration: flush and refresh counters, segments, recovery, shard stores,
disk usage and field usage."""

from __future__ import annotations


def _primaries(es, name):
    return es.get(f"/{name}/_stats").json()["indices"][name]["primaries"]


def test_an_explicit_flush_counts_one_flush_and_no_periodic_one(es):
    es.put("/a")
    es.post("/a/_flush")
    assert _primaries(es, "a")["flush"]["total"] == 1
    assert _primaries(es, "a")["flush"]["periodic"] == 0


def test_a_refresh_that_commits_counts_as_a_periodic_flush(es):
    es.put("/a")
    es.put("/a/_doc/1?refresh=true", json={"n": 1})
    figures = _primaries(es, "a")
    assert figures["flush"]["periodic"] == 1
    assert figures["flush"]["total"] == 1
    assert figures["refresh"]["total"] == 1


def test_stats_metrics_select_flush_and_refresh(es):
    es.put("/a")
    body = es.get("/a/_stats/flush").json()["indices"]["a"]["primaries"]
    assert sorted(body) == ["flush"]


def test_segments_list_the_committed_segments_lucene_style(es):
    es.put("/a", json={"settings": {"number_of_replicas": 0}})
    es.post("/a/_doc?refresh=true", json={"foo": "bar"})
    body = es.get("/a/_segments").json()
    assert body["_shards"] == {"total": 1, "successful": 1, "failed": 0}
    copy = body["indices"]["a"]["shards"]["0"][0]
    assert copy["routing"]["primary"] is True
    assert copy["segments"]["_0"]["num_docs"] == 1
    assert copy["num_committed_segments"] == 1


def test_segments_count_the_replicas_one_node_cannot_assign(es):
    es.put("/a")
    assert es.get("/a/_segments").json()["_shards"]["total"] == 2


def test_a_new_index_recovered_from_an_empty_store(es):
    es.put("/a", json={"settings": {"number_of_replicas": 0}})
    shard = es.get("/a/_recovery").json()["a"]["shards"][0]
    assert (shard["type"], shard["stage"], shard["primary"]) == ("EMPTY_STORE", "DONE", True)
    assert es.get("/a/_recovery?active_only=true").json() == {}


def test_shard_stores_answer_the_shards_in_the_asked_health(es):
    es.put("/a", json={"settings": {"number_of_replicas": 0}})
    assert es.get("/a/_shard_stores").json() == {"indices": {}}
    body = es.get("/a/_shard_stores?status=green").json()
    store = body["indices"]["a"]["shards"]["0"]["stores"][0]
    assert store["allocation"] == "primary"


def test_disk_usage_needs_run_expensive_tasks(es):
    es.put("/a")
    response = es.post("/a/_disk_usage")
    assert response.status_code == 400
    assert "run_expensive_tasks" in response.json()["error"]["reason"]


def test_disk_usage_splits_bytes_by_field_and_kind(es):
    mappings = {"properties": {"name": {"type": "text"}, "n": {"type": "long"}}}
    es.put("/a", json={"mappings": mappings})
    for i in range(5):
        es.post("/a/_doc", json={"name": f"word{i} other", "n": i})
    body = es.post("/a/_disk_usage?run_expensive_tasks=true").json()["a"]
    every = body["all_fields"]
    assert body["store_size_in_bytes"] > 100
    assert every["inverted_index"]["total_in_bytes"] > 0
    assert every["stored_fields_in_bytes"] > 0
    assert every["doc_values_in_bytes"] > 0
    assert every["points_in_bytes"] > 0
    assert body["fields"]["name"]["inverted_index"]["total_in_bytes"] > 0
    assert body["fields"]["name"]["norms_in_bytes"] > 0
    assert body["fields"]["n"]["points_in_bytes"] > 0
    assert body["fields"]["_source"]["stored_fields_in_bytes"] > 0
    per_field = sum(f["total_in_bytes"] for f in body["fields"].values())
    assert per_field + every["doc_values_in_bytes"] == every["total_in_bytes"]


def test_field_usage_stats_have_elasticsearch_shape_with_zero_counts(es):
    es.put("/a")
    shard = es.get("/a/_field_usage_stats").json()["a"]["shards"][0]
    assert shard["routing"]["primary"] is True
    assert shard["stats"]["all_fields"]["any"] == 0
    assert shard["stats"]["fields"] == {}
