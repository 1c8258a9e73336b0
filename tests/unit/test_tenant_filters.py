"""Tenant rows are narrowed to their organization in one place (`citadel.db.tenancy`).

A hand-written `Model.organization_id == org` in a service is the filter a future query
forgets; this test fails for one, so every query goes through `scoped`, `scoped_count`,
`owned`, `in_organization` or (for the few checks of other organizations) `outside_organization`.
A comparison of two columns (a join condition) is not a tenant filter and stays allowed.
"""

from __future__ import annotations

import re
from pathlib import Path

import citadel

SOURCE = Path(citadel.__file__).parent
TENANCY = SOURCE / "db" / "tenancy.py"
# `Model.organization_id == value` or `!=`, where the value is not another model's column
HAND_WRITTEN = re.compile(r"\b[A-Z]\w*\.organization_id\s*(?:==|!=)\s*+(?![A-Z]\w*\.)")


def hand_written_filters() -> list[str]:
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        if path == TENANCY:
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if HAND_WRITTEN.search(line):
                found.append(f"{path.relative_to(SOURCE)}:{number}: {line.strip()}")
    return found


def test_no_service_filters_tenant_rows_by_hand():
    assert hand_written_filters() == []


def test_the_check_sees_a_hand_written_filter():
    assert HAND_WRITTEN.search("sa.select(Ruleset).where(Ruleset.organization_id == org)")
    assert HAND_WRITTEN.search("LinkClaim.organization_id != organization_id,")
    join = ".join(Membership, Membership.organization_id == Organization.id)"
    assert not HAND_WRITTEN.search(join)
