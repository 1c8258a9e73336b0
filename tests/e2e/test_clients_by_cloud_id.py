"""The official clients 8 and 9, connected by Cloud ID with default settings, through
`citadel up`: bulk, search with highlight, aggregations, search_after, scroll and an alias.

Nothing arranges name resolution: the client resolves `<id>.local.citadel.localhost` through
the system's resolver, as on a fresh Debian machine after `make run` or `make test`
(libnss-myhostname, scripts/localhost-names.sh)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from citadel.roots.names import probe_name, reaches_gateway, resolved_addresses
from tests.e2e.conftest import admin_key
from tests.e2e.test_deployment_through_gateway import (
    _create_running_deployment,
    _needs,
    _wait_for_gateway_route,
    cloud_id_of,
)

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = Path(__file__).with_name("cloud_id_scenario.py")
DEFAULT_NAME = probe_name("local", "citadel.localhost")


def _needs_localhost_names() -> None:
    """Deployment names under the default domain resolve to the loopback gateway: make test
    sets that up (it must not be missing there); without root, a machine may lack it."""
    if reaches_gateway(resolved_addresses(DEFAULT_NAME, 9243), "127.0.0.1"):
        return
    reason = (
        f"{DEFAULT_NAME} does not resolve to 127.0.0.1 on this machine: "
        "scripts/localhost-names.sh (run by make test) installs libnss-myhostname"
    )
    if os.environ.get("CI") or os.geteuid() == 0:
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.mark.e2e
@pytest.mark.parametrize("venv", [".venv-es8", ".venv-es9"])
def test_an_official_client_works_by_cloud_id_with_its_defaults(running, data_dir, venv):
    python = ROOT / venv / "bin" / "python"
    _needs(python, venv)
    _needs_localhost_names()
    endpoints, _, env = running
    key = admin_key(data_dir, endpoints, env)
    deployment, password = _create_running_deployment(endpoints, key)
    _wait_for_gateway_route(endpoints, deployment, password)
    cloud_id = cloud_id_of(endpoints, key, deployment)
    run = subprocess.run(
        [str(python), str(SCENARIO), cloud_id, endpoints["ca_file"], password],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    seen = json.loads(run.stdout)
    assert seen["bulk_ok"] == 600
    assert seen["match_total"] == 200
    assert "<em>beta</em>" in seen["highlight"]
    assert seen["kinds"] == {"alpha": [200, 597.0], "beta": [200, 598.0], "gamma": [200, 599.0]}
    assert seen["days"] == 28
    assert seen["n_stats"] == {
        "count": 600,
        "min": 0.0,
        "max": 599.0,
        "avg": 299.5,
        "sum": 179700.0,
    }
    assert seen["search_after"] == [3, 600]
    assert seen["scrolled"] == 200
    assert seen["alias_count"] == 600
