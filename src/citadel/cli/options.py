"""Options shared by several commands."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

DataDir = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        envvar="CITADEL_DATA_DIR",
        help="Where Citadel keeps its database, keys and certificates.",
    ),
]
DEFAULT_DATA_DIR = Path("./citadel-data")


def wait_for_endpoints(data_dir: Path, wait: float) -> dict | None:
    """The control plane's ``run/endpoints.json`` once it names the internal API, or None
    after `wait` seconds (the allocator and gateway start beside `citadel up`)."""
    path = data_dir / "run" / "endpoints.json"
    deadline = time.monotonic() + wait
    while True:
        try:
            endpoints = json.loads(path.read_text())
            if endpoints.get("internal_url"):
                return endpoints
        except (OSError, ValueError):
            pass
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.2)
