"""The query DSL as a small typed tree: Elasticsearch's JSON in, frozen dataclasses out. Pure.

Parsing knows nothing of mappings; what a field *is* (text, keyword, number, date) is decided
when the tree is compiled against one index (`citadel.node.search.compile`). Errors mirror
Elasticsearch's: an unknown query or an unknown key in a clause is a ``parsing_exception``, a
value of the wrong type is an ``x_content_parse_exception``, both 400.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from citadel.node.errors import IllegalArgument, ParsingError, XContentParseError
from citadel.node.search.errors import TooManyClauses
from citadel.node.xcontent import token_of

Scalar = str | int | float | bool
MAX_CLAUSES = 1024
MAX_TERMS = 65_536


class Operator(StrEnum):
    """How the tokens of a full-text query combine."""

    OR = "or"
    AND = "and"


class MultiMatchType(StrEnum):
    """How `multi_match` combines its fields."""

    BEST_FIELDS = "best_fields"
    MOST_FIELDS = "most_fields"
    CROSS_FIELDS = "cross_fields"
    PHRASE = "phrase"
    PHRASE_PREFIX = "phrase_prefix"
    BOOL_PREFIX = "bool_prefix"


@dataclass(frozen=True, slots=True)
class MatchAll:
    """Every document, scored `boost`."""

    boost: float = 1.0


@dataclass(frozen=True, slots=True)
class MatchNone:
    """No document."""


@dataclass(frozen=True, slots=True)
class Match:
    """Full text on text fields (one clause per token), an exact value on the others."""

    field: str
    query: Scalar
    operator: Operator = Operator.OR
    minimum_should_match: str | None = None
    boost: float = 1.0
    zero_terms_all: bool = False
    lenient: bool = False
    fuzziness: str | None = None
    prefix_length: int = 0
    max_expansions: int = 50
    transpositions: bool = True
    bool_prefix: bool = False  # match_bool_prefix: the last token is a prefix


@dataclass(frozen=True, slots=True)
class MatchPhrase:
    """The tokens in order (`slop` allows that many positions of play); `prefix`: the last
    token is a prefix."""

    field: str
    query: str
    slop: int = 0
    prefix: bool = False
    boost: float = 1.0
    zero_terms_all: bool = False


@dataclass(frozen=True, slots=True)
class FieldBoost:
    """A field pattern of `multi_match` (``title^2``)."""

    pattern: str
    boost: float = 1.0


@dataclass(frozen=True, slots=True)
class MultiMatch:
    """`fields` None means every text and keyword field (``index.query.default_field: *``)."""

    query: Scalar
    fields: tuple[FieldBoost, ...] | None = None
    type: MultiMatchType = MultiMatchType.BEST_FIELDS
    operator: Operator = Operator.OR
    minimum_should_match: str | None = None
    tie_breaker: float = 0.0
    boost: float = 1.0
    slop: int = 0
    lenient: bool = False
    zero_terms_all: bool = False


@dataclass(frozen=True, slots=True)
class Term:
    """One exact value (an un-analyzed token on text fields)."""

    field: str
    value: Scalar
    boost: float = 1.0
    case_insensitive: bool = False


@dataclass(frozen=True, slots=True)
class Terms:
    """Any of several exact values."""

    field: str
    values: tuple[Scalar, ...]
    boost: float = 1.0


@dataclass(frozen=True, slots=True)
class Range:
    """Bounds as given (numbers, dates, date math); resolved against the field's kind later."""

    field: str
    gt: Scalar | None = None
    gte: Scalar | None = None
    lt: Scalar | None = None
    lte: Scalar | None = None
    format: str | None = None
    time_zone: str | None = None
    boost: float = 1.0


@dataclass(frozen=True, slots=True)
class Exists:
    """Documents with a value in the field (or in any sub-field of an object)."""

    field: str
    boost: float = 1.0


@dataclass(frozen=True, slots=True)
class Prefix:
    """Values (keyword) or tokens (text) starting with `value`."""

    field: str
    value: str
    boost: float = 1.0
    case_insensitive: bool = False


@dataclass(frozen=True, slots=True)
class Wildcard:
    """``*`` and ``?`` patterns over keyword values."""

    field: str
    value: str
    boost: float = 1.0
    case_insensitive: bool = False


@dataclass(frozen=True, slots=True)
class Fuzzy:
    """Terms within an edit distance of `value` (``AUTO``: by the term's length)."""

    field: str
    value: str
    fuzziness: str = "AUTO"
    prefix_length: int = 0
    max_expansions: int = 50
    transpositions: bool = True
    boost: float = 1.0


@dataclass(frozen=True, slots=True)
class Regexp:
    """Terms matching a Lucene regular expression (`flags`: its optional operators)."""

    field: str
    value: str
    flags: frozenset[str] = frozenset({"ALL"})
    case_insensitive: bool = False
    boost: float = 1.0


@dataclass(frozen=True, slots=True)
class Ids:
    """Documents by ``_id``."""

    values: tuple[str, ...]
    boost: float = 1.0


@dataclass(frozen=True, slots=True)
class Bool:
    """must and filter all match, should add score (and may be required), must_not none."""

    must: tuple[Query, ...] = ()
    should: tuple[Query, ...] = ()
    filter: tuple[Query, ...] = ()
    must_not: tuple[Query, ...] = ()
    minimum_should_match: str | None = None
    boost: float = 1.0

    def required_shoulds(self) -> int:
        """How many `should` clauses a document must match (ES's default: 1 without
        must/filter, else 0)."""
        if not self.should:
            return 0
        if self.minimum_should_match is None:
            return 0 if self.must or self.filter else 1
        return resolve_minimum_should_match(self.minimum_should_match, len(self.should))


@dataclass(frozen=True, slots=True)
class ConstantScore:
    """The documents of `filter`, each scored `boost`."""

    filter: Query
    boost: float = 1.0


@dataclass(frozen=True, slots=True)
class DisMax:
    """Any of the queries, scored by the best plus `tie_breaker` times the rest."""

    queries: tuple[Query, ...]
    tie_breaker: float = 0.0
    boost: float = 1.0


Query = (
    MatchAll
    | MatchNone
    | Match
    | MatchPhrase
    | MultiMatch
    | Term
    | Terms
    | Range
    | Exists
    | Prefix
    | Wildcard
    | Fuzzy
    | Regexp
    | Ids
    | Bool
    | ConstantScore
    | DisMax
)


# -- entry point ----------------------------------------------------------------------------


def parse_query(value: Any) -> Query:
    """The query tree of a ``query`` object; ES-style 400s for anything malformed."""
    if not isinstance(value, Mapping):
        raise ParsingError("[_na] query malformed, must start with start_object")
    if not value:
        raise ParsingError("query malformed, empty clause found")
    name = next(iter(value))
    if len(value) > 1:
        raise ParsingError(
            f"[{name}] malformed query, expected [END_OBJECT] but found [FIELD_NAME]"
        )
    parser = _PARSERS.get(name)
    if parser is None:
        raise ParsingError(f"unknown query [{name}]")
    return parser(value[name])


def resolve_minimum_should_match(spec: str | int, clauses: int) -> int:
    """How many of `clauses` optional clauses must match under Elasticsearch's
    ``minimum_should_match`` syntax (``2``, ``-1``, ``75%``, ``-25%``, ``3<90%``)."""
    text = str(spec).strip()
    if "<" in text:
        result = clauses
        for part in text.split():
            bound, _, inner = part.partition("<")
            if not bound.strip().lstrip("-").isdigit() or not inner:
                raise IllegalArgument(f"invalid minimum_should_match [{text}]")
            if clauses > int(bound):
                result = resolve_minimum_should_match(inner, clauses)
        return result
    try:
        if text.endswith("%"):
            pct = float(text[:-1])
            value = (
                clauses - math.floor(clauses * -pct / 100)
                if pct < 0
                else math.floor(clauses * pct / 100)
            )
        else:
            number = int(text)
            value = clauses + number if number < 0 else number
    except ValueError:
        raise IllegalArgument(f"invalid minimum_should_match [{text}]") from None
    return max(0, value)


# -- shared readers -------------------------------------------------------------------------


def _object(query: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ParsingError(f"[{query}] query malformed, no start_object after query name")
    return value


def _only(query: str, body: Mapping[str, Any], allowed: frozenset[str]) -> None:
    for key in body:
        if key not in allowed:
            raise ParsingError(f"[{query}] query does not support [{key}]")


def _single_field(query: str, body: Mapping[str, Any]) -> tuple[str, Any]:
    fields = [k for k in body if k != "_name"]
    if not fields:
        raise ParsingError(f"[{query}] query requires a field")
    if len(fields) > 1:
        raise ParsingError(
            f"[{query}] query doesn't support multiple fields, found [{fields[0]}] "
            f"and [{fields[1]}]"
        )
    return fields[0], body[fields[0]]


def _float(query: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise XContentParseError(f"[{query}] failed to parse field [{key}]")
    try:
        number = float(value)
    except ValueError:
        raise XContentParseError(f"[{query}] failed to parse field [{key}]") from None
    if not math.isfinite(number):
        raise XContentParseError(f"[{query}] failed to parse field [{key}]")
    return number


def _boost(query: str, body: Mapping[str, Any]) -> float:
    if "boost" not in body:
        return 1.0
    boost = _float(query, "boost", body["boost"])
    if boost < 0:
        raise IllegalArgument(f"negative [boost] are not allowed in [{query}]")
    return boost


def _int(query: str, key: str, value: Any) -> int:
    if isinstance(value, bool):
        raise XContentParseError(f"[{query}] failed to parse field [{key}]")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise XContentParseError(f"[{query}] failed to parse field [{key}]")


def _bool(query: str, key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise XContentParseError(f"[{query}] failed to parse field [{key}]")


def _str(query: str, key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise XContentParseError(f"[{query}] failed to parse field [{key}]")
    return value


def _scalar(query: str, key: str, value: Any) -> Scalar:
    if isinstance(value, str | int | float | bool) and not (
        isinstance(value, float) and not math.isfinite(value)
    ):
        return value
    raise ParsingError(f"[{query}] unknown token [{token_of(value)}] after [{key}]")


def _operator(query: str, value: Any) -> Operator:
    text = _str(query, "operator", value).lower()
    if text not in ("and", "or"):
        raise IllegalArgument(f"operator needs to be either [and] or [or], but was [{value}]")
    return Operator(text)


def _msm(query: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise XContentParseError(f"[{query}] failed to parse field [minimum_should_match]")
    resolve_minimum_should_match(value, 1)  # validates the syntax
    return str(value)


def _zero_terms(query: str, value: Any) -> bool:
    text = _str(query, "zero_terms_query", value).lower()
    if text not in ("none", "all"):
        raise IllegalArgument(f"unsupported zero_terms_query value [{value}]")
    return text == "all"


def _clauses(query: str, key: str, value: Any) -> tuple[Query, ...]:
    items = value if isinstance(value, list) else [value]
    if len(items) > MAX_CLAUSES:
        raise TooManyClauses(
            f"Query contains too many nested clauses; maxClauseCount is set to {MAX_CLAUSES}"
        )
    return tuple(parse_query(item) for item in items)


# -- one parser per query -------------------------------------------------------------------

_FUZZY_MATCH_KEYS = frozenset(
    {"fuzziness", "prefix_length", "max_expansions", "fuzzy_transpositions", "fuzzy_rewrite"}
)
_IGNORED_MATCH_KEYS = frozenset(
    {
        "analyzer",
        "auto_generate_synonyms_phrase_query",
        "cutoff_frequency",
        "_name",
    }
)


def _match_all(body: Any) -> MatchAll:
    body = _object("match_all", body)
    _only("match_all", body, frozenset({"boost", "_name"}))
    return MatchAll(_boost("match_all", body))


def _match_none(body: Any) -> MatchNone:
    body = _object("match_none", body)
    _only("match_none", body, frozenset({"boost", "_name"}))
    return MatchNone()


def _match(body: Any) -> Match:
    field, spec = _single_field("match", _object("match", body))
    if not isinstance(spec, Mapping):
        return Match(field, _scalar("match", field, spec))
    _only(
        "match",
        spec,
        _IGNORED_MATCH_KEYS
        | _FUZZY_MATCH_KEYS
        | {"query", "operator", "minimum_should_match", "boost", "lenient", "zero_terms_query"},
    )
    if "query" not in spec:
        raise ParsingError("No text specified for text query")
    return Match(
        field,
        _scalar("match", "query", spec["query"]),
        operator=_operator("match", spec["operator"]) if "operator" in spec else Operator.OR,
        minimum_should_match=(
            _msm("match", spec["minimum_should_match"])
            if spec.get("minimum_should_match") is not None
            else None
        ),
        boost=_boost("match", spec),
        zero_terms_all=(
            _zero_terms("match", spec["zero_terms_query"]) if "zero_terms_query" in spec else False
        ),
        lenient=_bool("match", "lenient", spec["lenient"]) if "lenient" in spec else False,
        **_fuzzy_options("match", spec),
    )


def _fuzzy_options(query: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """``fuzziness`` and its companions of a full-text query (unset: an exact match)."""
    out: dict[str, Any] = {}
    if spec.get("fuzziness") is not None:
        out["fuzziness"] = _fuzziness(query, spec["fuzziness"])
    if "prefix_length" in spec:
        out["prefix_length"] = _non_negative(query, "prefix_length", spec["prefix_length"])
    if "max_expansions" in spec:
        out["max_expansions"] = _int(query, "max_expansions", spec["max_expansions"])
        if out["max_expansions"] <= 0:
            raise IllegalArgument("[max_expansions] must be greater than 0.")
    if "fuzzy_transpositions" in spec:
        out["transpositions"] = _bool(query, "fuzzy_transpositions", spec["fuzzy_transpositions"])
    return out


def _fuzziness(query: str, value: Any) -> str:
    text = str(value).strip().upper() if not isinstance(value, bool) else ""
    if text.startswith("AUTO"):
        rest = text[4:]
        if rest and not (rest.startswith(":") and len(rest[1:].split(",")) == 2):
            raise ParsingError(f"failed to find low and high distance values [{value}]")
        if rest and not all(p.strip().isdigit() for p in rest[1:].split(",")):
            raise ParsingError(f"failed to find low and high distance values [{value}]")
        return text
    try:
        number = float(text)
    except ValueError:
        raise ParsingError(f"[{query}] failed to parse fuzziness [{value}]") from None
    if number < 0 or not number.is_integer():
        raise ParsingError(f"[{query}] failed to parse fuzziness [{value}]")
    return str(min(int(number), 2))


def _non_negative(query: str, key: str, value: Any) -> int:
    number = _int(query, key, value)
    if number < 0:
        raise IllegalArgument(f"[{key}] cannot be negative.")
    return number


def fuzzy_distance(fuzziness: str, term: str) -> int:
    """The edit distance `fuzziness` allows for `term` (``AUTO`` is ``AUTO:3,6``)."""
    if fuzziness.startswith("AUTO"):
        low, high = 3, 6
        if ":" in fuzziness:
            low, high = (int(p) for p in fuzziness.split(":", 1)[1].split(","))
        size = len(term)
        return 0 if size < low else 1 if size < high else 2
    return min(int(fuzziness), 2)


def _match_bool_prefix(body: Any) -> Match:
    field, spec = _single_field("match_bool_prefix", _object("match_bool_prefix", body))
    if not isinstance(spec, Mapping):
        return Match(field, _scalar("match_bool_prefix", field, spec), bool_prefix=True)
    _only(
        "match_bool_prefix",
        spec,
        _FUZZY_MATCH_KEYS
        | {"query", "operator", "minimum_should_match", "boost", "analyzer", "_name"},
    )
    if "query" not in spec:
        raise ParsingError("[match_bool_prefix] requires query value")
    return Match(
        field,
        _scalar("match_bool_prefix", "query", spec["query"]),
        operator=(
            _operator("match_bool_prefix", spec["operator"]) if "operator" in spec else Operator.OR
        ),
        minimum_should_match=(
            _msm("match_bool_prefix", spec["minimum_should_match"])
            if spec.get("minimum_should_match") is not None
            else None
        ),
        boost=_boost("match_bool_prefix", spec),
        bool_prefix=True,
        **_fuzzy_options("match_bool_prefix", spec),
    )


def _fuzzy(body: Any) -> Fuzzy:
    field, spec = _single_field("fuzzy", _object("fuzzy", body))
    if not isinstance(spec, Mapping):
        return Fuzzy(field, str(_scalar("fuzzy", field, spec)))
    _only(
        "fuzzy",
        spec,
        frozenset(
            {
                "value",
                "fuzziness",
                "prefix_length",
                "max_expansions",
                "transpositions",
                "rewrite",
                "boost",
                "_name",
            }
        ),
    )
    if spec.get("value") is None:
        raise ParsingError("[fuzzy] query requires a value")
    options = _fuzzy_options(
        "fuzzy",
        {("fuzzy_transpositions" if k == "transpositions" else k): v for k, v in spec.items()},
    )
    return Fuzzy(
        field, str(_scalar("fuzzy", "value", spec["value"])), boost=_boost("fuzzy", spec), **options
    )


REGEXP_FLAGS = frozenset(
    {"ALL", "ANYSTRING", "AUTOMATON", "COMPLEMENT", "EMPTY", "INTERSECTION", "INTERVAL", "NONE"}
)


def _regexp(body: Any) -> Regexp:
    field, spec = _single_field("regexp", _object("regexp", body))
    if not isinstance(spec, Mapping):
        return Regexp(field, str(_scalar("regexp", field, spec)))
    _only(
        "regexp",
        spec,
        frozenset(
            {
                "value",
                "flags",
                "flags_value",
                "case_insensitive",
                "max_determinized_states",
                "rewrite",
                "boost",
                "_name",
            }
        ),
    )
    if spec.get("value") is None:
        raise ParsingError("[regexp] query requires a value")
    flags = frozenset({"ALL"})
    if "flags" in spec:
        names = {p.strip().upper() for p in _str("regexp", "flags", spec["flags"]).split("|")}
        unknown = names - REGEXP_FLAGS - {""}
        if unknown:
            raise IllegalArgument(f"Unknown regexp flag [{sorted(unknown)[0]}]")
        flags = frozenset(names - {""}) or frozenset({"ALL"})
    if "flags_value" in spec:
        raise IllegalArgument("[regexp] [flags_value] is not supported by this node; use [flags]")
    return Regexp(
        field,
        str(_scalar("regexp", "value", spec["value"])),
        flags=flags,
        case_insensitive=(
            _bool("regexp", "case_insensitive", spec["case_insensitive"])
            if "case_insensitive" in spec
            else False
        ),
        boost=_boost("regexp", spec),
    )


def _phrase_parser(name: str, *, prefix: bool) -> Callable[[Any], MatchPhrase]:
    def parse(body: Any) -> MatchPhrase:
        field, spec = _single_field(name, _object(name, body))
        if not isinstance(spec, Mapping):
            return MatchPhrase(field, str(_scalar(name, field, spec)), prefix=prefix)
        allowed = {"query", "slop", "boost", "analyzer", "zero_terms_query", "_name"}
        if prefix:
            allowed.add("max_expansions")
        _only(name, spec, frozenset(allowed))
        if "query" not in spec:
            raise ParsingError("No text specified for text query")
        slop = _int(name, "slop", spec["slop"]) if "slop" in spec else 0
        if slop < 0:
            raise IllegalArgument("No negative slop allowed.")
        return MatchPhrase(
            field,
            str(_scalar(name, "query", spec["query"])),
            slop=slop,
            prefix=prefix,
            boost=_boost(name, spec),
            zero_terms_all=(
                _zero_terms(name, spec["zero_terms_query"]) if "zero_terms_query" in spec else False
            ),
        )

    return parse


def _field_boost(value: Any) -> FieldBoost:
    text = _str("multi_match", "fields", value)
    name, caret, boost = text.partition("^")
    if not caret:
        return FieldBoost(name)
    return FieldBoost(name, _float("multi_match", "fields", boost))


def _multi_match(body: Any) -> MultiMatch:
    spec = _object("multi_match", body)
    _only(
        "multi_match",
        spec,
        _IGNORED_MATCH_KEYS
        | {
            "query",
            "fields",
            "type",
            "operator",
            "minimum_should_match",
            "tie_breaker",
            "boost",
            "lenient",
            "zero_terms_query",
            "slop",
        },
    )
    if "query" not in spec:
        raise ParsingError("No text specified for multi_match query")
    fields = None
    if spec.get("fields") is not None:
        raw = spec["fields"] if isinstance(spec["fields"], list) else [spec["fields"]]
        fields = tuple(_field_boost(f) for f in raw)
        if not fields or any(f.pattern == "*" for f in fields):
            fields = None
    kind = MultiMatchType.BEST_FIELDS
    if "type" in spec:
        text = _str("multi_match", "type", spec["type"]).lower()
        if text not in MultiMatchType.__members__.values():
            raise ParsingError(f"failed to parse [multi_match] query type [{text}]. unknown type.")
        kind = MultiMatchType(text)
    return MultiMatch(
        _scalar("multi_match", "query", spec["query"]),
        fields=fields,
        type=kind,
        operator=(
            _operator("multi_match", spec["operator"]) if "operator" in spec else Operator.OR
        ),
        minimum_should_match=(
            _msm("multi_match", spec["minimum_should_match"])
            if spec.get("minimum_should_match") is not None
            else None
        ),
        tie_breaker=(
            _float("multi_match", "tie_breaker", spec["tie_breaker"])
            if "tie_breaker" in spec
            else 0.0
        ),
        boost=_boost("multi_match", spec),
        slop=_int("multi_match", "slop", spec["slop"]) if "slop" in spec else 0,
        lenient=_bool("multi_match", "lenient", spec["lenient"]) if "lenient" in spec else False,
        zero_terms_all=(
            _zero_terms("multi_match", spec["zero_terms_query"])
            if "zero_terms_query" in spec
            else False
        ),
    )


def _term(body: Any) -> Term:
    field, spec = _single_field("term", _object("term", body))
    if not isinstance(spec, Mapping):
        return Term(field, _scalar("term", field, spec))
    _only("term", spec, frozenset({"value", "boost", "case_insensitive", "_name"}))
    if "value" not in spec:
        raise IllegalArgument("value cannot be null")
    return Term(
        field,
        _scalar("term", "value", spec["value"]),
        boost=_boost("term", spec),
        case_insensitive=(
            _bool("term", "case_insensitive", spec["case_insensitive"])
            if "case_insensitive" in spec
            else False
        ),
    )


def _terms(body: Any) -> Terms:
    spec = _object("terms", body)
    fields = [k for k in spec if k not in ("boost", "_name")]
    if not fields:
        raise ParsingError("[terms] query requires a field")
    if len(fields) > 1:
        raise ParsingError("[terms] query does not support multiple fields")
    field, values = fields[0], spec[fields[0]]
    if isinstance(values, Mapping):
        raise ParsingError("[terms] query lookup is not supported by this node")
    if not isinstance(values, list):
        raise ParsingError(f"[terms] query does not support [{field}]")
    if len(values) > MAX_TERMS:
        raise IllegalArgument(
            f"The number of terms [{len(values)}] used in the Terms Query request has exceeded "
            f"the allowed maximum of [{MAX_TERMS}]."
        )
    return Terms(
        field, tuple(_scalar("terms", field, v) for v in values), boost=_boost("terms", spec)
    )


_RANGE_KEYS = frozenset(
    {
        "gt",
        "gte",
        "lt",
        "lte",
        "from",
        "to",
        "include_lower",
        "include_upper",
        "format",
        "time_zone",
        "boost",
        "relation",
        "_name",
    }
)


def _range(body: Any) -> Range:
    field, spec = _single_field("range", _object("range", body))
    if not isinstance(spec, Mapping):
        raise ParsingError(f"[range] query malformed, no start_object after field [{field}]")
    _only("range", spec, _RANGE_KEYS)

    def bound(key: str) -> Scalar | None:
        value = spec.get(key)
        return None if value is None else _scalar("range", key, value)

    gt, gte, lt, lte = bound("gt"), bound("gte"), bound("lt"), bound("lte")
    include_lower = _bool("range", "include_lower", spec.get("include_lower", True))
    include_upper = _bool("range", "include_upper", spec.get("include_upper", True))
    if bound("from") is not None:
        gte, gt = (bound("from"), None) if include_lower else (None, bound("from"))
    if bound("to") is not None:
        lte, lt = (bound("to"), None) if include_upper else (None, bound("to"))
    relation = spec.get("relation", "intersects")
    if str(relation).lower() not in ("intersects", "within", "contains"):
        raise ParsingError(f"[range] query does not support relation [{relation}]")
    return Range(
        field,
        gt=gt,
        gte=gte,
        lt=lt,
        lte=lte,
        format=_str("range", "format", spec["format"]) if "format" in spec else None,
        time_zone=_str("range", "time_zone", spec["time_zone"]) if "time_zone" in spec else None,
        boost=_boost("range", spec),
    )


def _exists(body: Any) -> Exists:
    spec = _object("exists", body)
    _only("exists", spec, frozenset({"field", "boost", "_name"}))
    if "field" not in spec:
        raise IllegalArgument("[exists] must be provided with a [field]")
    return Exists(_str("exists", "field", spec["field"]), boost=_boost("exists", spec))


def _pattern_parser(name: str, node: type[Prefix] | type[Wildcard]) -> Callable[[Any], Any]:
    keys = frozenset({"value", "boost", "case_insensitive", "rewrite", "_name"})
    if node is Wildcard:
        keys = keys | {"wildcard"}

    def parse(body: Any) -> Prefix | Wildcard:
        field, spec = _single_field(name, _object(name, body))
        if not isinstance(spec, Mapping):
            return node(field, str(_scalar(name, field, spec)))
        _only(name, spec, keys)
        value = spec.get("value", spec.get("wildcard"))
        if value is None:
            raise IllegalArgument(f"[{name}] requires a value")
        return node(
            field,
            str(_scalar(name, "value", value)),
            boost=_boost(name, spec),
            case_insensitive=(
                _bool(name, "case_insensitive", spec["case_insensitive"])
                if "case_insensitive" in spec
                else False
            ),
        )

    return parse


def _ids(body: Any) -> Ids:
    spec = _object("ids", body)
    _only("ids", spec, frozenset({"values", "boost", "_name", "type"}))
    values = spec.get("values", [])
    if not isinstance(values, list):
        raise XContentParseError("[ids] failed to parse field [values]")
    return Ids(tuple(str(_scalar("ids", "values", v)) for v in values), boost=_boost("ids", spec))


def _bool_query(body: Any) -> Bool:
    spec = _object("bool", body)
    _only(
        "bool",
        spec,
        frozenset(
            {
                "must",
                "should",
                "filter",
                "must_not",
                "minimum_should_match",
                "boost",
                "_name",
                "adjust_pure_negative",
            }
        ),
    )
    msm = spec.get("minimum_should_match")
    return Bool(
        must=_clauses("bool", "must", spec["must"]) if "must" in spec else (),
        should=_clauses("bool", "should", spec["should"]) if "should" in spec else (),
        filter=_clauses("bool", "filter", spec["filter"]) if "filter" in spec else (),
        must_not=_clauses("bool", "must_not", spec["must_not"]) if "must_not" in spec else (),
        minimum_should_match=None if msm is None else _msm("bool", msm),
        boost=_boost("bool", spec),
    )


def _constant_score(body: Any) -> ConstantScore:
    spec = _object("constant_score", body)
    _only("constant_score", spec, frozenset({"filter", "boost", "_name"}))
    if "filter" not in spec:
        raise ParsingError("[constant_score] requires a 'filter' element")
    return ConstantScore(parse_query(spec["filter"]), boost=_boost("constant_score", spec))


def _dis_max(body: Any) -> DisMax:
    spec = _object("dis_max", body)
    _only("dis_max", spec, frozenset({"queries", "tie_breaker", "boost", "_name"}))
    if "queries" not in spec:
        raise ParsingError("[dis_max] requires 'queries' field with at least one clause")
    return DisMax(
        _clauses("dis_max", "queries", spec["queries"]),
        tie_breaker=(
            _float("dis_max", "tie_breaker", spec["tie_breaker"]) if "tie_breaker" in spec else 0.0
        ),
        boost=_boost("dis_max", spec),
    )


def _query_string(name: str) -> Callable[[Any], Query]:
    def parse(body: Any) -> Query:
        from citadel.node.search.query_string import parse_query_string

        spec = _object(name, body)
        _only(
            name,
            spec,
            frozenset(
                {
                    "query",
                    "default_field",
                    "fields",
                    "default_operator",
                    "lenient",
                    "analyze_wildcard",
                    "allow_leading_wildcard",
                    "analyzer",
                    "boost",
                    "flags",
                    "_name",
                    "auto_generate_synonyms_phrase_query",
                    "minimum_should_match",
                }
            ),
        )
        if "query" not in spec:
            raise ParsingError(f"[{name}] must be provided with a [query]")
        fields = spec.get("fields")
        if fields is None and spec.get("default_field") is not None:
            fields = [spec["default_field"]]
        if isinstance(fields, str):
            fields = [fields]
        if fields is not None and (
            not isinstance(fields, list) or not all(isinstance(f, str) for f in fields)
        ):
            raise XContentParseError(f"[{name}] failed to parse field [fields]")
        operator = (
            _operator(name, spec["default_operator"]) if "default_operator" in spec else Operator.OR
        )
        return parse_query_string(
            _str(name, "query", spec["query"]),
            fields=tuple(_field_boost(f) for f in fields) if fields else None,
            default_operator=operator,
            simple=name == "simple_query_string",
        )

    return parse


_PARSERS: dict[str, Callable[[Any], Query]] = {
    "match_all": _match_all,
    "match_none": _match_none,
    "match": _match,
    "match_phrase": _phrase_parser("match_phrase", prefix=False),
    "match_phrase_prefix": _phrase_parser("match_phrase_prefix", prefix=True),
    "multi_match": _multi_match,
    "term": _term,
    "terms": _terms,
    "range": _range,
    "exists": _exists,
    "prefix": _pattern_parser("prefix", Prefix),
    "wildcard": _pattern_parser("wildcard", Wildcard),
    "ids": _ids,
    "fuzzy": _fuzzy,
    "regexp": _regexp,
    "match_bool_prefix": _match_bool_prefix,
    "bool": _bool_query,
    "constant_score": _constant_score,
    "dis_max": _dis_max,
    "query_string": _query_string("query_string"),
    "simple_query_string": _query_string("simple_query_string"),
}
