"""Connectors API: connector documents, their update endpoints and sync jobs."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


def _connector(es: TestClient, cid: str = "c1", index: str = "search-a") -> None:
    body = {"index_name": index, "name": "mine", "service_type": "sharepoint"}
    assert es.put(f"/_connector/{cid}", json=body).json() == {"result": "created", "id": cid}


def _job(es: TestClient, cid: str = "c1") -> str:
    return es.post("/_connector/_sync_job", json={"id": cid}).json()["id"]


def test_a_new_connector_has_elasticsearch_defaults(es: TestClient) -> None:
    _connector(es)
    doc = es.get("/_connector/c1").json()
    assert doc["status"] == "created"
    assert doc["index_name"] == "search-a"
    assert doc["pipeline"]["name"] == "search-default-ingestion"
    assert doc["filtering"][0]["active"]["rules"][0]["id"] == "DEFAULT"


def test_post_generates_an_id(es: TestClient) -> None:
    created = es.post("/_connector", json={"name": "x"}).json()
    assert es.get(f"/_connector/{created['id']}").json()["name"] == "x"


def test_an_index_name_belongs_to_one_connector(es: TestClient) -> None:
    _connector(es)
    response = es.put("/_connector/c2", json={"index_name": "search-a"})
    assert response.status_code == 400


def test_list_filters_and_pages(es: TestClient) -> None:
    _connector(es, "c1", "search-a")
    _connector(es, "c2", "search-b")
    assert es.get("/_connector").json()["count"] == 2
    found = es.get("/_connector?index_name=search-b").json()
    assert [c["id"] for c in found["results"]] == ["c2"]
    assert len(es.get("/_connector?size=1").json()["results"]) == 1


@pytest.mark.parametrize(
    ("endpoint", "body", "field", "value"),
    [
        ("_name", {"name": "n"}, "name", "n"),
        ("_service_type", {"service_type": "s"}, "service_type", "s"),
        ("_status", {"status": "connected"}, "status", "connected"),
        ("_native", {"is_native": True}, "is_native", True),
        ("_error", {"error": "e"}, "error", "e"),
        ("_api_key_id", {"api_key_id": "k"}, "api_key_id", "k"),
        ("_features", {"features": {"x": {"enabled": True}}}, "features", {"x": {"enabled": True}}),
    ],
)
def test_update_endpoints_change_their_field(
    es: TestClient, endpoint: str, body: dict, field: str, value: object
) -> None:
    _connector(es)
    assert es.put(f"/_connector/c1/{endpoint}", json=body).json() == {"result": "updated"}
    assert es.get("/_connector/c1").json()[field] == value


def test_an_unknown_status_is_a_400(es: TestClient) -> None:
    _connector(es)
    assert es.put("/_connector/c1/_status", json={"status": "sleepy"}).status_code == 400


def test_filtering_is_activated_only_once_valid(es: TestClient) -> None:
    _connector(es)
    rules = [{"id": "r", "field": "f", "policy": "exclude", "rule": "equals", "value": "x"}]
    es.put("/_connector/c1/_filtering", json={"rules": rules})
    assert es.put("/_connector/c1/_filtering/_activate").status_code == 400
    validation = {"validation": {"state": "valid", "errors": []}}
    es.put("/_connector/c1/_filtering/_validation", json=validation)
    assert es.put("/_connector/c1/_filtering/_activate").status_code == 200
    assert es.get("/_connector/c1").json()["filtering"][0]["active"]["rules"] == rules


def test_soft_delete_hides_the_connector(es: TestClient) -> None:
    _connector(es)
    assert es.delete("/_connector/c1").json() == {"acknowledged": True}
    assert es.get("/_connector/c1").status_code == 404
    assert es.get("/_connector/c1?include_deleted=true").json()["deleted"] is True


def test_a_sync_job_copies_the_connector(es: TestClient) -> None:
    _connector(es)
    job = es.get(f"/_connector/_sync_job/{_job(es)}").json()
    assert job["status"] == "pending"
    assert job["connector"]["index_name"] == "search-a"
    assert job["job_type"] == "full"


def test_a_job_for_a_missing_connector_is_a_404(es: TestClient) -> None:
    assert es.post("/_connector/_sync_job", json={"id": "nope"}).status_code == 404


def test_cancel_then_claim_then_stats(es: TestClient) -> None:
    _connector(es)
    job_id = _job(es)
    es.put(f"/_connector/_sync_job/{job_id}/_cancel")
    assert es.get(f"/_connector/_sync_job/{job_id}").json()["status"] == "canceled"
    es.put(f"/_connector/_sync_job/{job_id}/_claim", json={"worker_hostname": "h"})
    stats = {"deleted_document_count": 1, "indexed_document_count": 2, "indexed_document_volume": 3}
    es.put(f"/_connector/_sync_job/{job_id}/_stats", json=stats)
    job = es.get(f"/_connector/_sync_job/{job_id}").json()
    assert (job["status"], job["worker_hostname"], job["indexed_document_count"]) == (
        "in_progress",
        "h",
        2,
    )


def test_an_error_needs_a_running_job(es: TestClient) -> None:
    _connector(es)
    job_id = _job(es)
    assert es.put(f"/_connector/_sync_job/{job_id}/_error", json={"error": "e"}).status_code == 400
    es.put(f"/_connector/_sync_job/{job_id}/_claim", json={"worker_hostname": "h"})
    assert es.put(f"/_connector/_sync_job/{job_id}/_error", json={"error": "e"}).status_code == 200


def test_sync_jobs_are_listed_and_deleted(es: TestClient) -> None:
    _connector(es)
    job_id = _job(es)
    assert es.get("/_connector/_sync_job?connector_id=c1").json()["count"] == 1
    assert es.delete(f"/_connector/_sync_job/{job_id}").json() == {"acknowledged": True}
    assert es.get(f"/_connector/_sync_job/{job_id}").status_code == 404
