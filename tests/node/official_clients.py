"""The official `elasticsearch` clients, 8.x and 9.x, each in its own virtualenv (they share
`elastic-transport` at incompatible versions; `make test` creates `.venv-es8` and `.venv-es9`),
running a scenario script against a node. Tests take them from the `official_client` fixture."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.node.process import ELASTIC_PASSWORD, make_tls, start_node

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = {"9.x": (".venv-es9", "elasticsearch"), "8.x": (".venv-es8", "elasticsearch8")}
"""Version -> (its virtualenv under the repository, the module it imports)."""


@dataclass(frozen=True)
class OfficialClient:
    """One client's Python and the module name it goes by there."""

    python: Path
    module: str

    def run(self, scenario: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        """``python scenario <module> <args...>``, its output captured as text."""
        return subprocess.run(
            [str(self.python), str(scenario), self.module, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def run_on_a_new_node(self, scenario: Path, directory: Path, *, timeout: float) -> Any:
        """``python scenario <module> <node url> <CA file> <elastic's password>`` against a
        node started for it in `directory`; what the scenario printed, as JSON (it must exit 0)."""
        tls = make_tls(directory / "tls")
        node = start_node(directory / "data", tls)
        try:
            result = self.run(scenario, node.url, str(tls.ca), ELASTIC_PASSWORD, timeout=timeout)
        finally:
            node.stop()
        assert result.returncode == 0, result.stderr[-3000:]
        return json.loads(result.stdout)


def find_official_client(version: str) -> OfficialClient:
    """The client of `version`; skips the test where its virtualenv was not created (fails
    in CI, where it must be)."""
    venv, module = CLIENTS[version]
    python = ROOT / venv / "bin" / "python"
    if not python.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{venv} is missing: make test creates it")
        pytest.skip(f"{venv} not created (run make test)")
    return OfficialClient(python, module)
