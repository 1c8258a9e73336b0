"""Errors raised while a query meets an index's mappings (Elasticsearch's shard-level names)."""

from __future__ import annotations

from citadel.node.errors import EsError


class QueryShardError(EsError):
    """A query that cannot run against a field: a number that is not one, a sort on text."""

    type = "query_shard_exception"
    status = 400


class DateParseError(EsError):
    """A date or date-math expression that does not parse."""

    type = "parse_exception"
    status = 400


class TooManyClauses(EsError):
    """A query that expands to more clauses than the node runs (field patterns count once per
    field, full-text queries once per token)."""

    type = "too_many_nested_clauses"
    status = 400
