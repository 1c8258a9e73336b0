"""The allocator writes a node's security file and keeps it current while the node runs: a
REAL sandboxed node on a REAL volume, a token signed here (playing the control plane)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from citadel.contract.messages import SECURITY_FILE, to_json
from citadel.kit.ids import new_id
from citadel.runtime.sandbox import BubblewrapSandbox
from tests.node.jwt_builders import AUDIENCE, claims, security, signing_key, token
from tests.runtime.conftest import sandbox_uid
from tests.runtime.test_allocator import PASSWORD, Running, allocating, owner_and_mode, wait_until


@pytest.fixture
def running(sandbox: BubblewrapSandbox, volumes_here: None, short_dir: Path) -> Iterator[Running]:
    with allocating(sandbox, short_dir) as found:
        yield found


def set_security(running: Running, dep_id: str, value: object) -> None:
    running.plane.allocations[dep_id]["security"] = value
    running.plane.version += 1


def whoami(running: Running, dep_id: str, jwt: str) -> int:
    with running.node(dep_id) as client:
        client.auth = None  # type: ignore[assignment]
        headers = {"Authorization": f"Bearer {jwt}"}
        return client.get("/_security/_authenticate", headers=headers).status_code


def test_the_security_file_is_written_before_start_and_followed_without_a_restart(
    running: Running,
) -> None:
    old_key, new_key = signing_key("k1"), signing_key("k2")
    dep_id, uid = new_id(), sandbox_uid()
    running.plane.allocate(dep_id, uid, password=PASSWORD)
    set_security(running, dep_id, to_json(security(old_key)))
    wait_until(lambda: (running.plane.last_report(dep_id) or {}).get("observed_state") == "running")
    path = running.dirs(dep_id).run / SECURITY_FILE
    assert owner_and_mode(path)[::2] == (uid, 0o600)
    assert json.loads(path.read_text())["jwt"]["audience"] == AUDIENCE
    pid = running.allocator.node_pid(dep_id)
    assert "--security-file\0/run/citadel/security.json" in Path(f"/proc/{pid}/cmdline").read_text()

    old_token = token(old_key, claims())
    assert whoami(running, dep_id, old_token) == 200

    set_security(running, dep_id, to_json(security(new_key)))
    new_token = token(new_key, claims())
    wait_until(lambda: whoami(running, dep_id, new_token) == 200, timeout=15)
    assert whoami(running, dep_id, old_token) == 401
    assert running.allocator.node_pid(dep_id) == pid  # the same process: no restart
    assert owner_and_mode(path)[::2] == (uid, 0o600)

    set_security(running, dep_id, None)
    wait_until(lambda: not path.exists())
    wait_until(lambda: whoami(running, dep_id, new_token) == 401, timeout=15)
    assert running.allocator.node_pid(dep_id) == pid
