"""The serverless regions: the platform's, as the contract describes a region (pure)."""

from __future__ import annotations

from citadel.projects.regions import region, regions


def test_every_platform_region_is_offered_in_order_with_the_declared_csp() -> None:
    found = regions(["local", "eu"], "gcp")
    assert [(r.id, r.csp, r.csp_region) for r in found] == [
        ("local", "gcp", "local"),
        ("eu", "gcp", "eu"),
    ]
    assert all(r.project_creation_enabled for r in found)


def test_an_unknown_region_is_none() -> None:
    assert region(["local"], "aws", "local") is not None
    assert region(["local"], "aws", "aws-local") is None
