"""The official `elasticsearch` clients, 8.x and 9.x, against a real node over TLS (each in
its own virtualenv, `tests.node.official_clients`)."""

from __future__ import annotations

from pathlib import Path

SCENARIO = Path(__file__).with_name("client_scenario.py")


def test_official_client_scenario(tmp_path, official_client):
    seen = official_client.run_on_a_new_node(SCENARIO, tmp_path, timeout=600)
    assert seen["authenticated_as"] == "elastic"
    assert seen["match_and"] == ["1"]
    assert seen["match_or_top"] == ["1"]
    assert seen["term_tag"] == ["2", "4"]
    assert seen["range_year"] == ["3", "4", "2"]
    assert seen["range_date"] == ["1", "6"]
    assert seen["bool"] == ["4"]
    assert seen["sorted_price_desc"] == ["5", "2", "4"]
    assert seen["count_animals"] == 3
    assert seen["bulk_ok"] == 10_000
    assert seen["bulk_errors"] == 0
    assert seen["bulk_count"] == 10_000
