"""The console's fast tests use the in-process app from a real loopback address (so the
lockout guard can judge it); the browser tests start `citadel up` (see test_browser.py).
`owner` (an Organization owner and their organization) and `signed_in` (their session's CSRF
token) serve every fast test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from citadel.app import create_app
from citadel.bootstrap import Services
from tests.console.helpers import sign_in
from tests.fixtures.builders import TestUser, make_org, make_user


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    """The real application in process, over https://, as seen from 127.0.0.1."""
    app = create_app(services)
    with TestClient(app, base_url="https://testserver", client=("127.0.0.1", 50000)) as c:
        yield c


@pytest.fixture
def owner(services: Services) -> tuple[TestUser, str]:
    """A new user who founded an organization: (the user, the organization's id)."""
    user = make_user(services)
    return user, make_org(services, user)


@pytest.fixture
def signed_in(client: TestClient, services: Services, owner: tuple[TestUser, str]) -> str:
    """`owner` signed in through the console's form; the session's CSRF token."""
    return sign_in(client, services, owner[0])
