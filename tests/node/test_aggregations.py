"""Aggregations over real tantivy indices, answered in Elasticsearch 8's shapes.

Each test builds small in-memory tantivy indices following the slot contract of
``engine/fields.py`` (a tiny builder: Elasticsearch-like documents and a mapping in, slots out)
and a small ES-query compiler for the filters buckets use (``term``, ``range``, ``exists``,
``bool``, ``match_all``). Expected values are worked out by hand or in plain Python.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
import tantivy

from citadel.node.engine.aggregations import (
    AggregationTarget,
    parse_aggregations,
    run_aggregations,
)
from citadel.node.engine.fields import ID_FIELD, SOURCE_FIELD, FieldRef, SlotKind
from citadel.node.errors import EsError

NOW = 1_700_000_000_000  # 2023-11-14T22:13:20Z

_KINDS = {
    "keyword": SlotKind.KEYWORD,
    "long": SlotKind.LONG,
    "integer": SlotKind.LONG,
    "double": SlotKind.DOUBLE,
    "date": SlotKind.DATE,
    "boolean": SlotKind.BOOLEAN,
    "text": SlotKind.TEXT_STANDARD,
}


# -- builders --------------------------------------------------------------------------------


def ms(text: str) -> int:
    """Epoch milliseconds of an ISO date (UTC unless it says otherwise)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


class SmallIndex:
    """One Elasticsearch index as a tantivy index with slots, for aggregation tests."""

    def __init__(self, name: str, mapping: Mapping[str, str], docs: Sequence[Mapping[str, Any]]):
        self.name = name
        self.refs: dict[str, FieldRef] = {}
        counters: dict[SlotKind, int] = {}
        builder = tantivy.SchemaBuilder()
        builder.add_text_field(ID_FIELD, stored=True, tokenizer_name="raw", fast=True)
        builder.add_bytes_field(SOURCE_FIELD, stored=True)
        for path, es_type in mapping.items():
            kind = _KINDS[es_type]
            slot = f"{kind.value}{counters.get(kind, 0)}"
            counters[kind] = counters.get(kind, 0) + 1
            self.refs[path] = FieldRef(path, es_type, slot, kind, aggregatable=not kind.is_text)
            if kind is SlotKind.KEYWORD:
                builder.add_text_field(slot, tokenizer_name="raw", fast=True)
            elif kind.is_text:
                builder.add_text_field(slot, tokenizer_name="default")
            elif kind is SlotKind.DOUBLE:
                builder.add_float_field(slot, fast=True, indexed=True)
            else:
                builder.add_integer_field(slot, fast=True, indexed=True)
        self.schema = builder.build()
        self.index = tantivy.Index(self.schema)
        writer = self.index.writer(15_000_000, 1)
        self.sources: dict[str, dict[str, Any]] = {}
        for n, doc in enumerate(docs):
            doc_id = str(doc.get("_id", f"{name}-{n}"))
            source = {k: v for k, v in doc.items() if k != "_id"}
            self.sources[doc_id] = source
            writer.add_document(self._document(doc_id, source))
        writer.commit()
        writer.wait_merging_threads()
        self.index.reload()
        self.searcher = self.index.searcher()

    def _document(self, doc_id: str, source: Mapping[str, Any]) -> tantivy.Document:
        document = tantivy.Document()
        document.add_text(ID_FIELD, doc_id)
        document.add_bytes(SOURCE_FIELD, json.dumps(source).encode())
        for path, value in source.items():
            ref = self.refs[path]
            for item in value if isinstance(value, list) else [value]:
                if item is None:
                    continue
                if ref.kind is SlotKind.KEYWORD or ref.kind.is_text:
                    document.add_text(ref.slot, str(item))
                elif ref.kind is SlotKind.DOUBLE:
                    document.add_float(ref.slot, float(item))
                elif ref.kind is SlotKind.DATE:
                    document.add_integer(ref.slot, item if isinstance(item, int) else ms(item))
                else:
                    document.add_integer(ref.slot, int(item))
        return document

    def target(self, query: Mapping[str, Any] | None = None) -> AggregationTarget:
        return AggregationTarget(
            searcher=self.searcher,
            query=self.compile(query or {"match_all": {}}),
            field=self.refs.get,
            compile=self.compile,
            sources=lambda ids: {i: self.sources[i] for i in ids if i in self.sources},
            index_name=self.name,
        )

    # A small ES-query compiler: what bucket filters and these tests need.
    def compile(self, query: Mapping[str, Any]) -> tantivy.Query:
        ((kind, body),) = query.items()
        if kind == "match_all":
            return tantivy.Query.all_query()
        if kind == "match_none":
            return tantivy.Query.empty_query()
        if kind == "bool":
            return self._bool(body)
        if kind == "exists":
            ref = self.refs.get(body["field"])
            if ref is None:
                return tantivy.Query.empty_query()
            return tantivy.Query.exists_query(ref.slot)
        ((path, spec),) = body.items()
        ref = self.refs.get(path)
        if ref is None:
            return tantivy.Query.empty_query()
        if kind == "term":
            value = spec["value"] if isinstance(spec, Mapping) else spec
            return tantivy.Query.term_query(self.schema, ref.slot, self._value(ref, value))
        if kind == "range":
            return self._range(ref, spec)
        raise AssertionError(f"test compiler does not know [{kind}]")

    def _bool(self, body: Mapping[str, Any]) -> tantivy.Query:
        clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []

        def listed(name: str) -> list[Mapping[str, Any]]:
            value = body.get(name, [])
            return value if isinstance(value, list) else [value]

        for name in ("must", "filter"):
            clauses += [(tantivy.Occur.Must, self.compile(q)) for q in listed(name)]
        shoulds = [self.compile(q) for q in listed("should")]
        if shoulds:
            clauses.append(
                (
                    tantivy.Occur.Must,
                    tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in shoulds]),
                )
            )
        nots = [(tantivy.Occur.MustNot, self.compile(q)) for q in listed("must_not")]
        if not clauses:
            clauses.append((tantivy.Occur.Must, tantivy.Query.all_query()))
        return tantivy.Query.boolean_query(clauses + nots)

    def _value(self, ref: FieldRef, value: Any) -> Any:
        if ref.kind is SlotKind.KEYWORD:
            return str(value)
        if ref.kind is SlotKind.DOUBLE:
            return float(value)
        if ref.kind is SlotKind.BOOLEAN:
            return 1 if value in (True, "true", 1) else 0
        if ref.kind is SlotKind.DATE and isinstance(value, str):
            return ms(value)
        return int(value)

    def _range(self, ref: FieldRef, spec: Mapping[str, Any]) -> tantivy.Query:
        is_float = ref.kind is SlotKind.DOUBLE
        lower = upper = None
        include_lower = include_upper = True
        for op, raw in spec.items():
            if op == "format":
                continue
            value = float(raw) if is_float else raw
            if op in ("gte", "gt"):
                if is_float:
                    lower, include_lower = value, op == "gte"
                else:
                    lower = math.ceil(value) if op == "gte" else math.floor(value) + 1
            else:
                if is_float:
                    upper, include_upper = value, op == "lte"
                else:
                    upper = math.floor(value) if op == "lte" else math.ceil(value) - 1
        field_type = tantivy.FieldType.Float if is_float else tantivy.FieldType.Integer
        return tantivy.Query.range_query(
            self.schema, ref.slot, field_type, lower, upper, include_lower, include_upper
        )


def aggs(body: Mapping[str, Any], *indices: SmallIndex, query: Any = None) -> dict[str, Any]:
    """Parse and run `body` over `indices`."""
    tree = parse_aggregations(body)
    return run_aggregations(tree, [i.target(query) for i in indices], now_ms=NOW)


SALES_MAPPING = {
    "product": "keyword",
    "price": "double",
    "qty": "long",
    "sold": "date",
    "paid": "boolean",
    "note": "text",
    "tags": "keyword",
}


def sales(name: str = "sales", rows: Sequence[tuple[Any, ...]] | None = None) -> SmallIndex:
    """(product, price, qty, sold, paid) rows as an index."""
    rows = rows if rows is not None else SALES_ROWS
    docs = [
        {
            "_id": f"{name}-{n}",
            "product": product,
            "price": price,
            "qty": qty,
            "sold": sold,
            "paid": paid,
            "note": "some words",
        }
        for n, (product, price, qty, sold, paid) in enumerate(rows)
    ]
    return SmallIndex(name, SALES_MAPPING, docs)


SALES_ROWS = [
    ("apple", 1.5, 3, "2024-01-05T10:00:00Z", True),
    ("apple", 2.5, 1, "2024-01-20T10:00:00Z", False),
    ("pear", 4.0, 2, "2024-02-03T10:00:00Z", True),
    ("plum", 10.0, 7, "2024-03-30T23:30:00Z", True),
    ("apple", 3.0, 5, "2024-03-31T00:30:00Z", True),
    ("pear", None, None, None, None),
]


def error_of(body: Mapping[str, Any], *indices: SmallIndex) -> EsError:
    with pytest.raises(EsError) as caught:
        aggs(body, *indices)
    return caught.value


# -- metrics ---------------------------------------------------------------------------------


def test_single_value_metrics():
    prices = [1.5, 2.5, 4.0, 10.0, 3.0]
    result = aggs(
        {
            "a": {"avg": {"field": "price"}},
            "s": {"sum": {"field": "qty"}},
            "lo": {"min": {"field": "price"}},
            "hi": {"max": {"field": "qty"}},
            "n": {"value_count": {"field": "product"}},
        },
        sales(),
    )
    assert result == {
        "a": {"value": statistics.fmean(prices)},
        "s": {"value": 18.0},
        "lo": {"value": 1.5},
        "hi": {"value": 7.0},
        "n": {"value": 6},
    }
