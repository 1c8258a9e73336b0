"""Highlighting: the ``highlight`` option parsed (pure) and applied to a hit's ``_source``.

The node keeps no term vectors or offsets, so a field is highlighted by re-analyzing its source
values with the field's index analyzer and marking the tokens the query's terms match (the
query analyzed with the field's search analyzer): full-text terms, exact values, prefixes,
wildcards, regular expressions and fuzzy terms; ``must_not`` clauses mark nothing. Keyword
fields are marked whole. Only hits of a search that asks for it pay.

Fragments as Elasticsearch's ``unified`` highlighter cuts them, approximately: a value no longer
than ``fragment_size`` is one fragment; a longer one is cut into sentences, each at most
``fragment_size`` characters around its first match (at word boundaries). ``number_of_fragments``
0 returns whole values; ``order: score`` puts fragments with more distinct terms first;
``no_match_size`` returns the start of the first value when nothing matched. ``unified``,
``plain`` and ``fvh`` are all served this way (``fvh`` needs term vectors in Elasticsearch).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from citadel.node.engine import analysis
from citadel.node.engine.fields import FieldRef, SlotKind
from citadel.node.engine.layout import FieldTable, search_kind
from citadel.node.errors import IllegalArgument, ParsingError, XContentParseError
from citadel.node.search import dsl
from citadel.node.store import mapping as mp

DEFAULT_FRAGMENT_SIZE = 100
DEFAULT_FRAGMENTS = 5
MAX_ANALYZED_OFFSET = 1_000_000  # index.highlight.max_analyzed_offset
_STYLED = tuple(f'<em class="hlt{n}">' for n in ("", *range(1, 10)))
_TYPES = frozenset({"unified", "plain", "fvh"})
_OPTIONS = frozenset(
    {
        "pre_tags",
        "post_tags",
        "fragment_size",
        "number_of_fragments",
        "no_match_size",
        "require_field_match",
        "highlight_query",
        "type",
        "order",
        "encoder",
        "tags_schema",
        "boundary_scanner",
        "boundary_chars",
        "boundary_max_scan",
        "boundary_scanner_locale",
        "fragmenter",
        "fragment_offset",
        "phrase_limit",
        "max_analyzed_offset",
        "matched_fields",
        "force_source",
    }
)


@dataclass(frozen=True)
class FieldOptions:
    """The options of one highlighted field (the request's, overridden per field)."""

    pre_tags: tuple[str, ...] = ("<em>",)
    post_tags: tuple[str, ...] = ("</em>",)
    fragment_size: int = DEFAULT_FRAGMENT_SIZE
    number_of_fragments: int = DEFAULT_FRAGMENTS
    no_match_size: int = 0
    require_field_match: bool = True
    highlight_query: dsl.Query | None = None
    by_score: bool = False
    escape_html: bool = False


@dataclass(frozen=True)
class HighlightSpec:
    """The ``highlight`` of a search: field patterns in order, each with its options."""

    fields: tuple[tuple[str, FieldOptions], ...]
    defaults: FieldOptions = field(default_factory=FieldOptions)


def parse_highlight(value: Any) -> HighlightSpec:
    """The ``highlight`` object of a search body."""
    if not isinstance(value, Mapping):
        raise XContentParseError("[highlight] failed to parse field [highlight]")
    top = {k: v for k, v in value.items() if k != "fields"}
    defaults = _options(top, FieldOptions())
    raw = value.get("fields")
    if raw is None:
        raise IllegalArgument("[highlight] requires [fields]")
    entries: list[tuple[str, Any]] = []
    if isinstance(raw, Mapping):
        entries = list(raw.items())
    elif isinstance(raw, list):
        for item in raw:
            if not isinstance(item, Mapping) or len(item) != 1:
                raise ParsingError(
                    "If highlighter fields is an array it must contain objects containing a "
                    "single field"
                )
            entries += list(item.items())
    else:
        raise XContentParseError("[highlight] failed to parse field [fields]")
    fields = []
    for name, spec in entries:
        if spec is None:
            spec = {}
        if not isinstance(spec, Mapping):
            raise XContentParseError(f"[highlight_field] failed to parse field [{name}]")
        fields.append((str(name), _options(spec, defaults)))
    return HighlightSpec(tuple(fields), defaults)


def _field(name: str, value: Any) -> dict[str, Any]:
    """One `FieldOptions` field by name, for `replace` (the name is one of `_OPTIONS`)."""
    return {name: value}


def _options(spec: Mapping[str, Any], base: FieldOptions) -> FieldOptions:
    out = base
    for key, value in spec.items():
        if key not in _OPTIONS:
            raise ParsingError(f"[highlight] unknown field [{key}]")
        if key in ("pre_tags", "post_tags"):
            tags = value if isinstance(value, list) else [value]
            if not tags or not all(isinstance(t, str) for t in tags):
                raise XContentParseError(f"[highlight] failed to parse field [{key}]")
            out = replace(out, **_field(key, tuple(tags)))
        elif key in ("fragment_size", "number_of_fragments", "no_match_size"):
            number = _int(key, value)
            if number < 0:
                raise IllegalArgument(f"[{key}] must be a non-negative value")
            out = replace(out, **_field(key, number))
        elif key == "require_field_match":
            out = replace(out, require_field_match=_flag(key, value))
        elif key == "highlight_query":
            out = replace(out, highlight_query=dsl.parse_query(value))
        elif key == "type":
            if value not in _TYPES:
                raise IllegalArgument(f"unknown highlighter type [{value}]")
        elif key == "order":
            if value not in ("score", "none"):
                raise IllegalArgument(f"Unknown order [{value}]")
            out = replace(out, by_score=value == "score")
        elif key == "encoder":
            if value not in ("default", "html"):
                raise IllegalArgument(f"Unknown encoder [{value}]")
            out = replace(out, escape_html=value == "html")
        elif key == "tags_schema":
            if value != "styled":
                raise IllegalArgument(f"Unknown tag schema [{value}]")
            out = replace(out, pre_tags=_STYLED, post_tags=("</em>",))
        elif key == "boundary_scanner" and value not in ("chars", "sentence", "word"):
            raise IllegalArgument(f"Invalid boundary_scanner [{value}]")
        elif key == "fragmenter" and value not in ("simple", "span"):
            raise IllegalArgument(f"unknown fragmenter option [{value}] for the field")
        elif key == "matched_fields":
            raise IllegalArgument("[highlight] [matched_fields] is not supported by this node")
    return out


def _int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise XContentParseError(f"[highlight] failed to parse field [{key}]")
    try:
        return int(value)
    except ValueError:
        raise XContentParseError(f"[highlight] failed to parse field [{key}]") from None


def _flag(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise XContentParseError(f"[highlight] failed to parse field [{key}]")


# -- what the query looks for -----------------------------------------------------------------


@dataclass(frozen=True)
class Wanted:
    """One thing a query looks for in a field (`field` may be a ``*`` pattern; None: any).

    kind: ``text`` (analyzed with the field's search analyzer; `prefix` marks the last token a
    prefix), ``exact`` (one term as given), ``prefix``, ``regex`` (a compiled pattern over
    terms), ``fuzzy`` (`distance` edits).
    """

    field: str | None
    kind: str
    value: Any
    prefix: bool = False
    distance: int = 0


def wanted_terms(query: dsl.Query) -> list[Wanted]:
    """Everything `query` looks for, outside ``must_not`` clauses."""
    out: list[Wanted] = []
    _collect(query, out)
    return out


def _collect(query: dsl.Query, out: list[Wanted]) -> None:
    from citadel.node.engine.query import lucene_regex, wildcard_regex

    match query:
        case dsl.Match():
            out.append(Wanted(query.field, "text", _text(query.query), prefix=query.bool_prefix))
        case dsl.MatchPhrase():
            out.append(Wanted(query.field, "text", query.query, prefix=query.prefix))
        case dsl.MultiMatch():
            prefix = query.type is dsl.MultiMatchType.PHRASE_PREFIX
            patterns = [f.pattern for f in query.fields] if query.fields else [None]
            for pattern in patterns:
                out.append(Wanted(pattern, "text", _text(query.query), prefix=prefix))
        case dsl.Term():
            out.append(Wanted(query.field, "exact", _text(query.value)))
        case dsl.Terms():
            out += [Wanted(query.field, "exact", _text(v)) for v in query.values]
        case dsl.Prefix():
            out.append(Wanted(query.field, "prefix", query.value))
        case dsl.Wildcard():
            flags = re.IGNORECASE if query.case_insensitive else 0
            out.append(Wanted(query.field, "regex", _py_regex(wildcard_regex(query.value), flags)))
        case dsl.Regexp():
            flags = re.IGNORECASE if query.case_insensitive else 0
            try:
                regex = _py_regex(lucene_regex(query.value, query.flags), flags)
            except (IllegalArgument, re.error):
                return
            out.append(Wanted(query.field, "regex", regex))
        case dsl.Fuzzy():
            distance = dsl.fuzzy_distance(query.fuzziness, query.value)
            out.append(Wanted(query.field, "fuzzy", query.value, distance=distance))
        case dsl.Bool():
            for clause in (*query.must, *query.should, *query.filter):
                _collect(clause, out)
        case dsl.ConstantScore():
            _collect(query.filter, out)
        case dsl.DisMax():
            for clause in query.queries:
                _collect(clause, out)


def _py_regex(rust: str, flags: int) -> re.Pattern[str]:
    return re.compile(rust, flags)


def _text(value: dsl.Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- marking one index's hits -----------------------------------------------------------------

_SPANS = {
    SlotKind.TEXT_WHITESPACE: re.compile(r"\S+"),
    SlotKind.TEXT_SIMPLE: re.compile(r"[^\W\d_]+"),
}
_WORDS = re.compile(r"[^\W_]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@lru_cache(maxsize=65_536)
def _token_of(kind: SlotKind, word: str) -> str | None:
    tokens = analysis.analyze(kind, word)
    return tokens[0] if tokens else None


class Highlighter:
    """Highlights the hits of one index for one search."""

    def __init__(self, spec: HighlightSpec, query: dsl.Query, table: FieldTable, mappings: Any):
        self.table = table
        self.definitions = {fd.path: fd.definition for fd in mp.fields_of(mappings).values()}
        self.plan: list[tuple[str, FieldOptions, Callable[[str], bool]]] = []
        default_wanted = wanted_terms(query)
        for pattern, options in spec.fields:
            wanted = (
                wanted_terms(options.highlight_query)
                if options.highlight_query is not None
                else default_wanted
            )
            for name in self._names(pattern):
                ref = table.fields[name]
                relevant = [
                    w
                    for w in wanted
                    if not options.require_field_match or _names_field(w.field, name)
                ]
                if relevant or options.no_match_size:
                    self.plan.append((name, options, self._matcher(ref, relevant)))

    def _names(self, pattern: str) -> list[str]:
        if "*" not in pattern:
            ref = self.table.get(pattern)
            return [pattern] if ref is not None and _highlightable(ref) else []
        regex = re.compile(".*".join(re.escape(p) for p in pattern.split("*")))
        return sorted(
            n for n, ref in self.table.fields.items() if regex.fullmatch(n) and _highlightable(ref)
        )

    def _matcher(self, ref: FieldRef, wanted: Iterable[Wanted]) -> Callable[[str], bool]:
        """Whether a term of this field (as indexed) is one the query looks for."""
        exact: set[str] = set()
        tests: list[Callable[[str], bool]] = []
        query_kind = search_kind(ref.es_type, self.definitions.get(ref.path, {})) or ref.kind
        for w in wanted:
            if w.kind == "text":
                tokens = analysis.analyze(query_kind, w.value)
                if ref.kind is SlotKind.KEYWORD:
                    tokens = [w.value]
                if w.prefix and tokens:
                    last = tokens.pop()
                    tests.append(_starts_with(last))
                exact.update(tokens)
            elif w.kind == "exact":
                exact.add(w.value.lower() if self._lowercase(ref) else w.value)
            elif w.kind == "prefix":
                tests.append(_starts_with(w.value))
            elif w.kind == "regex":
                tests.append(_matches(w.value))
            elif w.kind == "fuzzy":
                tests.append(_near(w.value, w.distance))
        return lambda term: term in exact or any(test(term) for test in tests)

    def _lowercase(self, ref: FieldRef) -> bool:
        return self.definitions.get(ref.path, {}).get("normalizer") == "lowercase"

    def highlight(self, source: Any) -> dict[str, list[str]]:
        """``{field: [fragments]}`` of one hit's source (fields without any left out)."""
        out: dict[str, list[str]] = {}
        for name, options, matches in self.plan:
            values = _values(source, name)
            if not values:
                continue
            ref = self.table.fields[name]
            fragments = self._fragments(ref, values, options, matches)
            if fragments:
                out[name] = fragments
        return out

    def _fragments(
        self,
        ref: FieldRef,
        values: list[str],
        options: FieldOptions,
        matches: Callable[[str], bool],
    ) -> list[str]:
        scored: list[tuple[int, int, str]] = []
        for value in values:
            value = value[:MAX_ANALYZED_OFFSET]
            spans = self._hits(ref, value, matches)
            if not spans:
                continue
            if options.number_of_fragments == 0 or len(value) <= options.fragment_size:
                pieces = [(0, len(value))]
            else:
                pieces = _pieces(value, spans, options.fragment_size)
            for start, end in pieces:
                inside = [(s, e) for s, e in spans if s >= start and e <= end]
                if not inside:
                    continue
                distinct = len({value[s:e].lower() for s, e in inside})
                text = _mark(value, start, end, inside, options).strip()
                scored.append((-distinct if options.by_score else 0, len(scored), text))
        if not scored and options.no_match_size:
            return [_no_match(values[0], options)]
        scored.sort()
        limit = options.number_of_fragments or len(scored)
        return [text for _, _, text in scored[:limit]]

    def _hits(
        self, ref: FieldRef, value: str, matches: Callable[[str], bool]
    ) -> list[tuple[int, int]]:
        if not ref.kind.is_text:
            term = value.lower() if self._lowercase(ref) else value
            return [(0, len(value))] if matches(term) else []
        words = _SPANS.get(ref.kind, _WORDS)
        out = []
        for found in words.finditer(value):
            token = _token_of(ref.kind, found.group())
            if token is not None and matches(token):
                out.append(found.span())
        return out


def _highlightable(ref: FieldRef) -> bool:
    return ref.kind.is_text or ref.kind is SlotKind.KEYWORD


def _names_field(pattern: str | None, name: str) -> bool:
    if pattern is None or pattern == name:
        return True
    if "*" not in pattern:
        return False
    return re.fullmatch(".*".join(re.escape(p) for p in pattern.split("*")), name) is not None


def _values(source: Any, path: str) -> list[str]:
    found = _at(source, path)
    if found is None and "." in path:  # a multi-field (title.keyword) reads its parent
        found = _at(source, path.rsplit(".", 1)[0])
    items = found if isinstance(found, list) else [found]
    out = []
    for item in items:
        if isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, str | int | float):
            out.append(str(item))
    return out


def _at(source: Any, path: str) -> Any:
    if isinstance(source, dict) and path in source:
        return source[path]
    head, _, rest = path.partition(".")
    if rest and isinstance(source, dict) and head in source:
        inner = source[head]
        if isinstance(inner, list):
            values = [_at(v, rest) for v in inner]
            flat: list[Any] = []
            for v in values:
                flat += v if isinstance(v, list) else [v] if v is not None else []
            return flat or None
        return _at(inner, rest)
    return None


def _within(a: str, b: str, distance: int) -> bool:
    from citadel.node.engine.query import _edit_distance

    return abs(len(a) - len(b)) <= distance and _edit_distance(a, b, True) <= distance


def _pieces(value: str, spans: list[tuple[int, int]], size: int) -> list[tuple[int, int]]:
    """Sentences holding a match, each cut to at most `size` characters around its first."""
    out = []
    start = 0
    bounds = []
    for end_match in _SENTENCE_END.finditer(value):
        bounds.append((start, end_match.start()))
        start = end_match.end()
    bounds.append((start, len(value)))
    for s_start, s_end in bounds:
        first = next(((s, e) for s, e in spans if s >= s_start and e <= s_end), None)
        if first is None:
            continue
        if s_end - s_start <= size:
            out.append((s_start, s_end))
            continue
        begin = max(s_start, min(first[0], s_end - size))
        if begin > s_start:  # start on a word boundary
            space = value.rfind(" ", s_start, begin)
            begin = space + 1 if space >= 0 and first[0] - space <= size else begin
        end = min(s_end, begin + size)
        if end < s_end:
            space = value.rfind(" ", first[1], end + 1)
            end = space if space > first[1] else max(end, first[1])
        out.append((begin, end))
    return out


def _mark(
    value: str, start: int, end: int, spans: list[tuple[int, int]], options: FieldOptions
) -> str:
    encode = html.escape if options.escape_html else (lambda t: t)
    pre, post = options.pre_tags[0], options.post_tags[0]
    parts, at = [], start
    for s, e in spans:
        parts.append(encode(value[at:s]))
        parts.append(pre + encode(value[s:e]) + post)
        at = e
    parts.append(encode(value[at:end]))
    return "".join(parts)


def _no_match(value: str, options: FieldOptions) -> str:
    size = min(options.no_match_size, len(value))
    cut = value[:size]
    if size < len(value) and value[size] not in " \t\n":
        space = cut.rfind(" ")
        cut = cut[:space] if space > 0 else cut
    text = cut.strip()
    return html.escape(text) if options.escape_html else text


def _starts_with(prefix: str) -> Callable[[str], bool]:
    return lambda term: term.startswith(prefix)


def _matches(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda term: pattern.fullmatch(term) is not None


def _near(value: str, distance: int) -> Callable[[str], bool]:
    return lambda term: _within(value, term, distance)
