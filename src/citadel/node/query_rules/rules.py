"""Query rules read and matched as Elasticsearch's query rules plugin does. Pure.

A ruleset holds 1 to `MAX_RULES_PER_RULESET` rules, kept ordered by ``priority`` (rules
without one last, ties in the order given). A rule is ``pinned`` or ``exclude`` with exactly
one of ``actions.ids`` or ``actions.docs`` (at most `MAX_DOCS_PER_RULE`), and criteria whose
values are kept as strings (Elasticsearch reads them as a string array). A rule matches a set
of match criteria when at least one of its criteria names a given key (``always`` names every
key) and every such criterion matches one of its values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from citadel.node.errors import (
    ActionRequestValidation,
    EsError,
    IllegalArgument,
    XContentParseError,
)
from citadel.node.scripts.mustache import stringify
from citadel.node.xcontent import token_of

MAX_RULES_PER_RULESET = 100
MAX_DOCS_PER_RULE = 100
MAX_PRIORITY = 1_000_000
MAX_ID_BYTES = 512
RULE_TYPES = ("pinned", "exclude")
CRITERIA_TYPES = (
    "always",
    "exact",
    "fuzzy",
    "prefix",
    "suffix",
    "contains",
    "lt",
    "lte",
    "gt",
    "gte",
)
NUMERIC_TYPES = frozenset({"lt", "lte", "gt", "gte"})


class ParseException(EsError):
    """Elasticsearch's ``ElasticsearchParseException``."""

    type = "parse_exception"
    status = 400


@dataclass(frozen=True)
class Criterion:
    """One criterion of a rule."""

    type: str
    metadata: str | None
    values: tuple[str, ...] | None

    def as_json(self) -> dict[str, Any]:
        """The criterion as ``GET`` answers it."""
        out: dict[str, Any] = {"type": self.type}
        if self.metadata is not None:
            out["metadata"] = self.metadata
        if self.values is not None:
            out["values"] = list(self.values)
        return out


@dataclass(frozen=True)
class QueryRule:
    """One rule of a ruleset."""

    rule_id: str
    type: str
    criteria: tuple[Criterion, ...]
    actions: dict[str, Any]
    priority: int | None = None

    def as_json(self) -> dict[str, Any]:
        """The rule as ``GET`` answers it."""
        out: dict[str, Any] = {
            "rule_id": self.rule_id,
            "type": self.type,
            "criteria": [c.as_json() for c in self.criteria],
            "actions": self.actions,
        }
        if self.priority is not None:
            out["priority"] = self.priority
        return out


def check_id(kind: str, value: str) -> None:
    """A ruleset or rule id: not blank, at most `MAX_ID_BYTES`."""
    if not value.strip():
        raise ActionRequestValidation(f"Validation Failed: 1: {kind} id cannot be null or empty;")
    if len(value.encode()) > MAX_ID_BYTES:
        raise IllegalArgument(f"{kind} id [{value[:40]}...] is longer than {MAX_ID_BYTES} bytes")


def parse_ruleset(body: Any) -> list[QueryRule]:
    """The rules of a ``PUT _query_rules/{ruleset}`` body, ordered by priority."""
    if not isinstance(body, Mapping):
        raise XContentParseError("[query_ruleset] expected an object")
    for key, value in body.items():
        if key != "rules":
            raise XContentParseError(
                f"[query_ruleset] unknown field [{key}] of type {token_of(value)}"
            )
    raw = body.get("rules")
    if raw is None:
        raise XContentParseError("Required [rules]")
    if not isinstance(raw, list):
        raise XContentParseError("[query_ruleset] failed to parse field [rules]")
    if not raw:
        raise ActionRequestValidation("Validation Failed: 1: rules cannot be null or empty;")
    if len(raw) > MAX_RULES_PER_RULESET:
        raise ActionRequestValidation(
            f"Validation Failed: 1: rules cannot exceed [{MAX_RULES_PER_RULESET}];"
        )
    rules = [parse_rule(item, rule_id=None) for item in raw]
    seen: set[str] = set()
    for rule in rules:
        if rule.rule_id in seen:
            raise IllegalArgument(f"the ruleset holds rule id [{rule.rule_id}] more than once")
        seen.add(rule.rule_id)
    return ordered(rules)


def ordered(rules: list[QueryRule]) -> list[QueryRule]:
    """Rules by priority, those without one last; ties keep their order."""
    return sorted(rules, key=lambda r: (r.priority is None, r.priority or 0))


def parse_rule(body: Any, *, rule_id: str | None) -> QueryRule:
    """One rule: a ruleset's element, or a ``PUT .../_rule/{rule}`` body (`rule_id` given)."""
    if not isinstance(body, Mapping):
        raise XContentParseError("[query_rule] expected an object")
    allowed = {"rule_id", "type", "criteria", "actions", "priority"}
    for key, value in body.items():
        if key not in allowed:
            raise XContentParseError(
                f"[query_rule] unknown field [{key}] of type {token_of(value)}"
            )
    given = body.get("rule_id")
    if given is not None and not isinstance(given, str):
        raise XContentParseError("[query_rule] failed to parse field [rule_id]")
    if rule_id is not None and given is not None and given != rule_id:
        raise IllegalArgument(f"rule_id [{given}] does not match the path's rule id [{rule_id}]")
    rule_id = rule_id if rule_id is not None else given
    if rule_id is None:
        raise XContentParseError("Required [rule_id]")
    check_id("rule", rule_id)
    rule_type = _required_str(body, "type")
    if rule_type.lower() not in RULE_TYPES:
        raise IllegalArgument(f"Unknown QueryRuleType: {rule_type}")
    rule_type = rule_type.lower()
    criteria = _criteria(body.get("criteria"))
    actions = _actions(rule_type, body.get("actions"))
    return QueryRule(rule_id, rule_type, criteria, actions, _priority(body.get("priority")))


def _required_str(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    if value is None:
        raise XContentParseError(f"Required [{key}]")
    if not isinstance(value, str):
        raise XContentParseError(f"[query_rule] failed to parse field [{key}]")
    return value


def _priority(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise XContentParseError("[query_rule] failed to parse field [priority]")
    if not 0 <= value <= MAX_PRIORITY:
        raise ActionRequestValidation(
            f"Validation Failed: 1: priority must be between [0] and [{MAX_PRIORITY}];"
        )
    return value


def _criteria(raw: Any) -> tuple[Criterion, ...]:
    if raw is None:
        raise XContentParseError("Required [criteria]")
    if isinstance(raw, Mapping):
        raw = [raw]
    if not isinstance(raw, list):
        raise XContentParseError("[query_rule] failed to parse field [criteria]")
    if not raw:
        raise IllegalArgument("Query rule criteria cannot be empty")
    return tuple(parse_criterion(item) for item in raw)


def parse_criterion(body: Any) -> Criterion:
    """One criterion: ``type``, and ``metadata`` and ``values`` unless it is ``always``."""
    if not isinstance(body, Mapping):
        raise XContentParseError("[query_rule_criteria] expected an object")
    for key, value in body.items():
        if key not in ("type", "metadata", "values"):
            raise XContentParseError(
                f"[query_rule_criteria] unknown field [{key}] of type {token_of(value)}"
            )
    raw_type = body.get("type")
    if raw_type is None:
        raise XContentParseError("Required [type]")
    if not isinstance(raw_type, str) or raw_type.lower() not in CRITERIA_TYPES:
        raise IllegalArgument(f"Unknown QueryRuleCriteriaType: {raw_type}")
    criterion_type = raw_type.lower()
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, str):
        raise XContentParseError("[query_rule_criteria] failed to parse field [metadata]")
    values = _values(body.get("values"))
    if criterion_type != "always":
        if not metadata:
            raise IllegalArgument("criteriaMetadata cannot be blank")
        if not values:
            raise IllegalArgument("criteriaValues cannot be null or empty")
    if criterion_type in NUMERIC_TYPES:
        for value in values or ():
            if _number(value) is None:
                raise IllegalArgument(
                    f"Criteria value [{value}] of criteria type [{criterion_type}] is not a number"
                )
    return Criterion(criterion_type, metadata, values)


def _values(raw: Any) -> tuple[str, ...] | None:
    if raw is None:
        return None
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for item in items:
        if isinstance(item, (Mapping, list)) or item is None:
            raise XContentParseError("[query_rule_criteria] failed to parse field [values]")
        out.append(item if isinstance(item, str) else stringify(item))
    return tuple(out)


def _actions(rule_type: str, raw: Any) -> dict[str, Any]:
    if raw is None:
        raise XContentParseError("Required [actions]")
    if not isinstance(raw, Mapping):
        raise XContentParseError("[query_rule] failed to parse field [actions]")
    unknown = sorted(k for k in raw if k not in ("ids", "docs"))
    if unknown:
        raise ParseException(
            f"{rule_type} query rule actions must contain only one of either ids or docs"
        )
    if ("ids" in raw) == ("docs" in raw):
        raise ParseException(
            f"{rule_type} query rule actions must contain only one of either ids or docs"
        )
    key = "ids" if "ids" in raw else "docs"
    items = raw[key]
    if not isinstance(items, list) or not items:
        raise ParseException(f"{rule_type} query rule actions must contain at least one of [{key}]")
    if len(items) > MAX_DOCS_PER_RULE:
        raise ParseException(
            f"{rule_type} query rule actions cannot contain more than {MAX_DOCS_PER_RULE} documents"
        )
    if key == "ids":
        if not all(isinstance(i, str) and i for i in items):
            raise ParseException(f"{rule_type} query rule [ids] must be non-empty strings")
    else:
        for doc in items:
            if not isinstance(doc, Mapping) or not isinstance(doc.get("_id"), str):
                raise ParseException(f"{rule_type} query rule [docs] need an [_id]")
            extra = sorted(k for k in doc if k not in ("_id", "_index"))
            if extra or not isinstance(doc.get("_index", ""), str):
                raise ParseException(f"{rule_type} query rule [docs] hold only [_index] and [_id]")
    return {key: items}


def parse_match_criteria(body: Any) -> dict[str, Any]:
    """The ``match_criteria`` of a ``_test`` body."""
    if not isinstance(body, Mapping):
        raise XContentParseError("[query_rules_test] expected an object")
    for key, value in body.items():
        if key != "match_criteria":
            raise XContentParseError(
                f"[query_rules_test] unknown field [{key}] of type {token_of(value)}"
            )
    criteria = body.get("match_criteria")
    if criteria is None:
        raise ActionRequestValidation("Validation Failed: 1: match_criteria is required;")
    if not isinstance(criteria, Mapping):
        raise XContentParseError("[query_rules_test] failed to parse field [match_criteria]")
    return dict(criteria)


def matching(rules: list[QueryRule], match_criteria: Mapping[str, Any]) -> list[QueryRule]:
    """The rules (in ruleset order) whose criteria match `match_criteria`."""
    return [rule for rule in rules if rule_matches(rule, match_criteria)]


def rule_matches(rule: QueryRule, match_criteria: Mapping[str, Any]) -> bool:
    """At least one criterion applies to a given key and every applying one matches."""
    decided: bool | None = None
    for criterion in rule.criteria:
        for key, value in match_criteria.items():
            if criterion.type == "always" or criterion.metadata == key:
                one = criterion_matches(criterion, value)
                decided = one if decided is None else decided and one
    return bool(decided)


def criterion_matches(criterion: Criterion, value: Any) -> bool:
    """One criterion against one match value (an input it cannot read does not match)."""
    if criterion.type == "always":
        return True
    if not _valid_input(criterion.type, value):
        return False
    text = value if isinstance(value, str) else stringify(value)
    return any(_value_matches(criterion.type, text, v) for v in criterion.values or ())


def _valid_input(criterion_type: str, value: Any) -> bool:
    if criterion_type == "exact":
        return isinstance(value, (str, int, float)) and not isinstance(value, bool)
    if criterion_type in NUMERIC_TYPES:
        if isinstance(value, bool) or value is None or isinstance(value, (Mapping, list)):
            return False
        return isinstance(value, (int, float)) or _number(str(value)) is not None
    return isinstance(value, str)


def _value_matches(criterion_type: str, text: str, value: str) -> bool:
    if criterion_type == "exact":
        if text == value:
            return True
        left, right = _number(text), _number(value)
        return left is not None and right is not None and left == right
    if criterion_type == "fuzzy":
        return levenshtein_similarity(text, value) > 0.5
    if criterion_type == "prefix":
        return text.startswith(value)
    if criterion_type == "suffix":
        return text.endswith(value)
    if criterion_type == "contains":
        return value in text
    left, right = _number(text), _number(value)
    if left is None or right is None:
        return False
    if criterion_type == "lt":
        return left < right
    if criterion_type == "lte":
        return left <= right
    if criterion_type == "gt":
        return left > right
    return left >= right


def levenshtein_similarity(left: str, right: str) -> float:
    """Lucene's ``LevenshteinDistance``: 1 - edits / the longer length (1.0 for two empties)."""
    if not left or not right:
        return 1.0 if left == right else 0.0
    previous = list(range(len(right) + 1))
    for i, a in enumerate(left, 1):
        current = [i]
        for j, b in enumerate(right, 1):
            current.append(min(current[j - 1] + 1, previous[j] + 1, previous[j - 1] + (a != b)))
        previous = current
    return 1.0 - previous[-1] / max(len(left), len(right))


def _number(text: str) -> float | None:
    """Java's ``Double.parseDouble`` on the common forms (NaN and infinities excepted)."""
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def counts(rules: list[QueryRule]) -> tuple[dict[str, int], dict[str, int]]:
    """Criteria types and rule types counted over a ruleset (the listing's counts)."""
    criteria: dict[str, int] = {}
    types: dict[str, int] = {}
    for rule in rules:
        types[rule.type] = types.get(rule.type, 0) + 1
        for criterion in rule.criteria:
            criteria[criterion.type] = criteria.get(criterion.type, 0) + 1
    return criteria, types


def from_stored(data: list[dict[str, Any]]) -> list[QueryRule]:
    """Rules from their stored JSON (written by `QueryRule.as_json`)."""
    return [parse_rule(item, rule_id=None) for item in data]
