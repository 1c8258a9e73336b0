"""Index templates (composable, component, legacy) and data streams through the REST API."""

from __future__ import annotations

from tests.node.builders import error_of

KEYWORD = {"type": "keyword"}


def put_template(es, name, **body):
    response = es.put(f"/_index_template/{name}", json=body)
    assert response.status_code == 200, response.text


def test_a_composable_template_reads_back(es):
    put_template(
        es, "t", index_patterns="test-*", template={"mappings": {"properties": {"f": KEYWORD}}}
    )
    body = es.get("/_index_template/t").json()
    assert body["index_templates"][0]["name"] == "t"
    assert body["index_templates"][0]["index_template"]["index_patterns"] == ["test-*"]
    assert body["index_templates"][0]["index_template"]["template"]["mappings"] == {
        "properties": {"f": KEYWORD}
    }
    assert es.head("/_index_template/t").status_code == 200
    assert es.head("/_index_template/other").status_code == 404


def test_a_new_index_takes_its_template_and_the_request_wins(es):
    es.put(
        "/_component_template/ct", json={"template": {"mappings": {"properties": {"c": KEYWORD}}}}
    )
    put_template(
        es,
        "t",
        index_patterns=["logs-*"],
        composed_of=["ct"],
        template={"settings": {"number_of_replicas": 0, "refresh_interval": "5s"}},
    )
    es.put("/logs-a", json={"settings": {"refresh_interval": "2s"}})
    got = es.get("/logs-a").json()["logs-a"]
    assert got["mappings"]["properties"]["c"] == KEYWORD
    assert got["settings"]["index"]["number_of_replicas"] == "0"
    assert got["settings"]["index"]["refresh_interval"] == "2s"


def test_a_first_write_applies_the_template(es):
    put_template(
        es, "t", index_patterns=["auto-*"], template={"mappings": {"properties": {"n": KEYWORD}}}
    )
    es.put("/auto-1/_doc/1", json={"n": 5})
    assert es.get("/auto-1/_mapping").json()["auto-1"]["mappings"]["properties"]["n"] == KEYWORD


def test_the_highest_priority_template_wins(es):
    put_template(
        es,
        "low",
        index_patterns=["x*"],
        priority=1,
        template={"settings": {"number_of_replicas": 1}},
    )
    put_template(
        es,
        "high",
        index_patterns=["xy*"],
        priority=5,
        template={"settings": {"number_of_replicas": 2}},
    )
    es.put("/xyz")
    assert es.get("/xyz/_settings").json()["xyz"]["settings"]["index"]["number_of_replicas"] == "2"


def test_overlapping_templates_of_the_same_priority_are_refused(es):
    put_template(es, "a", index_patterns=["logs-*"])
    error = error_of(es.put("/_index_template/b", json={"index_patterns": ["logs-app-*"]}), 400)
    assert "multiple index templates may not match" in error["reason"]


def test_a_template_naming_a_missing_component_is_refused(es):
    error = error_of(
        es.put("/_index_template/t", json={"index_patterns": ["a*"], "composed_of": ["nope"]}), 400
    )
    assert error["type"] == "invalid_index_template_exception"


def test_a_component_in_use_cannot_be_deleted(es):
    es.put("/_component_template/ct", json={"template": {}})
    put_template(es, "t", index_patterns=["a*"], composed_of=["ct"])
    assert es.delete("/_component_template/ct").status_code == 400
    es.delete("/_index_template/t")
    assert es.delete("/_component_template/ct").json() == {"acknowledged": True}


def test_missing_templates_are_404(es):
    assert error_of(es.get("/_index_template/nope"), 404)["type"] == "resource_not_found_exception"
    assert (
        error_of(es.delete("/_component_template/nope"), 404)["type"]
        == "resource_not_found_exception"
    )


def test_simulate_composes_components_and_lists_overlaps(es):
    put_template(es, "existing", index_patterns=["te*"], priority=10)
    es.put(
        "/_component_template/ct", json={"template": {"mappings": {"properties": {"c": KEYWORD}}}}
    )
    body = es.post(
        "/_index_template/_simulate",
        json={
            "index_patterns": ["te*"],
            "priority": 15,
            "composed_of": ["ct"],
            "template": {"aliases": {"al": {}}},
        },
    ).json()
    assert body["template"]["mappings"]["properties"]["c"] == KEYWORD
    assert body["template"]["aliases"] == {"al": {}}
    assert body["overlapping"] == [{"name": "existing", "index_patterns": ["te*"]}]


def test_simulate_index_shows_what_an_index_would_get(es):
    put_template(
        es, "t", index_patterns=["te*"], template={"mappings": {"properties": {"f": KEYWORD}}}
    )
    body = es.post("/_index_template/_simulate_index/test").json()
    assert body["template"]["mappings"]["properties"]["f"] == KEYWORD
    assert body["overlapping"] == []


def test_legacy_templates_apply_when_no_composable_one_matches(es):
    es.put(
        "/_template/old", json={"index_patterns": ["old-*"], "settings": {"number_of_replicas": 0}}
    )
    assert es.get("/_template/old?flat_settings=true").json()["old"]["settings"] == {
        "index.number_of_replicas": "0"
    }
    es.put("/old-1")
    assert (
        es.get("/old-1/_settings").json()["old-1"]["settings"]["index"]["number_of_replicas"] == "0"
    )
    assert es.get("/_template/nope").status_code == 404


# -- data streams ----------------------------------------------------------------------------


def stream_template(es):
    put_template(es, "ds", index_patterns=["logs-*"], data_stream={})


def test_a_first_write_creates_a_data_stream_with_a_hidden_backing_index(es):
    stream_template(es)
    response = es.post("/logs-app/_doc?refresh=true", json={"@timestamp": "2024-05-01", "m": "hi"})
    assert response.status_code == 201, response.text
    backing = response.json()["_index"]
    assert backing.startswith(".ds-logs-app-")
    assert backing.endswith("-000001")
    stream = es.get("/_data_stream/logs-app").json()["data_streams"][0]
    assert stream["name"] == "logs-app"
    assert stream["indices"][0]["index_name"] == backing
    assert stream["timestamp_field"] == {"name": "@timestamp"}
    assert es.get("/logs-app/_count").json()["count"] == 1
    assert es.get("/_count").json()["count"] == 1  # wildcards include data streams
    assert es.get("/.ds-*/_count").json()["count"] == 1


def test_a_data_stream_document_needs_a_timestamp(es):
    stream_template(es)
    error = error_of(es.post("/logs-app/_doc", json={"m": "hi"}), 400)
    assert "data stream timestamp field [@timestamp] is missing" in error["reason"]


def test_a_data_stream_takes_op_type_create_only(es):
    stream_template(es)
    es.put("/_data_stream/logs-app")
    error = error_of(es.put("/logs-app/_doc/1", json={"@timestamp": "2024-01-01"}), 400)
    assert "op_type of create" in error["reason"]
    assert es.put("/logs-app/_create/1", json={"@timestamp": "2024-01-01"}).status_code == 201


def test_creating_an_index_a_data_stream_template_matches_is_refused(es):
    stream_template(es)
    error = error_of(es.put("/logs-app"), 400)
    assert "use create data stream api instead" in error["reason"]


def test_a_data_stream_without_template_is_refused(es):
    error = error_of(es.put("/_data_stream/other"), 400)
    assert "no matching index template found for data stream [other]" in error["reason"]


def test_rollover_adds_a_backing_index_and_searches_cover_both(es):
    stream_template(es)
    es.post("/logs-app/_doc", json={"@timestamp": "2024-01-01"})
    body = es.post("/logs-app/_rollover").json()
    assert body["new_index"].endswith("-000002")
    es.post("/logs-app/_doc?refresh=true", json={"@timestamp": "2024-01-02"})
    es.post("/logs-app/_refresh")
    assert es.get("/logs-app/_count").json()["count"] == 2
    stats = es.get("/_data_stream/_stats").json()
    assert stats["data_stream_count"] == 1
    assert stats["backing_indices"] == 2


def test_deleting_a_data_stream_drops_its_backing_indices(es):
    stream_template(es)
    es.put("/_data_stream/logs-app")
    assert es.delete("/_data_stream/logs-app").json() == {"acknowledged": True}
    assert es.get("/_data_stream/logs-app").status_code == 404
    assert es.get("/.ds-*?expand_wildcards=all").json() == {}


def test_a_template_in_use_by_a_data_stream_cannot_be_deleted(es):
    stream_template(es)
    es.put("/_data_stream/logs-app")
    assert es.delete("/_index_template/ds").status_code == 400
