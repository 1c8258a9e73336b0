"""How the API commands show what the API answered: JSON or a table.

The client may answer with pydantic models or with plain JSON values; `jsonable` turns
either into JSON values, so a command reads fields the same way and `--output json` prints
exactly what the API sent.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

out = Console(soft_wrap=True)
err = Console(stderr=True)


class Output(StrEnum):
    JSON = "json"
    TABLE = "table"


def jsonable(value: Any) -> Any:
    """`value` as JSON values: a model is dumped as the API sent it (aliases, no unset
    fields), lists and dicts are walked, anything else passes through."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    return value


def emit(output: Output, value: Any, table: Table | str | None = None) -> None:
    """Print `value` as JSON, or `table` (a table or a line of text) with `--output table`."""
    if output is Output.JSON or table is None:
        out.print_json(json.dumps(jsonable(value)))
    elif isinstance(table, str):
        out.print(table, highlight=False)
    else:
        out.print(table)
