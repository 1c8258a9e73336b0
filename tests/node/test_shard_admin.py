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
