"""The query DSL subset the ``_security/_query/*`` APIs accept, evaluated over the realm's
rows in Python (users, roles and API keys are few). Pure: no I/O; "now" is a parameter.

Each API has a `Catalog` of the field names Elasticsearch lets it query, with the field's
type in Elasticsearch's security index: ``keyword`` (exact), ``text`` (standard-analyzer-like
tokens, lowercased), ``boolean``, ``date`` (epoch milliseconds) and ``flattened`` (``metadata``
and ``metadata.<path>``: every leaf value as a keyword). Query types: ``bool``, ``match_all``,
``ids``, ``term``, ``terms``, ``prefix``, ``wildcard``, ``range``, ``exists``, ``match`` and
``simple_query_string``; any other known query type is refused as Elasticsearch refuses it
("not currently supported in this context"), an unknown one is a ``parsing_exception``.

Results without ``sort`` come in the catalog's natural order (creation for API keys, name for
users and roles); there is no relevance ordering. Sort values (``_sort``) are what
Elasticsearch returns without a sort ``format``: strings, epoch milliseconds, 1/0 for
booleans, and Long.MAX/MIN for a missing date under ``_last``.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from citadel.node.errors import IllegalArgument, ParsingError, XContentParseError
from citadel.node.security.errors import ValidationFailed

MAX_WINDOW = 10_000
DEFAULT_SIZE = 10
LONG_MAX = 2**63 - 1
LONG_MIN = -(2**63)

_KNOWN_QUERIES = frozenset(
    {
        "boosting",
        "combined_fields",
        "constant_score",
        "dis_max",
        "distance_feature",
        "function_score",
        "fuzzy",
        "geo_bounding_box",
        "geo_distance",
        "geo_shape",
        "has_child",
        "has_parent",
        "intervals",
        "knn",
        "match_bool_prefix",
        "match_none",
        "match_phrase",
        "match_phrase_prefix",
        "more_like_this",
        "multi_match",
        "nested",
        "parent_id",
        "percolate",
        "pinned",
        "query_string",
        "rank_feature",
        "regexp",
        "script",
        "script_score",
        "span_term",
        "span_near",
        "terms_set",
        "wrapper",
    }
)


class Kind(StrEnum):
    """How a queryable field's values compare (its type in the security index)."""

    KEYWORD = "keyword"
    TEXT = "text"
    BOOLEAN = "boolean"
    DATE = "date"
    FLATTENED = "flattened"


@dataclass(frozen=True)
class Catalog:
    """The fields one ``_query`` API accepts, by their query-level names."""

    payload: str  # the request parser's name, for x_content errors
    fields: Mapping[str, Kind]
    flattened: str | None = None  # "metadata": itself and "metadata.<path>"
    unsortable: frozenset[str] = frozenset()

    def kind_of(self, name: str, *, sorting: bool = False) -> Kind:
        """The field's kind, or Elasticsearch's 400 for a pattern or a field it does not allow."""
        if "*" in name:
            raise IllegalArgument(
                f"Field name pattern [{name}] is not allowed for querying or aggregation"
            )
        kind = self.fields.get(name)
        if kind is None and self.flattened and _under(name, self.flattened):
            kind = Kind.FLATTENED
        if kind is None:
            raise IllegalArgument(f"Field [{name}] is not allowed for querying or aggregation")
        if sorting and (name in self.unsortable or kind is Kind.TEXT):
            raise IllegalArgument(f"sorting is not supported for field [{name}]")
        return kind

    def matching(self, pattern: str) -> list[str]:
        """Query-level fields a ``simple_query_string`` field pattern names (unknown: none)."""
        names = list(self.fields) + ([self.flattened] if self.flattened else [])
        if "*" in pattern or "?" in pattern:
            return [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        try:
            self.kind_of(pattern)
        except IllegalArgument:
            return []
        return [pattern]


@dataclass(frozen=True)
class Doc:
    """One user, role or API key as the query sees it."""

    id: str  # what an ``ids`` query matches
    fields: Mapping[str, Any]  # query-level name -> value or list of values (None: absent)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    position: int = 0  # natural order, for ``_doc``


@dataclass(frozen=True)
class SortKey:
    field: str
    kind: Kind | None  # None for _doc
    descending: bool
    missing_first: bool


@dataclass(frozen=True)
class Search:
    """A parsed ``_query`` request body."""

    matches: Callable[[Doc], bool]
    start: int
    size: int
    sort: tuple[SortKey, ...]
    search_after: tuple[Any, ...] | None


@dataclass(frozen=True)
class Hit:
    doc: Doc
    sort: list[Any] | None


@dataclass(frozen=True)
class Page:
    total: int
    hits: list[Hit]


# -- the request body ----------------------------------------------------------------------


def parse_search(body: Any, catalog: Catalog, *, now_ms: int) -> Search:
    """A ``_query`` body (``query``, ``from``, ``size``, ``sort``, ``search_after``)."""
    body = {} if body is None else body
    where = f"[{catalog.payload}]"
    if not isinstance(body, dict):
        raise XContentParseError(f"{where} Expected START_OBJECT but found {_json(body)}")
    for key in body:
        if key not in ("query", "from", "size", "sort", "search_after"):
            raise XContentParseError(f"{where} unknown field [{key}]")
    start, size = body.get("from"), body.get("size")
    for name, value in (("from", start), ("size", size)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise XContentParseError(
                f"{where} failed to parse field [{name}]: expected an integer, not {_json(value)}"
            )
    problems = [
        f"[{name}] parameter cannot be negative but was [{value}]"
        for name, value in (("from", start), ("size", size))
        if value is not None and value < 0
    ]
    if problems:
        raise ValidationFailed(*problems)
    start = start or 0
    size = DEFAULT_SIZE if size is None else size
    if start + size > MAX_WINDOW:
        raise IllegalArgument(
            f"Result window is too large, from + size must be less than or equal to: "
            f"[{MAX_WINDOW}] but was [{start + size}]."
        )
    query = body.get("query")
    matches = _all if query is None else compile_query(query, catalog, now_ms=now_ms)
    sort = _sort(body.get("sort"), catalog, where)
    after = body.get("search_after")
    if after is not None:
        after = _search_after(after, sort, start, where)
    return Search(matches, start, size, sort, after)


def run_search(docs: Iterable[Doc], search: Search) -> Page:
    """The page of `docs` that `search` selects, with sort values when it sorts."""
    found = [d for d in docs if search.matches(d)]
    keyed = [(d, [_sort_value(d, k) for k in search.sort]) for d in found]
    if search.sort:

        def by_sort_values(a: tuple[Doc, list[Any]], b: tuple[Doc, list[Any]]) -> int:
            return _compare(a[1], b[1], search.sort)

        keyed.sort(key=functools.cmp_to_key(by_sort_values))
    else:
        keyed.sort(key=lambda pair: pair[0].position)
    if search.search_after is not None:
        after = list(search.search_after)
        keyed = [p for p in keyed if _compare(p[1], after, search.sort) > 0]
    window = keyed[search.start : search.start + search.size]
    return Page(
        total=len(found),
        hits=[Hit(d, values if search.sort else None) for d, values in window],
    )


# -- queries -------------------------------------------------------------------------------

Predicate = Callable[[Doc], bool]


def _all(doc: Doc) -> bool:
    return True


def compile_query(query: Any, catalog: Catalog, *, now_ms: int) -> Predicate:
    """A predicate for one query object; 400s say which query and field are wrong."""
    if not isinstance(query, dict) or len(query) != 1:
        found = "an object with one query" if isinstance(query, dict) else _json(query)
        raise ParsingError(f"a query must be an object holding exactly one query, not {found}")
    ((name, spec),) = query.items()
    compiler = _COMPILERS.get(name)
    if compiler is None:
        if name in _KNOWN_QUERIES:
            raise IllegalArgument(f"Query type [{name}] is not currently supported in this context")
        raise ParsingError(f"unknown query [{name}]")
    return compiler(spec, catalog, now_ms)


def _bool(spec: Any, catalog: Catalog, now_ms: int) -> Predicate:
    body = _object(spec, "bool")
    clauses: dict[str, list[Predicate]] = {"must": [], "filter": [], "should": [], "must_not": []}
    minimum = None
    for key, value in body.items():
        if key in clauses:
            items = value if isinstance(value, list) else [value]
            clauses[key] = [compile_query(q, catalog, now_ms=now_ms) for q in items]
        elif key == "minimum_should_match":
            minimum = _minimum(value, "bool")
        elif key not in ("boost", "_name", "adjust_pure_negative"):
            raise ParsingError(f"[bool] query does not support [{key}]")
    required = clauses["must"] + clauses["filter"]
    should, must_not = clauses["should"], clauses["must_not"]
    if minimum is None:
        minimum = 0 if required or must_not else (1 if should else 0)
    if minimum < 0:
        minimum = max(len(should) + minimum, 0)

    def matches(doc: Doc) -> bool:
        if not all(p(doc) for p in required) or any(p(doc) for p in must_not):
            return False
        return sum(1 for p in should if p(doc)) >= minimum

    return matches


def _match_all(spec: Any, catalog: Catalog, now_ms: int) -> Predicate:
    for key in _object(spec, "match_all"):
        if key not in ("boost", "_name"):
            raise ParsingError(f"[match_all] query does not support [{key}]")
    return _all


def _ids(spec: Any, catalog: Catalog, now_ms: int) -> Predicate:
    body = _object(spec, "ids")
    for key in body:
        if key not in ("values", "boost", "_name"):
            raise ParsingError(f"[ids] query does not support [{key}]")
    values = body.get("values", [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ParsingError("[ids] query [values] must be an array of strings")
    wanted = set(values)
    return lambda doc: doc.id in wanted


def _term(spec: Any, catalog: Catalog, now_ms: int) -> Predicate:
    name, value, options = _single_field(spec, "term", "value", ("case_insensitive",))
    kind = catalog.kind_of(name)
    insensitive = _flag(options.get("case_insensitive", False), "term", "case_insensitive")
    target = _term_value(kind, value, name, now_ms)
    if insensitive and isinstance(target, str):
        folded = target.lower()
        return lambda doc: any(
            isinstance(v, str) and v.lower() == folded for v in _values(doc, name, kind)
        )
    return lambda doc: target in _values(doc, name, kind)


def _terms(spec: Any, catalog: Catalog, now_ms: int) -> Predicate:
    body = _object(spec, "terms")
    fields = [k for k in body if k not in ("boost", "_name")]
    if len(fields) != 1:
        raise ParsingError("[terms] query requires exactly one field")
    name = fields[0]
    values = body[name]
    if isinstance(values, dict):
        raise IllegalArgument(
            "terms query with terms lookup is not currently supported in this context"
        )
    if not isinstance(values, list):
        raise ParsingError(f"[terms] query does not support [{name}]")
    kind = catalog.kind_of(name)
    targets = {_term_value(kind, v, name, now_ms) for v in values}
    return lambda doc: any(v in targets for v in _values(doc, name, kind))


def _prefix(spec: Any, catalog: Catalog, now_ms: int) -> Predicate:
    name, value, options = _single_field(spec, "prefix", "value", ("case_insensitive", "rewrite"))
    return _text_pattern(catalog, name, value, options, "prefix", lambda v: re.escape(v) + ".*")


def _wildcard(spec: Any, catalog: Catalog, now_ms: int) -> Predicate:
    if isinstance(spec, dict) and len(spec) == 1:
        inner = next(iter(spec.values()))
        if isinstance(inner, dict) and "wildcard" in inner and "value" not in inner:
            inner = {("value" if k == "wildcard" else k): v for k, v in inner.items()}
            spec = {next(iter(spec)): inner}
    name, value, options = _single_field(spec, "wildcard", "value", ("case_insensitive", "rewrite"))
    return _text_pattern(catalog, name, value, options, "wildcard", _glob)


def _text_pattern(
    catalog: Catalog,
    name: str,
    value: Any,
    options: Mapping[str, Any],
    query: str,
    to_regex: Callable[[str], str],
) -> Predicate:
    kind = catalog.kind_of(name)
    if not isinstance(value, str):
        raise ParsingError(f"[{query}] query on [{name}] needs a string value, not {_json(value)}")
    if kind in (Kind.DATE, Kind.BOOLEAN):
        raise IllegalArgument(
            f"Can only use {query} queries on keyword and text fields - not on [{name}] which "
            f"is of type [{kind.value}]"
        )
    flags = re.DOTALL
    if _flag(options.get("case_insensitive", False), query, "case_insensitive"):
        flags |= re.IGNORECASE
    pattern = re.compile(to_regex(value), flags)
    return lambda doc: any(
        isinstance(v, str) and pattern.fullmatch(v) for v in _values(doc, name, kind)
    )


def _range(spec: Any, catalog: Catalog, now_ms: int) -> Predicate:
    name, options = _field_object(spec, "range")
    kind = catalog.kind_of(name)
    bounds: list[tuple[str, Any]] = []
    include_lower, include_upper = True, True
    date_format, zone = None, None
    for key, value in options.items():
        if key in ("gt", "gte", "lt", "lte"):
            bounds.append((key, value))
        elif key in ("from", "to"):
            bounds.append(("_" + key, value))
        elif key == "include_lower":
            include_lower = _flag(value, "range", key)
        elif key == "include_upper":
            include_upper = _flag(value, "range", key)
        elif key == "format":
            date_format = _string(value, "range", key)
        elif key == "time_zone":
            zone = _zone(_string(value, "range", key))
        elif key == "relation":
            raise IllegalArgument(
                "range query with relation is not currently supported in this context"
            )
        elif key not in ("boost", "_name"):
            raise ParsingError(f"[range] query does not support [{key}]")
    checks: list[Callable[[Any], bool]] = []
    for op, raw in bounds:
        if raw is None:
            continue
        if op == "_from":
            op = "gte" if include_lower else "gt"
        elif op == "_to":
            op = "lte" if include_upper else "lt"
        bound = _range_value(kind, raw, name, op, now_ms, date_format, zone)
        checks.append(_comparison(op, bound))
    return lambda doc: any(
        all(_safe(c, v) for c in checks) for v in _values(doc, name, kind, comparable=True)
    )


def _exists(spec: Any, catalog: Catalog, now_ms: int) -> Predicate:
    body = _object(spec, "exists")
    for key in body:
        if key not in ("field", "boost", "_name"):
            raise ParsingError(f"[exists] query does not support [{key}]")
    name = body.get("field")
    if not isinstance(name, str):
        raise ParsingError("[exists] must be provided with a [field]")
    if "*" in name:
        names = catalog.matching(name)
        return lambda doc: any(_values(doc, n, catalog.kind_of(n)) for n in names)
    kind = catalog.kind_of(name)
    return lambda doc: bool(_values(doc, name, kind))


def _match(spec: Any, catalog: Catalog, now_ms: int) -> Predicate:
    name, value, options = _single_field(
        spec,
        "match",
        "query",
        ("operator", "minimum_should_match", "lenient", "analyzer", "zero_terms_query"),
    )
    kind = catalog.kind_of(name)
    operator = str(options.get("operator", "or")).lower()
    if operator not in ("or", "and"):
        raise ParsingError(f"[match] query does not support operator [{options['operator']}]")
    if kind is not Kind.TEXT:
        if isinstance(value, dict | list):
            raise ParsingError(f"[match] query on [{name}] needs a single value")
        target = _term_value(kind, value, name, now_ms)
        return lambda doc: target in _values(doc, name, kind)
    if not isinstance(value, str | int | float | bool):
        raise ParsingError(f"[match] query on [{name}] needs a text value, not {_json(value)}")
    tokens = analyze(str(value))
    minimum = _minimum(options.get("minimum_should_match"), "match")
    if not tokens:
        return lambda doc: False
    needed = len(tokens) if operator == "and" else max(1, minimum or 1)
    if minimum is not None and minimum < 0:
        needed = max(len(tokens) + minimum, 1)

    def matches(doc: Doc) -> bool:
        have = set(_values(doc, name, kind))
        return sum(1 for t in tokens if t in have) >= needed

    return matches


def _simple_query_string(spec: Any, catalog: Catalog, now_ms: int) -> Predicate:
    body = _object(spec, "simple_query_string")
    allowed = {
        "query",
        "fields",
        "default_operator",
        "analyze_wildcard",
        "lenient",
        "flags",
        "minimum_should_match",
        "auto_generate_synonyms_phrase_query",
        "fuzzy_max_expansions",
        "fuzzy_prefix_length",
        "fuzzy_transpositions",
        "quote_field_suffix",
        "analyzer",
        "boost",
        "_name",
    }
    for key in body:
        if key not in allowed:
            raise ParsingError(f"[simple_query_string] unsupported field [{key}]")
    text = body.get("query")
    if not isinstance(text, str):
        raise ParsingError("[simple_query_string] requires a [query] string")
    patterns = body.get("fields", ["*"])
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise ParsingError("[simple_query_string] [fields] must be an array of strings")
    names = list(
        dict.fromkeys(n for p in (patterns or ["*"]) for n in catalog.matching(p.split("^")[0]))
    )
    operator = str(body.get("default_operator", "or")).lower()
    if operator not in ("or", "and"):
        raise ParsingError(
            f"[simple_query_string] default operator [{body['default_operator']}] is not allowed"
        )
    if not names:
        return lambda doc: False
    kinds = {n: catalog.kind_of(n) for n in names}
    clauses = [
        (op, negated, _sqs_term(term, kinds, now_ms)) for op, negated, term in _sqs_parse(text)
    ]
    if not clauses:
        return lambda doc: False

    def matches(doc: Doc) -> bool:
        result: bool | None = None
        for op, negated, predicate in clauses:
            hit = predicate(doc) != negated
            if result is None:
                result = hit
            elif (op or operator) == "and":
                result = result and hit
            else:
                result = result or hit
        return bool(result)

    return matches


def _sqs_parse(text: str) -> list[tuple[str | None, bool, str]]:
    """``(operator joining it to the left, negated, term)``; quotes keep a phrase whole."""
    out: list[tuple[str | None, bool, str]] = []
    pending: str | None = None
    for match in re.finditer(r'([|+]?)\s*(-?)\s*("([^"]*)"?|[^\s|+()"]+)', text):
        joiner, minus, token, phrase = match.groups()
        if joiner == "|":
            pending = "or"
        elif joiner == "+":
            pending = "and"
        value = f'"{phrase}"' if phrase is not None else token
        if value in ('""', "-"):
            continue
        out.append((pending, bool(minus), value))
        pending = None
    return out


def _sqs_term(term: str, kinds: Mapping[str, Kind], now_ms: int) -> Predicate:
    phrase = term.startswith('"') and term.endswith('"') and len(term) >= 2
    word = term[1:-1] if phrase else term
    prefix = not phrase and word.endswith("*")
    if prefix:
        word = word.rstrip("*")
    checks: list[Predicate] = []
    for name, kind in kinds.items():
        check = _sqs_field(name, kind, word, phrase=phrase, prefix=prefix, now_ms=now_ms)
        if check is not None:
            checks.append(check)
    return lambda doc: any(c(doc) for c in checks)


def _sqs_field(
    name: str, kind: Kind, word: str, *, phrase: bool, prefix: bool, now_ms: int
) -> Predicate | None:
    if kind is Kind.TEXT:
        tokens = analyze(word)
        if not tokens:
            return None
        if prefix:
            stem = tokens[-1]
            return lambda doc: any(t.startswith(stem) for t in _values(doc, name, kind))
        if phrase and len(tokens) > 1:
            return lambda doc: _contains_run(_values(doc, name, kind), tokens)
        return lambda doc: all(t in _values(doc, name, kind) for t in tokens)
    if kind in (Kind.KEYWORD, Kind.FLATTENED):
        if prefix:
            return lambda doc: any(
                isinstance(v, str) and v.startswith(word) for v in _values(doc, name, kind)
            )
        return lambda doc: word in _values(doc, name, kind)
    try:  # lenient: a word that is not a date or boolean does not match those fields
        target = _term_value(kind, word, name, now_ms)
    except (IllegalArgument, ParsingError):
        return None
    return lambda doc: target in _values(doc, name, kind)


_COMPILERS: dict[str, Callable[[Any, Catalog, int], Predicate]] = {
    "bool": _bool,
    "match_all": _match_all,
    "ids": _ids,
    "term": _term,
    "terms": _terms,
    "prefix": _prefix,
    "wildcard": _wildcard,
    "range": _range,
    "exists": _exists,
    "match": _match,
    "simple_query_string": _simple_query_string,
}


# -- values --------------------------------------------------------------------------------


def analyze(text: str) -> list[str]:
    """Lowercased word tokens, close to Elasticsearch's standard analyzer."""
    return [t.strip(".") for t in re.findall(r"[\w.']+", text.lower()) if t.strip(".'")]


def _values(doc: Doc, name: str, kind: Kind, *, comparable: bool = False) -> list[Any]:
    if kind is Kind.FLATTENED:
        return _leaves(doc.metadata, name)
    raw = doc.fields.get(name)
    items = [] if raw is None else (raw if isinstance(raw, list) else [raw])
    items = [v for v in items if v is not None]
    if kind is Kind.TEXT:
        return [t for v in items for t in analyze(str(v))]
    if kind is Kind.BOOLEAN and comparable:
        return [int(bool(v)) for v in items]
    return items


def _leaves(metadata: Mapping[str, Any], name: str) -> list[str]:
    """Flattened-field values: the leaves at exactly `name` (``metadata`` itself: every leaf)."""
    out: list[str] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(inner, f"{path}.{key}")
        elif isinstance(value, list):
            for inner in value:
                walk(inner, path)
        elif value is not None and (name == path or "." not in name):
            out.append(_keyword(value))

    walk(dict(metadata), name.split(".", 1)[0])
    return out


def _keyword(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _term_value(kind: Kind, value: Any, name: str, now_ms: int) -> Any:
    if isinstance(value, dict | list) or value is None:
        raise ParsingError(f"[term] query on [{name}] needs a single value, not {_json(value)}")
    if kind is Kind.BOOLEAN:
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
        raise IllegalArgument(
            f"Can't parse boolean value [{_keyword(value)}], expected [true] or [false]"
        )
    if kind is Kind.DATE:
        return parse_date(value, name, now_ms)
    return _keyword(value)


def _range_value(
    kind: Kind,
    value: Any,
    name: str,
    op: str,
    now_ms: int,
    date_format: str | None,
    zone: timedelta | None,
) -> Any:
    if isinstance(value, dict | list):
        raise ParsingError(f"[range] query on [{name}] needs a single value for [{op}]")
    if kind is Kind.DATE:
        round_up = op in ("gt", "lte")
        return parse_date(value, name, now_ms, date_format=date_format, zone=zone, up=round_up)
    if kind is Kind.BOOLEAN:
        return int(_term_value(kind, value, name, now_ms))
    return _keyword(value) if kind is not Kind.TEXT else _keyword(value).lower()


def _comparison(op: str, bound: Any) -> Callable[[Any], bool]:
    return {
        "gt": lambda v: v > bound,
        "gte": lambda v: v >= bound,
        "lt": lambda v: v < bound,
        "lte": lambda v: v <= bound,
    }[op]


def _safe(check: Callable[[Any], bool], value: Any) -> bool:
    try:
        return check(value)
    except TypeError:
        return False


_DATE_MATH = re.compile(r"([+-])(\d+)([yMwdhHms])|/([yMwdhHms])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "H": 3600, "d": 86400, "w": 604800}


def parse_date(
    value: Any,
    name: str,
    now_ms: int,
    *,
    date_format: str | None = None,
    zone: timedelta | None = None,
    up: bool = False,
) -> int:
    """Epoch milliseconds from a number, an ISO-8601 date or ``now``/``<date>||`` date math."""
    if isinstance(value, bool):
        raise _bad_date(value, name)
    if date_format not in (
        None,
        "epoch_millis",
        "epoch_second",
        "strict_date_optional_time",
        "date_optional_time",
        "strict_date_time",
        "date_time",
    ):
        raise IllegalArgument(f"date format [{date_format}] is not supported by this node")
    scale = 1000 if date_format == "epoch_second" else 1
    if isinstance(value, int | float):
        return int(value * scale)
    if not isinstance(value, str) or not value:
        raise _bad_date(value, name)
    if re.fullmatch(r"-?\d+", value):
        return int(value) * scale
    if value.startswith("now"):
        base, math = datetime.fromtimestamp(now_ms / 1000, UTC), value[3:]
    else:
        head, _, math = value.partition("||")
        base = _iso(head, name, zone)
    return int(_apply_math(base, math, name, up).timestamp() * 1000)


def _iso(text: str, name: str, zone: timedelta | None) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _bad_date(text, name) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC) - (zone or timedelta())
    return parsed


def _apply_math(base: datetime, math: str, name: str, up: bool) -> datetime:
    at, moment = 0, base
    while at < len(math):
        step = _DATE_MATH.match(math, at)
        if step is None:
            raise _bad_date(math, name)
        sign, amount, unit, rounding = step.groups()
        if rounding:
            moment = _round(moment, rounding, up)
        elif unit in _UNIT:
            delta = timedelta(seconds=_UNIT[unit] * int(amount))
            moment = moment + delta if sign == "+" else moment - delta
        else:  # months and years
            months = int(amount) * (12 if unit == "y" else 1) * (1 if sign == "+" else -1)
            total = moment.year * 12 + moment.month - 1 + months
            moment = moment.replace(year=total // 12, month=total % 12 + 1, day=min(moment.day, 28))
        at = step.end()
    return moment


def _round(moment: datetime, unit: str, up: bool) -> datetime:
    floor = {
        "y": moment.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0),
        "M": moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0),
        "w": (moment - timedelta(days=moment.weekday())).replace(
            hour=0, minute=0, second=0, microsecond=0
        ),
        "d": moment.replace(hour=0, minute=0, second=0, microsecond=0),
        "h": moment.replace(minute=0, second=0, microsecond=0),
        "H": moment.replace(minute=0, second=0, microsecond=0),
        "m": moment.replace(second=0, microsecond=0),
        "s": moment.replace(microsecond=0),
    }[unit]
    if not up:
        return floor
    if unit in ("y", "M"):
        months = 12 if unit == "y" else 1
        total = floor.year * 12 + floor.month - 1 + months
        following = floor.replace(year=total // 12, month=total % 12 + 1)
    else:
        following = floor + timedelta(seconds=_UNIT[unit])
    return following - timedelta(milliseconds=1)


def _zone(text: str) -> timedelta:
    if text in ("Z", "UTC", "GMT"):
        return timedelta()
    match = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", text)
    if not match:
        raise IllegalArgument(f"time_zone [{text}] is not supported by this node; use an offset")
    offset = timedelta(hours=int(match.group(2)), minutes=int(match.group(3)))
    return offset if match.group(1) == "+" else -offset


def _bad_date(value: Any, name: str) -> IllegalArgument:
    return IllegalArgument(
        f"failed to parse date field [{value}] with format "
        f"[strict_date_optional_time||epoch_millis] for field [{name}]"
    )


# -- sort and search_after -----------------------------------------------------------------


def _sort(spec: Any, catalog: Catalog, where: str) -> tuple[SortKey, ...]:
    if spec is None:
        return ()
    items = spec if isinstance(spec, list) else [spec]
    keys = []
    options: Any
    for item in items:
        if isinstance(item, str):
            name, options = item, {}
        elif isinstance(item, dict) and len(item) == 1:
            ((name, options),) = item.items()
            if isinstance(options, str):
                options = {"order": options}
            if not isinstance(options, dict):
                raise XContentParseError(f"{where} failed to parse field [sort]")
        else:
            raise IllegalArgument("mal-formatted sort object")
        for key in options:
            if key not in ("order", "missing", "unmapped_type", "mode"):
                raise ParsingError(f"[field_sort] unknown field [{key}]")
        order = str(options.get("order", "desc" if name == "_score" else "asc")).lower()
        if order not in ("asc", "desc"):
            raise IllegalArgument(f"Unknown SortOrder [{options['order']}]")
        missing = options.get("missing", "_last")
        if missing not in ("_last", "_first"):
            raise IllegalArgument(f"sort [missing] must be [_last] or [_first], not [{missing}]")
        if name == "_doc":
            kind = None
        elif name == "_score":
            raise IllegalArgument("sorting by [_score] is not supported by this node")
        else:
            kind = catalog.kind_of(name, sorting=True)
        keys.append(SortKey(name, kind, order == "desc", missing == "_first"))
    return tuple(keys)


def _search_after(values: Any, sort: Sequence[SortKey], start: int, where: str) -> tuple[Any, ...]:
    if not isinstance(values, list):
        raise XContentParseError(f"{where} failed to parse field [search_after]")
    if not sort:
        raise IllegalArgument("Sort must contain at least one field.")
    if len(values) != len(sort):
        raise IllegalArgument(f"search_after has {len(values)} value(s) but sort has {len(sort)}.")
    if start > 0:
        raise IllegalArgument("`from` parameter must be set to 0 when `search_after` is used.")
    out = []
    for value, key in zip(values, sort, strict=True):
        if key.kind in (None, Kind.DATE, Kind.BOOLEAN):
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise IllegalArgument(
                    f"Failed to parse search_after value for field [{key.field}]."
                )
            try:
                value = int(value)
            except ValueError:
                raise IllegalArgument(
                    f"Failed to parse search_after value for field [{key.field}]."
                ) from None
        elif value is not None:
            if isinstance(value, dict | list):
                raise IllegalArgument(
                    f"Failed to parse search_after value for field [{key.field}]."
                )
            value = _keyword(value)
        out.append(value)
    return tuple(out)


def _sort_value(doc: Doc, key: SortKey) -> Any:
    if key.kind is None:
        return doc.position
    values = _values(doc, key.field, key.kind, comparable=True)
    if not values:
        if key.kind in (Kind.DATE, Kind.BOOLEAN):
            low = key.missing_first != key.descending
            return LONG_MIN if low else LONG_MAX
        return None
    return max(values) if key.descending else min(values)


def _compare(left: Sequence[Any], right: Sequence[Any], keys: Sequence[SortKey]) -> int:
    for a, b, key in zip(left, right, keys, strict=True):
        if a == b:
            continue
        if a is None or b is None:  # a missing keyword: last (or first) in either order
            first = key.missing_first
            return (-1 if first else 1) if a is None else (1 if first else -1)
        result = -1 if a < b else 1
        return -result if key.descending else result
    return 0


# -- small parsers ---------------------------------------------------------------------------


def _object(spec: Any, query: str) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise ParsingError(f"[{query}] query malformed, no start_object after query name")
    return spec


def _field_object(spec: Any, query: str) -> tuple[str, dict[str, Any]]:
    body = _object(spec, query)
    fields = [k for k in body if k not in ("boost", "_name")]
    if len(fields) != 1:
        raise ParsingError(f"[{query}] query requires exactly one field, found {fields}")
    options = body[fields[0]]
    if not isinstance(options, dict):
        raise ParsingError(f"[{query}] query malformed, [{fields[0]}] must be an object")
    return fields[0], options


def _single_field(
    spec: Any, query: str, value_key: str, extra: tuple[str, ...]
) -> tuple[str, Any, dict[str, Any]]:
    body = _object(spec, query)
    fields = [k for k in body if k not in ("boost", "_name")]
    if len(fields) != 1:
        raise ParsingError(
            f"[{query}] query doesn't support multiple fields, found {fields}"
            if fields
            else f"[{query}] query requires a field"
        )
    name = fields[0]
    inner = body[name]
    if not isinstance(inner, dict):
        return name, inner, {}
    for key in inner:
        if key not in (value_key, "boost", "_name", *extra):
            raise ParsingError(f"[{query}] query does not support [{key}]")
    if value_key not in inner:
        raise ParsingError(f"[{query}] query on [{name}] is missing [{value_key}]")
    return name, inner[value_key], inner


def _flag(value: Any, query: str, key: str) -> bool:
    if not isinstance(value, bool):
        raise ParsingError(f"[{query}] [{key}] must be a boolean")
    return value


def _string(value: Any, query: str, key: str) -> str:
    if not isinstance(value, str):
        raise ParsingError(f"[{query}] [{key}] must be a string")
    return value


def _minimum(value: Any, query: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    raise ParsingError(
        f"[{query}] [minimum_should_match] [{value}] is not supported by this node; "
        "use a whole number"
    )


def _glob(pattern: str) -> str:
    out = []
    escaped = False
    for ch in pattern:
        if escaped:
            out.append(re.escape(ch))
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return "".join(out)


def _contains_run(tokens: Sequence[str], run: Sequence[str]) -> bool:
    return any(list(tokens[i : i + len(run)]) == list(run) for i in range(len(tokens)))


def _under(name: str, root: str) -> bool:
    return name == root or (name.startswith(root + ".") and len(name) > len(root) + 1)


def _json(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "null"
