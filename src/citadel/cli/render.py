"""How the API commands show what the API answered: JSON or a table, one-time secrets on
their own lines, and errors in the CLI's words.

The client may answer with pydantic models or with plain JSON values; `jsonable` turns
either into JSON values, so a command reads fields the same way and `--output json` prints
exactly what the API sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from rich.console import Console
from rich.table import Table

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class Output(StrEnum):
    JSON = "json"
    TABLE = "table"


def jsonable(value: Any) -> Any:
    """`value` as JSON values: a model is dumped as the API sent it (aliases, no unset
    fields), lists and dicts are walked, anything else passes through."""
    from pydantic import BaseModel  # the client has imported it by now

    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    return value


def emit(
    output: Output,
    value: Any,
    table: Table | str | None = None,
    *,
    secrets: Mapping[str, str] | None = None,
) -> None:
    """Print `value` as JSON, or `table` (a table or a line of text) with `--output table`.

    `secrets` are what the API shows only once (a password, a token), by label: with a table
    each is printed whole on its own line after it, never in a cell a narrow terminal would
    cut; in JSON they are part of `value` already."""
    if output is Output.JSON or table is None:
        out.print_json(json.dumps(jsonable(value)))
        return
    if isinstance(table, str):
        out.print(table, highlight=False)
    else:
        out.print(table)
    for label, secret in (secrets or {}).items():
        out.print(f"{label} (shown once): {secret}", highlight=False, markup=False)


_LOCATIONS = ("body.", "query.", "path.", "header.")


def _option_for(field: str, api_names: Mapping[str, str]) -> str | None:
    """The option that sets `field` (``query.force``, ``body.rules[0].source``): the longest
    declared name the field's path starts with."""
    for location in _LOCATIONS:
        if field.startswith(location):
            field = field.removeprefix(location)
            break
    matches = [n for n in api_names if field == n or field.startswith((f"{n}.", f"{n}["))]
    return api_names[max(matches, key=len)] if matches else None


def _in_cli_words(message: str, api_names: Mapping[str, str]) -> str:
    """`message` with ``force=true``, ``[force]`` and ```force``` of a declared name said as
    its option."""
    for name in sorted(api_names, key=len, reverse=True):
        word = re.escape(name)
        pattern = rf"(?<![\w.]){word}=(?:true|false)\b|\[{word}\]|`{word}`"
        message = re.sub(pattern, api_names[name], message)
    return message


def error_message(status: int, errors: list[dict[str, Any]], api_names: Mapping[str, str]) -> str:
    """An error answer as one line: ``HTTP 409: code: message``, per error, where a request
    field or parameter a command declared in `api_names` is named by its CLI option."""
    parts = []
    for error in errors:
        message = _in_cli_words(str(error.get("message", "")), api_names)
        options = [_option_for(f, api_names) for f in error.get("fields") or []]
        named = [o for o in dict.fromkeys(options) if o is not None and o not in message]
        if named:
            message += f" (see {', '.join(named)})"
        parts.append(f"{error.get('code')}: {message}")
    return f"HTTP {status}: {', '.join(parts)}"
