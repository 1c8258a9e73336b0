"""Query trees compiled to SQL over one index. Pure: builds SQL text and parameters only.

Every node becomes a *relation*: a SELECT with exactly two columns, ``doc`` (a ``docs.rowid``)
and ``score``, and each document at most once. Relations nest as subqueries, so SQLite plans
the whole query at once and no score is materialised in Python.

- Text clauses are FTS5 ``MATCH`` on the field's table (rowid = docs.rowid), scored
  ``-bm25()`` (FTS5's bm25 is negative; lower is better). Query text is tokenized here and each
  token quoted (`citadel.node.search.fts`), so user input is never FTS5 syntax.
- Keyword, numeric, date and boolean clauses read ``doc_values`` through its
  ``(index_id, field, kw|num)`` indices and score a constant (the boost), as Elasticsearch's
  term-level queries do.
- ``bool``: ``must`` relations are joined and their scores summed; ``should`` relations are
  unioned and grouped per document (``SUM(score)``, ``COUNT(*)`` = clauses matched), then either
  drive the query (no must, ``minimum_should_match`` ≥ 1) or are left-joined for their score;
  ``filter`` is ``doc IN (...)`` and ``must_not`` ``doc NOT IN (...)``, both unscored.
- Clauses in filter context compile with ``scoring=False``: FTS5 skips bm25, scores are 0.

A field name with ``*`` (from ``query_string`` and ``multi_match``) expands to the matching
mapped fields, combined as ``dis_max``, leniently: a value a field cannot hold skips it.

SQLite's own limits (64 tables in a join, 500 members in a compound SELECT, expressions
1000 deep) are kept away from: more than `MAX_JOINED` musts or filters become one grouped
relation, unions nest in chunks of `MAX_COMPOUND`, and a query may hold at most
`MAX_CLAUSES` leaf clauses (a full-text query counts its tokens), past which it is a 400.
"""

# ruff: noqa: S608
# SQL is assembled from fixed fragments; every value is a bound parameter and the only
# identifiers are FTS5 table names read from text_fields and checked against [A-Za-z0-9_]+.

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

from citadel.node.errors import IllegalArgument
from citadel.node.search import fts
from citadel.node.search.catalog import Field, FieldKind, IndexFields
from citadel.node.search.date_math import resolve_date
from citadel.node.search.dsl import (
    MAX_CLAUSES,
    Bool,
    ConstantScore,
    DisMax,
    Exists,
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
    Scalar,
    Term,
    Terms,
    Wildcard,
    resolve_minimum_should_match,
)
from citadel.node.search.errors import DateParseError, QueryShardError, TooManyClauses
from citadel.node.store.dates import DEFAULT_FORMAT

_TABLE = re.compile(r"^[A-Za-z0-9_]+$")
_HIGHEST = "\U0010ffff"  # prefix p: p <= kw < p + _HIGHEST (an index range, case-sensitive)
MAX_DATE_TERMS = 1024
MAX_COMBINATIONS = 64
MAX_JOINED = 8
MAX_COMPOUND = 400

N = TypeVar("N", Match, MatchPhrase, Term, Terms, Range, Prefix, Wildcard)


@dataclass(frozen=True)
class Sql:
    """SQL text and its positional parameters, in order of appearance."""

    text: str
    params: tuple[Any, ...] = ()


EMPTY = Sql("SELECT NULL AS doc, 0.0 AS score WHERE 0")


class QueryCompiler:
    """Compiles query trees against one index; `now` anchors date math."""

    def __init__(self, index: IndexFields, *, now: datetime) -> None:
        self.index = index
        self.now = now
        self.clauses = 0

    # -- dispatch ----------------------------------------------------------------------

    def relation(self, query: Query, *, scoring: bool = True) -> Sql:
        """The (doc, score) relation of `query`; scores are 0 when not `scoring`."""
        match query:
            case MatchAll():
                return self._all_docs(query.boost if scoring else 0.0)
            case MatchNone():
                return EMPTY
            case Match():
                return self._per_field(query, scoring, self._match, lenient=query.lenient)
            case MatchPhrase():
                return self._per_field(query, scoring, self._match_phrase)
            case MultiMatch():
                return self._multi_match(query, scoring)
            case Term():
                return self._per_field(query, scoring, self._term)
            case Terms():
                return self._per_field(query, scoring, self._terms)
            case Range():
                return self._per_field(query, scoring, self._range)
            case Exists():
                return self._exists(query, scoring)
            case Prefix():
                return self._per_field(query, scoring, self._prefix)
            case Wildcard():
                return self._per_field(query, scoring, self._wildcard)
            case Ids():
                return self._ids(query, scoring)
            case Bool():
                return self._bool(query, scoring)
            case ConstantScore():
                inner = self.relation(query.filter, scoring=False)
                return self._constant(inner, query.boost if scoring else 0.0)
            case DisMax():
                parts = [self.relation(q, scoring=scoring) for q in query.queries]
                return dis_max(parts, query.tie_breaker, query.boost, scoring=scoring)
        raise TypeError(f"not a query: {query!r}")  # pragma: no cover

    def _per_field(
        self,
        node: N,
        scoring: bool,
        build: Callable[[N, Field, bool], Sql],
        *,
        lenient: bool = False,
    ) -> Sql:
        if "*" in node.field:
            names = self.expand(node.field)
            parts = [
                self._one_field(replace(node, field=name), scoring, build, lenient=True)
                for name in names
            ]
            return dis_max(parts, 0.0, 1.0, scoring=scoring)
        return self._one_field(node, scoring, build, lenient=lenient)

    def _one_field(
        self, node: N, scoring: bool, build: Callable[[N, Field, bool], Sql], *, lenient: bool
    ) -> Sql:
        field = self.index.get(node.field)
        if field is None:
            return EMPTY
        try:
            return build(node, field, scoring)
        except (QueryShardError, DateParseError):
            if lenient:
                return EMPTY
            raise

    def expand(self, pattern: str) -> list[str]:
        """Mapped field names matching a ``*`` pattern, sorted."""
        regex = _wildcard_regex(pattern)
        return sorted(name for name in self.index.fields if regex.fullmatch(name))

    # -- full text ---------------------------------------------------------------------

    def _match(self, q: Match, field: Field, scoring: bool) -> Sql:
        if field.kind is not FieldKind.TEXT:
            return self._exact(field, q.query, q.boost if scoring else 0.0)
        tokens = fts.unique(fts.analyze(_text(q.query)))
        if not tokens:
            return self._zero_terms(q.zero_terms_all, q.boost, scoring)
        _check_clauses(len(tokens))
        table = self._table(field)
        if table is None:
            return EMPTY
        count = len(tokens)
        if q.operator is Operator.AND:
            need = count
        elif q.minimum_should_match is not None:
            need = max(1, resolve_minimum_should_match(q.minimum_should_match, count))
        else:
            need = 1
        if need > count:
            return EMPTY
        if need == count:
            return self._fts(table, fts.all_of(tokens), q.boost, scoring)
        if need == 1:
            return self._fts(table, fts.any_of(tokens), q.boost, scoring)
        if math.comb(count, need) <= MAX_COMBINATIONS:
            # "at least `need` of the tokens" as FTS5 syntax: any `need`-subset all present.
            # Each token then appears in comb(count-1, need-1) phrases, and bm25() sums over
            # phrases, so dividing by that count gives back the plain sum per token.
            repeats = math.comb(count - 1, need - 1)
            return self._fts(table, fts.at_least(tokens, need), q.boost / repeats, scoring)
        # Too many subsets: count the tokens each document has through one relation per
        # token, grouped (each relation holds a document at most once).
        per_token = [
            Sql(
                f'SELECT rowid AS doc, 0.0 AS score FROM "{table}" WHERE "{table}" MATCH ?',
                (fts.string(t),),
            )
            for t in tokens
        ]
        enough = group(per_token, need=need)
        return self._fts(
            table,
            fts.any_of(tokens),
            q.boost,
            scoring,
            extra=f" AND +rowid IN (SELECT doc FROM ({enough.text}))",
            extra_params=enough.params,
        )

    def _match_phrase(self, q: MatchPhrase, field: Field, scoring: bool) -> Sql:
        if field.kind is not FieldKind.TEXT:
            if q.prefix and field.kind is FieldKind.KEYWORD:
                return self._prefix(Prefix(q.field, q.query, q.boost), field, scoring)
            return self._exact(field, q.query, q.boost if scoring else 0.0)
        tokens = fts.analyze(q.query)
        if not tokens:
            return self._zero_terms(q.zero_terms_all, q.boost, scoring)
        _check_clauses(len(tokens))
        table = self._table(field)
        if table is None:
            return EMPTY
        return self._fts(table, fts.phrase(tokens, prefix=q.prefix, slop=q.slop), q.boost, scoring)

    def _multi_match(self, q: MultiMatch, scoring: bool) -> Sql:
        if q.fields is None:
            targets = [(name, 1.0, True) for name in sorted(self.index.fields)]
        else:
            targets = []
            for spec in q.fields:
                if "*" in spec.pattern:
                    targets += [(n, spec.boost, True) for n in self.expand(spec.pattern)]
                else:
                    targets.append((spec.pattern, spec.boost, q.lenient))
        parts = []
        for name, boost, lenient in targets:
            node: Match | MatchPhrase
            if q.type in (MultiMatchType.PHRASE, MultiMatchType.PHRASE_PREFIX):
                node = MatchPhrase(
                    name,
                    _text(q.query),
                    slop=q.slop,
                    prefix=q.type is MultiMatchType.PHRASE_PREFIX,
                    boost=boost * q.boost,
                    zero_terms_all=q.zero_terms_all,
                )
                parts.append(self._one_field(node, scoring, self._match_phrase, lenient=lenient))
            else:
                node = Match(
                    name,
                    q.query,
                    operator=q.operator,
                    minimum_should_match=q.minimum_should_match,
                    boost=boost * q.boost,
                    zero_terms_all=q.zero_terms_all,
                )
                parts.append(self._one_field(node, scoring, self._match, lenient=lenient))
        tie_breaker = 1.0 if q.type is MultiMatchType.MOST_FIELDS else q.tie_breaker
        return dis_max(parts, tie_breaker, 1.0, scoring=scoring)

    def _zero_terms(self, match_all: bool, boost: float, scoring: bool) -> Sql:
        return self._all_docs(boost if scoring else 0.0) if match_all else EMPTY

    # -- term level --------------------------------------------------------------------

    def _term(self, q: Term, field: Field, scoring: bool) -> Sql:
        score = q.boost if scoring else 0.0
        if field.kind is FieldKind.TEXT:
            token = _text(q.value)
            if not fts.is_single_token(token) or (
                not q.case_insensitive and token != token.lower()
            ):
                return EMPTY
            table = self._table(field)
            if table is None:
                return EMPTY
            return self._fts(table, fts.string(token), q.boost, scoring)
        if field.kind is FieldKind.KEYWORD and q.case_insensitive:
            return self._values(field.name, "lower(kw) = lower(?)", (_text(q.value),), score)
        return self._exact(field, q.value, score)

    def _terms(self, q: Terms, field: Field, scoring: bool) -> Sql:
        score = q.boost if scoring else 0.0
        if not q.values:
            return EMPTY
        if field.kind is FieldKind.TEXT:
            tokens = [t for t in map(_text, q.values) if fts.is_single_token(t) and t == t.lower()]
            table = self._table(field)
            if not tokens or table is None:
                return EMPTY
            return self._fts(table, fts.any_of(tokens), score, scoring, constant=True)
        if field.kind is FieldKind.KEYWORD:
            values: list[Any] = [_text(v) for v in q.values]
        elif field.kind is FieldKind.DATE:
            if len(q.values) > MAX_DATE_TERMS:
                raise IllegalArgument(f"[terms] on a date field takes at most {MAX_DATE_TERMS}")
            bounds = [self._date_span(field, v) for v in q.values]
            condition = " OR ".join("num BETWEEN ? AND ?" for _ in bounds)
            return self._values(field.name, f"({condition})", _flat(bounds), score)
        elif field.kind is FieldKind.BOOLEAN:
            values = [_boolean(v) for v in q.values]
        else:
            values = [_number(field, v) for v in q.values]
        column = field.kind.column
        return self._values(
            field.name,
            f"{column} IN (SELECT value FROM json_each(?))",
            (json.dumps(values),),
            score,
        )

    def _exact(self, field: Field, value: Scalar, score: float) -> Sql:
        """Documents whose non-text field holds exactly `value` (a day, for a date)."""
        if field.kind is FieldKind.KEYWORD:
            return self._values(field.name, "kw = ?", (_text(value),), score)
        if field.kind is FieldKind.DATE:
            return self._values(
                field.name, "num BETWEEN ? AND ?", self._date_span(field, value), score
            )
        if field.kind is FieldKind.BOOLEAN:
            return self._values(field.name, "num = ?", (_boolean(value),), score)
        return self._values(field.name, "num = ?", (_number(field, value),), score)

    def _range(self, q: Range, field: Field, scoring: bool) -> Sql:
        if field.kind is FieldKind.TEXT:
            return EMPTY
        column = field.kind.column
        conditions, params = [], []
        for op, value in (("gt", q.gt), ("gte", q.gte), ("lt", q.lt), ("lte", q.lte)):
            if value is None:
                continue
            conditions.append(f"{column} {_OPERATORS[op]} ?")
            params.append(self._bound(field, q, value, round_up=op in ("gt", "lte")))
        if not conditions:
            conditions.append(f"{column} IS NOT NULL")
        return self._values(
            field.name, " AND ".join(conditions), tuple(params), q.boost if scoring else 0.0
        )

    def _bound(self, field: Field, q: Range, value: Scalar, *, round_up: bool) -> Any:
        if field.kind is FieldKind.KEYWORD:
            return _text(value)
        if field.kind is FieldKind.BOOLEAN:
            return _boolean(value)
        if field.kind is FieldKind.DATE:
            return resolve_date(
                value,
                now=self.now,
                round_up=round_up,
                formats=_date_formats(q.format or field.format, value),
                time_zone=q.time_zone,
            )
        return _number(field, value)

    def _date_span(self, field: Field, value: Scalar) -> tuple[int, int]:
        formats = _date_formats(field.format, value)
        low = resolve_date(value, now=self.now, formats=formats)
        high = resolve_date(value, now=self.now, formats=formats, round_up=True)
        return low, high

    def _exists(self, q: Exists, scoring: bool) -> Sql:
        score = q.boost if scoring else 0.0
        if "*" in q.field:
            names = self.expand(q.field)
            if not names:
                return EMPTY
            return self._doc_values(
                "field IN (SELECT value FROM json_each(?))", (json.dumps(names),), score
            )
        if self.index.get(q.field) is not None:
            return self._doc_values("field = ?", (q.field,), score)
        if self.index.is_object(q.field):
            return self._doc_values(
                "field > ? AND field < ?", (q.field + ".", q.field + "/"), score
            )
        return EMPTY

    def _prefix(self, q: Prefix, field: Field, scoring: bool) -> Sql:
        score = q.boost if scoring else 0.0
        if field.kind is FieldKind.KEYWORD:
            if q.case_insensitive:
                return self._values(
                    field.name, "kw LIKE ? ESCAPE '\\'", (_like_escape(q.value) + "%",), score
                )
            if not q.value:
                return self._values(field.name, "kw IS NOT NULL", (), score)
            return self._values(
                field.name, "kw >= ? AND kw < ?", (q.value, q.value + _HIGHEST), score
            )
        if field.kind is FieldKind.TEXT:
            if not q.value:
                return self._doc_values("field = ?", (field.name,), score)
            if not fts.is_single_token(q.value) or (
                not q.case_insensitive and q.value != q.value.lower()
            ):
                return EMPTY
            table = self._table(field)
            if table is None:
                return EMPTY
            return self._fts(table, fts.prefix(q.value), score, scoring, constant=True)
        raise QueryShardError(
            f"Can only use prefix queries on keyword and text fields - not on [{field.name}] "
            f"which is of type [{field.kind}]",
            index=self.index.name,
        )

    def _wildcard(self, q: Wildcard, field: Field, scoring: bool) -> Sql:
        score = q.boost if scoring else 0.0
        if field.kind is FieldKind.KEYWORD:
            if q.case_insensitive:
                return self._values(field.name, "kw LIKE ? ESCAPE '\\'", (_like(q.value),), score)
            return self._values(field.name, "kw GLOB ?", (_glob(q.value),), score)
        if field.kind is FieldKind.TEXT:
            literal = q.value[:-1]
            if q.value.endswith("*") and "*" not in literal and "?" not in literal:
                return self._prefix(
                    Prefix(q.field, literal, q.boost, q.case_insensitive), field, scoring
                )
            raise QueryShardError(
                f"[wildcard] on the text field [{field.name}] supports only a trailing [*]",
                index=self.index.name,
            )
        raise QueryShardError(
            f"Can only use wildcard queries on keyword and text fields - not on "
            f"[{field.name}] which is of type [{field.kind}]",
            index=self.index.name,
        )

    def _ids(self, q: Ids, scoring: bool) -> Sql:
        if not q.values:
            return EMPTY
        self._count_clause()
        return Sql(
            "SELECT rowid AS doc, ? AS score FROM docs "
            "WHERE index_id = ? AND doc_id IN (SELECT value FROM json_each(?))",
            (q.boost if scoring else 0.0, self.index.id, json.dumps(list(q.values))),
        )

    # -- compound ----------------------------------------------------------------------

    def _bool(self, q: Bool, scoring: bool) -> Sql:
        need = q.required_shoulds()
        if not q.must and not q.filter and q.should:
            need = max(need, 1)
        musts = [self.relation(c, scoring=scoring) for c in q.must]
        filters = [self.relation(c, scoring=False) for c in q.filter]
        if any(r is EMPTY for r in (*musts, *filters)):
            return EMPTY
        nots = [r for r in (self.relation(c, scoring=False) for c in q.must_not) if r is not EMPTY]
        shoulds = []
        if need > 0 or scoring:
            shoulds = [
                r for r in (self.relation(c, scoring=scoring) for c in q.should) if r is not EMPTY
            ]
        if need > len(shoulds):
            return EMPTY
        # SQLite joins at most 64 tables and nests expressions at most 1000 deep: beyond a
        # few clauses, musts and filters become one grouped relation each (a document in
        # all of them), and must_nots one union.
        if len(musts) > MAX_JOINED:
            musts = [group(musts, need=len(musts))]
        if len(filters) > MAX_JOINED:
            filters = [group(filters, need=len(filters))]
        if len(nots) > MAX_JOINED:
            nots = [union_all(nots)]

        scores: list[str] = []
        joins: list[Sql] = []
        where: list[Sql] = []
        if musts:
            base = "m0"
            joins.append(Sql(f"({musts[0].text}) AS m0", musts[0].params))
            for i, must in enumerate(musts[1:], start=1):
                joins.append(Sql(f"JOIN ({must.text}) AS m{i} ON m{i}.doc = m0.doc", must.params))
            scores += [f"m{i}.score" for i in range(len(musts))]
        elif need > 0:
            base = "s"
            grouped = group(shoulds, need=need)
            joins.append(Sql(f"({grouped.text}) AS s", grouped.params))
            scores.append("s.score")
            shoulds = []
        elif filters:
            base = "f0"
            joins.append(Sql(f"({filters[0].text}) AS f0", filters[0].params))
            filters = filters[1:]
        else:
            base = "a"
            everything = self._all_docs(0.0)
            joins.append(Sql(f"({everything.text}) AS a", everything.params))
            if not q.must_not and not q.should:
                scores.append("1.0")
        if shoulds:
            grouped = group(shoulds)
            joins.append(
                Sql(f"LEFT JOIN ({grouped.text}) AS s ON s.doc = {base}.doc", grouped.params)
            )
            scores.append("COALESCE(s.score, 0.0)")
            if need > 0:
                where.append(Sql("s.n >= ?", (need,)))
        # The unary plus keeps SQLite from handing "rowid IN (...)" to FTS5 as a rowid
        # constraint, which would run the full-text query once per filtered document.
        for f in filters:
            where.append(Sql(f"+{base}.doc IN (SELECT doc FROM ({f.text}))", f.params))
        for n in nots:
            where.append(Sql(f"+{base}.doc NOT IN (SELECT doc FROM ({n.text}))", n.params))

        score, score_params = ("0.0", ())
        if scoring and scores:
            score = " + ".join(scores)
            if q.boost != 1.0:
                score, score_params = f"({score}) * ?", (q.boost,)
        text = f"SELECT {base}.doc AS doc, {score} AS score FROM " + " ".join(j.text for j in joins)
        if where:
            text += " WHERE " + " AND ".join(w.text for w in where)
        params = (*score_params, *_flat(j.params for j in joins), *_flat(w.params for w in where))
        return Sql(text, params)

    # -- building blocks ---------------------------------------------------------------

    def _count_clause(self) -> None:
        self.clauses += 1
        _check_clauses(self.clauses)

    def _all_docs(self, score: float) -> Sql:
        self._count_clause()
        return Sql(
            "SELECT rowid AS doc, ? AS score FROM docs WHERE index_id = ?", (score, self.index.id)
        )

    def _values(self, field: str, condition: str, params: Sequence[Any], score: float) -> Sql:
        """Documents with a `doc_values` row of `field` meeting `condition`."""
        self._count_clause()
        return Sql(
            "SELECT DISTINCT doc_rowid AS doc, ? AS score FROM doc_values "
            f"WHERE index_id = ? AND field = ? AND {condition}",
            (score, self.index.id, field, *params),
        )

    def _doc_values(self, condition: str, params: Sequence[Any], score: float) -> Sql:
        self._count_clause()
        return Sql(
            "SELECT DISTINCT doc_rowid AS doc, ? AS score FROM doc_values "
            f"WHERE index_id = ? AND {condition}",
            (score, self.index.id, *params),
        )

    def _table(self, field: Field) -> str | None:
        table = self.index.fts_table(field.name)
        if table is not None and not _TABLE.match(table):
            raise ValueError(f"unexpected FTS table name {table!r}")
        return table

    def _fts(
        self,
        table: str,
        expression: str,
        boost: float,
        scoring: bool,
        *,
        constant: bool = False,
        extra: str = "",
        extra_params: Sequence[Any] = (),
    ) -> Sql:
        self._count_clause()
        if not scoring:
            score, params = "0.0", ()
        elif constant:
            score, params = "?", (boost,)
        else:
            score, params = f'-bm25("{table}") * ?', (boost,)
        return Sql(
            f'SELECT rowid AS doc, {score} AS score FROM "{table}" WHERE "{table}" MATCH ?{extra}',
            (*params, expression, *extra_params),
        )

    def _constant(self, inner: Sql, score: float) -> Sql:
        if inner is EMPTY:
            return EMPTY
        return Sql(f"SELECT doc, ? AS score FROM ({inner.text})", (score, *inner.params))


def dis_max(parts: Sequence[Sql], tie_breaker: float, boost: float, *, scoring: bool) -> Sql:
    """The union of relations, scored by the best (plus `tie_breaker` times the others)."""
    parts = [p for p in parts if p is not EMPTY]
    if not parts:
        return EMPTY
    if len(parts) == 1:
        if not scoring or boost == 1.0:
            return parts[0]
        return Sql(
            f"SELECT doc, score * ? AS score FROM ({parts[0].text})", (boost, *parts[0].params)
        )
    union = union_all(parts)
    if not scoring:
        return Sql(f"SELECT doc, 0.0 AS score FROM ({union.text}) GROUP BY doc", union.params)
    return Sql(
        f"SELECT doc, (MAX(score) + ? * (SUM(score) - MAX(score))) * ? AS score "
        f"FROM ({union.text}) GROUP BY doc",
        (tie_breaker, boost, *union.params),
    )


def group(parts: Sequence[Sql], *, need: int = 0) -> Sql:
    """(doc, score = the sum of the parts' scores, n = how many parts hold the document),
    for documents in at least `need` parts. Each part holds a document at most once."""
    if len(parts) == 1:  # no GROUP BY: bm25() cannot run inside an aggregate query
        return Sql(f"SELECT doc, score, 1 AS n FROM ({parts[0].text})", parts[0].params)
    union = union_all(parts)
    text = f"SELECT doc, SUM(score) AS score, COUNT(*) AS n FROM ({union.text}) GROUP BY doc"
    if need > 0:
        return Sql(text + " HAVING COUNT(*) >= ?", (*union.params, need))
    return Sql(text, union.params)


def union_all(parts: Sequence[Sql]) -> Sql:
    """(doc, score) of every part, as UNION ALLs of at most `MAX_COMPOUND` members each,
    nested as needed (SQLite refuses compound SELECTs of more than 500 members)."""
    members = [Sql(f"SELECT doc, score FROM ({p.text})", p.params) for p in parts]
    while len(members) > MAX_COMPOUND:
        chunks = [
            _compound(members[i : i + MAX_COMPOUND]) for i in range(0, len(members), MAX_COMPOUND)
        ]
        members = [Sql(f"SELECT doc, score FROM ({c.text})", c.params) for c in chunks]
    return _compound(members)


def _compound(members: Sequence[Sql]) -> Sql:
    return Sql(" UNION ALL ".join(m.text for m in members), _flat(m.params for m in members))


def _check_clauses(count: int) -> None:
    if count > MAX_CLAUSES:
        raise TooManyClauses(
            f"Query contains too many nested clauses; maxClauseCount is set to {MAX_CLAUSES}"
        )


_OPERATORS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def _flat(groups: Any) -> tuple[Any, ...]:
    return tuple(p for group in groups for p in group)


def _text(value: Scalar) -> str:
    """A value as keyword text (``true``/``false`` for booleans, as Elasticsearch writes them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(field: Field, value: Scalar) -> float:
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except ValueError:
        raise QueryShardError(
            f'failed to create query: For input string: "{_text(value)}"', field=field.name
        ) from None
    if not math.isfinite(number):
        raise QueryShardError(f"failed to create query: [{value}] is not a finite number")
    return number


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


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like(pattern: str) -> str:
    """An Elasticsearch wildcard pattern (``*``, ``?``, ``\\`` escapes) as LIKE (escape ``\\``)."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(_like_escape(pattern[i + 1]))
            i += 2
            continue
        out.append("%" if ch == "*" else "_" if ch == "?" else _like_escape(ch))
        i += 1
    return "".join(out)


def _glob(pattern: str) -> str:
    """An Elasticsearch wildcard pattern as GLOB (case-sensitive)."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            out.append(f"[{nxt}]" if nxt in "*?[" else nxt)
            i += 2
            continue
        out.append("[[]" if ch == "[" else ch)
        i += 1
    return "".join(out)


def _wildcard_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")))
