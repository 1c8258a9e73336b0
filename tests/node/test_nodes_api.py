"""``_nodes``, ``_xpack``, ``_license`` and ``_health_report`` through the REST API."""

from __future__ import annotations

import pytest

from tests.node.builders import client_as, error_of


def test_nodes_info_describes_the_one_node(es):
    body = es.get("/_nodes").json()
    assert body["_nodes"] == {"total": 1, "successful": 1, "failed": 0}
    (node,) = body["nodes"].values()
    assert node["name"] == "node-1"
    assert node["roles"] == ["data", "master"]


def test_nodes_info_by_metric(es):
    (node,) = es.get("/_nodes/_local/os").json()["nodes"].values()
    assert "os" in node
    assert "process" not in node


def test_a_section_the_node_lacks_is_400(es):
    assert "jvm" in error_of(es.get("/_nodes/_all/jvm"), 400)["reason"]


def test_an_unknown_node_selects_nothing(es):
    assert es.get("/_nodes/someone-else/stats").json()["nodes"] == {}


def test_nodes_stats_count_documents(es):
    es.put("/books", json={"settings": {"number_of_replicas": 0}})
    es.put("/books/_doc/1", params={"refresh": "true"}, json={"t": "x"})
    (node,) = es.get("/_nodes/stats/indices").json()["nodes"].values()
    assert node["indices"]["docs"]["count"] == 1


def test_hot_threads_is_text(es):
    response = es.get("/_nodes/hot_threads", params={"interval": "10ms"})
    assert response.headers["content-type"].startswith("text/plain")
    assert "Hot threads at" in response.text


def test_reload_secure_settings_has_no_keystore_to_open(es):
    assert es.post("/_nodes/reload_secure_settings").json()["_nodes"]["failed"] == 0
    body = {"secure_settings_password": "x"}
    assert es.post("/_nodes/reload_secure_settings", json=body).status_code == 400


def test_nodes_apis_need_monitor(es, node_app, node_services):
    with client_as(node_app, node_services, "nobody", []) as nobody:
        assert nobody.get("/_nodes").status_code == 403


def test_xpack_says_what_is_offered(es):
    body = es.get("/_xpack").json()
    assert body["tagline"] == "You know, for X"
    assert body["features"]["security"] == {"available": True, "enabled": True}
    assert body["features"]["ml"] == {"available": False, "enabled": False}


def test_the_license_is_basic_and_cannot_be_replaced(es):
    license_ = es.get("/_license").json()["license"]
    assert (license_["type"], license_["status"]) == ("basic", "active")
    assert es.put("/_license", json={"licenses": []}).status_code == 400
    assert es.post("/_license/start_trial").status_code == 403


@pytest.mark.parametrize(("replicas", "status"), [(0, "green"), (1, "yellow")])
def test_health_report_follows_shard_availability(es, replicas, status):
    es.put("/books", json={"settings": {"number_of_replicas": replicas}})
    body = es.get("/_health_report").json()
    assert body["indicators"]["shards_availability"]["status"] == status
    assert body["indicators"]["master_is_stable"]["status"] == "green"


def test_health_report_of_an_indicator_it_does_not_compute_is_404(es):
    assert es.get("/_health_report/ilm").status_code == 404
