"""Project request bodies: each type's fields with their limits, and how a patch changes the
stored settings (a field left out stays, `null` restores the default)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from citadel.projects.schemas import (
    DEFAULT_PRODUCT_TYPES,
    CreateElasticsearchProjectIn,
    CreateObservabilityProjectIn,
    CreateSecurityProjectIn,
    PatchElasticsearchProjectIn,
    PatchSecurityProjectIn,
    initial_settings,
    patched_settings,
)
from citadel.projects.service import full_alias, label_of


def test_an_alias_defaults_to_the_name_as_a_host_label() -> None:
    assert label_of("My Search!") == "my-search"
    assert label_of("2024 logs") == "logs"
    assert label_of("日本") == "project"
    assert len(label_of("x" * 300)) == 50


def test_the_returned_alias_carries_the_ids_first_six_characters() -> None:
    assert full_alias("Shop", "abcdef0123") == "shop-abcdef"


def test_elasticsearch_defaults_are_stored_with_none_for_the_search_lake() -> None:
    body = CreateElasticsearchProjectIn(name="a", region_id="local")
    assert initial_settings(body) == {"search_lake": {"search_power": None, "boost_window": None}}


def test_observability_and_security_defaults() -> None:
    obs = CreateObservabilityProjectIn(name="a", region_id="local")
    assert initial_settings(obs) == {"product_tier": "complete"}
    sec = initial_settings(CreateSecurityProjectIn(name="a", region_id="local"))
    assert sec["product_types"] == [dict(p) for p in DEFAULT_PRODUCT_TYPES]
    assert sec["search_lake"]["data_retention"]["max_retention_days"] == 396


@pytest.mark.parametrize(
    "body",
    [
        {"product_types": [{"product_line": "cloud", "product_tier": "complete"}] * 2},
        {"product_types": [{"product_line": "cloud", "product_tier": "platinum"}]},
        {"search_lake": {"data_retention": {"max_retention_days": 6}}},
        {"search_lake": {"data_retention": {"max_retention_days": 7, "default_retention_days": 8}}},
        {"admin_features_package": "gold"},
        {"metadata": {"tags": {}}},
        {"metadata": {"tags": {"k": "Upper"}}},
        {"name": ""},
    ],
)
def test_security_bodies_out_of_limits_are_refused(body: dict) -> None:
    with pytest.raises(ValidationError):
        CreateSecurityProjectIn.model_validate({"name": "a", "region_id": "local"} | body)


def test_a_patch_changes_only_what_it_sends() -> None:
    stored = {"search_lake": {"search_power": 500, "boost_window": 7}}
    patch = PatchElasticsearchProjectIn.model_validate({"search_lake": {"boost_window": 30}})
    assert patched_settings(stored, patch) == {
        "search_lake": {"search_power": 500, "boost_window": 30}
    }
    assert patched_settings(stored, PatchElasticsearchProjectIn()) == stored


def test_a_null_restores_the_default() -> None:
    stored = {
        "admin_features_package": "enterprise",
        "product_types": [{"product_line": "cloud", "product_tier": "essentials"}],
    }
    patch = PatchSecurityProjectIn.model_validate(
        {"admin_features_package": None, "product_types": None}
    )
    after = patched_settings(stored, patch)
    assert after["admin_features_package"] == "standard"
    assert after["product_types"] == [dict(p) for p in DEFAULT_PRODUCT_TYPES]
    lake = PatchElasticsearchProjectIn.model_validate({"search_lake": None})
    assert patched_settings({"search_lake": {"search_power": 9}}, lake)["search_lake"] == {
        "search_power": None,
        "boost_window": None,
    }
