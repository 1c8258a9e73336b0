"""Enrich policy definitions (``PUT _enrich/policy/{name}``): parsed and checked. Pure.

A policy is ``{type: {indices, match_field, enrich_fields, query?}}`` with type ``match`` or
``range``; ``geo_match`` needs geo_shape fields, which this node cannot hold, so it is a 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from citadel.node.errors import IllegalArgument, XContentParseError
from citadel.node.search.dsl import parse_query

TYPES = ("match", "range")
_KEYS = frozenset({"indices", "match_field", "enrich_fields", "query", "elasticsearch_version"})
MAX_POLICIES = 1_000
MAX_ENRICH_FIELDS = 1_000


@dataclass(frozen=True)
class Policy:
    """One enrich policy."""

    name: str
    type: str
    indices: tuple[str, ...]
    match_field: str
    enrich_fields: tuple[str, ...]
    query: Mapping[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        """The policy as ``GET _enrich/policy`` shows it."""
        body: dict[str, Any] = {
            "name": self.name,
            "indices": list(self.indices),
            "match_field": self.match_field,
            "enrich_fields": list(self.enrich_fields),
        }
        if self.query is not None:
            body["query"] = self.query
        return {self.type: body}


def _strings(kind: str, key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise XContentParseError(f"[{kind}] failed to parse field [{key}]")
    return tuple(value)


def parse(name: str, body: Any) -> Policy:
    """A checked policy named `name`; 400 naming what is wrong."""
    if not name or name != name.lower() or any(c in name for c in ' "*\\<|,>/?#:'):
        raise IllegalArgument(f"Invalid policy name [{name}]")
    if not isinstance(body, Mapping) or len(body) != 1:
        raise IllegalArgument("the policy body must name exactly one type: [match, range]")
    ((kind, spec),) = body.items()
    if kind == "geo_match":
        raise IllegalArgument(
            "enrich policy type [geo_match] is not supported by this node (no geo_shape fields)"
        )
    if kind not in TYPES:
        raise XContentParseError(f"[enrich_policy] unknown field [{kind}]")
    if not isinstance(spec, Mapping):
        raise XContentParseError(f"[{kind}] must be an object")
    unknown = sorted(set(spec) - _KEYS)
    if unknown:
        raise XContentParseError(f"[{kind}] unknown field [{unknown[0]}]")
    for key in ("indices", "match_field", "enrich_fields"):
        if key not in spec:
            raise IllegalArgument(f"[{kind}] required field [{key}] is missing")
    match_field = spec["match_field"]
    if not isinstance(match_field, str) or not match_field:
        raise XContentParseError(f"[{kind}] failed to parse field [match_field]")
    enrich = _strings(kind, "enrich_fields", spec["enrich_fields"])
    if not enrich:
        raise IllegalArgument("enrich_fields must not be empty")
    if len(enrich) > MAX_ENRICH_FIELDS:
        raise IllegalArgument(f"a policy has at most {MAX_ENRICH_FIELDS} enrich_fields")
    query = spec.get("query")
    if query is not None:
        parse_query(query)
    return Policy(
        name, kind, _strings(kind, "indices", spec["indices"]), match_field, enrich, query
    )


def from_json(name: str, stored: Mapping[str, Any]) -> Policy:
    """A policy as stored (`Policy.as_json`)."""
    ((kind, spec),) = stored.items()
    return Policy(
        name,
        kind,
        tuple(spec["indices"]),
        spec["match_field"],
        tuple(spec["enrich_fields"]),
        spec.get("query"),
    )
