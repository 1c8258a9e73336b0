"""The console's fast tests use the in-process app from a real loopback address (so the
lockout guard can judge it); the browser tests start `citadel up` (see test_browser.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from citadel.app import create_app
from citadel.bootstrap import Services


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    """The real application in process, over https://, as seen from 127.0.0.1."""
    app = create_app(services)
    with TestClient(app, base_url="https://testserver", client=("127.0.0.1", 50000)) as c:
        yield c
