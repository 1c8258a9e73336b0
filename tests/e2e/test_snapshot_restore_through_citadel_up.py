"""Snapshots for real (issue 20): `citadel up`, a sandboxed node, the gateway, the platform's
snapshot directory. A snapshot taken through the deployment's own ``found-snapshots`` API is
reported to the control plane (``info.snapshots``); a new deployment created with
``plan.transient.restore_snapshot`` starts with the source's indices as they were in the
snapshot (a document written after it is not there) and says what it came back from. With
``CITADEL_DELETED_SNAPSHOT_RETENTION_DAYS`` a deleted deployment's snapshots can still be
restored (its key kept, its node and volume gone)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import admin_key, citadel_up
from tests.e2e.test_deployment_through_gateway import (
    _create_running_deployment,
    _wait_for_gateway_route,
)
from tests.e2e.test_traffic_filters_through_gateway import Platform, platform

pytestmark = pytest.mark.e2e
__all__ = ["platform"]  # the fixture, used by name


@pytest.fixture
def retaining(services, data_dir: Path, postgres_url, tmp_path: Path) -> Iterator[Platform]:
    """`citadel up` keeping deleted deployments' snapshots a day."""
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed")
    services.close()
    env = {"CITADEL_DELETED_SNAPSHOT_RETENTION_DAYS": "1"}
    with citadel_up(data_dir, postgres_url, tmp_path, **env) as (endpoints, _, env):
        key = admin_key(data_dir, endpoints, env)
        yield Platform(endpoints, env, key, 0, tmp_path / "citadel-up.log")


def eventually(check: Callable[[], object], what: str, timeout: float = 90) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    pytest.fail(f"never: {what}")


def es(p: Platform, deployment: str, password: str, method: str, path: str, **kwargs):
    from tests.e2e.conftest import trust

    return httpx.request(
        method,
        f"{p.endpoints['gateway_url']}{path}",
        headers={"X-Found-Cluster": deployment},
        auth=("elastic", password),
        verify=trust(p.endpoints),
        timeout=60,
        **kwargs,
    )


def restore_body(source: str, snapshot: str = "__latest_success__") -> dict:
    restore = {"source_cluster_id": source, "snapshot_name": snapshot}
    plan = {"transient": {"restore_snapshot": restore}}
    resource = {"ref_id": "main-elasticsearch", "plan": plan}
    return {"name": "restored", "resources": {"elasticsearch": [resource]}}


def info(p: Platform, deployment: str) -> dict:
    shown = p.api("GET", f"/deployments/{deployment}")
    assert shown.status_code == 200, shown.text
    return shown.json()["resources"]["elasticsearch"][0]["info"]


def test_a_new_deployment_is_restored_from_another_deployments_snapshot(platform: Platform):
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed")
    p = platform
    source, password = _create_running_deployment(p.endpoints, p.key)
    _wait_for_gateway_route(p.endpoints, source, password)
    for n in range(3):
        put = es(p, source, password, "PUT", f"/logs/_doc/{n}", json={"n": n})
        assert put.status_code in (200, 201), put.text
    assert es(p, source, password, "POST", "/logs/_refresh").status_code == 200

    taken = es(
        p, source, password, "PUT", "/_snapshot/found-snapshots/before-4",
        params={"wait_for_completion": "true"}, json={"indices": "logs"},
    )  # fmt: skip
    assert taken.status_code == 200, taken.text
    assert taken.json()["snapshot"]["state"] == "SUCCESS"
    late = es(p, source, password, "PUT", "/logs/_doc/4", params={"refresh": "true"}, json={})
    assert late.status_code in (200, 201), late.text

    snapshots = eventually(
        lambda: (s := info(p, source)["snapshots"])["count"] >= 1 and s,
        "the allocator reports the snapshot to the control plane",
    )
    assert snapshots["healthy"] is True
    assert snapshots["latest_successful_end_time"]

    made = p.api("POST", "/deployments", json=restore_body(source))
    assert made.status_code == 201, made.text
    copy = made.json()["id"]
    copy_password = made.json()["resources"][0]["credentials"]["password"]

    eventually(lambda: p.api("GET", f"/deployments/{copy}").json()["healthy"], "it runs", 180)
    _wait_for_gateway_route(p.endpoints, copy, copy_password)
    counted = es(p, copy, copy_password, "GET", "/logs/_count")
    assert counted.status_code == 200, counted.text
    assert counted.json()["count"] == 3  # the document written after the snapshot is lost
    restored = eventually(
        lambda: info(p, copy).get("restored_from", {}).get("snapshot_name"),
        "the deployment says which snapshot it came back from",
    )
    assert restored == "before-4"
    assert "pending" not in info(p, copy)["restored_from"]
    # the copy has its own elastic password, not the source's
    assert es(p, copy, password, "GET", "/").status_code == 401


def test_a_deleted_deployments_snapshot_is_restored_within_the_retention(retaining: Platform):
    p = retaining
    source, password = _create_running_deployment(p.endpoints, p.key)
    _wait_for_gateway_route(p.endpoints, source, password)
    put = es(p, source, password, "PUT", "/kept/_doc/1", params={"refresh": "true"}, json={})
    assert put.status_code in (200, 201), put.text
    taken = es(
        p, source, password, "PUT", "/_snapshot/found-snapshots/last-words",
        params={"wait_for_completion": "true"},
    )  # fmt: skip
    assert taken.status_code == 200, taken.text
    eventually(lambda: info(p, source)["snapshots"]["count"] >= 1, "the snapshot is reported")
    assert p.api("POST", f"/deployments/{source}/_shutdown").status_code == 200
    eventually(lambda: info(p, source)["status"] == "stopped", "it stops")
    assert p.api("DELETE", f"/deployments/{source}").status_code == 200
    assert p.api("GET", f"/deployments/{source}").status_code == 404

    made = p.api("POST", "/deployments", json=restore_body(source, "last-words"))

    assert made.status_code == 201, made.text
    copy = made.json()["id"]
    copy_password = made.json()["resources"][0]["credentials"]["password"]
    eventually(lambda: p.api("GET", f"/deployments/{copy}").json()["healthy"], "it runs", 180)
    _wait_for_gateway_route(p.endpoints, copy, copy_password)
    counted = es(p, copy, copy_password, "GET", "/kept/_count")
    assert counted.status_code == 200, counted.text
    assert counted.json()["count"] == 1
