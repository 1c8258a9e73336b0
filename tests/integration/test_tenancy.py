"""`citadel.db.tenancy`: one organization's rows, and nothing of another's."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from citadel.db.tenancy import in_organization, owned, scoped, scoped_count
from citadel.domains.models import ClaimedDomain
from citadel.kit.ids import new_id
from citadel.users.models import User
from tests.fixtures.builders import make_claimed_domain, make_org, make_user


@pytest.fixture
def two_orgs(services) -> tuple[str, str]:
    ours = make_org(services, make_user(services), "Ours")
    theirs = make_org(services, make_user(services), "Theirs")
    make_claimed_domain(services, ours, "ours.example.com")
    make_claimed_domain(services, theirs, "theirs.example.com")
    make_claimed_domain(services, theirs, "theirs-too.example.com")
    return ours, theirs


def test_scoped_selects_only_the_organizations_rows(services, two_orgs):
    ours, _ = two_orgs

    with services.db.read() as session:
        rows = session.scalars(scoped(ClaimedDomain, ours)).all()

    assert [r.domain for r in rows] == ["ours.example.com"]


def test_scoped_narrows_further_with_criteria(services, two_orgs):
    ours, _ = two_orgs

    with services.db.read() as session:
        mine = session.scalars(
            scoped(ClaimedDomain, ours, ClaimedDomain.domain == "theirs.example.com")
        ).all()

    assert mine == []


def test_scoped_count_counts_only_the_organizations_rows(services, two_orgs):
    ours, theirs = two_orgs

    with services.db.read() as session:
        counts = [session.scalar(scoped_count(ClaimedDomain, org)) for org in (ours, theirs)]

    assert counts == [1, 2]


def test_owned_answers_another_organizations_row_like_a_missing_one(services, two_orgs):
    ours, theirs = two_orgs
    with services.db.read() as session:
        their_id = session.scalars(scoped(ClaimedDomain, theirs)).first().id

        assert owned(session, ClaimedDomain, ours, their_id) is None
        assert owned(session, ClaimedDomain, ours, new_id()) is None
        assert owned(session, ClaimedDomain, theirs, their_id).id == their_id


def test_in_organization_narrows_a_select_of_columns(services, two_orgs):
    _, theirs = two_orgs

    with services.db.read() as session:
        names = session.scalars(
            sa.select(ClaimedDomain.domain)
            .where(in_organization(ClaimedDomain, theirs))
            .order_by(ClaimedDomain.domain)
        ).all()

    assert names == ["theirs-too.example.com", "theirs.example.com"]


def test_a_table_without_organization_is_refused():
    with pytest.raises(TypeError, match="not tenant data"):
        scoped(User, new_id())
