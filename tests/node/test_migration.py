"""Upgrade assistant APIs: deprecations and system features migration status."""

from __future__ import annotations

from tests.node.builders import error_of


def test_deprecations_are_empty_lists(es):
    body = es.get("/_migration/deprecations").json()
    assert body["cluster_settings"] == body["node_settings"] == body["ml_settings"] == []
    assert body["index_settings"] == {}


def test_deprecations_of_a_missing_index_are_404(es):
    error_of(es.get("/nope/_migration/deprecations"), 404)
    es.put("/i")
    assert es.get("/i/_migration/deprecations").status_code == 200


def test_system_features_need_no_migration(es):
    body = es.get("/_migration/system_features").json()
    assert body["migration_status"] == "NO_MIGRATION_NEEDED"
    names = {f["feature_name"] for f in body["features"]}
    assert names == {f["name"] for f in es.get("/_features").json()["features"]}
    assert all(f["indices"] == [] for f in body["features"])


def test_feature_upgrade_is_not_accepted(es):
    assert es.post("/_migration/system_features").json()["accepted"] is False
