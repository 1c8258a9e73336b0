"""The official `elasticsearch` clients, 8.x and 9.x, against a real node over TLS.

Each client lives in its own virtualenv (they share `elastic-transport` at incompatible
versions); `make test` creates `.venv-es8` and `.venv-es9`.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.node.process import make_tls, start_node

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = Path(__file__).with_name("client_scenario.py")
CLIENTS = {"9.x": (".venv-es9", "elasticsearch"), "8.x": (".venv-es8", "elasticsearch8")}


@pytest.mark.parametrize("version", sorted(CLIENTS))
def test_official_client_scenario(tmp_path, version):
    venv, module = CLIENTS[version]
    python = ROOT / venv / "bin" / "python"
    if not python.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{venv} is missing: make test creates it")
        pytest.skip(f"{venv} not created (run make test)")
    tls = make_tls(tmp_path / "tls")
    node = start_node(tmp_path / "data", tls)
    try:
        result = subprocess.run(
            [str(python), str(SCENARIO), module, node.url, str(tls.ca), "elastic-test-password"],
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        node.stop()
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout)
    assert seen["authenticated_as"] == "elastic"
    assert seen["match_and"] == ["1"]
    assert seen["match_or_top"] == ["1"]
    assert seen["term_tag"] == ["2", "4"]
    assert seen["range_year"] == ["3", "4", "2"]
    assert seen["range_date"] == ["1", "6"]
    assert seen["bool"] == ["4"]
    assert seen["sorted_price_desc"] == ["5", "2", "4"]
    assert seen["count_animals"] == 3
    assert seen["bulk_ok"] == 10_000
    assert seen["bulk_errors"] == 0
    assert seen["bulk_count"] == 10_000
