"""Lucene query syntax, the subset that ``q=`` and ``query_string`` users write. Pure.

Supported: bare words and ``field:word``, ``"phrases"`` (with ``~slop``), ``*`` (all
documents, or ``field:*`` for exists), ``pre*`` prefixes and ``w?ld*cards``, ranges
``field:[a TO b]``, ``{a TO b}``, ``field:>=a``, groups ``( )`` and ``field:( )``, boosts
``^2``, modifiers ``+`` / ``-`` / ``!``, and ``AND`` / ``OR`` / ``NOT`` (``&&``, ``||``) with
Lucene's classic precedence rules. Fuzziness (``~2`` after a word) is read and ignored. A word
without a field searches the default fields: all text and keyword fields (``*``) unless
``df`` / ``fields`` say otherwise. ``simple_query_string`` shares the parser with ``|`` for OR,
no field syntax, and never fails: text it cannot read is searched as words.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import NoReturn

from citadel.node.search.dsl import (
    Bool,
    DisMax,
    Exists,
    FieldBoost,
    Match,
    MatchAll,
    MatchNone,
    MatchPhrase,
    Operator,
    Prefix,
    Query,
    Range,
    Wildcard,
)
from citadel.node.search.errors import QueryShardError as QueryStringError

ALL_FIELDS = "*"
MAX_DEPTH = 32
_SPECIAL = set('()"[]{}^:~\\')


class _Occur(Enum):
    MUST = "must"
    SHOULD = "should"
    MUST_NOT = "must_not"


class _Conj(Enum):
    NONE = 0
    AND = 1
    OR = 2


class _Mod(Enum):
    NONE = 0
    REQ = 1
    NOT = 2


@dataclass
class _Clause:
    occur: _Occur
    query: Query


def parse_query_string(
    text: str,
    *,
    fields: tuple[FieldBoost, ...] | None = None,
    default_operator: Operator = Operator.OR,
    simple: bool = False,
) -> Query:
    """The query tree of a Lucene query string."""
    parser = _Parser(text, fields, default_operator, simple)
    if not simple:
        return parser.parse()
    try:
        return parser.parse()
    except QueryStringError:
        words = _Parser(_escape_all(text), fields, default_operator, simple)
        return words.parse()


def _escape_all(text: str) -> str:
    return "".join("\\" + ch if ch in _SPECIAL or ch in "+-|!*?" else ch for ch in text)


class _Parser:
    def __init__(
        self,
        text: str,
        fields: tuple[FieldBoost, ...] | None,
        operator: Operator,
        simple: bool,
    ) -> None:
        self.text = text
        self.pos = 0
        self.fields = fields
        self.operator = operator
        self.simple = simple

    # -- structure -------------------------------------------------------------------------

    def parse(self) -> Query:
        if not self.text.strip():
            return MatchNone()
        query = self._query(None, 0)
        if self.pos < len(self.text):
            self._fail(f"unexpected [{self.text[self.pos]}]")
        return query

    def _fail(self, why: str) -> NoReturn:
        raise QueryStringError(f"Failed to parse query [{self.text}]: {why}")

    def _query(self, field: str | None, depth: int) -> Query:
        if depth > MAX_DEPTH:
            self._fail("groups are nested too deeply")
        clauses: list[_Clause] = []
        conj = _Conj.NONE
        while True:
            self._skip_space()
            if self.pos >= len(self.text) or self.text[self.pos] == ")":
                break
            if self._keyword("AND") or self._symbol("&&"):
                conj = _Conj.AND
                continue
            if self._keyword("OR") or self._symbol("||") or (self.simple and self._symbol("|")):
                conj = _Conj.OR
                continue
            mod = _Mod.NONE
            if self._keyword("NOT") or self._symbol("!"):
                mod = _Mod.NOT
            elif self._symbol("+"):
                mod = _Mod.REQ
            elif self._symbol("-"):
                mod = _Mod.NOT
            self._skip_space()
            if self.pos >= len(self.text) or self.text[self.pos] == ")":
                self._fail("a modifier must be followed by a clause")
            self._add(clauses, conj, mod, self._clause(field, depth))
            conj = _Conj.NONE
        return _combine(clauses)

    def _add(self, clauses: list[_Clause], conj: _Conj, mod: _Mod, query: Query) -> None:
        """Lucene's classic QueryParser.addClause."""
        if clauses and conj == _Conj.AND and clauses[-1].occur != _Occur.MUST_NOT:
            clauses[-1].occur = _Occur.MUST
        if (
            clauses
            and self.operator == Operator.AND
            and conj == _Conj.OR
            and clauses[-1].occur != _Occur.MUST_NOT
        ):
            clauses[-1].occur = _Occur.SHOULD
        prohibited = mod == _Mod.NOT
        if self.operator == Operator.OR:
            required = mod == _Mod.REQ or (conj == _Conj.AND and not prohibited)
        else:
            required = not prohibited and conj != _Conj.OR
        if prohibited:
            occur = _Occur.MUST_NOT
        elif required:
            occur = _Occur.MUST
        else:
            occur = _Occur.SHOULD
        clauses.append(_Clause(occur, query))

    def _clause(self, field: str | None, depth: int) -> Query:
        if self._peek() not in ('"', "(", "[", "{") and not self.simple:
            start = self.pos
            name = self._word()
            if name and self._peek() == ":":
                self.pos += 1
                field = _unescape(name)
            else:
                self.pos = start
        ch = self._peek()
        if ch == "(":
            self.pos += 1
            query = self._query(field, depth + 1)
            if self._peek() != ")":
                self._fail("missing [)]")
            self.pos += 1
            return self._boosted(query)
        if ch == '"':
            return self._boosted(self._phrase(field))
        if not self.simple and ch in ("[", "{"):
            return self._boosted(self._range(field))
        if not self.simple and ch in ("<", ">") and field:
            return self._boosted(self._comparison(field))
        word = self._word()
        if not word:
            self._fail(f"unexpected [{ch}]")
        if self._peek() == "~":
            self.pos += 1
            self._number()
        return self._boosted(self._leaf(field, word))

    def _boosted(self, query: Query) -> Query:
        if self._peek() != "^":
            return query
        self.pos += 1
        boost = self._number()
        if boost is None:
            self._fail("a boost needs a number after [^]")
        return _with_boost(query, boost)

    # -- leaves ----------------------------------------------------------------------------

    def _leaf(self, field: str | None, raw: str) -> Query:
        if raw == "*" and (field is None or field == ALL_FIELDS):
            return MatchAll()
        if raw == "*":
            return Exists(field or ALL_FIELDS)
        wild = _wildcards(raw)
        text = _unescape(raw)
        if not wild:
            return self._on_fields(field, lambda f, b: Match(f, text, lenient=True, boost=b))
        if wild == [len(raw) - 1] and raw.endswith("*"):
            return self._on_fields(
                field, lambda f, b: Prefix(f, text[:-1], boost=b, case_insensitive=True)
            )
        pattern = _wildcard_pattern(raw)
        return self._on_fields(
            field, lambda f, b: Wildcard(f, pattern, boost=b, case_insensitive=True)
        )

    def _on_fields(self, field: str | None, make) -> Query:
        if field is not None:
            return make(field, 1.0)
        if self.fields is None:
            return make(ALL_FIELDS, 1.0)
        if len(self.fields) == 1:
            return make(self.fields[0].pattern, self.fields[0].boost)
        return DisMax(tuple(make(f.pattern, f.boost) for f in self.fields))

    def _phrase(self, field: str | None) -> Query:
        self.pos += 1
        out = []
        while self.pos < len(self.text) and self.text[self.pos] != '"':
            if self.text[self.pos] == "\\" and self.pos + 1 < len(self.text):
                self.pos += 1
            out.append(self.text[self.pos])
            self.pos += 1
        if self.pos >= len(self.text):
            self._fail('missing closing ["]')
        self.pos += 1
        slop = 0
        if self._peek() == "~":
            self.pos += 1
            slop = int(self._number() or 0)
        text = "".join(out)
        return self._on_fields(field, lambda f, b: MatchPhrase(f, text, slop=slop, boost=b))

    def _range(self, field: str | None) -> Query:
        if field is None:
            self._fail("a range needs a field")
        include_lower = self.text[self.pos] == "["
        self.pos += 1
        self._skip_space()
        lower = self._bound()
        self._skip_space()
        if not self._keyword("TO"):
            self._fail("a range needs [TO]")
        self._skip_space()
        upper = self._bound()
        self._skip_space()
        close = self._peek()
        if close not in ("]", "}"):
            self._fail("a range must end with [] or [}]")
        self.pos += 1
        include_upper = close == "]"
        return Range(
            field or ALL_FIELDS,
            gte=lower if include_lower else None,
            gt=None if include_lower else lower,
            lte=upper if include_upper else None,
            lt=None if include_upper else upper,
        )

    def _bound(self) -> str | None:
        if self._peek() == '"':
            self.pos += 1
            end = self.text.find('"', self.pos)
            if end < 0:
                self._fail('missing closing ["]')
            value, self.pos = self.text[self.pos : end], end + 1
            return value
        start = self.pos
        while self.pos < len(self.text) and not self.text[self.pos].isspace():
            if self.text[self.pos] in "]}":
                break
            self.pos += 1
        value = self.text[start : self.pos]
        if not value:
            self._fail("a range bound is missing")
        return None if value == "*" else _unescape(value)

    def _comparison(self, field: str) -> Query:
        op = "<" if self.text[self.pos] == "<" else ">"
        self.pos += 1
        if self._peek() == "=":
            op += "="
            self.pos += 1
        value = self._word()
        if not value:
            self._fail(f"[{op}] needs a value")
        bound = _unescape(value)
        return Range(
            field,
            lt=bound if op == "<" else None,
            lte=bound if op == "<=" else None,
            gt=bound if op == ">" else None,
            gte=bound if op == ">=" else None,
        )

    # -- characters ------------------------------------------------------------------------

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _symbol(self, symbol: str) -> bool:
        if self.text.startswith(symbol, self.pos):
            self.pos += len(symbol)
            return True
        return False

    def _keyword(self, word: str) -> bool:
        end = self.pos + len(word)
        if self.simple or not self.text.startswith(word, self.pos):
            return False
        if end < len(self.text) and not (self.text[end].isspace() or self.text[end] in "()"):
            return False
        self.pos = end
        return True

    def _word(self) -> str:
        start = self.pos
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "\\" and self.pos + 1 < len(self.text):
                self.pos += 2
                continue
            if ch.isspace() or ch in '()"^~' or (ch == ":" and not self.simple):
                break
            if self.simple and ch == "|":
                break
            self.pos += 1
        return self.text[start : self.pos]

    def _number(self) -> float | None:
        start = self.pos
        while self.pos < len(self.text) and (
            self.text[self.pos].isdigit() or self.text[self.pos] == "."
        ):
            self.pos += 1
        try:
            return float(self.text[start : self.pos])
        except ValueError:
            return None


def _combine(clauses: list[_Clause]) -> Query:
    if not clauses:
        return MatchNone()
    if len(clauses) == 1 and clauses[0].occur != _Occur.MUST_NOT:
        return clauses[0].query
    return Bool(
        must=tuple(c.query for c in clauses if c.occur == _Occur.MUST),
        should=tuple(c.query for c in clauses if c.occur == _Occur.SHOULD),
        must_not=tuple(c.query for c in clauses if c.occur == _Occur.MUST_NOT),
    )


def _wildcards(raw: str) -> list[int]:
    """Positions of unescaped ``*`` and ``?``."""
    out, i = [], 0
    while i < len(raw):
        if raw[i] == "\\":
            i += 2
            continue
        if raw[i] in "*?":
            out.append(i)
        i += 1
    return out


def _wildcard_pattern(raw: str) -> str:
    """The word as a `Wildcard` pattern: escaped ``*``/``?`` stay escaped, others unescape."""
    out, i = [], 0
    while i < len(raw):
        if raw[i] == "\\" and i + 1 < len(raw):
            nxt = raw[i + 1]
            out.append("\\" + nxt if nxt in "*?\\" else nxt)
            i += 2
            continue
        out.append(raw[i])
        i += 1
    return "".join(out)


def _unescape(raw: str) -> str:
    out, i = [], 0
    while i < len(raw):
        if raw[i] == "\\" and i + 1 < len(raw):
            i += 1
        out.append(raw[i])
        i += 1
    return "".join(out)


def _with_boost(query: Query, boost: float) -> Query:
    if isinstance(query, MatchNone):
        return query
    return replace(query, boost=query.boost * boost)
