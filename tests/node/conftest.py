"""A real node in process: encrypted store, realm with the elastic user, the ASGI app.

Requests go through Starlette's TestClient (the real ASGI app, no network). Subprocess tests
with TLS and the official clients start `citadel node` for real (see test_clients.py; the
clients are in official_clients.py). The builders behind these fixtures, and the ones tests
call themselves, are in builders.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from citadel.kit.clock import SettableClock
from citadel.node.http.app import NodeApp
from citadel.node.services import NodeServices
from tests.node.builders import ELASTIC, app_of, client_of, open_node
from tests.node.official_clients import CLIENTS, OfficialClient, find_official_client


@pytest.fixture
def node_dir(tmp_path: Path) -> Path:
    return tmp_path / "node"


@pytest.fixture
def node_clock() -> SettableClock:
    return SettableClock()


@pytest.fixture
def node_services(node_dir: Path, node_clock: SettableClock) -> Iterator[NodeServices]:
    with open_node(node_dir, node_clock) as services:
        yield services


@pytest.fixture
def node_app(node_services: NodeServices) -> NodeApp:
    return app_of(node_services)


@pytest.fixture
def es(node_app: NodeApp) -> Iterator[TestClient]:
    """The node, signed in as ``elastic``."""
    with client_of(node_app, ELASTIC) as client:
        yield client


@pytest.fixture
def anonymous(node_app: NodeApp) -> Iterator[TestClient]:
    """The node with no credentials."""
    with client_of(node_app) as client:
        yield client


@pytest.fixture(params=sorted(CLIENTS))
def official_client(request: pytest.FixtureRequest) -> OfficialClient:
    """Each official client in turn (8.x, 9.x), skipped where its virtualenv is missing."""
    return find_official_client(request.param)


@pytest.fixture(scope="session")
def previous_release(tmp_path_factory: pytest.TempPathFactory):
    """The release before the tantivy engine, to write stores the upgrade must carry over."""
    from tests.node.process import PREVIOUS_RELEASE, previous_release_source

    found = previous_release_source(tmp_path_factory.mktemp("previous-release"))
    if found is None:
        pytest.skip(f"commit {PREVIOUS_RELEASE} is not in this clone's history")
    return found
