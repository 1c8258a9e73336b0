"""The few Painless update statements this node runs, exactly as Painless would. Pure.

Only assignments to source fields, one per ``;``-separated statement: ``ctx._source.a.b++``
and ``--`` (numbers; Java's int/long wrap-around kept), ``+=`` and ``-=`` with a number (``+=``
with a string concatenates onto a string), ``=`` with a literal (number, quoted string,
``true``, ``false``, ``null``) or ``params.name``, and ``ctx._source.remove('field')``.
Anything else is a 400 saying scripts are not supported. A statement that Painless would fail
at run time (a missing field incremented, a string plus a number) is a ``script_exception``.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from citadel.node.errors import EsError, IllegalArgument

_PATH = r"ctx\._source((?:\.[A-Za-z_][A-Za-z0-9_]*)+)"
_LITERAL = (
    r"(-?\d+(?:\.\d+)?|'[^'\\]*'|\"[^\"\\]*\"|true|false|null|params\.[A-Za-z_][A-Za-z0-9_]*)"
)
_STATEMENTS = (
    ("incr", re.compile(rf"^{_PATH}\s*(\+\+|--)$")),
    ("incr", re.compile(rf"^(\+\+|--)\s*{_PATH}$")),
    ("compound", re.compile(rf"^{_PATH}\s*(\+=|-=)\s*{_LITERAL}$")),
    ("assign", re.compile(rf"^{_PATH}\s*=\s*{_LITERAL}$")),
    ("remove", re.compile(r"^ctx\._source\.remove\(\s*'([^'\\]+)'\s*\)$")),
)
_INT = 2**31
_LONG = 2**63


class ScriptError(EsError):
    type = "script_exception"
    status = 400


@dataclass(frozen=True)
class Statement:
    """One parsed statement."""

    kind: str
    path: tuple[str, ...]
    operator: str = ""
    operand: str = ""


Script = Callable[[dict[str, Any]], dict[str, Any]]


def parse_script(value: Any) -> Script:
    """A runnable script for the supported statements; 400 for anything else."""
    if isinstance(value, str):
        value = {"source": value}
    if not isinstance(value, Mapping):
        raise IllegalArgument("[script] must be an object or a string")
    unknown = set(value) - {"source", "lang", "params"}
    if unknown or value.get("lang", "painless") != "painless":
        raise _unsupported(str(value.get("source", value.get("id", ""))))
    source = value.get("source")
    params = value.get("params") or {}
    if not isinstance(source, str) or not isinstance(params, Mapping):
        raise _unsupported(str(source))
    statements = [_statement(s.strip(), source) for s in source.split(";") if s.strip()]
    if not statements:
        raise _unsupported(source)

    def run(document: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(document)
        for statement in statements:
            _apply(statement, out, params)
        return out

    return run


def _unsupported(source: str) -> IllegalArgument:
    return IllegalArgument(
        f"script [{source[:100]}] is not supported: scripts do not run on this node beyond "
        "simple ctx._source assignments (++, --, +=, -=, = a literal or a param, remove)"
    )


def _statement(text: str, source: str) -> Statement:
    for kind, pattern in _STATEMENTS:
        match = pattern.match(text)
        if match is None:
            continue
        if kind == "remove":
            return Statement("remove", (match.group(1),))
        if kind == "incr":
            groups = match.groups()
            path, op = (groups[0], groups[1]) if groups[0].startswith(".") else groups[::-1]
            return Statement("compound", tuple(path[1:].split(".")), op[0] + "=", "1")
        path = tuple(match.group(1)[1:].split("."))
        if kind == "assign":
            return Statement("assign", path, "=", match.group(2))
        return Statement("compound", path, match.group(2), match.group(3))
    raise _unsupported(source)


def _operand(text: str, params: Mapping[str, Any]) -> Any:
    if text.startswith("params."):
        name = text[len("params.") :]
        return params.get(name)
    if text[:1] in ("'", '"'):
        return text[1:-1]
    return json.loads(text)


def _parent(document: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    current: Any = document
    for part in path[:-1]:
        current = current.get(part) if isinstance(current, dict) else None
        if not isinstance(current, dict):
            raise ScriptError("runtime error", caused_by=_npe(part))
    return current


def _npe(part: str) -> dict[str, str]:
    return {
        "type": "null_pointer_exception",
        "reason": f"Cannot invoke a method on [{part}] because it is null",
    }


def _apply(statement: Statement, document: dict[str, Any], params: Mapping[str, Any]) -> None:
    if statement.kind == "remove":
        document.pop(statement.path[0], None)
        return
    parent = _parent(document, statement.path)
    key = statement.path[-1]
    value = _operand(statement.operand, params)
    if statement.kind == "assign":
        parent[key] = copy.deepcopy(value)
        return
    current = parent.get(key)
    if statement.operator == "+=" and isinstance(current, str) and value is not None:
        parent[key] = current + (value if isinstance(value, str) else json.dumps(value))
        return
    if not _is_number(current) or not _is_number(value):
        raise ScriptError(
            "runtime error",
            caused_by={
                "type": "class_cast_exception" if current is not None else "null_pointer_exception",
                "reason": f"cannot apply [{statement.operator}] to [{key}]",
            },
        )
    result = current + value if statement.operator == "+=" else current - value
    if isinstance(result, int):
        limit = _INT if -_INT <= current < _INT and -_INT <= value < _INT else _LONG
        result = (result + limit) % (2 * limit) - limit  # Java's wrap-around
    parent[key] = result


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)
