"""The pure parts of search: the query DSL, query strings, dates, `_source`, sort, targets."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from citadel.node.engine.analysis import analyze
from citadel.node.engine.fields import SlotKind
from citadel.node.errors import EsError, IndexNotFound
from citadel.node.search.date_math import resolve_date
from citadel.node.search.dsl import (
    Bool,
    ConstantScore,
    DisMax,
    Exists,
    FieldBoost,
    Ids,
    Match,
    MatchAll,
    MatchNone,
    MatchPhrase,
    MultiMatch,
    MultiMatchType,
    Operator,
    Prefix,
    Range,
    Term,
    Terms,
    Wildcard,
    parse_query,
    resolve_minimum_should_match,
)
from citadel.node.search.query_string import parse_query_string
from citadel.node.search.request import (
    EXACT,
    IndexOptions,
    parse_count,
    parse_index_options,
    parse_search,
)
from citadel.node.search.sort import SortKey, parse_sort, parse_sort_param
from citadel.node.store.indices import Targets
from citadel.node.store.indices import resolve_targets as resolve
from citadel.node.store.source import SourceFilter, parse_source, parse_source_params

NOW = datetime(2024, 3, 15, 13, 45, 30, tzinfo=UTC)


def millis(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


# -- parse_query --------------------------------------------------------------------------

PARSED = [
    ({"match_all": {}}, MatchAll()),
    ({"match_all": {"boost": 2}}, MatchAll(2.0)),
    ({"match_none": {}}, MatchNone()),
    ({"match": {"title": "quick fox"}}, Match("title", "quick fox")),
    (
        {"match": {"title": {"query": "a b", "operator": "AND", "minimum_should_match": "75%"}}},
        Match("title", "a b", Operator.AND, "75%"),
    ),
    ({"match": {"year": 2001}}, Match("year", 2001)),
    (
        {"match": {"title": {"query": "x", "fuzziness": "AUTO", "zero_terms_query": "all"}}},
        Match("title", "x", zero_terms_all=True, fuzziness="AUTO"),
    ),
    ({"match_phrase": {"title": "a b"}}, MatchPhrase("title", "a b")),
    (
        {"match_phrase_prefix": {"title": {"query": "a b", "slop": 2}}},
        MatchPhrase("title", "a b", slop=2, prefix=True),
    ),
    (
        {"multi_match": {"query": "x", "fields": ["title^2", "tags"], "type": "most_fields"}},
        MultiMatch("x", (FieldBoost("title", 2.0), FieldBoost("tags")), MultiMatchType.MOST_FIELDS),
    ),
    ({"multi_match": {"query": "x", "fields": "*"}}, MultiMatch("x")),
    ({"multi_match": {"query": "x"}}, MultiMatch("x")),
    ({"term": {"tags": "a"}}, Term("tags", "a")),
    (
        {"term": {"tags": {"value": "A", "boost": 2, "case_insensitive": True}}},
        Term("tags", "A", 2.0, True),
    ),
    ({"term": {"in_stock": False}}, Term("in_stock", False)),
    ({"terms": {"tags": ["a", "b"], "boost": 3}}, Terms("tags", ("a", "b"), 3.0)),
    ({"range": {"year": {"gte": 1, "lt": 5}}}, Range("year", gte=1, lt=5)),
    (
        {"range": {"d": {"from": "a", "to": "b", "include_upper": False}}},
        Range("d", gte="a", lt="b"),
    ),
    (
        {"range": {"d": {"gt": "now-1d/d", "format": "yyyy", "time_zone": "+01:00"}}},
        Range("d", gt="now-1d/d", format="yyyy", time_zone="+01:00"),
    ),
    ({"exists": {"field": "f"}}, Exists("f")),
    ({"prefix": {"tags": "co"}}, Prefix("tags", "co")),
    (
        {"prefix": {"tags": {"value": "co", "case_insensitive": True}}},
        Prefix("tags", "co", 1.0, True),
    ),
    ({"wildcard": {"tags": {"wildcard": "c*"}}}, Wildcard("tags", "c*")),
    ({"ids": {"values": ["1", 2]}}, Ids(("1", "2"))),
    (
        {"bool": {"must": {"match_all": {}}, "should": [{"term": {"a": 1}}], "boost": 2}},
        Bool(must=(MatchAll(),), should=(Term("a", 1),), boost=2.0),
    ),
    (
        {"bool": {"filter": [{"term": {"a": 1}}], "must_not": {"exists": {"field": "b"}}}},
        Bool(filter=(Term("a", 1),), must_not=(Exists("b"),)),
    ),
    (
        {"bool": {"should": [{"term": {"a": 1}}], "minimum_should_match": 1}},
        Bool(should=(Term("a", 1),), minimum_should_match="1"),
    ),
    ({"constant_score": {"filter": {"term": {"a": 1}}}}, ConstantScore(Term("a", 1))),
    (
        {"dis_max": {"queries": [{"term": {"a": 1}}], "tie_breaker": 0.3}},
        DisMax((Term("a", 1),), 0.3),
    ),
    ({"query_string": {"query": "a:b"}}, Match("a", "b", lenient=True)),
]


@pytest.mark.parametrize(("body", "expected"), PARSED)
def test_parse_query(body, expected):
    assert parse_query(body) == expected


PARSE_ERRORS = [
    ({"nope": {}}, "parsing_exception", "unknown query [nope]"),
    ("match_all", "parsing_exception", "[_na] query malformed, must start with start_object"),
    ({}, "parsing_exception", "query malformed, empty clause found"),
    ({"match": "x"}, "parsing_exception", None),
    ({"match": {"a": ["x"]}}, "parsing_exception", "[match] unknown token [START_ARRAY] after [a]"),
    ({"match": {"a": None}}, "parsing_exception", "[match] unknown token [VALUE_NULL] after [a]"),
    ({"match": {}}, "parsing_exception", "[match] query requires a field"),
    ({"match": {"a": {"query": "x", "operator": "xor"}}}, "illegal_argument_exception", None),
    ({"match": {"a": {"query": "x", "boost": "high"}}}, "x_content_parse_exception", None),
    ({"match": {"a": {"query": "x", "boost": -1}}}, "illegal_argument_exception", None),
    ({"match": {"a": {"query": "x", "lenient": "maybe"}}}, "x_content_parse_exception", None),
    ({"multi_match": {"fields": ["a"]}}, "parsing_exception", None),
    ({"multi_match": {"query": "x", "type": "fastest"}}, "parsing_exception", None),
    ({"multi_match": {"query": "x", "fields": [1]}}, "x_content_parse_exception", None),
    ({"term": {"a": {"boost": 1}}}, "illegal_argument_exception", None),
    (
        {"term": {"a": {"value": 1, "x": 2}}},
        "parsing_exception",
        "[term] query does not support [x]",
    ),
    ({"terms": {"a": {"index": "i", "id": "1", "path": "p"}}}, "parsing_exception", None),
    ({"terms": {"a": [1], "b": [2]}}, "parsing_exception", None),
    ({"terms": {"a": [{"x": 1}]}}, "parsing_exception", None),
    ({"range": {"a": 5}}, "parsing_exception", None),
    ({"range": {"a": {"gte": 1, "below": 2}}}, "parsing_exception", None),
    ({"range": {"a": {"gte": 1, "relation": "overlaps"}}}, "parsing_exception", None),
    ({"exists": {}}, "illegal_argument_exception", "[exists] must be provided with a [field]"),
    ({"exists": {"field": 3}}, "x_content_parse_exception", None),
    ({"bool": {"must": "x"}}, "parsing_exception", None),
    ({"bool": {"must": [{"nope": {}}]}}, "parsing_exception", "unknown query [nope]"),
    ({"bool": {"should": [], "minimum_should_match": True}}, "x_content_parse_exception", None),
    ({"constant_score": {}}, "parsing_exception", None),
    ({"dis_max": {}}, "parsing_exception", None),
    ({"ids": {"values": "1"}}, "x_content_parse_exception", None),
    ({"match_phrase": {"a": {"query": "x", "slop": -1}}}, "illegal_argument_exception", None),
    ({"query_string": {"query": "title:(fox"}}, "query_shard_exception", None),
]


@pytest.mark.parametrize(("body", "kind", "reason"), PARSE_ERRORS)
def test_parse_errors_are_elasticsearch_400s(body, kind, reason):
    with pytest.raises(EsError) as caught:
        parse_query(body)
    assert caught.value.status == 400
    assert caught.value.type == kind
    if reason is not None:
        assert caught.value.reason == reason


def test_bool_nesting_is_parsed_recursively():
    inner = {"bool": {"must": [{"term": {"a": 1}}]}}
    assert parse_query({"bool": {"filter": [inner]}}) == Bool(filter=(Bool(must=(Term("a", 1),)),))


# -- minimum_should_match ----------------------------------------------------------------

MSM = [
    ("2", 4, 2),
    (3, 2, 3),
    ("-1", 4, 3),
    ("-5", 4, 0),
    ("75%", 4, 3),
    ("75%", 3, 2),
    ("-25%", 4, 3),
    ("-25%", 3, 3),
    ("100%", 5, 5),
    ("3<90%", 3, 3),
    ("3<90%", 10, 9),
    ("2<-25% 9<-3", 2, 2),
    ("2<-25% 9<-3", 8, 6),
    ("2<-25% 9<-3", 12, 9),
]


@pytest.mark.parametrize(("spec", "clauses", "expected"), MSM)
def test_minimum_should_match(spec, clauses, expected):
    assert resolve_minimum_should_match(spec, clauses) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (Bool(should=(MatchAll(), MatchAll())), 1),
        (Bool(must=(MatchAll(),), should=(MatchAll(),)), 0),
        (Bool(filter=(MatchAll(),), should=(MatchAll(),)), 0),
        (Bool(should=(MatchAll(), MatchAll()), minimum_should_match="-1"), 1),
        (Bool(must=(MatchAll(),), minimum_should_match="1"), 0),
    ],
)
def test_bool_required_shoulds(query, expected):
    assert query.required_shoulds() == expected


# -- query strings ------------------------------------------------------------------------

ANY = "*"
QUERY_STRINGS = [
    ("fox", Match(ANY, "fox", lenient=True)),
    ("title:fox", Match("title", "fox", lenient=True)),
    (
        "fox bread",
        Bool(should=(Match(ANY, "fox", lenient=True), Match(ANY, "bread", lenient=True))),
    ),
    (
        "fox AND bread",
        Bool(must=(Match(ANY, "fox", lenient=True), Match(ANY, "bread", lenient=True))),
    ),
    (
        "fox && bread",
        Bool(must=(Match(ANY, "fox", lenient=True), Match(ANY, "bread", lenient=True))),
    ),
    (
        "fox OR bread",
        Bool(should=(Match(ANY, "fox", lenient=True), Match(ANY, "bread", lenient=True))),
    ),
    (
        "+fox -bread dog",
        Bool(
            must=(Match(ANY, "fox", lenient=True),),
            should=(Match(ANY, "dog", lenient=True),),
            must_not=(Match(ANY, "bread", lenient=True),),
        ),
    ),
    ("NOT fox", Bool(must_not=(Match(ANY, "fox", lenient=True),))),
    ("!fox", Bool(must_not=(Match(ANY, "fox", lenient=True),))),
    ('title:"quick fox"~2', MatchPhrase("title", "quick fox", slop=2)),
    ("title:qu*", Prefix("title", "qu", case_insensitive=True)),
    ("tags:c*k?ng", Wildcard("tags", "c*k?ng", case_insensitive=True)),
    ("tags:a\\*b", Match("tags", "a*b", lenient=True)),
    ("*", MatchAll()),
    ("*:*", MatchAll()),
    ("author:*", Exists("author")),
    ("year:[2000 TO 2010]", Range("year", gte="2000", lte="2010")),
    ("year:{2000 TO *]", Range("year", gt="2000")),
    ("year:>=2000", Range("year", gte="2000")),
    ("year:<2000", Range("year", lt="2000")),
    ("title:fox^2", Match("title", "fox", boost=2.0, lenient=True)),
    (
        "tags:(a OR b)",
        Bool(should=(Match("tags", "a", lenient=True), Match("tags", "b", lenient=True))),
    ),
    ("fox~1", Match(ANY, "fox", lenient=True)),
    ("", MatchNone()),
]


@pytest.mark.parametrize(("text", "expected"), QUERY_STRINGS)
def test_query_string(text, expected):
    assert parse_query_string(text) == expected


def test_query_string_default_operator_and():
    parsed = parse_query_string("fox bread OR dog", default_operator=Operator.AND)
    # Lucene: "bread OR dog" makes both optional, "fox" stays required
    assert parsed == Bool(
        must=(Match(ANY, "fox", lenient=True),),
        should=(Match(ANY, "bread", lenient=True), Match(ANY, "dog", lenient=True)),
    )


def test_query_string_default_fields_with_boosts():
    parsed = parse_query_string("fox", fields=(FieldBoost("title", 2.0), FieldBoost("tags")))
    assert parsed == DisMax(
        (Match("title", "fox", boost=2.0, lenient=True), Match("tags", "fox", lenient=True))
    )


@pytest.mark.parametrize("text", ["title:(fox", '"open', "year:[1 TO", "a:", "fox^", "(a))"])
def test_query_string_errors_are_400s(text):
    with pytest.raises(EsError) as caught:
        parse_query_string(text)
    assert caught.value.status == 400


def test_simple_query_string_operators_and_leniency():
    assert parse_query_string("fox | bread", simple=True) == Bool(
        should=(Match(ANY, "fox", lenient=True), Match(ANY, "bread", lenient=True))
    )
    assert parse_query_string("+fox -bread", simple=True) == Bool(
        must=(Match(ANY, "fox", lenient=True),), must_not=(Match(ANY, "bread", lenient=True),)
    )
    assert parse_query_string('"unclosed', simple=True) == Match(ANY, '"unclosed', lenient=True)


# -- analyzers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "text", "tokens"),
    [
        (
            SlotKind.TEXT_STANDARD,
            "Hello, wörld! it's 2024-01",
            ["hello", "wörld", "it", "s", "2024", "01"],
        ),
        (SlotKind.TEXT_ENGLISH, "The runners were running", ["runner", "were", "run"]),
        (SlotKind.TEXT_WHITESPACE, "Keep CASE, and-punct", ["Keep", "CASE,", "and-punct"]),
        (SlotKind.TEXT_SIMPLE, "R2-D2 beeps", ["r", "d", "beeps"]),
        (SlotKind.KEYWORD, "As Is", ["As Is"]),
    ],
)
def test_each_slot_kind_analyzes_query_text_like_its_index(kind, text, tokens):
    assert analyze(kind, text) == tokens


# -- dates --------------------------------------------------------------------------------

DATES = [
    ("2020-05-17", False, "2020-05-17T00:00:00"),
    ("2020-05-17", True, "2020-05-17T23:59:59.999"),
    ("2020-05", True, "2020-05-31T23:59:59.999"),
    ("2020", True, "2020-12-31T23:59:59.999"),
    ("2020-05-17T10:20", True, "2020-05-17T10:20:59.999"),
    ("2020-05-17T10:20:30.500", True, "2020-05-17T10:20:30.500"),
    ("2020-05-17T10:20:30+02:00", False, "2020-05-17T08:20:30"),
    ("now", False, "2024-03-15T13:45:30"),
    ("now-1d", False, "2024-03-14T13:45:30"),
    ("now-1d/d", False, "2024-03-14T00:00:00"),
    ("now-1d/d", True, "2024-03-14T23:59:59.999"),
    ("now+2h", False, "2024-03-15T15:45:30"),
    ("now-30m", False, "2024-03-15T13:15:30"),
    ("now-10s", False, "2024-03-15T13:45:20"),
    ("now/M", False, "2024-03-01T00:00:00"),
    ("now-1M", False, "2024-02-15T13:45:30"),
    ("now-1y/y", False, "2023-01-01T00:00:00"),
    ("now/w", False, "2024-03-11T00:00:00"),
    ("2024-01-31||+1M", False, "2024-02-29T00:00:00"),
    ("2024-01-31||+1M/M", True, "2024-02-29T23:59:59.999"),
]


@pytest.mark.parametrize(("value", "round_up", "expected"), DATES)
def test_date_math(value, round_up, expected):
    assert resolve_date(value, now=NOW, round_up=round_up) == millis(expected)


def test_dates_as_epoch_millis_and_formats():
    assert resolve_date(1577836800000, now=NOW) == millis("2020-01-01T00:00:00")
    assert resolve_date("1577836800000", now=NOW) == millis("2020-01-01T00:00:00")
    assert resolve_date("17/05/2020", now=NOW, formats="dd/MM/yyyy") == millis("2020-05-17")
    assert resolve_date(1589673600, now=NOW, formats="epoch_second") == millis("2020-05-17")


def test_time_zone_applies_to_dates_without_one_and_to_rounding():
    assert resolve_date("2020-05-17T10:00", now=NOW, time_zone="+02:00") == millis(
        "2020-05-17T08:00"
    )
    assert resolve_date("2020-05-17T10:00Z", now=NOW, time_zone="+02:00") == millis(
        "2020-05-17T10:00"
    )
    assert resolve_date("now/d", now=NOW, time_zone="Europe/Paris") == millis("2024-03-14T23:00")


@pytest.mark.parametrize(
    ("value", "options"),
    [
        ("yesterday", {}),
        ("now-1q", {}),
        ("2020-13-01", {}),
        (True, {}),
        ("now", {"time_zone": "Mars/Base"}),
    ],
)
def test_bad_dates_are_400s(value, options):
    with pytest.raises(EsError) as caught:
        resolve_date(value, now=NOW, **options)
    assert caught.value.status == 400


# -- _source ------------------------------------------------------------------------------

SOURCE = {
    "title": "t",
    "author": {"name": "n", "age": 3, "address": {"city": "c"}},
    "tags": ["a", "b"],
    "chapters": [{"title": "one", "pages": 10}, {"title": "two", "pages": 20}],
}
SOURCE_FILTERS = [
    (SourceFilter(), SOURCE),
    (SourceFilter(includes=("title",)), {"title": "t"}),
    (SourceFilter(includes=("author",)), {"author": SOURCE["author"]}),
    (SourceFilter(includes=("author.name",)), {"author": {"name": "n"}}),
    (SourceFilter(includes=("author.*",)), {"author": SOURCE["author"]}),
    (SourceFilter(includes=("*.city",)), {"author": {"address": {"city": "c"}}}),
    (
        SourceFilter(includes=("chapters.title",)),
        {"chapters": [{"title": "one"}, {"title": "two"}]},
    ),
    (SourceFilter(includes=("t*",)), {"title": "t", "tags": ["a", "b"]}),
    (SourceFilter(includes=("nope",)), {}),
    (
        SourceFilter(excludes=("author.address", "chapters.pages", "tags")),
        {
            "title": "t",
            "author": {"name": "n", "age": 3},
            "chapters": [{"title": "one"}, {"title": "two"}],
        },
    ),
    (SourceFilter(includes=("author",), excludes=("author.a*",)), {"author": {"name": "n"}}),
    (SourceFilter(excludes=("*",)), {}),
]


@pytest.mark.parametrize(("spec", "expected"), SOURCE_FILTERS)
def test_source_filter(spec, expected):
    assert spec.apply(SOURCE) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, SourceFilter()),
        (False, SourceFilter(fetch=False)),
        ("a", SourceFilter(includes=("a",))),
        (["a", "b*"], SourceFilter(includes=("a", "b*"))),
        ({"includes": "a", "excludes": ["b"]}, SourceFilter(includes=("a",), excludes=("b",))),
        ({"include": ["a"], "exclude": "b"}, SourceFilter(includes=("a",), excludes=("b",))),
    ],
)
def test_parse_source(value, expected):
    assert parse_source(value) == expected


@pytest.mark.parametrize("value", [3, None, {"only": ["a"]}, {"includes": [1]}, [["a"]]])
def test_parse_source_errors(value):
    with pytest.raises(EsError) as caught:
        parse_source(value)
    assert caught.value.status == 400


def test_source_parameters():
    assert parse_source_params({}) is None
    assert parse_source_params({"_source": "false"}) == SourceFilter(fetch=False)
    assert parse_source_params({"_source": "true"}) == SourceFilter()
    assert parse_source_params({"_source": "a,b", "_source_excludes": "c"}) == SourceFilter(
        includes=("a", "b"), excludes=("c",)
    )


# -- sort ---------------------------------------------------------------------------------


def test_parse_sort_forms():
    assert parse_sort(
        [
            "year",
            {"price": "desc"},
            "_score",
            {"d": {"order": "asc", "missing": "_first", "mode": "max"}},
        ]
    ) == (
        SortKey("year"),
        SortKey("price", descending=True),
        SortKey("_score", descending=True),
        SortKey("d", missing="_first", mode="max"),
    )
    assert parse_sort({"year": "asc"}) == (SortKey("year"),)
    assert parse_sort_param("year:desc,title.raw") == (
        SortKey("year", descending=True),
        SortKey("title.raw"),
    )


@pytest.mark.parametrize(
    "value",
    [
        [{"a": "up"}],
        [{"a": {"order": "asc", "nested": {}}}],
        [{"a": "asc", "b": "asc"}],
        [3],
        [{"a": {"mode": "median"}}],
    ],
)
def test_parse_sort_errors(value):
    with pytest.raises(EsError) as caught:
        parse_sort(value)
    assert caught.value.status == 400


# -- index expressions --------------------------------------------------------------------

EXISTING = ["books", "logs-1", "logs-2", "metrics", ".security"]


def readable(name: str) -> bool:
    return name.startswith("logs-") or name == "metrics"


TARGETS = [
    (None, Targets(("logs-1", "logs-2", "metrics"))),
    ("_all", Targets(("logs-1", "logs-2", "metrics"))),
    ("*", Targets(("logs-1", "logs-2", "metrics"))),
    ("logs-*", Targets(("logs-1", "logs-2"))),
    ("logs-*,-logs-1", Targets(("logs-2",))),
    ("metrics,logs-2", Targets(("metrics", "logs-2"))),
    ("b*", Targets(())),
    ("books", Targets((), ("books",))),
    ("logs-1,books,nope-but-denied", Targets((), ("books", "nope-but-denied"))),
    (".sec*", Targets(())),
]


@pytest.mark.parametrize(("expression", "expected"), TARGETS)
def test_resolve_targets(expression, expected):
    assert resolve(expression, EXISTING, readable) == expected


def test_hidden_indices_need_a_dotted_pattern():
    assert resolve("*", EXISTING, lambda name: True).names == (
        "books",
        "logs-1",
        "logs-2",
        "metrics",
    )
    assert resolve(".s*", EXISTING, lambda name: True).names == (".security",)
    assert ".security" in resolve("*", EXISTING, lambda name: True, expand_hidden=True).names


def test_index_options():
    assert parse_index_options({}) == IndexOptions()
    options = {"ignore_unavailable": "true", "allow_no_indices": "false", "expand_wildcards": "all"}
    assert parse_index_options(options) == IndexOptions(True, False, True)
    with pytest.raises(EsError):
        parse_index_options({"expand_wildcards": "sideways"})


def test_missing_explicit_index_is_404_unless_ignored():
    with pytest.raises(IndexNotFound):
        resolve("logs-9", EXISTING, readable)
    assert resolve("logs-9,logs-1", EXISTING, readable, ignore_unavailable=True) == Targets(
        ("logs-1",)
    )
    assert resolve("books", EXISTING, readable, ignore_unavailable=True) == Targets(())


def test_empty_wildcard_is_404_when_no_indices_are_not_allowed():
    with pytest.raises(IndexNotFound):
        resolve("zzz*", EXISTING, readable, allow_no_indices=False)


# -- requests -----------------------------------------------------------------------------


def test_search_request_defaults():
    request = parse_search(None, {}, path="/_search")
    assert (request.query, request.from_, request.size, request.track_total_hits) == (
        MatchAll(),
        0,
        10,
        10_000,
    )


def test_url_parameters_win_over_the_body():
    body = {"query": {"match_all": {}}, "size": 5, "from": 2, "sort": ["a"], "_source": False}
    request = parse_search(
        body, {"size": "3", "from": "1", "sort": "b:desc", "_source": "x", "q": "t:v"}, path="/"
    )
    assert request.size == 3
    assert request.from_ == 1
    assert request.sort == (SortKey("b", descending=True),)
    assert request.source == SourceFilter(includes=("x",))
    assert request.query == Match("t", "v", lenient=True)


@pytest.mark.parametrize(
    ("value", "expected"), [(True, EXACT), (False, None), (50, 50), (-1, EXACT), ("true", None)]
)
def test_track_total_hits_values(value, expected):
    if isinstance(value, str):
        with pytest.raises(EsError):
            parse_search({"track_total_hits": value}, {}, path="/")
        return
    assert parse_search({"track_total_hits": value}, {}, path="/").track_total_hits == expected


@pytest.mark.parametrize(
    ("body", "params"),
    [
        ({"size": -1}, {}),
        ({"from": -1}, {}),
        ({"from": 9_000, "size": 1_001}, {}),
        ({}, {"size": "ten"}),
        ({}, {"scroll": "forever"}),
        ({}, {"nope": "1"}),
        ({"highlight": {}}, {}),
        ({"track_total_hits": -2}, {}),
        ({"min_score": "high"}, {}),
        ({"version": "yes"}, {}),
        ([], {}),
    ],
)
def test_search_request_errors(body: Any, params: dict[str, str]):
    with pytest.raises(EsError) as caught:
        parse_search(body, params, path="/_search")
    assert caught.value.status == 400


def test_count_request():
    assert parse_count(None, {}, path="/_count") == (MatchAll(), None)
    assert parse_count({"query": {"term": {"a": 1}}}, {"min_score": "2"}, path="/_count") == (
        Term("a", 1),
        2.0,
    )
    with pytest.raises(EsError):
        parse_count({"sort": ["a"]}, {}, path="/_count")
    with pytest.raises(EsError):
        parse_count(None, {"size": "1"}, path="/_count")
