"""``GET /_citadel/metrics``: the node's series, to the holder of its per-start token only."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from citadel.node.http.app import NodeApp
from citadel.node.metrics import METRICS_PATH, TOKEN_HEADER, NodeMetrics
from citadel.node.routes import build_router
from citadel.node.services import NodeServices
from tests.node.builders import ELASTIC, client_of

TOKEN = "a-per-start-token-of-the-allocator"


def _app(services: NodeServices, data_dir: Path, token: str | None) -> NodeApp:
    router = build_router(services)
    NodeMetrics(services.engine, data_dir, token).instrument(router)
    return NodeApp(router, services.realm, tasks=services.tasks)


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_the_series_move_after_indexing_and_searching(node_services, node_dir):
    with client_of(_app(node_services, node_dir, TOKEN), ELASTIC) as es:
        before = _samples(es.get(METRICS_PATH, headers={TOKEN_HEADER: TOKEN}).text)
        assert es.put("/books/_doc/1?refresh=true", json={"title": "Dune"}).status_code == 201
        assert es.post("/books/_search", json={"query": {"match_all": {}}}).status_code == 200
        answer = es.get(METRICS_PATH, headers={TOKEN_HEADER: TOKEN})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    after = _samples(answer.text)
    assert before[("citadel_node_documents", ())] == 0
    assert after[("citadel_node_documents", ())] == 1
    assert after[("citadel_node_documents_written_total", ())] == 1
    ok_index = ("citadel_node_operations_total", (("operation", "index"), ("outcome", "ok")))
    assert after[ok_index] == before[ok_index] + 1
    search = ("citadel_node_operation_duration_seconds_count", (("operation", "search"),))
    assert after[search] == before[search] + 1
    assert after[("citadel_node_translog_operations_total", ())] >= 1
    assert after[("citadel_node_data_bytes", ())] > 0


def test_without_the_token_the_route_is_answered_as_absent(node_services, node_dir):
    with client_of(_app(node_services, node_dir, TOKEN), ELASTIC) as es:
        absent = es.get("/_citadel/nothing_here")
        missing = es.get(METRICS_PATH)
        wrong = es.get(METRICS_PATH, headers={TOKEN_HEADER: TOKEN + "x"})
    for refused in (missing, wrong):
        assert refused.status_code == absent.status_code
        assert refused.json()["error"]["type"] == absent.json()["error"]["type"]
        assert "citadel_node" not in refused.text


def test_a_node_started_without_a_token_has_no_metrics_route(node_services, node_dir):
    with client_of(_app(node_services, node_dir, None), ELASTIC) as es:
        for given in ("", "None", TOKEN):
            refused = es.get(METRICS_PATH, headers={TOKEN_HEADER: given})
            assert refused.json()["error"]["type"] == "no_handler_found_exception"
