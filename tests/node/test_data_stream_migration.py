"""``_data_stream/_migrate`` (an alias becomes a data stream) and ``_data_stream/_modify``."""

from __future__ import annotations

from tests.node.builders import error_of


def _alias_over_two_indices(es):
    for name in ("old-1", "old-2"):
        es.put(f"/{name}/_doc/1?refresh=true", json={"@timestamp": "2023-12-20", "n": 1})
    es.put("/_index_template/t", json={"index_patterns": ["logs*"], "data_stream": {}})
    es.post(
        "/_aliases",
        json={
            "actions": [
                {"add": {"index": "old-1", "alias": "logs"}},
                {"add": {"index": "old-2", "alias": "logs", "is_write_index": True}},
            ]
        },
    )


def test_an_alias_migrates_to_a_data_stream_over_its_indices(es):
    _alias_over_two_indices(es)
    assert es.post("/_data_stream/_migrate/logs").json() == {"acknowledged": True}
    stream = es.get("/_data_stream/logs").json()["data_streams"][0]
    assert [i["index_name"] for i in stream["indices"]] == ["old-1", "old-2"]
    settings = es.get("/old-2/_settings?flat_settings=true").json()["old-2"]["settings"]
    assert settings["index.hidden"] == "true"
    es.post("/logs/_refresh")
    assert es.post("/logs/_count").json()["count"] == 2
    created = es.post("/logs/_doc", json={"@timestamp": "2024-01-01"}).json()
    assert created["_index"] == "old-2"


def test_migrating_needs_a_data_stream_template(es):
    es.put("/x/_doc/1", json={"@timestamp": "2023-12-20"})
    es.put("/x/_alias/a")
    reason = error_of(es.post("/_data_stream/_migrate/a"), 400)["reason"]
    assert "no matching index template found" in reason


def test_modify_adds_a_backing_index_before_the_others(es):
    _alias_over_two_indices(es)
    es.post("/_data_stream/_migrate/logs")
    es.put("/other/_doc/1?refresh=true", json={"@timestamp": "2020-01-01"})
    body = {"actions": [{"add_backing_index": {"data_stream": "logs", "index": "other"}}]}
    assert es.post("/_data_stream/_modify", json=body).json() == {"acknowledged": True}
    stream = es.get("/_data_stream/logs").json()["data_streams"][0]
    assert [i["index_name"] for i in stream["indices"]] == ["other", "old-1", "old-2"]


def test_modify_cannot_remove_the_write_index(es):
    _alias_over_two_indices(es)
    es.post("/_data_stream/_migrate/logs")
    body = {"actions": [{"remove_backing_index": {"data_stream": "logs", "index": "old-2"}}]}
    assert "write index" in error_of(es.post("/_data_stream/_modify", json=body), 400)["reason"]
    body = {"actions": [{"remove_backing_index": {"data_stream": "logs", "index": "old-1"}}]}
    assert es.post("/_data_stream/_modify", json=body).status_code == 200
    flat = es.get("/old-1/_settings?flat_settings=true").json()["old-1"]["settings"]
    assert flat["index.hidden"] == "false"
