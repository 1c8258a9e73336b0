"""Term vectors (``_termvectors``, ``_mtermvectors``): the terms of one document's fields with
their frequencies, positions and offsets, and the index's statistics for them.

The node stores no term vectors: a field's vector is computed by re-analyzing the document's
values with the field's analyzer (`citadel.node.store.analyze`, the tokens ``_analyze`` shows:
positions continue across values with a gap of 100, offsets with a gap of 1, in UTF-16 units
as Elasticsearch counts them). Which fields, as in Elasticsearch: the ones named by ``fields``
(wildcards allowed; text and keyword fields, others are skipped), else those whose mapping
asks for ``term_vector`` (with the positions and offsets that mapping keeps). No analyzer here
makes payloads, so ``payloads`` adds nothing.

Statistics come from the index's term dictionary at the last refresh: ``doc_freq`` (deleted
documents not yet merged away included, as in Lucene), ``ttf`` (occurrences summed over the live
documents holding the term: at most `MAX_TTF_POSTINGS` documents per request, more is a 400),
and per field ``doc_count`` (live documents with the field), ``sum_doc_freq`` (a walk of the
field's term dictionary) and ``sum_ttf`` (the field's token count as BM25 keeps it).
``filter`` selects the best terms by tf-idf (Lucene's classic idf) as Elasticsearch's
``TermVectorsFilter`` does.
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import tantivy

from citadel.node.engine import fields as f
from citadel.node.engine.analysis import analyze
from citadel.node.engine.fields import SlotKind
from citadel.node.engine.layout import FieldTable
from citadel.node.engine.stored import hit_count
from citadel.node.errors import IllegalArgument, ParsingError
from citadel.node.store import analyze as an
from citadel.node.store import mapping as mp

MAX_TTF_POSTINGS = 10_000
MAX_DOCS = 1_000  # documents in one _mtermvectors request
_FLAGS = ("positions", "offsets", "payloads", "term_statistics", "field_statistics", "realtime")
_BODY_KEYS = frozenset(
    {
        *_FLAGS,
        "doc",
        "fields",
        "filter",
        "per_field_analyzer",
        "routing",
        "version",
        "version_type",
        "preference",
        "_index",
        "_id",
    }
)
_FILTER_KEYS = frozenset(
    {
        "max_num_terms",
        "min_term_freq",
        "max_term_freq",
        "min_doc_freq",
        "max_doc_freq",
        "min_word_length",
        "max_word_length",
    }
)
_TERM_VECTOR = {
    "yes": (False, False),
    "with_positions": (True, False),
    "with_offsets": (False, True),
    "with_positions_offsets": (True, True),
    "with_positions_payloads": (True, False),
    "with_positions_offsets_payloads": (True, True),
}


@dataclass(frozen=True)
class TermFilter:
    """Elasticsearch's term vector ``filter``: which terms are worth returning, and how many."""

    max_num_terms: int = 25
    min_term_freq: int = 1
    max_term_freq: int | None = None
    min_doc_freq: int = 1
    max_doc_freq: int | None = None
    min_word_length: int = 0
    max_word_length: int | None = None

    def noise(self, term: str, freq: int, doc_freq: int) -> bool:
        """Whether a term is dropped before scoring."""
        length = len(term)
        return (
            length < self.min_word_length
            or (self.max_word_length is not None and length > self.max_word_length)
            or freq < self.min_term_freq
            or (self.max_term_freq is not None and freq > self.max_term_freq)
            or doc_freq < self.min_doc_freq
            or (self.max_doc_freq is not None and doc_freq > self.max_doc_freq)
        )


@dataclass(frozen=True)
class Options:
    """One term vectors request (a ``_mtermvectors`` item inherits the top-level ones)."""

    index: str | None = None
    id: str | None = None
    doc: Mapping[str, Any] | None = None
    fields: tuple[str, ...] | None = None
    positions: bool = True
    offsets: bool = True
    payloads: bool = True
    term_statistics: bool = False
    field_statistics: bool = True
    realtime: bool = True
    per_field_analyzer: Mapping[str, str] = field(default_factory=dict)
    filter: TermFilter | None = None
    version: int | None = None


def parse_options(
    query: Mapping[str, str], body: Any, base: Options | None = None, *, item: bool = False
) -> Options:
    """The options of a request from its query parameters and body (pure; 400 on bad input)."""
    out = base or Options()
    updates: dict[str, Any] = {}
    for name in _FLAGS:
        if name in query:
            updates[name] = _bool_param(name, query[name])
    if "fields" in query:
        updates["fields"] = tuple(p for p in query["fields"].split(",") if p)
    if "version" in query:
        updates["version"] = _int("version", query["version"])
    _version_type(query.get("version_type"))
    if body is not None:
        if not isinstance(body, Mapping):
            raise ParsingError("request body must be an object")
        for key, value in body.items():
            if key not in _BODY_KEYS or (key in ("_index", "_id") and not item):
                raise ParsingError(f"Unknown parameter [{key}] in request body")
            if key in _FLAGS:
                updates[key] = _bool_value(key, value)
        if "fields" in body:
            updates["fields"] = _fields(body["fields"])
        if "doc" in body:
            if not isinstance(body["doc"], Mapping):
                raise ParsingError("[doc] must be an object")
            updates["doc"] = body["doc"]
        if "per_field_analyzer" in body:
            updates["per_field_analyzer"] = _analyzers(body["per_field_analyzer"])
        if "filter" in body:
            updates["filter"] = parse_filter(body["filter"])
        if "version" in body:
            updates["version"] = _int("version", body["version"])
        _version_type(body.get("version_type"))
        if "_index" in body:
            updates["index"] = _string("_index", body["_index"])
        if "_id" in body:
            updates["id"] = _string("_id", body["_id"])
    return replace(out, **updates)


def replace_target(options: Options, index: str, doc_id: str | None) -> Options:
    """`options` for the document `doc_id` (None: an artificial ``doc``) of `index`."""
    return replace(options, index=index, id=doc_id)


def parse_filter(value: Any) -> TermFilter:
    """A ``filter`` object; unknown settings and non-integers are a 400 naming them."""
    if not isinstance(value, Mapping):
        raise ParsingError("[filter] must be an object")
    settings = {}
    for key, raw in value.items():
        if key not in _FILTER_KEYS:
            raise ParsingError(f"The parameter [{key}] is not valid for term vector filter")
        settings[key] = _int(f"filter.{key}", raw)
    return TermFilter(**settings)


def parse_items(body: Any, ids_param: str | None) -> tuple[list[Any], Any]:
    """The ``docs`` (or ``ids``) of an ``_mtermvectors`` body, and the body's other settings."""
    if body is not None and not isinstance(body, Mapping):
        raise ParsingError("request body must be an object")
    body = dict(body or {})
    items: list[Any] = []
    if "docs" in body:
        docs = body.pop("docs")
        if not isinstance(docs, list):
            raise ParsingError("[docs] must be an array")
        items += docs
    if "ids" in body:
        ids = body.pop("ids")
        if not isinstance(ids, list):
            raise ParsingError("[ids] must be an array")
        items += [{"_id": _string("ids", i)} for i in ids]
    if ids_param:
        items += [{"_id": i} for i in ids_param.split(",") if i]
    if body.get("parameters") is not None:
        parameters = body.pop("parameters")
        if not isinstance(parameters, Mapping):
            raise ParsingError("[parameters] must be an object")
        body.update(parameters)
    if not items:
        raise ActionInvalid("multi term vectors: no documents requested")
    if len(items) > MAX_DOCS:
        raise IllegalArgument(f"[_mtermvectors] takes at most {MAX_DOCS} documents per request")
    return items, body or None


class ActionInvalid(IllegalArgument):
    type = "action_request_validation_exception"


# -- building the vectors (pure) -------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    """One occurrence of a term: its position and UTF-16 offsets."""

    position: int
    start: int
    end: int


@dataclass(frozen=True)
class FieldSpec:
    """A field to build a vector for: its values, analyzer and what its vector keeps."""

    path: str
    values: tuple[str, ...]
    analyzer: str  # a node analyzer name, or "keyword"
    positions: bool
    offsets: bool


def select_fields(
    mappings: Mapping[str, Any],
    indexed: mp.Indexed,
    options: Options,
) -> list[FieldSpec]:
    """The fields of a document that get a vector (Elasticsearch's choice: see the module)."""
    defined = mp.fields_of(mappings)
    texts = indexed.texts
    keywords: dict[str, list[str]] = {}
    for path, kw, _num in indexed.values:
        if kw is not None and defined.get(path) is not None and defined[path].type == "keyword":
            keywords.setdefault(path, []).append(kw)
    out = []
    wanted = options.fields
    for path, spec in defined.items():
        if spec.type not in ("text", "keyword"):
            continue
        values = texts.get(path) if spec.type == "text" else keywords.get(path)
        if not values:
            continue
        stored = str(spec.definition.get("term_vector", "no"))
        overridden = path in options.per_field_analyzer
        if wanted is None:
            if stored not in _TERM_VECTOR and not overridden:
                continue
        elif not any(_glob(pattern, path) for pattern in wanted):
            continue
        keeps = _TERM_VECTOR[stored] if stored in _TERM_VECTOR and not overridden else (True, True)
        analyzer = options.per_field_analyzer.get(path) or (
            str(spec.definition.get("analyzer", "standard")) if spec.type == "text" else "keyword"
        )
        out.append(FieldSpec(path, tuple(values), analyzer, keeps[0], keeps[1]))
    return out


def _glob(pattern: str, name: str) -> bool:
    """Elasticsearch's simple match: ``*`` matches any characters."""
    if "*" not in pattern:
        return pattern == name
    return re.fullmatch(".*".join(re.escape(p) for p in pattern.split("*")), name) is not None


def field_terms(spec: FieldSpec) -> dict[str, list[Token]]:
    """Term -> its occurrences, in term order (Lucene's: UTF-8 bytes, i.e. code points)."""
    if spec.analyzer == "keyword":  # one token per value; positions 0, 1, ...; offset gap 1
        found, at = [], 0
        for number, value in enumerate(spec.values):
            found.append(an.Token(value, at, at + len(value), "word", number))
            at += len(value) + 1
    else:
        found = _analyzed(spec.values, spec.analyzer)
    units = _utf16_units("\u0000".join(spec.values))  # one character between values
    out: dict[str, list[Token]] = {}
    for token in found:
        out.setdefault(token.token, []).append(
            Token(token.position, units(token.start_offset), units(token.end_offset))
        )
    return {term: out[term] for term in sorted(out)}


def _analyzed(values: Iterable[str], analyzer: str) -> list[an.Token]:
    """The tokens ``_analyze`` gives for `values` with a node analyzer, without its count limit
    (a stored document was bounded when it was written)."""
    if analyzer == "whitespace":
        pattern, lower = an.TOKENIZERS["whitespace"], False
    elif analyzer == "simple":
        pattern, lower = an.TOKENIZERS["letter"], True
    else:
        pattern, lower = an.TOKENIZERS["standard"], True
    assert pattern is not None
    out: list[an.Token] = []
    position = offset = 0
    for value in values:
        for match in pattern.finditer(value):
            word = match.group()
            if analyzer in ("standard", "english") and len(word.encode()) > 255:
                continue
            if lower:
                word = word.lower()
            if analyzer == "english":
                stems = analyze(SlotKind.TEXT_ENGLISH, word)
                word = stems[0] if stems else ""
            if word:
                out.append(
                    an.Token(word, offset + match.start(), offset + match.end(), "word", position)
                )
            position += 1
        position += 100  # position_increment_gap between values
        offset += len(value) + 1
    return out


def _utf16_units(text: str):
    """Code point offset -> UTF-16 offset (the identity for text without astral characters)."""
    if all(ord(c) < 0x10000 for c in text):
        return lambda offset: offset
    prefix = [0]
    for char in text:
        prefix.append(prefix[-1] + (2 if ord(char) >= 0x10000 else 1))
    return lambda offset: prefix[min(offset, len(text))]


# -- statistics from the index (tantivy) -----------------------------------------------------


@dataclass
class FieldStats:
    """Elasticsearch's ``field_statistics``."""

    sum_doc_freq: int = 0
    doc_count: int = 0
    sum_ttf: int = 0


class IndexStats:
    """Term and field statistics of one index's searcher, with the request's ttf budget."""

    def __init__(self, searcher: tantivy.Searcher, schema: tantivy.Schema) -> None:
        self.searcher = searcher
        self.schema = schema
        self.budget = MAX_TTF_POSTINGS

    def doc_freq(self, slot: str | None, term: str) -> int:
        """Documents holding `term` in `slot` (the term dictionary's count)."""
        if slot is None:
            return 0
        return int(self.searcher.doc_freq(slot, term))

    def ttf(self, slot: str | None, term: str, doc_freq: int) -> int:
        """Occurrences of `term` over the live documents holding it."""
        if slot is None or doc_freq == 0:
            return 0
        self.budget -= doc_freq
        if self.budget < 0:
            raise IllegalArgument(
                f"[term_statistics] would read more than {MAX_TTF_POSTINGS} documents to count "
                "total term frequencies; this node counts them by reading the documents"
            )
        query = tantivy.Query.term_query(self.schema, slot, term)
        total = 0
        for _score, address in self.searcher.search(query, doc_freq).hits:
            total += int(_detail(query.explain(self.searcher, address), "freq,") or 0)
        return total

    def field(self, path: str, slot: str | None, some_term: str | None) -> FieldStats:
        """The field's statistics; `some_term` (held by a document) reads the token count."""
        if slot is None:
            return FieldStats()
        names = tantivy.Query.term_query(self.schema, f.NAMES_FIELD, path)
        doc_count = hit_count(self.searcher.search(names, 1))
        terms = self.searcher.terms_with_prefix(slot, "")
        sum_doc_freq = sum(int(count) for _term, count in terms)
        probe = some_term if some_term is not None else (terms[0][0] if terms else None)
        return FieldStats(sum_doc_freq, doc_count, self._tokens(slot, probe))

    def _tokens(self, slot: str, term: str | None) -> int:
        if term is None:
            return 0
        query = tantivy.Query.term_query(self.schema, slot, term)
        hits = self.searcher.search(query, 1).hits
        if not hits:
            return 0
        explained = query.explain(self.searcher, hits[0][1])
        average, docs = _detail(explained, "avgdl,"), _detail(explained, "N,")
        return round((average or 0.0) * (docs or 0.0))


def _detail(explanation: Any, prefix: str) -> float | None:
    """A value of tantivy's BM25 explanation, by its description's start."""
    stack = [json.loads(explanation.to_json())]
    while stack:
        node = stack.pop()
        if str(node.get("description", "")).startswith(prefix):
            return float(node["value"])
        stack.extend(node.get("details", []))
    return None


# -- the answer ------------------------------------------------------------------------------


def term_vectors(
    specs: Iterable[FieldSpec], table: FieldTable, stats: IndexStats, options: Options
) -> dict[str, Any]:
    """``term_vectors`` of one document: per field, its statistics and terms."""
    out: dict[str, Any] = {}
    for spec in specs:
        terms = field_terms(spec)
        if not terms:
            continue
        ref = table.get(spec.path)
        slot = ref.slot if ref is not None and ref.searchable else None
        need_df = options.term_statistics or options.filter is not None
        doc_freqs = {t: stats.doc_freq(slot, t) for t in terms} if need_df else {}
        entry: dict[str, Any] = {}
        fstats = None
        if options.field_statistics or options.filter is not None:
            held = next((t for t, df in doc_freqs.items() if df > 0), None)
            if held is None and not need_df and slot is not None:
                held = next((t for t in terms if stats.doc_freq(slot, t) > 0), None)
            fstats = stats.field(spec.path, slot, held)
        if options.field_statistics and fstats is not None:
            entry["field_statistics"] = {
                "sum_doc_freq": fstats.sum_doc_freq,
                "doc_count": fstats.doc_count,
                "sum_ttf": fstats.sum_ttf,
            }
        scores: dict[str, float] = {}
        if options.filter is not None:
            doc_count = fstats.doc_count if fstats is not None else 0
            scores = best_terms(terms, doc_freqs, doc_count, options.filter)
        rendered: dict[str, Any] = {}
        for term, tokens in terms.items():
            if options.filter is not None and term not in scores:
                continue
            item: dict[str, Any] = {}
            if options.term_statistics:
                item["doc_freq"] = doc_freqs[term]
                item["ttf"] = stats.ttf(slot, term, doc_freqs[term])
            item["term_freq"] = len(tokens)
            positions = options.positions and spec.positions
            offsets = options.offsets and spec.offsets
            if positions or offsets:
                item["tokens"] = [_token(t, positions, offsets) for t in tokens]
            if term in scores:
                item["score"] = scores[term]
            rendered[term] = item
        entry["terms"] = rendered
        out[spec.path] = entry
    return out


def best_terms(
    terms: Mapping[str, list[Token]],
    doc_freqs: Mapping[str, int],
    doc_count: int,
    spec: TermFilter,
) -> dict[str, float]:
    """The `max_num_terms` terms of highest tf-idf (Lucene's classic idf), with their scores."""
    scored = []
    for term, tokens in terms.items():
        freq, doc_freq = len(tokens), doc_freqs.get(term, 0)
        if spec.noise(term, freq, doc_freq):
            continue
        idf = math.log((doc_count + 1) / (doc_freq + 1)) + 1.0
        scored.append((_float32(freq * _float32(idf)), term))
    scored.sort(key=lambda pair: (-pair[0], pair[1]))
    return {term: score for score, term in scored[: max(0, spec.max_num_terms)]}


def _token(token: Token, positions: bool, offsets: bool) -> dict[str, int]:
    out = {}
    if positions:
        out["position"] = token.position
    if offsets:
        out["start_offset"] = token.start
        out["end_offset"] = token.end
    return out


def _float32(value: float) -> float:
    """`value` as a Java float prints: the shortest decimal that reads back as the float32."""
    single = struct.unpack("f", struct.pack("f", value))[0]
    for digits in range(1, 10):
        text = f"{single:.{digits}g}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == single:
            return float(text)
    return single


# -- parameters ------------------------------------------------------------------------------


def _bool_param(name: str, value: str) -> bool:
    if value in ("", "true"):
        return True
    if value == "false":
        return False
    raise IllegalArgument(
        f"Failed to parse value [{value}] as only [true] or [false] are allowed "
        f"(parameter [{name}])."
    )


def _bool_value(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _bool_param(name, value)
    raise ParsingError(f"[{name}] must be a boolean")


def _int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise ParsingError(f"[{name}] must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    raise ParsingError(f"[{name}] must be an integer, got [{value}]")


def _string(name: str, value: Any) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ParsingError(f"[{name}] must be a string")
    return str(value)


def _fields(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(p for p in value.split(",") if p)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ParsingError("[fields] must be a string or an array of strings")


def _analyzers(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ParsingError("[per_field_analyzer] must be an object")
    out = {}
    for path, name in value.items():
        if not isinstance(name, str) or name not in an.ANALYZERS:
            raise IllegalArgument(f"failed to find analyzer [{name}] (per_field_analyzer.{path})")
        out[str(path)] = name
    return out


def _version_type(value: str | None) -> None:
    if value not in (None, "internal"):
        raise IllegalArgument(
            f"[version_type] {value} is not supported by this node's _termvectors (internal only)"
        )
