"""The official clients 8 and 9, connected by Cloud ID with default settings, through
`citadel up`: bulk, search with highlight, aggregations, search_after, scroll and an alias."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import admin_key
from tests.e2e.test_deployment_through_gateway import (
    _create_running_deployment,
    _needs,
    _wait_for_gateway_route,
    cloud_id_of,
)

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = Path(__file__).with_name("cloud_id_scenario.py")


@pytest.mark.e2e
@pytest.mark.parametrize("venv", [".venv-es8", ".venv-es9"])
def test_an_official_client_works_by_cloud_id_with_its_defaults(running, data_dir, venv):
    python = ROOT / venv / "bin" / "python"
    _needs(python, venv)
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
