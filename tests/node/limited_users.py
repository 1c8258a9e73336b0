"""Builders for node users with narrow roles, written straight into the node's store.

The document and index tests need callers who may do less than ``elastic``; writing the role
and user rows directly keeps those tests independent of the security API's own routes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient

from citadel.crypto.passwords import hash_password
from citadel.node.http.app import NodeApp
from citadel.node.services import NodeServices

PASSWORD = "limited-user-password"


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
    with TestClient(app, base_url="https://node") as client:
        client.auth = (username, PASSWORD)
        yield client
