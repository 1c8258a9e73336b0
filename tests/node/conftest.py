"""A real node in process: encrypted store, realm with the elastic user, the ASGI app.

Requests go through Starlette's TestClient (the real ASGI app, no network). Subprocess tests
with TLS and the official clients start `citadel node` for real (see test_clients.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from citadel.kit.clock import SettableClock
from citadel.node.http.app import NodeApp
from citadel.node.routes import build_router
from citadel.node.security.realm import Realm
from citadel.node.services import NodeInfo, NodeServices
from citadel.node.store.connection import Store

ELASTIC_PASSWORD = "elastic-test-password"


@pytest.fixture
def node_key() -> bytes:
    return os.urandom(32)


@pytest.fixture
def node_dir(tmp_path: Path) -> Path:
    return tmp_path / "node"


@pytest.fixture
def node_clock() -> SettableClock:
    return SettableClock()


@pytest.fixture
def node_services(
    node_dir: Path, node_key: bytes, node_clock: SettableClock
) -> Iterator[NodeServices]:
    store = Store.open(node_dir, node_key)
    realm = Realm(store, node_clock)
    realm.bootstrap_elastic(ELASTIC_PASSWORD)
    yield NodeServices(store, realm, node_clock, NodeInfo("node-1", "test-cluster", "uuid-1"))
    store.close()


@pytest.fixture
def node_app(node_services: NodeServices) -> NodeApp:
    return NodeApp(build_router(node_services), node_services.realm)


@pytest.fixture
def es(node_app: NodeApp) -> Iterator[TestClient]:
    """The node, signed in as ``elastic``."""
    with TestClient(node_app, base_url="https://node") as client:
        client.auth = ("elastic", ELASTIC_PASSWORD)
        yield client


@pytest.fixture
def anonymous(node_app: NodeApp) -> Iterator[TestClient]:
    """The node with no credentials."""
    with TestClient(node_app, base_url="https://node") as client:
        yield client
