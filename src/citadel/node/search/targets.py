"""Index expressions (``books``, ``logs-*,books``, ``_all``, ``logs-*,-logs-old``). Pure.

Wildcards expand only to indices the caller may read (Elasticsearch's security behaviour:
a search over ``*`` silently covers what you can see) and skip hidden ``.names`` unless the
pattern itself starts with a dot or ``expand_wildcards`` asks for hidden ones. A name given
explicitly must be readable (else 403, whether it exists or not, so existence does not
leak) and must exist (else 404), unless ``ignore_unavailable`` is set, which skips both.
A ``-pattern`` after the first item removes what it matches.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from citadel.node.errors import IndexNotFound

ALL = "_all"


@dataclass(frozen=True)
class Targets:
    """Indices to search, or explicitly named ones the caller may not read."""

    names: tuple[str, ...]
    denied: tuple[str, ...] = ()


def resolve(
    expression: str | None,
    existing: Sequence[str],
    may_read: Callable[[str], bool],
    *,
    ignore_unavailable: bool = False,
    allow_no_indices: bool = True,
    expand_hidden: bool = False,
) -> Targets:
    """The indices an expression names for a caller; `denied` lists explicit names it may
    not read (the caller answers 403)."""
    parts = [p.strip() for p in (expression or ALL).split(",") if p.strip()] or [ALL]
    chosen: dict[str, None] = {}
    denied: list[str] = []
    missing: list[str] = []
    wildcard = False
    for position, part in enumerate(parts):
        if part.startswith("-") and position > 0:
            regex = _regex(part[1:])
            for name in [n for n in chosen if regex.fullmatch(n)]:
                del chosen[name]
            continue
        if part in (ALL, "*") or "*" in part:
            wildcard = True
            pattern = "*" if part == ALL else part
            regex = _regex(pattern)
            for name in existing:
                if name.startswith(".") and not (expand_hidden or pattern.startswith(".")):
                    continue
                if regex.fullmatch(name) and may_read(name):
                    chosen[name] = None
            continue
        if not may_read(part):
            if not ignore_unavailable:
                denied.append(part)
        elif part not in existing:
            if not ignore_unavailable:
                missing.append(part)
        else:
            chosen[part] = None
    if denied:
        return Targets((), tuple(denied))
    if missing:
        raise IndexNotFound(missing[0])
    if not chosen and wildcard and not allow_no_indices:
        raise IndexNotFound(expression or ALL)
    return Targets(tuple(chosen))


def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(p) for p in pattern.split("*")))
