"""A data stream's own mappings and settings, over its template's, for its next backing
indices (and its indices' dynamic settings at once)."""

from __future__ import annotations

TEMPLATE = {
    "index_patterns": ["logs-*"],
    "data_stream": {},
    "template": {
        "settings": {"number_of_replicas": 0},
        "mappings": {"properties": {"field1": {"type": "keyword"}}},
    },
}


def _stream(es):
    es.put("/_index_template/t", json=TEMPLATE)
    es.put("/_data_stream/logs-a")


def test_a_new_stream_has_no_own_mappings_and_the_template_s_effective_ones(es):
    _stream(es)
    shown = es.get("/_data_stream/logs-a/_mappings").json()["data_streams"][0]
    assert shown["mappings"] == {}
    assert shown["effective_mappings"]["properties"]["field1"]["type"] == "keyword"


def test_put_mappings_reach_the_next_backing_index(es):
    _stream(es)
    body = {"properties": {"name": {"type": "keyword"}}}
    shown = es.put("/_data_stream/logs-a/_mappings", json=body).json()["data_streams"][0]
    assert shown["applied_to_data_stream"] is True
    assert shown["effective_mappings"]["properties"]["name"]["type"] == "keyword"
    new = es.post("/logs-a/_rollover").json()["new_index"]
    assert es.get(f"/{new}/_mapping").json()[new]["mappings"]["properties"]["name"] == {
        "type": "keyword"
    }
    assert es.get("/_data_stream/logs-a").json()["data_streams"][0]["mappings"] == {
        "properties": {"name": {"type": "keyword"}}
    }


def test_a_dry_run_changes_nothing(es):
    _stream(es)
    body = {"properties": {"name": {"type": "keyword"}}}
    shown = es.put("/_data_stream/logs-a/_mappings?dry_run=true", json=body).json()
    assert shown["data_streams"][0]["applied_to_data_stream"] is False
    assert es.get("/_data_stream/logs-a/_mappings").json()["data_streams"][0]["mappings"] == {}


def test_settings_split_between_the_stream_and_its_indices(es):
    _stream(es)
    body = {"index": {"number_of_shards": 2, "refresh_interval": "5s"}}
    shown = es.put("/_data_stream/logs-a/_settings", json=body).json()["data_streams"][0]
    results = shown["index_settings_results"]
    assert results["applied_to_data_stream_only"] == ["index.number_of_shards"]
    assert results["applied_to_data_stream_and_backing_indices"] == ["index.refresh_interval"]
    assert shown["effective_settings"]["index"]["number_of_replicas"] == "0"
    backing = es.get("/_data_stream/logs-a").json()["data_streams"][0]["indices"][0]["index_name"]
    flat = es.get(f"/{backing}/_settings?flat_settings=true").json()[backing]["settings"]
    assert flat["index.refresh_interval"] == "5s"
    assert flat["index.number_of_shards"] == "1"
    new = es.post("/logs-a/_rollover").json()["new_index"]
    flat = es.get(f"/{new}/_settings?flat_settings=true").json()[new]["settings"]
    assert flat["index.number_of_shards"] == "2"
    own = es.get("/_data_stream/logs-a/_settings").json()["data_streams"][0]["settings"]
    assert own["index"]["number_of_shards"] == "2"


def test_a_missing_stream_is_404(es):
    assert es.get("/_data_stream/nope/_settings").status_code == 404


def test_data_stream_options_are_refused_by_name(es):
    body = {**TEMPLATE, "template": {"data_stream_options": {"failure_store": {"enabled": True}}}}
    response = es.put("/_index_template/t", json=body)
    assert response.status_code == 400
    assert "data_stream_options" in response.json()["error"]["reason"]
    _stream(es)
    assert es.get("/_data_stream/logs-a/_options").status_code == 400
