"""Data stream lifecycles: the API, and retention enforced by the lifecycle loop."""

from __future__ import annotations

from fastapi.testclient import TestClient

from citadel.kit.clock import SettableClock
from citadel.node.lifecycle_loop import LifecycleLoop
from citadel.node.services import NodeServices


def _stream(es: TestClient, name: str = "logs-app") -> None:
    es.put("/_index_template/t", json={"index_patterns": ["logs-*"], "data_stream": {}})
    assert es.put(f"/_data_stream/{name}").status_code == 200


def _backing(es: TestClient, name: str = "logs-app") -> list[str]:
    body = es.get(f"/_data_stream/{name}").json()
    return [i["index_name"] for i in body["data_streams"][0]["indices"]]


def _loop(services: NodeServices) -> LifecycleLoop:
    return LifecycleLoop(services.store, services.engine, services.clock, stopped=lambda: True)


def test_put_then_get_shows_the_retention(es: TestClient) -> None:
    _stream(es)
    put = es.put("/_data_stream/logs-app/_lifecycle", json={"data_retention": "7d"})
    assert put.json() == {"acknowledged": True}
    got = es.get("/_data_stream/logs-app/_lifecycle").json()
    assert got["data_streams"] == [
        {
            "name": "logs-app",
            "lifecycle": {
                "enabled": True,
                "data_retention": "7d",
                "effective_retention": "7d",
                "retention_determined_by": "data_stream_configuration",
            },
        }
    ]


def test_delete_removes_the_lifecycle(es: TestClient) -> None:
    _stream(es)
    es.put("/_data_stream/logs-app/_lifecycle", json={"data_retention": "7d"})
    assert es.delete("/_data_stream/logs-app/_lifecycle").json() == {"acknowledged": True}
    got = es.get("/_data_stream/logs-app/_lifecycle").json()
    assert got["data_streams"] == [{"name": "logs-app"}]


def test_a_plain_index_is_acknowledged_and_left_alone(es: TestClient) -> None:
    es.put("/plain")
    put = es.put("/_data_stream/plain/_lifecycle", json={"data_retention": "7d"})
    assert put.json() == {"acknowledged": True}
    assert es.get("/_data_stream/plain/_lifecycle").json()["data_streams"] == []
    explained = es.get("/plain/_lifecycle/explain").json()
    assert explained == {"indices": {"plain": {"index": "plain", "managed_by_lifecycle": False}}}


def test_a_missing_name_is_a_404(es: TestClient) -> None:
    response = es.put("/_data_stream/nothing/_lifecycle", json={"data_retention": "7d"})
    assert response.status_code == 404


def test_downsampling_is_refused_by_name(es: TestClient) -> None:
    _stream(es)
    response = es.put("/_data_stream/logs-app/_lifecycle", json={"downsampling": [{}]})
    assert response.status_code == 400
    assert "downsampling" in response.json()["error"]["reason"]


def test_a_bad_retention_is_a_400(es: TestClient) -> None:
    _stream(es)
    response = es.put("/_data_stream/logs-app/_lifecycle", json={"data_retention": "soon"})
    assert response.status_code == 400


def test_stats_list_the_managed_streams(es: TestClient) -> None:
    _stream(es)
    assert es.get("/_lifecycle/stats").json()["data_streams"] == []
    es.put("/_data_stream/logs-app/_lifecycle", json={})
    stats = es.get("/_lifecycle/stats").json()
    assert stats["data_stream_count"] == 1
    assert stats["data_streams"][0]["name"] == "logs-app"


def test_explain_shows_managed_backing_indices(es: TestClient) -> None:
    _stream(es)
    es.put("/_data_stream/logs-app/_lifecycle", json={"data_retention": "1d"})
    explained = es.get("/logs-app/_lifecycle/explain").json()["indices"]
    (only,) = explained.values()
    assert only["managed_by_lifecycle"] is True
    assert only["lifecycle"]["data_retention"] == "1d"


def test_retention_deletes_old_backing_indices_but_never_the_write_index(
    es: TestClient, node_services: NodeServices, node_clock: SettableClock
) -> None:
    _stream(es)
    es.post("/logs-app/_rollover")
    first, second = _backing(es)
    es.put("/_data_stream/logs-app/_lifecycle", json={"data_retention": "1d"})
    node_clock.advance(days=2)
    assert _loop(node_services).run_once() == [first]
    assert _backing(es) == [second]
    assert es.head(f"/{first}").status_code == 404
    assert _loop(node_services).run_once() == []


def test_young_indices_are_kept(
    es: TestClient, node_services: NodeServices, node_clock: SettableClock
) -> None:
    _stream(es)
    es.post("/logs-app/_rollover")
    es.put("/_data_stream/logs-app/_lifecycle", json={"data_retention": "3d"})
    node_clock.advance(days=2)
    assert _loop(node_services).run_once() == []


def test_a_disabled_lifecycle_deletes_nothing(
    es: TestClient, node_services: NodeServices, node_clock: SettableClock
) -> None:
    _stream(es)
    es.post("/logs-app/_rollover")
    es.put("/_data_stream/logs-app/_lifecycle", json={"data_retention": "1d", "enabled": False})
    node_clock.advance(days=2)
    assert _loop(node_services).run_once() == []


def test_the_poll_interval_is_a_cluster_setting(
    es: TestClient, node_services: NodeServices
) -> None:
    assert _loop(node_services).interval_s() == 300
    body = {"persistent": {"data_streams.lifecycle.poll_interval": "10s"}}
    assert es.put("/_cluster/settings", json=body).status_code == 200
    assert _loop(node_services).interval_s() == 10
