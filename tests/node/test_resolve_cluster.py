"""``_resolve/cluster``: the local cluster only."""

from __future__ import annotations

from tests.node.builders import error_of


def test_the_local_cluster_reports_matching_indices(es):
    es.put("/a")
    local = es.get("/_resolve/cluster/a*").json()["(local)"]
    assert local["connected"] is True
    assert local["skip_unavailable"] is False
    assert local["matching_indices"] is True
    assert local["version"]["number"]


def test_a_wildcard_matching_nothing_is_no_matching_indices(es):
    assert es.get("/_resolve/cluster/zz*").json()["(local)"]["matching_indices"] is False


def test_a_missing_index_is_an_error_entry(es):
    local = es.get("/_resolve/cluster/missing").json()["(local)"]
    assert local["error"] == "no such index [missing]"


def test_a_remote_cluster_is_unknown(es):
    error = error_of(es.get("/_resolve/cluster/remote:logs"), 404)
    assert error["type"] == "no_such_remote_cluster_exception"
