"""Query trees (`citadel.node.search.dsl`) compiled to tantivy queries over one index.

Scoring follows Elasticsearch: full-text clauses are BM25 on the field's own slot (tantivy's
BM25 is Lucene's); term-level clauses (``term`` on keywords, numbers, dates, booleans,
``terms``, ``range``, ``exists``, ``prefix``, ``wildcard``, ``ids``) score a constant, the boost
(Elasticsearch gives a keyword ``term`` its idf, the same for every match: same order, another
scale); ``filter`` and ``must_not`` clauses score nothing; ``dis_max`` takes the best plus
``tie_breaker`` times the others.

A field name with ``*`` expands to the matching mapped fields, combined as ``dis_max``,
leniently: a value a field cannot hold skips that field. A field the index does not map
matches nothing, as in Elasticsearch.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

import tantivy

from citadel.node.engine import analysis
from citadel.node.engine import fields as f
from citadel.node.engine.fields import FieldRef, SlotKind
from citadel.node.engine.layout import FieldTable, kind_of, search_kind
from citadel.node.errors import IllegalArgument
from citadel.node.search.date_math import resolve_date
from citadel.node.search.dsl import (
    MAX_CLAUSES,
    Bool,
    ConstantScore,
    DisMax,
    Exists,
    Fuzzy,
    Ids,
    Match,
    MatchAll,
    MatchNone,
    MatchPhrase,
    MultiMatch,
    MultiMatchType,
    Operator,
    Prefix,
    Query,
    Range,
    Regexp,
    Scalar,
    Term,
    Terms,
    Wildcard,
    fuzzy_distance,
    resolve_minimum_should_match,
)
from citadel.node.search.errors import DateParseError, QueryShardError, TooManyClauses
from citadel.node.store import mapping as mp
from citadel.node.store.dates import DEFAULT_FORMAT

Occur = tantivy.Occur
MAX_RANGE_TERMS = 65_536
MAX_FUZZY_SCAN = 65_536
N = TypeVar("N", Match, MatchPhrase, Term, Terms, Range, Prefix, Wildcard, Fuzzy, Regexp)
META_FIELDS = frozenset({"_id", "_index"})
_INT_KINDS = (SlotKind.LONG, SlotKind.DATE, SlotKind.BOOLEAN)


def empty() -> tantivy.Query:
    return tantivy.Query.empty_query()


class QueryCompiler:
    """Compiles query trees against one index (its schema and field table); `now` anchors
    date math."""

    def __init__(
        self,
        schema: tantivy.Schema,
        table: FieldTable,
        mappings: dict[str, Any],
        *,
        index_name: str,
        now: datetime,
        searcher: tantivy.Searcher | None = None,
    ) -> None:
        self.searcher = searcher
        self.schema = schema
        self.table = table
        self.mappings = mappings
        self.index_name = index_name
        self.now = now
        self.clauses = 0
        self._definitions: dict[str, Any] | None = None

    # -- dispatch ----------------------------------------------------------------------------

    def compile(self, query: Query, *, scoring: bool = True) -> tantivy.Query:
        """The tantivy query of `query`; scores are 0 when not `scoring`."""
        built = self._compile(query, scoring)
        return built if scoring else tantivy.Query.const_score_query(built, 0.0)

    def _compile(self, query: Query, scoring: bool) -> tantivy.Query:
        match query:
            case MatchAll():
                return _boosted(tantivy.Query.all_query(), query.boost)
            case MatchNone():
                return empty()
            case Match():
                return self._per_field(query, self._match, lenient=query.lenient)
            case MatchPhrase():
                return self._per_field(query, self._match_phrase)
            case MultiMatch():
                return self._multi_match(query)
            case Term():
                return self._per_field(query, self._term)
            case Terms():
                return self._per_field(query, self._terms)
            case Range():
                return self._per_field(query, self._range)
            case Exists():
                return self._exists(query)
            case Prefix():
                return self._per_field(query, self._prefix)
            case Wildcard():
                return self._per_field(query, self._wildcard)
            case Fuzzy():
                return self._per_field(query, self._fuzzy)
            case Regexp():
                return self._per_field(query, self._regexp)
            case Ids():
                return self._ids(query)
            case Bool():
                return self._bool(query, scoring)
            case ConstantScore():
                inner = self._compile(query.filter, False)
                return tantivy.Query.const_score_query(inner, query.boost)
            case DisMax():
                parts = [self._compile(q, scoring) for q in query.queries]
                return _boosted(_dis_max(parts, query.tie_breaker), query.boost)
        raise TypeError(f"not a query: {query!r}")  # pragma: no cover

    def _per_field(
        self, node: N, build: Callable[[N, FieldRef], tantivy.Query], *, lenient: bool = False
    ) -> tantivy.Query:
        if node.field in META_FIELDS:
            return self._meta(node)
        if "*" in node.field:
            parts = [
                self._one_field(replace(node, field=name), build, lenient=True)
                for name in self.expand(node.field)
            ]
            return _dis_max(parts, 0.0)
        return self._one_field(node, build, lenient=lenient)

    def _one_field(
        self, node: N, build: Callable[[N, FieldRef], tantivy.Query], *, lenient: bool
    ) -> tantivy.Query:
        ref = self.table.get(node.field)
        if ref is None or ref.slot is None:
            return empty()
        if not ref.searchable:
            raise QueryShardError(
                f"Cannot search on field [{ref.path}] since it is not indexed.",
                index=self.index_name,
            )
        try:
            return build(node, ref)
        except (QueryShardError, DateParseError):
            if lenient:
                return empty()
            raise

    def _meta(self, node: Any) -> tantivy.Query:
        """A term-level query on ``_id`` or ``_index`` (``_index`` matches all or nothing)."""
        boost = getattr(node, "boost", 1.0)
        self._count()
        if node.field == "_id":
            if isinstance(node, Term | Match):
                values = [_text(node.value if isinstance(node, Term) else node.query)]
            elif isinstance(node, Terms):
                values = [_text(v) for v in node.values]
            else:
                raise QueryShardError(
                    f"Can only use {_name_of(node)} queries on keyword and text fields - not on "
                    "[_id] which is of type [_id]",
                    index=self.index_name,
                )
            query = tantivy.Query.term_set_query(self.schema, f.ID_FIELD, values)
            return tantivy.Query.const_score_query(query, boost)
        if _index_matches(node, self.index_name):
            return tantivy.Query.const_score_query(_all(), boost)
        return empty()

    def expand(self, pattern: str) -> list[str]:
        """Mapped leaf field names matching a ``*`` pattern, sorted."""
        regex = re.compile(".*".join(re.escape(part) for part in pattern.split("*")))
        return sorted(name for name in self.table.fields if regex.fullmatch(name))

    def _count(self, n: int = 1) -> None:
        self.clauses += n
        if self.clauses > MAX_CLAUSES:
            raise TooManyClauses(
                f"Query contains too many nested clauses; maxClauseCount is set to {MAX_CLAUSES}"
            )

    # -- full text ---------------------------------------------------------------------------

    def _tokens(self, ref: FieldRef, text: str) -> list[str]:
        definition = self._definition(ref.path)
        kind = search_kind(ref.es_type, definition) or ref.kind
        return analysis.analyze(kind, text)

    def _definition(self, path: str) -> dict[str, Any]:
        if self._definitions is None:
            self._definitions = {
                fd.path: dict(fd.definition) for fd in mp.fields_of(self.mappings).values()
            }
        return self._definitions.get(path, {})

    def _match(self, q: Match, ref: FieldRef) -> tantivy.Query:
        assert ref.slot is not None
        if not ref.kind.is_text:
            return tantivy.Query.const_score_query(self._exact(ref, q.query), q.boost)
        tokens = self._tokens(ref, _text(q.query))
        if not tokens:
            return tantivy.Query.all_query() if q.zero_terms_all else empty()
        self._count(len(tokens))
        terms = [self._match_term(q, ref, t) for t in tokens]
        if q.bool_prefix:
            terms[-1] = self._token_prefix(ref, tokens[-1])
        if len(terms) == 1:
            return _boosted(terms[0], q.boost)
        count = len(terms)
        if q.operator is Operator.AND:
            need = count
        elif q.minimum_should_match is not None:
            need = max(1, resolve_minimum_should_match(q.minimum_should_match, count))
        else:
            need = 1
        if need > count:
            return empty()
        if need == count:
            query = tantivy.Query.boolean_query([(Occur.Must, t) for t in terms])
        else:
            query = tantivy.Query.boolean_query(
                [(Occur.Should, t) for t in terms],
                minimum_number_should_match=need if need > 1 else None,
            )
        return _boosted(query, q.boost)

    def _match_term(self, q: Match, ref: FieldRef, token: str) -> tantivy.Query:
        assert ref.slot is not None
        if q.fuzziness is None:
            return tantivy.Query.term_query(self.schema, ref.slot, token)
        fuzzy = Fuzzy(
            q.field, token, q.fuzziness, q.prefix_length, q.max_expansions, q.transpositions
        )
        return self._fuzzy_term(fuzzy, ref, token)

    def _token_prefix(self, ref: FieldRef, token: str) -> tantivy.Query:
        assert ref.slot is not None
        pattern = _regex_escape(token) + ".*"
        return tantivy.Query.const_score_query(
            tantivy.Query.regex_query(self.schema, ref.slot, pattern), 1.0
        )

    def _match_phrase(self, q: MatchPhrase, ref: FieldRef) -> tantivy.Query:
        assert ref.slot is not None
        if not ref.kind.is_text:
            if q.prefix and ref.kind is SlotKind.KEYWORD:
                return self._prefix(Prefix(q.field, q.query, q.boost), ref)
            return tantivy.Query.const_score_query(self._exact(ref, q.query), q.boost)
        tokens = self._tokens(ref, q.query)
        if not tokens:
            return tantivy.Query.all_query() if q.zero_terms_all else empty()
        self._count(len(tokens))
        words: list[str | tuple[int, str]] = list(tokens)
        if len(tokens) == 1 and not q.prefix:
            query = tantivy.Query.term_query(self.schema, ref.slot, tokens[0])
        elif q.prefix:
            query = tantivy.Query.phrase_prefix_query(self.schema, ref.slot, words)
        else:
            query = tantivy.Query.phrase_query(self.schema, ref.slot, words, slop=q.slop)
        return _boosted(query, q.boost)

    def _multi_match(self, q: MultiMatch) -> tantivy.Query:
        if q.fields is None:
            targets = [(name, 1.0, True) for name in sorted(self.table.fields)]
        else:
            targets = []
            for spec in q.fields:
                if "*" in spec.pattern:
                    targets += [(n, spec.boost, True) for n in self.expand(spec.pattern)]
                else:
                    targets.append((spec.pattern, spec.boost, q.lenient))
        parts = []
        for name, boost, lenient in targets:
            if q.type in (MultiMatchType.PHRASE, MultiMatchType.PHRASE_PREFIX):
                phrase = MatchPhrase(
                    name,
                    _text(q.query),
                    slop=q.slop,
                    prefix=q.type is MultiMatchType.PHRASE_PREFIX,
                    boost=boost,
                    zero_terms_all=q.zero_terms_all,
                )
                parts.append(self._one_field(phrase, self._match_phrase, lenient=lenient))
            else:
                match = Match(
                    name,
                    q.query,
                    operator=q.operator,
                    minimum_should_match=q.minimum_should_match,
                    boost=boost,
                    zero_terms_all=q.zero_terms_all,
                )
                parts.append(self._one_field(match, self._match, lenient=lenient))
        if q.type is MultiMatchType.MOST_FIELDS:
            combined = (
                tantivy.Query.boolean_query([(Occur.Should, p) for p in parts])
                if parts
                else empty()
            )
        else:
            combined = _dis_max(parts, q.tie_breaker)
        return _boosted(combined, q.boost)

    # -- term level --------------------------------------------------------------------------

    def _term(self, q: Term, ref: FieldRef) -> tantivy.Query:
        assert ref.slot is not None
        if ref.kind.is_text:
            token = _text(q.value)
            if q.case_insensitive:
                pattern = "(?i)" + _regex_escape(token)
                query = tantivy.Query.regex_query(self.schema, ref.slot, pattern)
                return tantivy.Query.const_score_query(query, q.boost)
            return _boosted(tantivy.Query.term_query(self.schema, ref.slot, token), q.boost)
        if ref.kind is SlotKind.KEYWORD and q.case_insensitive:
            pattern = "(?i)" + _regex_escape(_text(q.value))
            query = tantivy.Query.regex_query(self.schema, ref.slot, pattern)
            return tantivy.Query.const_score_query(query, q.boost)
        # keyword, numeric, date, boolean: every match scores the boost (Elasticsearch scores
        # a keyword term by its idf, equal for every match since keywords have no norms: the
        # same order, a different scale)
        return tantivy.Query.const_score_query(self._exact(ref, q.value), q.boost)

    def _terms(self, q: Terms, ref: FieldRef) -> tantivy.Query:
        assert ref.slot is not None
        if not q.values:
            return empty()
        self._count()
        if ref.kind is SlotKind.KEYWORD or ref.kind.is_text:
            values: list[Any] = [
                self._keyword(ref, v) if ref.kind is SlotKind.KEYWORD else _text(v)
                for v in q.values
            ]
            query = tantivy.Query.term_set_query(self.schema, ref.slot, values)
        elif ref.kind is SlotKind.DATE:
            spans = [self._date_span(ref, v) for v in q.values]
            query = _any([self._numeric_range(ref, lo, hi) for lo, hi in spans])
        elif ref.kind is SlotKind.IP:
            query = _any([self._exact(ref, v) for v in q.values])
        else:
            query = tantivy.Query.term_set_query(
                self.schema, ref.slot, [self._number(ref, v) for v in q.values]
            )
        return tantivy.Query.const_score_query(query, q.boost)

    def _keyword(self, ref: FieldRef, value: Scalar) -> str:
        text = _text(value)
        normalizer = self._definition(ref.path).get("normalizer")
        return text.lower() if normalizer == "lowercase" else text

    def _exact(self, ref: FieldRef, value: Scalar) -> tantivy.Query:
        """Documents whose non-text field holds exactly `value` (a whole day for a date)."""
        assert ref.slot is not None
        self._count()
        if ref.kind is SlotKind.KEYWORD:
            return tantivy.Query.term_query(self.schema, ref.slot, self._keyword(ref, value))
        if ref.kind is SlotKind.DATE:
            low, high = self._date_span(ref, value)
            return self._numeric_range(ref, low, high)
        if ref.kind is SlotKind.BOOLEAN:
            return tantivy.Query.term_query(self.schema, ref.slot, _boolean(value))
        if ref.kind is SlotKind.IP:
            first, last = _ip_bounds(_text(value))
            return tantivy.Query.range_query(
                self.schema, ref.slot, tantivy.FieldType.IpAddr, first, last
            )
        return tantivy.Query.term_query(self.schema, ref.slot, self._number(ref, value))

    def _numeric_range(self, ref: FieldRef, low: Any, high: Any) -> tantivy.Query:
        assert ref.slot is not None
        kind = tantivy.FieldType.Float if ref.kind is SlotKind.DOUBLE else tantivy.FieldType.Integer
        return tantivy.Query.range_query(self.schema, ref.slot, kind, low, high)

    def _range(self, q: Range, ref: FieldRef) -> tantivy.Query:
        assert ref.slot is not None
        self._count()
        if ref.kind.is_text:
            return empty()
        if ref.kind is SlotKind.KEYWORD:
            return tantivy.Query.const_score_query(self._keyword_range(q, ref), q.boost)
        low = high = None
        include_low = include_high = True
        for op, value in (("gt", q.gt), ("gte", q.gte), ("lt", q.lt), ("lte", q.lte)):
            if value is None:
                continue
            bound = self._bound(ref, q, value, round_up=op in ("gt", "lte"))
            if op in ("gt", "gte"):
                low, include_low = bound, op == "gte"
            else:
                high, include_high = bound, op == "lte"
        if low is None and high is None:
            return tantivy.Query.const_score_query(self._names(ref.path), q.boost)
        if ref.kind is SlotKind.IP:
            field_type = tantivy.FieldType.IpAddr
        elif ref.kind is SlotKind.DOUBLE:
            field_type = tantivy.FieldType.Float
            low = float(low) if low is not None else None
            high = float(high) if high is not None else None
        else:
            field_type = tantivy.FieldType.Integer
            low, include_low = _int_bound(low, include_low, up=True)
            high, include_high = _int_bound(high, include_high, up=False)
            if low is not None and high is not None and low > high:
                return empty()
        query = tantivy.Query.range_query(
            self.schema,
            ref.slot,
            field_type,
            low,
            high,
            include_lower=include_low if low is not None else True,
            include_upper=include_high if high is not None else True,
        )
        return tantivy.Query.const_score_query(query, q.boost)

    def _keyword_range(self, q: Range, ref: FieldRef) -> tantivy.Query:
        assert ref.slot is not None
        low = high = None
        include_low = include_high = True
        for op, value in (("gt", q.gt), ("gte", q.gte), ("lt", q.lt), ("lte", q.lte)):
            if value is None:
                continue
            if op in ("gt", "gte"):
                low, include_low = self._keyword(ref, value), op == "gte"
            else:
                high, include_high = self._keyword(ref, value), op == "lte"
        if low is None and high is None:
            return self._names(ref.path)
        if self.searcher is None:
            raise IllegalArgument("[range] on a keyword field needs an open index")
        terms = [t for t, _ in self.searcher.terms_with_prefix(ref.slot, "")]
        if len(terms) > MAX_RANGE_TERMS:
            raise IllegalArgument(
                f"[range] on the keyword field [{ref.path}] spans more than {MAX_RANGE_TERMS} "
                "distinct values on this node; use a narrower field"
            )
        chosen = [
            t
            for t in terms
            if (low is None or t > low or (include_low and t == low))
            and (high is None or t < high or (include_high and t == high))
        ]
        if not chosen:
            return empty()
        return tantivy.Query.term_set_query(self.schema, ref.slot, chosen)

    def _bound(self, ref: FieldRef, q: Range, value: Scalar, *, round_up: bool) -> Any:
        if ref.kind is SlotKind.BOOLEAN:
            return _boolean(value)
        if ref.kind is SlotKind.DATE:
            return resolve_date(
                value,
                now=self.now,
                round_up=round_up,
                formats=_date_formats(q.format or ref.format, value),
                time_zone=q.time_zone,
            )
        if ref.kind is SlotKind.IP:
            return _ip_bounds(_text(value))[0 if not round_up else 1]
        return self._number(ref, value)

    def _date_span(self, ref: FieldRef, value: Scalar) -> tuple[int, int]:
        formats = _date_formats(ref.format, value)
        low = resolve_date(value, now=self.now, formats=formats)
        high = resolve_date(value, now=self.now, formats=formats, round_up=True)
        return low, high

    def _number(self, ref: FieldRef, value: Scalar) -> int | float:
        number = _number(ref, value)
        if ref.kind is SlotKind.DOUBLE:
            return number
        if not number.is_integer():
            raise QueryShardError(
                f"failed to create query: Value [{_text(value)}] has a decimal part",
                index=self.index_name,
            )
        return int(number)

    def _names(self, path: str) -> tantivy.Query:
        return tantivy.Query.term_query(self.schema, f.NAMES_FIELD, path)

    def _exists(self, q: Exists) -> tantivy.Query:
        self._count()
        if "*" in q.field:
            names = self.expand(q.field)
        elif self.table.get(q.field) is not None:
            names = [q.field]
        elif self.table.is_object(q.field):
            prefix = q.field + "."
            names = [n for n in self.table.fields if n.startswith(prefix)]
        else:
            names = []
        if not names:
            return empty()
        query = (
            self._names(names[0])
            if len(names) == 1
            else tantivy.Query.term_set_query(self.schema, f.NAMES_FIELD, names)
        )
        return tantivy.Query.const_score_query(query, q.boost)

    def _prefix(self, q: Prefix, ref: FieldRef) -> tantivy.Query:
        assert ref.slot is not None
        self._count()
        if ref.kind is not SlotKind.KEYWORD and not ref.kind.is_text:
            raise QueryShardError(
                f"Can only use prefix queries on keyword and text fields - not on [{ref.path}] "
                f"which is of type [{ref.es_type}]",
                index=self.index_name,
            )
        value = self._keyword(ref, q.value) if ref.kind is SlotKind.KEYWORD else q.value
        pattern = ("(?i)" if q.case_insensitive else "") + _regex_escape(value) + ".*"
        query = tantivy.Query.regex_query(self.schema, ref.slot, pattern)
        return tantivy.Query.const_score_query(query, q.boost)

    def _wildcard(self, q: Wildcard, ref: FieldRef) -> tantivy.Query:
        assert ref.slot is not None
        self._count()
        if ref.kind is not SlotKind.KEYWORD and not ref.kind.is_text:
            raise QueryShardError(
                f"Can only use wildcard queries on keyword and text fields - not on "
                f"[{ref.path}] which is of type [{ref.es_type}]",
                index=self.index_name,
            )
        pattern = ("(?i)" if q.case_insensitive else "") + wildcard_regex(q.value)
        query = tantivy.Query.regex_query(self.schema, ref.slot, pattern)
        return tantivy.Query.const_score_query(query, q.boost)

    def _fuzzy(self, q: Fuzzy, ref: FieldRef) -> tantivy.Query:
        assert ref.slot is not None
        self._count()
        if ref.kind is not SlotKind.KEYWORD and not ref.kind.is_text:
            raise QueryShardError(
                f"Can only use fuzzy queries on keyword and text fields - not on [{ref.path}] "
                f"which is of type [{ref.es_type}]",
                index=self.index_name,
            )
        value = self._keyword(ref, q.value) if ref.kind is SlotKind.KEYWORD else q.value
        return _boosted(self._fuzzy_term(q, ref, value), q.boost)

    def _fuzzy_term(self, q: Fuzzy, ref: FieldRef, term: str) -> tantivy.Query:
        """Terms within the edit distance; a `prefix_length` enumerates the terms sharing the
        prefix (at most `MAX_FUZZY_SCAN`) and keeps the `max_expansions` nearest."""
        assert ref.slot is not None
        distance = fuzzy_distance(q.fuzziness, term)
        if distance == 0:
            return tantivy.Query.term_query(self.schema, ref.slot, term)
        if q.prefix_length <= 0:
            return tantivy.Query.fuzzy_term_query(
                self.schema,
                ref.slot,
                term,
                distance=distance,
                transposition_cost_one=q.transpositions,
            )
        if self.searcher is None:
            raise IllegalArgument("[fuzzy] with [prefix_length] needs an open index")
        prefix = term[: q.prefix_length]
        found = self.searcher.terms_with_prefix(ref.slot, prefix)
        if len(found) > MAX_FUZZY_SCAN:
            raise IllegalArgument(
                f"[fuzzy] prefix [{prefix}] on [{ref.path}] spans more than {MAX_FUZZY_SCAN} "
                "terms on this node; use a longer prefix_length"
            )
        near = sorted(
            (d, t) for t, _ in found if (d := _edit_distance(term, t, q.transpositions)) <= distance
        )[: q.max_expansions]
        if not near:
            return empty()
        return tantivy.Query.term_set_query(self.schema, ref.slot, [t for _, t in near])

    def _regexp(self, q: Regexp, ref: FieldRef) -> tantivy.Query:
        assert ref.slot is not None
        self._count()
        if ref.kind is not SlotKind.KEYWORD and not ref.kind.is_text:
            raise QueryShardError(
                f"Can only use regexp queries on keyword and text fields - not on [{ref.path}] "
                f"which is of type [{ref.es_type}]",
                index=self.index_name,
            )
        pattern = ("(?i)" if q.case_insensitive else "") + lucene_regex(q.value, q.flags)
        try:
            query = tantivy.Query.regex_query(self.schema, ref.slot, pattern)
        except ValueError as exc:
            raise QueryShardError(
                f"failed to create query: invalid regular expression [{q.value}]: {exc}",
                index=self.index_name,
            ) from None
        return tantivy.Query.const_score_query(query, q.boost)

    def _ids(self, q: Ids) -> tantivy.Query:
        if not q.values:
            return empty()
        self._count()
        query = tantivy.Query.term_set_query(self.schema, f.ID_FIELD, list(q.values))
        return tantivy.Query.const_score_query(query, q.boost)

    # -- compound ----------------------------------------------------------------------------

    def _bool(self, q: Bool, scoring: bool) -> tantivy.Query:
        if not (q.must or q.should or q.filter or q.must_not):
            return _boosted(_all(), q.boost)
        need = q.required_shoulds()
        clauses: list[tuple[Any, tantivy.Query]] = []
        for clause in q.must:
            clauses.append((Occur.Must, self._compile(clause, scoring)))
        for clause in q.filter:
            inner = self._compile(clause, False)
            clauses.append((Occur.Must, tantivy.Query.const_score_query(inner, 0.0)))
        for clause in q.must_not:
            clauses.append((Occur.MustNot, self._compile(clause, False)))
        shoulds = [self._compile(clause, scoring) for clause in q.should]
        if shoulds and not q.must and not q.filter:
            need = max(need, 1)
        if need > len(shoulds):
            return empty()
        if need == 0 or (need == 1 and not q.must and not q.filter):
            # optional next to musts; at least one is required when there is no must (tantivy)
            clauses += [(Occur.Should, s) for s in shoulds]
        else:
            at_least = tantivy.Query.boolean_query(
                [(Occur.Should, s) for s in shoulds],
                minimum_number_should_match=need if need > 1 else None,
            )
            clauses.append((Occur.Must, at_least))
        if not any(occur is not Occur.MustNot for occur, _ in clauses):
            clauses.append((Occur.Must, tantivy.Query.const_score_query(_all(), 0.0)))
        return _boosted(tantivy.Query.boolean_query(clauses), q.boost)


# -- helpers (pure) --------------------------------------------------------------------------


def _all() -> tantivy.Query:
    return tantivy.Query.all_query()


def _boosted(query: tantivy.Query, boost: float) -> tantivy.Query:
    return query if boost == 1.0 else tantivy.Query.boost_query(query, boost)


def _dis_max(parts: Sequence[tantivy.Query], tie_breaker: float) -> tantivy.Query:
    if not parts:
        return empty()
    if len(parts) == 1:
        return parts[0]
    return tantivy.Query.disjunction_max_query(list(parts), tie_breaker=tie_breaker)


def _any(parts: Sequence[tantivy.Query]) -> tantivy.Query:
    if not parts:
        return empty()
    if len(parts) == 1:
        return parts[0]
    return tantivy.Query.boolean_query([(Occur.Should, p) for p in parts])


def _text(value: Scalar) -> str:
    """A value as keyword text (``true``/``false`` for booleans, as Elasticsearch writes them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(ref: FieldRef, value: Scalar) -> float:
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except ValueError:
        raise QueryShardError(
            f'failed to create query: For input string: "{_text(value)}"', field=ref.path
        ) from None
    if not math.isfinite(number):
        raise QueryShardError(f"failed to create query: [{value}] is not a finite number")
    return number


def _int_bound(value: Any, inclusive: bool, *, up: bool) -> tuple[Any, bool]:
    """An integer bound from a possibly fractional one (``gt 1.5`` is ``gte 2``)."""
    if value is None or isinstance(value, int):
        return value, inclusive
    number = float(value)
    if number.is_integer():
        return int(number), inclusive
    return (math.ceil(number) if up else math.floor(number)), True


def _boolean(value: Scalar) -> int:
    if value is True or value == "true":
        return 1
    if value is False or value in ("false", ""):
        return 0
    raise QueryShardError(
        f"failed to create query: Can't parse boolean value [{_text(value)}], "
        "expected [true] or [false]"
    )


def _date_formats(formats: str | None, value: Scalar) -> str:
    formats = formats or DEFAULT_FORMAT
    if not isinstance(value, str) and "epoch" not in formats:
        formats += "||epoch_millis"
    return formats


def _ip_bounds(text: str) -> tuple[str, str]:
    """The first and last address of an IP or CIDR, as IPv6 (IPv4 mapped)."""
    import ipaddress

    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise QueryShardError(f"'{text}' is not an IP string literal.") from None
    low, high = network[0], network[-1]
    if isinstance(low, ipaddress.IPv4Address):
        return f"::ffff:{low}", f"::ffff:{high}"
    return str(low), str(high)


_REGEX_SPECIAL = set("\\.+*?()|[]{}^$#&-~")


def _regex_escape(text: str) -> str:
    """`text` as a literal in tantivy's (Rust) regex syntax."""
    return "".join("\\" + ch if ch in _REGEX_SPECIAL else ch for ch in text)


def wildcard_regex(pattern: str) -> str:
    """An Elasticsearch wildcard pattern (``*``, ``?``, ``\\`` escapes) as a Rust regex."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(_regex_escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "*" else "." if ch == "?" else _regex_escape(ch))
        i += 1
    return "".join(out)


def _name_of(node: Any) -> str:
    return type(node).__name__.lower()


def _index_matches(node: Any, index_name: str) -> bool:
    """Whether an ``_index`` term, terms, prefix, wildcard or match names `index_name`."""
    if isinstance(node, Term):
        return _text(node.value) == index_name
    if isinstance(node, Match):
        return _text(node.query) == index_name
    if isinstance(node, Terms):
        return index_name in {_text(v) for v in node.values}
    if isinstance(node, Prefix):
        return index_name.startswith(node.value)
    if isinstance(node, Wildcard):
        flags = re.IGNORECASE if node.case_insensitive else 0
        return re.fullmatch(_py_wildcard(node.value), index_name, flags) is not None
    raise QueryShardError(
        f"Field [_index] of type [_index] does not support {_name_of(node)} queries"
    )


def _py_wildcard(pattern: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)


def _edit_distance(a: str, b: str, transpositions: bool) -> int:
    """Levenshtein distance (optimal string alignment when `transpositions`)."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if transpositions and i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


_LUCENE_SHORTHAND = frozenset("dDsSwW")


def lucene_regex(pattern: str, flags: frozenset[str]) -> str:
    """A Lucene regular expression as a Rust one (whole-term match either way).

    ``^`` and ``$`` are literals in Lucene; ``"..."`` is a literal string; with their flags
    ``@`` is any string and ``#`` the empty language, while complement ``~``, intersection
    ``&`` and intervals ``<n-m>`` are refused (400) rather than misread.
    """
    every = "ALL" in flags
    optional = {
        "ANYSTRING": every or "ANYSTRING" in flags or "AUTOMATON" in flags,
        "EMPTY": every or "EMPTY" in flags,
        "COMPLEMENT": every or "COMPLEMENT" in flags,
        "INTERSECTION": every or "INTERSECTION" in flags,
        "INTERVAL": every or "INTERVAL" in flags,
    }
    out, i, in_class = [], 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            out.append("\\" + nxt if nxt in _LUCENE_SHORTHAND else _regex_escape(nxt))
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
                out.append(ch)
            else:
                out.append("\\" + ch if ch in "[&~" else ch)
            i += 1
            continue
        if ch == "[":
            in_class = True
            out.append(ch)
            if pattern[i + 1 : i + 2] == "^":
                out.append("^")
                i += 1
        elif ch == '"':
            end = pattern.find('"', i + 1)
            if end < 0:
                raise IllegalArgument(f"expected '\"' at position {len(pattern)}")
            out.append(_regex_escape(pattern[i + 1 : end]))
            i = end
        elif ch == "@" and optional["ANYSTRING"]:
            out.append(".*")
        elif ch == "#" and optional["EMPTY"]:
            out.append("[^\\s\\S]")
        elif (ch == "~" and optional["COMPLEMENT"]) or (ch == "&" and optional["INTERSECTION"]):
            raise IllegalArgument(
                f"[regexp] the operator [{ch}] is not supported by this node; pass [flags] "
                "without it to match it literally"
            )
        elif ch == "<" and optional["INTERVAL"]:
            raise IllegalArgument("[regexp] numeric intervals <n-m> are not supported by this node")
        elif ch in ".?+*|{}(),0123456789":
            out.append(ch)
        else:
            out.append(_regex_escape(ch))
        i += 1
    return "".join(out)


def is_keyword_like(es_type: str, definition: dict[str, Any]) -> bool:
    """Whether a field's values are whole keywords (sortable, aggregatable)."""
    return kind_of(es_type, definition) is SlotKind.KEYWORD


__all__ = [
    "IllegalArgument",
    "QueryCompiler",
    "empty",
    "is_keyword_like",
    "lucene_regex",
    "wildcard_regex",
]
