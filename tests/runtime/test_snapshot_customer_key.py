"""A revoked customer key makes its deployment's snapshots unreadable (issue 20, ADR 30),
against a REAL key manager: an OpenBao dev server's transit engine.

A deployment whose data key is wrapped by the customer's transit key runs as a REAL sandboxed
node on its encrypted volume; its documents are indexed and ``PUT _snapshot/found-snapshots/s1
?wait_for_completion=true`` has the allocator's snapshot worker write them, encrypted, to a
directory repository. The customer then revokes the key in OpenBao (the token's policy no
longer grants ``decrypt``, as the customer-key tests through the gateway revoke it): the
deployment locks, and a restore of its snapshot into a NEW deployment (the source's wrapped
key, key path and key connection) fails its start with the reason, no node running and no
document readable; the repository's bytes hold no document text. Granted again, the same
restore brings the documents back, so the refusal was the revocation's and nothing else.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from citadel.contract.messages import (
    KeyConnection,
    RestoreSource,
    SnapshotDefaults,
    SnapshotRepository,
    data_key_context,
    to_json,
)
from citadel.crypto.providers.registry import open_provider
from citadel.kit.ids import new_id
from citadel.runtime.sandbox import BubblewrapSandbox
from citadel.runtime.snapshot_worker import SnapshotWorker
from tests.fixtures.key_servers import LOOPBACK_ALLOWED, Bao
from tests.fixtures.key_servers import bao as _bao  # noqa: F401 - fixture
from tests.runtime.conftest import sandbox_uid
from tests.runtime.test_allocator import PASSWORD, Running, allocating, wait_until
from tests.runtime.test_snapshot_worker import place
from tests.snapshots.conftest import files_under

MARKER = b"MARKER-CUSTOMER-DOCUMENT"


@pytest.fixture
def customer(
    sandbox: BubblewrapSandbox, volumes_here: None, short_dir: Path
) -> Iterator[tuple[Running, SnapshotWorker]]:
    """The allocator over the stand-in with a directory repository and its snapshot worker;
    it may reach the loopback key manager (the operator's allowed endpoints) and checks
    keys every 0.3 s."""
    with allocating(sandbox, short_dir) as running:
        running.allocator.providers.endpoints = LOOPBACK_ALLOWED
        running.allocator.key_check_interval_s = 0.3
        running.plane.repository = SnapshotRepository(path=str(short_dir / "repository"))
        worker = SnapshotWorker(running.allocator, interval_s=0.2)
        stop = threading.Event()
        thread = worker.start(stop)
        try:
            yield running, worker
        finally:
            stop.set()
            thread.join(timeout=60)


def grant(bao: Bao, name: str, decrypt: bool) -> None:
    """The customer's switch: the token's one policy grants `decrypt` on its key, or not."""
    paths = {f"encrypt/{name}": ["update"], f"keys/{name}": ["read"]}
    if decrypt:
        paths[f"decrypt/{name}"] = ["update"]
    rules = "\n".join(
        f'path "transit/{suffix}" {{ capabilities = {json.dumps(caps)} }}'
        for suffix, caps in paths.items()
    )
    bao.client().sys.create_or_update_policy(f"p-{name}", rules)


def test_a_revoked_customer_key_locks_the_deployment_and_its_snapshot_does_not_restore(
    customer: tuple[Running, SnapshotWorker], bao: Bao
) -> None:
    running, _ = customer
    name = f"cmk-{uuid.uuid4().hex[:10]}"
    bao.add_key(name)
    token = bao.token_with(
        name,
        {f"encrypt/{name}": ["update"], f"decrypt/{name}": ["update"], f"keys/{name}": ["read"]},
    )
    key_path = bao.key_path(name)
    connection = KeyConnection(settings={"scheme": "http"}, secret=token.encode())
    source = new_id()
    wrapped = open_provider(key_path, bao.connection(token)).wrap(
        os.urandom(32), context=data_key_context(source)
    )
    assert wrapped.startswith(b"vault:v1:")  # wrapped by the customer's key, not the platform's
    place(
        running,
        source,
        snapshots=to_json(SnapshotDefaults()),
        wrapped_data_key=base64.b64encode(wrapped).decode(),
        key_path=key_path,
        key_connection=to_json(connection),
    )
    with running.node(source) as node:
        for n in range(5):
            answer = node.put(
                f"/ledger/_doc/{n}",
                params={"refresh": "true"},
                json={"title": f"{MARKER.decode()}-{n}"},
            )
            assert answer.status_code in (200, 201), answer.text
        taken = node.put(
            "/_snapshot/found-snapshots/s1",
            params={"wait_for_completion": "true"},
            json={"indices": "ledger"},
        )
        assert taken.status_code == 200, taken.text
        assert taken.json()["snapshot"]["state"] == "SUCCESS"

    # (c) the repository holds it, and none of its bytes is a document's text
    stored = files_under(running.data_dir / "repository")
    assert any(k.startswith(f"{source}/snapshots/") for k in stored)
    for file_name, data in stored.items():
        assert MARKER not in data, file_name
        assert b"ledger" not in data, file_name

    # the customer revokes the key in the key manager
    grant(bao, name, decrypt=False)

    # (a) the deployment locks, as any deployment under a revoked key does
    report = wait_until(
        lambda: (r := running.plane.last_report(source)) and r["observed_state"] == "locked" and r,
        timeout=60,
    )
    assert isinstance(report, dict)
    assert "access_denied" in report["detail"], report
    wait_until(lambda: running.allocator.node_pid(source) is None)
    running.plane.set_state(source, "stopped")  # it stays down for the rest of the test

    # (b) its snapshot, restored into a new deployment, fails the start with the reason
    restore = RestoreSource(
        deployment_id=source,
        snapshot="s1",
        wrapped_data_key=wrapped,
        key_path=key_path,
        key_connection=connection,
    )
    target = new_id()
    running.plane.allocate(target, sandbox_uid(), state="stopped", password=PASSWORD)
    running.plane.allocations[target].update(restore=to_json(restore), desired_state="running")
    running.plane.version += 1
    report = wait_until(
        lambda: (r := running.plane.last_report(target)) and r["observed_state"] == "failed" and r,
        timeout=60,
    )
    assert isinstance(report, dict)
    assert report["detail"].startswith("could not start: restore failed:"), report
    assert "key is unavailable" in report["detail"], report
    assert "access_denied" in report["detail"], report
    assert running.allocator.node_pid(target) is None
    # no document readable: nothing under the new deployment (its volume, were it mounted,
    # read through the mount) holds a document's text
    for path in running.dirs(target).root.rglob("*"):
        if path.is_file():
            assert MARKER not in path.read_bytes(), path
    running.plane.set_state(target, "stopped")

    # granted again, the same restore serves the documents: the refusal was the revocation's
    grant(bao, name, decrypt=True)
    again = new_id()
    place(running, again, restore=to_json(restore))
    with running.node(again) as node:
        found = node.get("/ledger/_search", params={"size": 10}).json()
        assert found["hits"]["total"]["value"] == 5, found
        titles = sorted(h["_source"]["title"] for h in found["hits"]["hits"])
        assert titles == [f"{MARKER.decode()}-{n}" for n in range(5)]
