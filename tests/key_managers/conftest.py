"""The key-manager tests' organizations, and a control plane with the default settings.

The shared `services` (tests/conftest.py) lists loopback in CITADEL_KEY_MANAGER_ALLOWED_ENDPOINTS,
because the test key servers run there. `strict_client` is the same database served by a control
plane built from the default settings, which refuse loopback and private addresses.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from citadel.app import create_app
from citadel.bootstrap import Services, build
from citadel.config import Settings
from tests.fixtures.builders import key_headers, make_api_key, make_org, make_user


@pytest.fixture
def org(services) -> str:
    """A new organization with one owner."""
    return make_org(services, make_user(services))


@pytest.fixture
def owner_key(services, org) -> dict[str, str]:
    """Headers carrying an owner's API key of `org`."""
    return key_headers(make_api_key(services, org))


@pytest.fixture
def strict_services(services: Services) -> Iterator[Services]:
    """`services`' database under the default key-manager endpoint settings."""
    settings = Settings(
        data_dir=services.settings.data_dir,
        database_url=services.settings.database_url,
        regions=services.settings.regions,
        _env_file=None,  # type: ignore[call-arg]  # pydantic-settings init option
    )
    assert settings.key_manager_allowed_endpoints == []
    built = build(settings, clock=services.clock)
    yield built
    built.close()


@pytest.fixture
def strict_client(strict_services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(strict_services), base_url="https://testserver") as c:
        yield c
