"""Builders shared by the node tests: a node in process, clients of it, users, error bodies.

A node is the real thing (encrypted store, realm with the ``elastic`` user, the ASGI app);
clients go through Starlette's TestClient, so no network. Users with narrow roles come two
ways: through the security API (`put_role`, `put_user`, `logs_reader`) for the tests that
exercise it, or written straight into the store (`add_user`, `client_as`) so the document and
index tests stay independent of the security API's own routes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from citadel.crypto.passwords import hash_password
from citadel.kit.clock import SettableClock
from citadel.node.http.app import NodeApp
from citadel.node.main import assemble
from citadel.node.routes import build_router
from citadel.node.services import NodeServices
from citadel.node.store.connection import Store

ELASTIC_PASSWORD = "elastic-test-password"
ELASTIC = ("elastic", ELASTIC_PASSWORD)
PASSWORD = "bob-password-1"  # every user these builders make has it


# -- a node --------------------------------------------------------------------------------


@contextmanager
def open_node(data_dir: Path, clock: SettableClock) -> Iterator[NodeServices]:
    """A node's services over a new store, ``elastic`` bootstrapped; closed after."""
    store = Store.open(data_dir)
    services = assemble(store, data_dir, clock, "node-1", "test-cluster")
    try:
        services.realm.bootstrap_elastic(ELASTIC_PASSWORD)  # type: ignore[attr-defined]
        yield services
    finally:
        services.engine.close()
        store.close()


def app_of(services: NodeServices) -> NodeApp:
    """The node's ASGI app over `services`."""
    return NodeApp(build_router(services), services.realm, tasks=services.tasks)


@contextmanager
def client_of(app: NodeApp, auth: tuple[str, str] | None = None) -> Iterator[TestClient]:
    """A test client of `app`, signed in with `auth` (username, password) when given."""
    with TestClient(app, base_url="https://node") as client:
        if auth is not None:
            client.auth = auth
        yield client


# -- users through the security API --------------------------------------------------------


def put_role(
    es: TestClient,
    name: str,
    *,
    cluster: list[str] | None = None,
    indices: dict[str, list[str]] | None = None,
) -> None:
    """A native role; `indices` maps an index pattern to its privileges."""
    body = {
        "cluster": cluster or [],
        "indices": [
            {"names": [pattern], "privileges": privileges}
            for pattern, privileges in (indices or {}).items()
        ],
    }
    assert es.put(f"/_security/role/{name}", json=body).status_code == 200


def put_user(
    es: TestClient, name: str, *, roles: list[str], password: str = PASSWORD, **extra: Any
) -> None:
    """A native user with `roles`."""
    response = es.put(
        f"/_security/user/{name}", json={"password": password, "roles": roles, **extra}
    )
    assert response.status_code == 200, response.text


def logs_reader(es: TestClient, name: str = "bob") -> None:
    """A user who may read ``logs-*`` and nothing else."""
    put_role(es, "logs_reader", indices={"logs-*": ["read"]})
    put_user(es, name, roles=["logs_reader"])


# -- users written into the store ----------------------------------------------------------


def add_user(services: NodeServices, username: str, indices: list[dict], cluster=()) -> None:
    """A user whose one role grants `indices` (``[{"names", "privileges"}]``)."""
    role = f"{username}-role"
    descriptor = {"cluster": list(cluster), "indices": indices}
    with services.store.write() as conn:
        conn.execute(
            "INSERT INTO roles (name, descriptor) VALUES (?, ?)", (role, json.dumps(descriptor))
        )
        conn.execute(
            "INSERT INTO users (username, password_hash, roles) VALUES (?, ?, ?)",
            (username, hash_password(PASSWORD), json.dumps([role])),
        )


@contextmanager
def client_as(
    app: NodeApp, services: NodeServices, username: str, indices: list[dict], cluster=()
) -> Iterator[TestClient]:
    """A test client signed in as a new user with the given index grants."""
    add_user(services, username, indices, cluster)
    with client_of(app, (username, PASSWORD)) as client:
        yield client


# -- responses -----------------------------------------------------------------------------


def error_of(response: Any, status: int | None = None) -> dict[str, Any]:
    """The ``error`` of an Elasticsearch error body, checking its shape (and `status`)."""
    if status is not None:
        assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "status"}
    assert body["status"] == response.status_code
    return body["error"]
