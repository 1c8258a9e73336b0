"""Fixtures most API tests share: an organization with an owner, and the owner's API key."""

from __future__ import annotations

import pytest

from tests.fixtures.builders import key_headers, make_api_key, make_org, make_user


@pytest.fixture
def org(services) -> str:
    """A new organization with one owner."""
    return make_org(services, make_user(services))


@pytest.fixture
def owner_key(services, org) -> dict[str, str]:
    """Headers carrying an owner's API key of `org`."""
    return key_headers(make_api_key(services, org))
