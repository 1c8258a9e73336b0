"""Options shared by several commands."""

from __future__ import annotations

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
