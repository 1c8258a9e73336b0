"""Snapshots for real (issue 20): `citadel up`, a sandboxed node, the gateway, the platform's
snapshot directory. A snapshot taken through the deployment's own ``found-snapshots`` API is
reported to the control plane (``info.snapshots``); a new deployment created with
``plan.transient.restore_snapshot`` starts with the source's indices as they were in the
snapshot (a document written after it is not there) and says what it came back from."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable

import httpx
import pytest

from tests.e2e.test_deployment_through_gateway import (
    _create_running_deployment,
    _wait_for_gateway_route,
)
from tests.e2e.test_traffic_filters_through_gateway import Platform, platform

pytestmark = pytest.mark.e2e
__all__ = ["platform"]  # the fixture, used by name


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

    body = {
        "name": "restored",
        "resources": {
            "elasticsearch": [
                {
                    "ref_id": "main-elasticsearch",
                    "plan": {
                        "transient": {
                            "restore_snapshot": {
                                "source_cluster_id": source,
                                "snapshot_name": "__latest_success__",
                            }
                        }
                    },
                }
            ]
        },
    }
    made = p.api("POST", "/deployments", json=body)
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
