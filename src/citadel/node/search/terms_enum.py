"""``_terms_enum``: the terms of a keyword field that start with a string, in order.

Terms come from each index's term dictionary (tantivy's ``terms_with_prefix``), merged,
deduplicated and sorted; ``index_filter`` keeps terms of matching documents only. Only
keyword fields have terms here (Elasticsearch also enumerates ``constant_keyword``,
``flattened`` and ``version``); any other field, or an unmapped one, has none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from citadel.node.engine.engine import Engine
from citadel.node.engine.fields import SlotKind
from citadel.node.errors import IllegalArgument, ParsingError, XContentParseError
from citadel.node.search import dsl
from citadel.node.search.service import targets
from citadel.node.search.time_values import parse_time_value
from citadel.node.security.document_security import restriction_of, visible_table
from citadel.node.store.indices import IndexRecord

MAX_SIZE = 10_000
_KEYS = frozenset(
    {"field", "string", "size", "timeout", "case_insensitive", "index_filter", "search_after"}
)


@dataclass(frozen=True)
class TermsEnumRequest:
    """What a ``_terms_enum`` asks for."""

    field: str
    string: str = ""
    size: int = 10
    case_insensitive: bool = False
    index_filter: dsl.Query | None = None
    search_after: str | None = None


def parse_terms_enum(body: Any) -> TermsEnumRequest:
    """The request of a ``_terms_enum`` body."""
    if not isinstance(body, Mapping):
        raise ParsingError("request body must be an object")
    for key in body:
        if key not in _KEYS:
            raise ParsingError(f"[terms_enum_request] unknown field [{key}]")
    name = body.get("field")
    if not isinstance(name, str) or not name:
        raise IllegalArgument("field cannot be null")
    size = body.get("size", 10)
    if isinstance(size, bool) or not isinstance(size, int):
        raise XContentParseError("[terms_enum_request] failed to parse field [size]")
    if size < 0 or size > MAX_SIZE:
        raise IllegalArgument(f"size must be between 0 and {MAX_SIZE}, was [{size}]")
    for key in ("string", "search_after"):
        if key in body and not isinstance(body[key], str):
            raise XContentParseError(f"[terms_enum_request] failed to parse field [{key}]")
    insensitive = body.get("case_insensitive", False)
    if not isinstance(insensitive, bool):
        raise XContentParseError("[terms_enum_request] failed to parse field [case_insensitive]")
    if "timeout" in body:
        parse_time_value(str(body["timeout"]), "timeout")
    return TermsEnumRequest(
        name,
        body.get("string", ""),
        size,
        insensitive,
        dsl.parse_query(body["index_filter"]) if "index_filter" in body else None,
        body.get("search_after"),
    )


def terms_enum(
    engine: Engine, records: Sequence[IndexRecord], request: TermsEnumRequest, *, now: datetime
) -> list[str]:
    """The first `request.size` matching terms across `records`, sorted."""
    found: set[str] = set()
    query = request.index_filter or dsl.MatchAll()
    filtered = request.index_filter is not None
    for target in targets(engine, records, query, now=now, scoring=False):
        ref = visible_table(target.record).get(request.field)
        if ref is None or ref.slot is None or ref.kind is not SlotKind.KEYWORD:
            continue
        prefix = "" if request.case_insensitive else request.string
        pairs = target.searcher.terms_with_prefix(
            ref.slot,
            prefix,
            filter_query=target.query if filtered or restriction_of(target.record).query else None,
        )
        lowered = request.string.lower()
        for term, count in pairs:
            if count <= 0:
                continue
            if request.case_insensitive and not term.lower().startswith(lowered):
                continue
            found.add(term)
    ordered = sorted(found)
    if request.search_after is not None:
        ordered = [t for t in ordered if t > request.search_after]
    return ordered[: request.size]
