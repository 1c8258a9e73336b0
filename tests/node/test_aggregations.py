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
from zoneinfo import ZoneInfo

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


def test_stats_and_extended_stats():
    qty = [3, 1, 2, 7, 5]
    mean = statistics.fmean(qty)
    variance = statistics.pvariance(qty)
    sampling = statistics.variance(qty)
    result = aggs(
        {"s": {"stats": {"field": "qty"}}, "e": {"extended_stats": {"field": "qty"}}}, sales()
    )
    assert result["s"] == {"count": 5, "min": 1.0, "max": 7.0, "avg": mean, "sum": 18.0}
    extended = result["e"]
    assert extended["sum_of_squares"] == sum(q * q for q in qty)
    assert extended["variance"] == pytest.approx(variance)
    assert extended["variance_population"] == pytest.approx(variance)
    assert extended["variance_sampling"] == pytest.approx(sampling)
    assert extended["std_deviation"] == pytest.approx(math.sqrt(variance))
    assert extended["std_deviation_sampling"] == pytest.approx(math.sqrt(sampling))
    bounds = extended["std_deviation_bounds"]
    assert bounds["upper"] == pytest.approx(mean + 2 * math.sqrt(variance))
    assert bounds["lower_sampling"] == pytest.approx(mean - 2 * math.sqrt(sampling))
    assert set(bounds) == {
        "upper",
        "lower",
        "upper_population",
        "lower_population",
        "upper_sampling",
        "lower_sampling",
    }


def test_metrics_of_nothing_are_null_and_sums_are_zero():
    result = aggs(
        {
            "a": {"avg": {"field": "price"}},
            "s": {"sum": {"field": "price"}},
            "m": {"min": {"field": "price"}},
            "st": {"stats": {"field": "price"}},
            "c": {"value_count": {"field": "price"}},
            "u": {"cardinality": {"field": "product"}},
        },
        sales(),
        query={"term": {"product": "kiwi"}},
    )
    assert result == {
        "a": {"value": None},
        "s": {"value": 0.0},
        "m": {"value": None},
        "st": {"count": 0, "min": None, "max": None, "avg": None, "sum": 0.0},
        "c": {"value": 0},
        "u": {"value": 0},
    }


def test_unmapped_field_gives_empty_results_not_errors():
    result = aggs(
        {
            "t": {"terms": {"field": "nope"}},
            "a": {"avg": {"field": "nope"}},
            "h": {"histogram": {"field": "nope", "interval": 5}},
            "r": {"range": {"field": "nope", "ranges": [{"to": 5}]}},
            "m": {"missing": {"field": "nope"}},
        },
        sales(),
    )
    assert result == {
        "t": {"doc_count_error_upper_bound": 0, "sum_other_doc_count": 0, "buckets": []},
        "a": {"value": None},
        "h": {"buckets": []},
        "r": {"buckets": [{"key": "*-5.0", "to": 5.0, "doc_count": 0}]},
        "m": {"doc_count": 6},
    }


def test_date_metrics_carry_value_as_string():
    result = aggs({"first": {"min": {"field": "sold"}}}, sales())
    assert result == {
        "first": {
            "value": float(ms("2024-01-05T10:00:00Z")),
            "value_as_string": "2024-01-05T10:00:00.000Z",
        }
    }


def test_metric_missing_value_counts_documents_without_the_field():
    result = aggs({"s": {"sum": {"field": "qty", "missing": 100}}}, sales())
    assert result == {"s": {"value": 118.0}}


def test_cardinality_is_exact_under_the_threshold():
    result = aggs({"u": {"cardinality": {"field": "product"}}}, sales(), sales("other"))
    assert result == {"u": {"value": 3}}


@pytest.mark.parametrize(
    ("percents", "expected"),
    [
        # ES below its sorting threshold: linear interpolation at q*(n-1) over sorted values.
        ([50], {"50.0": 3.0}),
        ([25, 75], {"25.0": 2.0, "75.0": 5.0}),
        ([10, 99], {"10.0": 1.4, "99.0": 7.0 - 0.04 * 2}),
        ([0, 100], {"0.0": 1.0, "100.0": 7.0}),
    ],
)
def test_percentiles_interpolate_between_sorted_values(percents, expected):
    result = aggs({"p": {"percentiles": {"field": "qty", "percents": percents}}}, sales())
    assert result["p"]["values"] == pytest.approx(expected)


def test_percentiles_default_percents_and_unkeyed_shape():
    result = aggs({"p": {"percentiles": {"field": "qty", "keyed": False}}}, sales())
    keys = [row["key"] for row in result["p"]["values"]]
    assert keys == [1.0, 5.0, 25.0, 50.0, 75.0, 95.0, 99.0]
    assert result["p"]["values"][3] == {"key": 50.0, "value": 3.0}


# -- terms -----------------------------------------------------------------------------------


def test_terms_on_keyword_orders_by_count_then_key():
    result = aggs({"t": {"terms": {"field": "product"}}}, sales())
    assert result == {
        "t": {
            "doc_count_error_upper_bound": 0,
            "sum_other_doc_count": 0,
            "buckets": [
                {"key": "apple", "doc_count": 3},
                {"key": "pear", "doc_count": 2},
                {"key": "plum", "doc_count": 1},
            ],
        }
    }


def test_terms_size_counts_the_rest_as_other():
    result = aggs({"t": {"terms": {"field": "product", "size": 1}}}, sales())
    assert result["t"]["buckets"] == [{"key": "apple", "doc_count": 3}]
    assert result["t"]["sum_other_doc_count"] == 3


@pytest.mark.parametrize(
    ("order", "keys"),
    [
        ({"_key": "desc"}, ["plum", "pear", "apple"]),
        ({"_key": "asc"}, ["apple", "pear", "plum"]),
        ({"_count": "asc"}, ["plum", "pear", "apple"]),
        ([{"_count": "desc"}, {"_key": "desc"}], ["apple", "pear", "plum"]),
    ],
)
def test_terms_order(order, keys):
    result = aggs({"t": {"terms": {"field": "product", "order": order}}}, sales())
    assert [b["key"] for b in result["t"]["buckets"]] == keys


def test_terms_ordered_by_a_sub_aggregation_metric():
    body = {
        "t": {
            "terms": {"field": "product", "order": {"top": "desc"}},
            "aggs": {"top": {"max": {"field": "price"}}},
        }
    }
    result = aggs(body, sales())
    assert result["t"]["buckets"] == [
        {"key": "plum", "doc_count": 1, "top": {"value": 10.0}},
        {"key": "pear", "doc_count": 2, "top": {"value": 4.0}},
        {"key": "apple", "doc_count": 3, "top": {"value": 3.0}},
    ]


def test_terms_ordered_by_a_stats_value_ascending():
    body = {
        "t": {
            "terms": {"field": "product", "order": {"st.avg": "asc"}, "size": 2},
            "aggs": {"st": {"stats": {"field": "qty"}}},
        }
    }
    result = aggs(body, sales())
    # apple avg 3.0, pear avg 2.0, plum avg 7.0
    assert [b["key"] for b in result["t"]["buckets"]] == ["pear", "apple"]
    assert result["t"]["sum_other_doc_count"] == 1


def test_terms_min_doc_count_zero_lists_every_keyword():
    result = aggs(
        {"t": {"terms": {"field": "product", "min_doc_count": 0}}},
        sales(),
        query={"term": {"product": "pear"}},
    )
    assert result["t"]["buckets"] == [
        {"key": "pear", "doc_count": 2},
        {"key": "apple", "doc_count": 0},
        {"key": "plum", "doc_count": 0},
    ]


def test_terms_missing_puts_documents_without_a_value_in_a_bucket():
    body = {
        "t": {
            "terms": {"field": "qty", "missing": 0},
            "aggs": {"ids": {"value_count": {"field": "product"}}},
        }
    }
    buckets = aggs(body, sales())["t"]["buckets"]
    assert {"key": 0, "doc_count": 1, "ids": {"value": 1}} in buckets


@pytest.mark.parametrize(
    ("include", "exclude", "keys"),
    [
        ("p.*", None, ["pear", "plum"]),
        (None, "p.*", ["apple"]),
        (["apple", "plum"], None, ["apple", "plum"]),
        (None, ["apple"], ["pear", "plum"]),
    ],
)
def test_terms_include_exclude(include, exclude, keys):
    params: dict[str, Any] = {"field": "product"}
    if include is not None:
        params["include"] = include
    if exclude is not None:
        params["exclude"] = exclude
    result = aggs({"t": {"terms": params}}, sales())
    assert sorted(b["key"] for b in result["t"]["buckets"]) == keys


def test_terms_on_numbers_dates_and_booleans():
    result = aggs(
        {
            "q": {"terms": {"field": "qty", "size": 2, "order": {"_key": "asc"}}},
            "p": {"terms": {"field": "price", "size": 1, "order": {"_key": "asc"}}},
            "d": {"terms": {"field": "sold", "size": 1, "order": {"_key": "asc"}}},
            "b": {"terms": {"field": "paid"}},
        },
        sales(),
    )
    assert result["q"]["buckets"] == [{"key": 1, "doc_count": 1}, {"key": 2, "doc_count": 1}]
    assert result["p"]["buckets"] == [{"key": 1.5, "doc_count": 1}]
    assert result["d"]["buckets"] == [
        {
            "key": ms("2024-01-05T10:00:00Z"),
            "key_as_string": "2024-01-05T10:00:00.000Z",
            "doc_count": 1,
        }
    ]
    assert result["b"]["buckets"] == [
        {"key": 1, "key_as_string": "true", "doc_count": 4},
        {"key": 0, "key_as_string": "false", "doc_count": 1},
    ]


def test_terms_on_text_is_elasticsearchs_fielddata_error():
    error = error_of({"t": {"terms": {"field": "note"}}}, sales())
    assert error.status == 400
    assert error.type == "illegal_argument_exception"
    assert error.reason.startswith("Fielddata is disabled on [note] in [sales].")


def test_terms_with_sub_aggregations_nest():
    body = {
        "t": {
            "terms": {"field": "product"},
            "aggs": {"paid": {"terms": {"field": "paid"}}, "q": {"sum": {"field": "qty"}}},
        }
    }
    apple = aggs(body, sales())["t"]["buckets"][0]
    assert apple == {
        "key": "apple",
        "doc_count": 3,
        "paid": {
            "doc_count_error_upper_bound": 0,
            "sum_other_doc_count": 0,
            "buckets": [
                {"key": 1, "key_as_string": "true", "doc_count": 2},
                {"key": 0, "key_as_string": "false", "doc_count": 1},
            ],
        },
        "q": {"value": 9.0},
    }


def test_meta_is_returned_first():
    result = aggs(
        {"t": {"terms": {"field": "product", "size": 1}, "meta": {"owner": "me"}}}, sales()
    )
    assert list(result["t"]) == [
        "meta",
        "doc_count_error_upper_bound",
        "sum_other_doc_count",
        "buckets",
    ]
    assert result["t"]["meta"] == {"owner": "me"}


# -- histograms ------------------------------------------------------------------------------


def test_histogram_fills_empty_buckets_between_min_and_max():
    result = aggs({"h": {"histogram": {"field": "qty", "interval": 2}}}, sales())
    assert result == {
        "h": {
            "buckets": [
                {"key": 0.0, "doc_count": 1},
                {"key": 2.0, "doc_count": 2},
                {"key": 4.0, "doc_count": 1},
                {"key": 6.0, "doc_count": 1},
            ]
        }
    }


@pytest.mark.parametrize(
    ("params", "keys_counts"),
    [
        ({"interval": 3}, [(0.0, 2), (3.0, 2), (6.0, 1)]),
        ({"interval": 3, "offset": 1}, [(1.0, 3), (4.0, 1), (7.0, 1)]),
        ({"interval": 2, "min_doc_count": 2}, [(2.0, 2)]),
        (
            {"interval": 2, "extended_bounds": {"min": -2, "max": 10}},
            [(-2.0, 0), (0.0, 1), (2.0, 2), (4.0, 1), (6.0, 1), (8.0, 0), (10.0, 0)],
        ),
        ({"interval": 2, "hard_bounds": {"min": 2, "max": 5}}, [(2.0, 2), (4.0, 1)]),
        ({"interval": 5, "order": {"_count": "asc"}}, [(5.0, 2), (0.0, 3)]),
    ],
)
def test_histogram_parameters(params, keys_counts):
    result = aggs({"h": {"histogram": {"field": "qty", **params}}}, sales())
    assert [(b["key"], b["doc_count"]) for b in result["h"]["buckets"]] == keys_counts


def test_histogram_keyed():
    result = aggs({"h": {"histogram": {"field": "qty", "interval": 5, "keyed": True}}}, sales())
    assert result == {
        "h": {"buckets": {"0.0": {"key": 0.0, "doc_count": 3}, "5.0": {"key": 5.0, "doc_count": 2}}}
    }


def test_histogram_sub_aggregations_see_their_bucket():
    body = {
        "h": {
            "histogram": {"field": "qty", "interval": 5},
            "aggs": {"p": {"sum": {"field": "price"}}},
        }
    }
    buckets = aggs(body, sales())["h"]["buckets"]
    assert [b["p"]["value"] for b in buckets] == [1.5 + 2.5 + 4.0, 10.0 + 3.0]


def test_date_histogram_fixed_interval_fills_days():
    index = SmallIndex(
        "logs",
        {"at": "date"},
        [
            {"at": "2024-01-01T05:00:00Z"},
            {"at": "2024-01-03T23:59:59Z"},
            {"at": "2024-01-03T00:00:00Z"},
        ],
    )
    result = aggs({"d": {"date_histogram": {"field": "at", "fixed_interval": "1d"}}}, index)
    assert result == {
        "d": {
            "buckets": [
                {
                    "key_as_string": "2024-01-01T00:00:00.000Z",
                    "key": ms("2024-01-01"),
                    "doc_count": 1,
                },
                {
                    "key_as_string": "2024-01-02T00:00:00.000Z",
                    "key": ms("2024-01-02"),
                    "doc_count": 0,
                },
                {
                    "key_as_string": "2024-01-03T00:00:00.000Z",
                    "key": ms("2024-01-03"),
                    "doc_count": 2,
                },
            ]
        }
    }


def test_date_histogram_calendar_month_in_paris_across_daylight_saving():
    paris = ZoneInfo("Europe/Paris")
    # 2024-03-31 is the spring change in Paris (02:00 -> 03:00), 2024-10-27 the autumn one.
    index = SmallIndex(
        "logs",
        {"at": "date"},
        [
            {"at": "2024-02-29T23:30:00Z"},  # 2024-03-01 00:30 in Paris: March
            {"at": "2024-03-31T21:59:59Z"},  # 23:59:59 CEST, still March
            {"at": "2024-03-31T22:00:00Z"},  # 2024-04-01 00:00 CEST: April
            {"at": "2024-10-31T23:30:00Z"},  # 2024-11-01 00:30 CET: November
        ],
    )
    body = {
        "d": {
            "date_histogram": {
                "field": "at",
                "calendar_interval": "month",
                "time_zone": "Europe/Paris",
            }
        }
    }
    buckets = aggs(body, index)["d"]["buckets"]
    expected_months = [(2024, m) for m in range(3, 12)]
    assert [b["key"] for b in buckets] == [
        int(datetime(y, m, 1, tzinfo=paris).timestamp() * 1000) for y, m in expected_months
    ]
    assert [b["doc_count"] for b in buckets] == [2, 1, 0, 0, 0, 0, 0, 0, 1]
    assert buckets[0]["key_as_string"] == "2024-03-01T00:00:00.000+01:00"
    assert buckets[1]["key_as_string"] == "2024-04-01T00:00:00.000+02:00"
    assert buckets[-1]["key_as_string"] == "2024-11-01T00:00:00.000+01:00"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {"calendar_interval": "week", "format": "yyyy-MM-dd"},  # weeks start on Monday
            [("2024-01-01", 2), ("2024-01-08", 0), ("2024-01-15", 1)],
        ),
        ({"calendar_interval": "quarter"}, [("2024-01-01T00:00:00.000Z", 3)]),
        ({"calendar_interval": "year", "format": "yyyy"}, [("2024", 3)]),
        (
            {"calendar_interval": "day", "time_zone": "-05:00", "format": "yyyy-MM-dd"},
            # local times: 01-01 22:00, 01-03 07:00, 01-17 07:00
            [("2024-01-01", 1), ("2024-01-02", 0), ("2024-01-03", 1)]
            + [(f"2024-01-{d:02d}", 0) for d in range(4, 17)]
            + [("2024-01-17", 1)],
        ),
        (
            {"fixed_interval": "7d", "offset": "+1d", "format": "yyyy-MM-dd"},
            [("2023-12-29", 2), ("2024-01-05", 0), ("2024-01-12", 1)],
        ),
    ],
)
def test_date_histogram_intervals(params, expected):
    index = SmallIndex(
        "logs",
        {"at": "date"},
        [
            {"at": "2024-01-02T03:00:00Z"},
            {"at": "2024-01-03T12:00:00Z"},
            {"at": "2024-01-17T12:00:00Z"},
        ],
    )
    buckets = aggs({"d": {"date_histogram": {"field": "at", **params}}}, index)["d"]["buckets"]
    assert [(b["key_as_string"], b["doc_count"]) for b in buckets][: len(expected)] == expected
    assert len(buckets) == len(expected)


def test_date_histogram_extended_bounds_and_min_doc_count():
    index = SmallIndex("logs", {"at": "date"}, [{"at": "2024-03-10T00:00:00Z"}])
    body = {
        "d": {
            "date_histogram": {
                "field": "at",
                "calendar_interval": "month",
                "format": "yyyy-MM",
                "extended_bounds": {"min": "2024-01", "max": "2024-04"},
            }
        }
    }
    buckets = aggs(body, index)["d"]["buckets"]
    assert [(b["key_as_string"], b["doc_count"]) for b in buckets] == [
        ("2024-01", 0),
        ("2024-02", 0),
        ("2024-03", 1),
        ("2024-04", 0),
    ]
    body["d"]["date_histogram"]["min_doc_count"] = 1
    assert [b["key_as_string"] for b in aggs(body, index)["d"]["buckets"]] == ["2024-03"]


# -- ranges ----------------------------------------------------------------------------------


def test_range_keys_and_counts_as_elasticsearch_prints_them():
    body = {
        "r": {
            "range": {
                "field": "price",
                "ranges": [{"from": 3, "to": 5}, {"to": 3}, {"from": 5, "key": "dear"}],
            }
        }
    }
    result = aggs(body, sales())
    assert result == {
        "r": {
            "buckets": [
                {"key": "*-3.0", "to": 3.0, "doc_count": 2},
                {"key": "3.0-5.0", "from": 3.0, "to": 5.0, "doc_count": 2},
                {"key": "dear", "from": 5.0, "doc_count": 1},
            ]
        }
    }


def test_range_keyed_with_sub_aggregation():
    body = {
        "r": {
            "range": {"field": "qty", "keyed": True, "ranges": [{"to": 3}, {"from": 3}]},
            "aggs": {"p": {"max": {"field": "price"}}},
        }
    }
    assert aggs(body, sales()) == {
        "r": {
            "buckets": {
                "*-3.0": {"to": 3.0, "doc_count": 2, "p": {"value": 4.0}},
                "3.0-*": {"from": 3.0, "doc_count": 3, "p": {"value": 10.0}},
            }
        }
    }


def test_date_range_with_date_math_against_now():
    # NOW is 2023-11-14T22:13:20Z: now-1d/d is 2023-11-13T00:00:00Z.
    index = SmallIndex(
        "logs",
        {"at": "date"},
        [
            {"at": "2023-11-12T10:00:00Z"},
            {"at": "2023-11-13T10:00:00Z"},
            {"at": "2023-11-14T10:00:00Z"},
        ],
    )
    body = {
        "r": {"date_range": {"field": "at", "ranges": [{"to": "now-1d/d"}, {"from": "now-1d/d"}]}}
    }
    start = ms("2023-11-13T00:00:00Z")
    assert aggs(body, index) == {
        "r": {
            "buckets": [
                {
                    "key": "*-2023-11-13T00:00:00.000Z",
                    "to": float(start),
                    "to_as_string": "2023-11-13T00:00:00.000Z",
                    "doc_count": 1,
                },
                {
                    "key": "2023-11-13T00:00:00.000Z-*",
                    "from": float(start),
                    "from_as_string": "2023-11-13T00:00:00.000Z",
                    "doc_count": 2,
                },
            ]
        }
    }


def test_date_range_format_and_time_zone():
    index = SmallIndex("logs", {"at": "date"}, [{"at": "2024-01-01T00:30:00Z"}])
    body = {
        "r": {
            "date_range": {
                "field": "at",
                "format": "yyyy-MM-dd",
                "time_zone": "+02:00",
                "ranges": [{"from": "2024-01-01", "to": "2024-01-02"}],
            }
        }
    }
    (bucket,) = aggs(body, index)["r"]["buckets"]
    # Local midnight at +02:00 is 22:00 the day before in UTC; the document falls in the range.
    assert bucket["from"] == float(ms("2023-12-31T22:00:00Z"))
    assert bucket["key"] == "2024-01-01-2024-01-02"
    assert bucket["doc_count"] == 1


# -- filter, filters, missing ----------------------------------------------------------------


def test_filter_counts_and_runs_sub_aggregations():
    body = {
        "f": {"filter": {"term": {"product": "apple"}}, "aggs": {"q": {"sum": {"field": "qty"}}}}
    }
    assert aggs(body, sales()) == {"f": {"doc_count": 3, "q": {"value": 9.0}}}


def test_filters_named_are_keyed_and_sorted_with_other_bucket():
    body = {
        "f": {
            "filters": {
                "filters": {
                    "pears": {"term": {"product": "pear"}},
                    "apples": {"term": {"product": "apple"}},
                },
                "other_bucket": True,
            }
        }
    }
    result = aggs(body, sales())
    assert result == {
        "f": {
            "buckets": {
                "apples": {"doc_count": 3},
                "pears": {"doc_count": 2},
                "_other_": {"doc_count": 1},
            }
        }
    }
    assert list(result["f"]["buckets"]) == ["apples", "pears", "_other_"]


def test_filters_anonymous_are_a_list():
    body = {
        "f": {
            "filters": {"filters": [{"term": {"paid": True}}, {"range": {"qty": {"gte": 5}}}]},
            "aggs": {"p": {"max": {"field": "price"}}},
        }
    }
    assert aggs(body, sales()) == {
        "f": {
            "buckets": [
                {"doc_count": 4, "p": {"value": 10.0}},
                {"doc_count": 2, "p": {"value": 10.0}},
            ]
        }
    }


def test_filters_unkeyed_named_carry_their_key_and_other_bucket_key():
    body = {
        "f": {
            "filters": {
                "filters": {"apples": {"term": {"product": "apple"}}},
                "keyed": False,
                "other_bucket_key": "rest",
            }
        }
    }
    assert aggs(body, sales()) == {
        "f": {"buckets": [{"key": "apples", "doc_count": 3}, {"key": "rest", "doc_count": 3}]}
    }


def test_missing_counts_documents_without_a_value():
    body = {"m": {"missing": {"field": "price"}, "aggs": {"t": {"terms": {"field": "product"}}}}}
    result = aggs(body, sales())
    assert result["m"]["doc_count"] == 1
    assert result["m"]["t"]["buckets"] == [{"key": "pear", "doc_count": 1}]


# -- composite -------------------------------------------------------------------------------


def test_composite_pages_with_after_until_exhausted():
    body: dict[str, Any] = {
        "c": {
            "composite": {
                "size": 2,
                "sources": [
                    {"product": {"terms": {"field": "product"}}},
                    {"paid": {"terms": {"field": "paid", "order": "desc"}}},
                ],
            },
            "aggs": {"q": {"sum": {"field": "qty"}}},
        }
    }
    pages = []
    for _ in range(5):
        result = aggs(body, sales())["c"]
        pages.append(result["buckets"])
        if "after_key" not in result:
            break
        body["c"]["composite"]["after"] = result["after_key"]
    assert pages == [
        [
            {"key": {"product": "apple", "paid": True}, "doc_count": 2, "q": {"value": 8.0}},
            {"key": {"product": "apple", "paid": False}, "doc_count": 1, "q": {"value": 1.0}},
        ],
        [
            {"key": {"product": "pear", "paid": True}, "doc_count": 1, "q": {"value": 2.0}},
            {"key": {"product": "plum", "paid": True}, "doc_count": 1, "q": {"value": 7.0}},
        ],
        [],
    ]


def test_composite_after_key_is_the_last_bucket_key():
    body = {"c": {"composite": {"size": 1, "sources": [{"p": {"terms": {"field": "product"}}}]}}}
    assert aggs(body, sales()) == {
        "c": {"after_key": {"p": "apple"}, "buckets": [{"key": {"p": "apple"}, "doc_count": 3}]}
    }


def test_composite_histogram_and_date_histogram_sources():
    body = {
        "c": {
            "composite": {
                "sources": [
                    {"month": {"date_histogram": {"field": "sold", "calendar_interval": "month"}}},
                    {"q": {"histogram": {"field": "qty", "interval": 5}}},
                ]
            }
        }
    }
    result = aggs(body, sales())["c"]
    assert [(b["key"]["month"], b["key"]["q"], b["doc_count"]) for b in result["buckets"]] == [
        (ms("2024-01-01"), 0.0, 2),
        (ms("2024-02-01"), 0.0, 1),
        (ms("2024-03-01"), 5.0, 2),
    ]


def test_composite_date_histogram_in_a_zone_with_format():
    body = {
        "c": {
            "composite": {
                "sources": [
                    {
                        "day": {
                            "date_histogram": {
                                "field": "sold",
                                "calendar_interval": "day",
                                "time_zone": "Europe/Paris",
                                "format": "yyyy-MM-dd",
                            }
                        }
                    }
                ]
            }
        }
    }
    keys = [b["key"]["day"] for b in aggs(body, sales())["c"]["buckets"]]
    # 2024-03-30T23:30Z is 03-31 00:30 in Paris (CET, +1); 03-31T00:30Z is 03-31 02:30 -> CEST.
    assert keys == ["2024-01-05", "2024-01-20", "2024-02-03", "2024-03-31"]


# -- top hits --------------------------------------------------------------------------------


def test_top_hits_sorted_by_a_field_with_source_filtering():
    body = {
        "t": {
            "terms": {"field": "product", "size": 1},
            "aggs": {
                "best": {
                    "top_hits": {
                        "size": 2,
                        "sort": [{"price": {"order": "desc"}}],
                        "_source": ["price"],
                    }
                }
            },
        }
    }
    best = aggs(body, sales())["t"]["buckets"][0]["best"]
    assert best == {
        "hits": {
            "total": {"value": 3, "relation": "eq"},
            "max_score": None,
            "hits": [
                {
                    "_index": "sales",
                    "_id": "sales-4",
                    "_score": None,
                    "_source": {"price": 3.0},
                    "sort": [3.0],
                },
                {
                    "_index": "sales",
                    "_id": "sales-1",
                    "_score": None,
                    "_source": {"price": 2.5},
                    "sort": [2.5],
                },
            ],
        }
    }


def test_top_hits_by_score_with_from():
    result = aggs({"t": {"top_hits": {"size": 1, "from": 1, "_source": False}}}, sales())
    hits = result["t"]["hits"]
    assert hits["total"] == {"value": 6, "relation": "eq"}
    assert hits["max_score"] == 1.0
    assert len(hits["hits"]) == 1
    (hit,) = hits["hits"]
    assert set(hit) == {"_index", "_id", "_score"}
    assert hit["_score"] == 1.0


# -- several indices -------------------------------------------------------------------------


def test_several_indices_merge_exactly():
    first = sales("a", SALES_ROWS[:3])
    second = sales("b", SALES_ROWS[3:])
    both = sales("all")
    body = {
        "t": {"terms": {"field": "product"}, "aggs": {"avg": {"avg": {"field": "price"}}}},
        "s": {"extended_stats": {"field": "qty"}},
        "h": {"histogram": {"field": "qty", "interval": 2}},
        "d": {"date_histogram": {"field": "sold", "calendar_interval": "month"}},
        "r": {"range": {"field": "price", "ranges": [{"to": 3}, {"from": 3}]}},
        "c": {"value_count": {"field": "qty"}},
        "u": {"cardinality": {"field": "product"}},
        "p": {"percentiles": {"field": "price", "percents": [50]}},
        "m": {"missing": {"field": "qty"}},
    }
    assert aggs(body, first, second) == aggs(body, both)


def test_several_indices_terms_counts_sum_across_indices():
    first = SmallIndex("a", {"k": "keyword"}, [{"k": "x"}, {"k": "y"}, {"k": "y"}])
    second = SmallIndex("b", {"k": "keyword"}, [{"k": "x"}, {"k": "x"}, {"k": "z"}])
    result = aggs({"t": {"terms": {"field": "k", "size": 2}}}, first, second)
    assert result == {
        "t": {
            "doc_count_error_upper_bound": 0,
            "sum_other_doc_count": 1,
            "buckets": [{"key": "x", "doc_count": 3}, {"key": "y", "doc_count": 2}],
        }
    }


def test_a_field_mapped_in_one_index_only():
    first = SmallIndex("a", {"k": "keyword"}, [{"k": "x"}])
    second = SmallIndex("b", {"n": "long"}, [{"n": 1}])
    result = aggs({"t": {"terms": {"field": "k"}}, "m": {"missing": {"field": "k"}}}, first, second)
    assert result["t"]["buckets"] == [{"key": "x", "doc_count": 1}]
    assert result["m"] == {"doc_count": 1}


def test_top_hits_across_indices_name_their_index():
    first = SmallIndex("a", {"n": "long"}, [{"_id": "1", "n": 5}])
    second = SmallIndex("b", {"n": "long"}, [{"_id": "2", "n": 9}])
    result = aggs({"t": {"top_hits": {"sort": [{"n": "desc"}], "size": 5}}}, first, second)
    assert [(h["_index"], h["_id"], h["sort"]) for h in result["t"]["hits"]["hits"]] == [
        ("b", "2", [9]),
        ("a", "1", [5]),
    ]
    assert result["t"]["hits"]["total"] == {"value": 2, "relation": "eq"}


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "kind", "reason"),
    [
        (
            {"a": {"termz": {"field": "x"}}},
            "parsing_exception",
            "Unknown aggregation type [termz] did you mean [terms]?",
        ),
        ({"a": {"foo": {}}}, "parsing_exception", "Unknown aggregation type [foo]"),
        (
            {"a": {"terms": {"field": "x", "sizee": 1}}},
            "x_content_parse_exception",
            "[terms] unknown field [sizee]",
        ),
        (
            {"a": {"terms": {"script": "doc.x"}}},
            "illegal_argument_exception",
            "scripts are not supported",
        ),
        (
            {"a": {"avg": {"field": "x"}, "aggs": {"b": {"max": {"field": "y"}}}}},
            "aggregation_initialization_exception",
            "Aggregator [a] of type [avg] cannot accept sub-aggregations",
        ),
        (
            {"a": {"terms": {"field": "x"}, "avg": {"field": "x"}}},
            "parsing_exception",
            "Found two aggregation type definitions in [a]: [terms] and [avg]",
        ),
        ({"a": {}}, "parsing_exception", "Missing definition for aggregation [a]"),
        ({"a>b": {"avg": {"field": "x"}}}, "parsing_exception", "Invalid aggregation name [a>b]"),
        (
            {"a": {"significant_terms": {"field": "x"}}},
            "illegal_argument_exception",
            "which this node does not support",
        ),
        (
            {"a": {"terms": {}}},
            "illegal_argument_exception",
            "Required one of fields [field, script]",
        ),
    ],
)
def test_parse_errors_are_elasticsearch_400s(body, kind, reason):
    with pytest.raises(EsError) as caught:
        parse_aggregations(body)
    assert caught.value.status == 400
    assert caught.value.type == kind
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            {"a": {"avg": {"field": "product"}}},
            "Field [product] of type [keyword] is not supported for aggregation [avg]",
        ),
        (
            {"a": {"date_histogram": {"field": "sold", "calendar_interval": "2d"}}},
            "The supplied interval [2d] could not be parsed as a calendar interval.",
        ),
        (
            {"a": {"date_histogram": {"field": "sold", "fixed_interval": "1M"}}},
            "failed to parse setting [date_histogram.fixedInterval] with value [1M]",
        ),
        ({"a": {"date_histogram": {"field": "sold"}}}, "Invalid interval specified"),
        (
            {"a": {"terms": {"field": "product", "order": {"nope": "asc"}}}},
            "Invalid aggregator order path [nope]",
        ),
        ({"a": {"histogram": {"field": "qty", "interval": 0}}}, "[interval] must be >0"),
        (
            {
                "a": {
                    "date_histogram": {
                        "field": "sold",
                        "fixed_interval": "1d",
                        "time_zone": "Mars/Base",
                    }
                }
            },
            "unknown time zone [Mars/Base]",
        ),
        ({"a": {"missing": {"field": "note"}}}, "Fielddata is disabled on [note] in [sales]"),
        (
            {"a": {"top_hits": {"sort": [{"note": "asc"}]}}},
            "Fielddata is disabled on [note] in [sales]",
        ),
    ],
)
def test_run_errors_are_elasticsearch_400s(body, reason):
    error = error_of(body, sales())
    assert error.status == 400
    assert reason in error.reason


def test_too_many_buckets_is_refused():
    index = SmallIndex(
        "logs", {"at": "date"}, [{"at": "2000-01-01T00:00:00Z"}, {"at": "2024-01-01T00:00:00Z"}]
    )
    error = error_of(
        {"d": {"date_histogram": {"field": "at", "calendar_interval": "minute"}}}, index
    )
    assert error.type == "too_many_buckets_exception"
    assert error.status == 400


def test_extended_stats_of_one_value_has_nan_sampling_figures():
    index = SmallIndex("one", {"n": "long"}, [{"n": 4}])
    result = aggs({"e": {"extended_stats": {"field": "n"}}}, index)["e"]
    assert (result["variance"], result["variance_sampling"]) == (0.0, "NaN")
    assert result["std_deviation_bounds"]["upper_sampling"] == "NaN"
    assert result["std_deviation_bounds"]["upper"] == 4.0


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (100, "100.0"),
        (2.5, "2.5"),
        (1.5778368e12, "1.5778368E12"),
        (1e7, "1.0E7"),
        (1e-4, "1.0E-4"),
    ],
)
def test_range_keys_print_numbers_as_java_does(value, text):
    index = SmallIndex("n", {"n": "double"}, [])
    result = aggs({"r": {"range": {"field": "n", "ranges": [{"from": value}]}}}, index)
    assert result["r"]["buckets"][0]["key"] == f"{text}-*"


def test_percentiles_beyond_the_exact_limit_use_tantivys_sketch():
    # 12,000 distinct values (more than the 10,000 kept exactly) over two indices.
    first = SmallIndex("a", {"n": "long"}, [{"n": v} for v in range(1, 6001)])
    second = SmallIndex("b", {"n": "long"}, [{"n": v} for v in range(6001, 12001)])
    body = {"p": {"percentiles": {"field": "n", "percents": [50]}}}
    (median,) = aggs(body, first, second)["p"]["values"].values()
    # Sketch estimates (about 1% relative error each), averaged by value count: near 6000.5.
    assert median == pytest.approx(6000.5, rel=0.05)
