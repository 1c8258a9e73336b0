"""``_explain`` of one document and ``_validate/query``, over the engine's searchers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import tantivy

from citadel.node.engine import fields as f
from citadel.node.engine.engine import Engine
from citadel.node.errors import EsError
from citadel.node.search import dsl
from citadel.node.search.service import explanation, targets
from citadel.node.security.document_security import restriction_of
from citadel.node.store.indices import IndexRecord

NO_MATCH = {"value": 0.0, "description": "no matching term", "details": []}


def explain_document(
    engine: Engine, record: IndexRecord, doc_id: str, query: dsl.Query, *, now: datetime
) -> tuple[bool, dict[str, Any] | None, Any]:
    """(exists, explanation or None when it does not match, the document's address)."""
    (target,) = targets(engine, [record], query, now=now)
    by_id = tantivy.Query.term_query(target.shard.schema, f.ID_FIELD, doc_id)
    seen = by_id
    if restriction_of(record).query is not None:  # a document the reader may not see is absent
        (shown,) = targets(engine, [record], dsl.MatchAll(), now=now, scoring=False)
        seen = tantivy.Query.boolean_query(
            [(tantivy.Occur.Must, by_id), (tantivy.Occur.Must, shown.query)]
        )
    found = target.searcher.search(seen, 1, count=False).hits
    if not found:
        return False, None, None
    address = found[0][1]
    both = tantivy.Query.boolean_query(
        [
            (tantivy.Occur.Must, target.query),
            (tantivy.Occur.Must, tantivy.Query.const_score_query(by_id, 0.0)),
        ]
    )
    if not target.searcher.search(both, 1, count=False).hits:
        return True, None, address
    return True, explanation(target.query, target.searcher, address), address


def validate(
    engine: Engine,
    records: Sequence[IndexRecord],
    body: Any,
    parse: Any,
    *,
    explain: bool,
    now: datetime,
) -> dict[str, Any]:
    """The body of a ``_validate/query`` answer: `parse` turns `body` into a query tree."""
    shards = {"total": len(records), "successful": len(records), "failed": 0}
    try:
        query = parse(body)
    except EsError as exc:
        out: dict[str, Any] = {"_shards": shards, "valid": False}
        if explain:
            out["error"] = f"{exc.type}: {exc.reason}"
        return out
    explanations = []
    valid = True
    for record in records:
        try:
            targets(engine, [record], query, now=now)
        except EsError as exc:
            valid = False
            explanations.append(
                {"index": record.name, "valid": False, "error": f"{exc.type}: {exc.reason}"}
            )
            continue
        explanations.append({"index": record.name, "valid": True, "explanation": describe(query)})
    out = {"_shards": shards, "valid": valid}
    if explain or not valid:
        out["explanations"] = (
            explanations
            if explain
            else [
                {k: v for k, v in e.items() if k != "explanation"}
                for e in explanations
                if not e["valid"]
            ]
        )
    return out


def describe(query: dsl.Query) -> str:
    """A Lucene-like text of a query tree (what Elasticsearch's ``explain`` shows)."""
    match query:
        case dsl.MatchAll():
            return "*:*"
        case dsl.MatchNone():
            return 'MatchNoDocsQuery("")'
        case dsl.Match():
            return f"{query.field}:{query.query}"
        case dsl.MatchPhrase():
            return f'{query.field}:"{query.query}"'
        case dsl.Term():
            return f"{query.field}:{dsl_text(query.value)}"
        case dsl.Terms():
            return f"{query.field}:(" + " ".join(dsl_text(v) for v in query.values) + ")"
        case dsl.Prefix():
            return f"{query.field}:{query.value}*"
        case dsl.Wildcard():
            return f"{query.field}:{query.value}"
        case dsl.Regexp():
            return f"{query.field}:/{query.value}/"
        case dsl.Fuzzy():
            return f"{query.field}:{query.value}~{query.fuzziness}"
        case dsl.Exists():
            return f"FieldExistsQuery [field={query.field}]"
        case dsl.Ids():
            return "_id:(" + " ".join(query.values) + ")"
        case dsl.Range():
            low = query.gte if query.gte is not None else query.gt
            high = query.lte if query.lte is not None else query.lt
            left = "[" if query.gt is None else "{"
            right = "]" if query.lt is None else "}"
            return f"{query.field}:{left}{_or_star(low)} TO {_or_star(high)}{right}"
        case dsl.Bool():
            parts = [f"+{_group(q)}" for q in query.must]
            parts += [f"#{_group(q)}" for q in query.filter]
            parts += [_group(q) for q in query.should]
            parts += [f"-{_group(q)}" for q in query.must_not]
            return " ".join(parts) if parts else "*:*"
        case dsl.ConstantScore():
            return f"ConstantScore({describe(query.filter)})"
        case dsl.DisMax():
            return "(" + " | ".join(describe(q) for q in query.queries) + ")"
    return type(query).__name__


def dsl_text(value: dsl.Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _or_star(value: Any) -> str:
    return "*" if value is None else dsl_text(value)


def _group(query: dsl.Query) -> str:
    text = describe(query)
    return f"({text})" if isinstance(query, dsl.Bool) else text
