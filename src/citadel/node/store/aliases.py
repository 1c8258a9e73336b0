"""Index aliases: definitions, ``_aliases`` actions, and applying them to index records.

An alias is kept on each index it points to (``IndexRecord.aliases``: alias name → its
definition as ``GET _alias`` shows it), as Elasticsearch keeps it in the index metadata.
Definitions and actions are validated here (pure); `apply` runs a list of actions inside the
route's transaction, all or nothing. Alias routing is refused: this node has one shard per
index, and routing values on documents are not kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from citadel.node.errors import (
    ActionRequestValidation,
    EsError,
    IllegalArgument,
    IndexNotFound,
    ParsingError,
)
from citadel.node.search.dsl import parse_query
from citadel.node.store import indices
from citadel.node.store import mapping as mp
from citadel.node.store.indices import Connection, IndexRecord

MAX_ALIASES_PER_INDEX = 1_000
_DEFINITION_KEYS = frozenset(
    {"filter", "routing", "index_routing", "search_routing", "is_write_index", "is_hidden"}
)
_ACTIONS = frozenset({"add", "remove", "remove_index"})
_ACTION_KEYS = frozenset({"index", "indices", "alias", "aliases", "must_exist"} | _DEFINITION_KEYS)


class InvalidAliasName(EsError):
    type = "invalid_alias_name_exception"
    status = 400


class AliasesNotFound(EsError):
    type = "aliases_not_found_exception"
    status = 404


def validate_name(alias: str) -> str:
    """`alias` when it is a valid alias name (Elasticsearch's index name rules)."""
    problem = mp.index_name_problem(alias)
    if problem:
        raise InvalidAliasName(f"Invalid alias name [{alias}]: {problem}", name=alias)
    return alias


def definition(alias: str, body: Any) -> dict[str, Any]:
    """An alias definition (``filter``, ``is_write_index``, ``is_hidden``) in stored form."""
    if body is None:
        return {}
    if not isinstance(body, Mapping):
        raise ParsingError(f"alias [{alias}] must be an object")
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key not in _DEFINITION_KEYS:
            raise IllegalArgument(f"Unsupported field [{key}] for alias [{alias}]")
        if key in ("routing", "index_routing", "search_routing"):
            if value is not None:
                raise IllegalArgument(
                    f"[{key}] on alias [{alias}] is not supported by this node "
                    "(one shard per index; routing values are not kept)"
                )
        elif key == "filter":
            if value is not None:
                if not isinstance(value, Mapping):
                    raise ParsingError(f"[filter] of alias [{alias}] must be an object")
                parse_query(value)
                out["filter"] = dict(value)
        elif value is not None:
            out[key] = _flag(value, key)
    return out


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise IllegalArgument(f"[{name}] must be a boolean, got [{value}]")


# -- actions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """One ``_aliases`` action over concrete-or-wildcard index and alias names."""

    kind: str
    indices: tuple[str, ...]
    aliases: tuple[str, ...]
    definition: Mapping[str, Any]
    must_exist: bool | None = None


def parse_actions(body: Any) -> list[Action]:
    """The ``actions`` of a ``POST _aliases`` body; 400 naming what is wrong."""
    if not isinstance(body, Mapping) or not isinstance(body.get("actions"), list):
        raise ActionRequestValidation("Validation Failed: 1: no actions specified;")
    unknown = [k for k in body if k != "actions"]
    if unknown:
        raise ParsingError(f"[aliases] unknown field [{unknown[0]}]")
    out = []
    for item in body["actions"]:
        if not isinstance(item, Mapping) or len(item) != 1:
            raise ParsingError("each alias action must be an object with one action")
        ((kind, spec),) = item.items()
        if kind not in _ACTIONS:
            raise ParsingError(f"[aliases] unknown field [{kind}]")
        if not isinstance(spec, Mapping):
            raise ParsingError(f"[{kind}] must be an object")
        for key in spec:
            if key not in _ACTION_KEYS:
                raise ParsingError(f"[{kind}] unknown field [{key}]")
        names = _names(spec, "index", "indices")
        if not names:
            raise ActionRequestValidation(
                "Validation Failed: 1: One of [index] or [indices] is required;"
            )
        alias_names = _names(spec, "alias", "aliases")
        if kind != "remove_index" and not alias_names:
            raise ActionRequestValidation(
                "Validation Failed: 1: One of [alias] or [aliases] is required;"
            )
        if kind == "remove_index" and alias_names:
            raise ActionRequestValidation(
                "Validation Failed: 1: Action [remove_index] does not support [alias] or [aliases];"
            )
        extra = {k: v for k, v in spec.items() if k in _DEFINITION_KEYS}
        if kind != "add" and extra:
            raise ActionRequestValidation(
                f"Validation Failed: 1: Action [{kind}] does not support [{next(iter(extra))}];"
            )
        defined = definition(alias_names[0] if alias_names else "", extra) if extra else {}
        must_exist = spec.get("must_exist")
        out.append(
            Action(
                kind,
                names,
                alias_names,
                defined,
                _flag(must_exist, "must_exist") if must_exist is not None else None,
            )
        )
    return out


def _names(spec: Mapping[str, Any], one: str, many: str) -> tuple[str, ...]:
    values: list[Any] = []
    if spec.get(one) is not None:
        values.append(spec[one])
    if spec.get(many) is not None:
        values.extend(spec[many] if isinstance(spec[many], list) else [spec[many]])
    for value in values:
        if not isinstance(value, str) or not value:
            raise ParsingError(f"[{one}] must be a non-empty string")
    return tuple(values)


def apply(
    conn: Connection, actions: Iterable[Action], allowed: Callable[[str], bool]
) -> list[IndexRecord]:
    """Run `actions` in order over the catalog; the records changed (saved)."""
    changed: dict[str, IndexRecord] = {}
    for action in actions:
        records = _records(conn, action.indices, allowed, changed)
        if action.kind == "remove_index":
            raise IllegalArgument(
                "[remove_index] is not supported by this node; delete the index with "
                "DELETE /{index}"
            )
        for alias in action.aliases:
            if action.kind == "add":
                if "*" in alias:
                    raise InvalidAliasName(
                        f"Invalid alias name [{alias}]: must not contain wildcards", name=alias
                    )
                for record in records:
                    add(conn, record, alias, action.definition)
            else:
                removed = 0
                for record in records:
                    removed += remove(record, alias)
                if not removed and action.must_exist is not False:
                    raise AliasesNotFound(f"aliases [{alias}] missing", **{"resource.id": alias})
        for record in records:
            changed[record.name] = record
    for record in changed.values():
        check_write_flags(conn, record)
        indices.save_meta(conn, record)
    return list(changed.values())


def _records(
    conn: Connection,
    names: Iterable[str],
    allowed: Callable[[str], bool],
    changed: Mapping[str, IndexRecord],
) -> list[IndexRecord]:
    out: dict[str, IndexRecord] = {}
    for expression in names:
        for name in indices.resolve_names(
            expression,
            indices.all_names(conn),
            allowed=allowed,
            closed_ok=True,
            expand_closed=True,
            expand_hidden=True,
        ):
            record = changed.get(name) or indices.load_index(conn, name)
            if record is None:
                raise IndexNotFound(name)
            out[name] = record
    if not out:
        raise IndexNotFound(",".join(names))
    return list(out.values())


def add(conn: Connection, record: IndexRecord, alias: str, spec: Mapping[str, Any]) -> None:
    """Point `alias` at `record` with `spec` (replacing an earlier definition)."""
    validate_name(alias)
    catalog = indices.load_catalog(conn)
    kind = catalog.kind(alias)
    if kind in ("index", "data_stream"):
        raise InvalidAliasName(
            f"Invalid alias name [{alias}]: an index or data stream exists with the same name "
            "as the alias",
            name=alias,
        )
    if alias == record.name:
        raise InvalidAliasName(
            f"Invalid alias name [{alias}]: an index or data stream exists with the same name "
            "as the alias",
            name=alias,
        )
    if alias not in record.aliases and len(record.aliases) >= MAX_ALIASES_PER_INDEX:
        raise IllegalArgument(
            f"index [{record.name}] has [{MAX_ALIASES_PER_INDEX}] aliases, the most this node "
            "allows"
        )
    record.aliases[alias] = dict(spec)


def remove(record: IndexRecord, alias: str) -> int:
    """Drop aliases matching `alias` (wildcards allowed) from `record`; how many."""
    pattern = indices.wildcard(alias)
    gone = [name for name in record.aliases if pattern.fullmatch(name)]
    for name in gone:
        del record.aliases[name]
    return len(gone)


def check_write_flags(conn: Connection, record: IndexRecord) -> None:
    """At most one write index per alias (Elasticsearch's rule), checked after a change."""
    catalog = indices.load_catalog(conn)
    for alias, spec in record.aliases.items():
        if not spec.get("is_write_index"):
            continue
        others = [
            index
            for index, link in catalog.aliases.get(alias, {}).items()
            if index != record.name and link.is_write_index
        ]
        if others:
            raise IllegalArgument(
                f"alias [{alias}] has more than one write index [{others[0]},{record.name}]"
            )


# -- reading ---------------------------------------------------------------------------------


def view(records: Iterable[IndexRecord], names: str | None, *, keep_empty: bool) -> dict[str, Any]:
    """``GET _alias`` bodies: index → {"aliases": {alias: definition}}, filtered by `names`."""
    patterns = _patterns(names)
    out: dict[str, Any] = {}
    for record in records:
        shown = {
            alias: record.aliases[alias]
            for alias in sorted(record.aliases)
            if patterns is None or _matches(alias, patterns)
        }
        if shown or keep_empty:
            out[record.name] = {"aliases": shown}
    return out


def missing(records: Iterable[IndexRecord], names: str | None) -> list[str]:
    """The explicit alias names (not wildcards) that no record holds."""
    if not names or names in ("_all", "*"):
        return []
    held = {alias for r in records for alias in r.aliases}
    return [
        n
        for n in names.split(",")
        if n and "*" not in n and not n.startswith("-") and n not in held
    ]


def _patterns(names: str | None) -> list[str] | None:
    if not names or names in ("_all", "*"):
        return None
    return [n.strip() for n in names.split(",") if n.strip()]


def _matches(alias: str, patterns: list[str]) -> bool:
    matched = False
    for i, pattern in enumerate(patterns):
        if pattern.startswith("-") and i > 0:
            if indices.wildcard(pattern[1:]).fullmatch(alias):
                matched = False
        elif indices.wildcard(pattern).fullmatch(alias):
            matched = True
    return matched
