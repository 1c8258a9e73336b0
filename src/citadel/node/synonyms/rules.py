"""Synonym set and rule bodies, read as Elasticsearch reads them. Pure.

A set is ``{"synonyms_set": [{"id"?, "synonyms"}, ...]}`` with at most `MAX_RULES_PER_SET`
rules; a rule without an ``id`` gets a random one (20 base64url characters, as Elasticsearch's
UUIDs). A rule's ``synonyms`` is kept as written (Solr syntax, ``a, b`` or ``a => b``): no
analyzer here uses it, since the node has no custom analyzers.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from citadel.node.errors import ActionRequestValidation, IllegalArgument, XContentParseError
from citadel.node.xcontent import token_of

MAX_RULES_PER_SET = 10_000
MAX_ID_BYTES = 512


@dataclass(frozen=True)
class SynonymRule:
    """One rule of a set."""

    id: str
    synonyms: str

    def as_json(self) -> dict[str, str]:
        """The rule as ``GET`` answers it."""
        return {"id": self.id, "synonyms": self.synonyms}


def new_rule_id() -> str:
    """A random rule id shaped like Elasticsearch's base64 UUIDs."""
    return base64.urlsafe_b64encode(secrets.token_bytes(15)).decode()


def check_id(kind: str, value: str) -> None:
    """A set or rule id: not empty, at most `MAX_ID_BYTES`."""
    if not value.strip():
        raise ActionRequestValidation(f"Validation Failed: 1: {kind} id must not be empty;")
    if len(value.encode()) > MAX_ID_BYTES:
        raise IllegalArgument(f"{kind} id [{value[:40]}...] is longer than {MAX_ID_BYTES} bytes")


def parse_set(body: Any) -> list[SynonymRule]:
    """The rules of a ``PUT _synonyms/{set}`` body."""
    if not isinstance(body, Mapping):
        raise XContentParseError("[synonyms_set] expected an object")
    for key, value in body.items():
        if key != "synonyms_set":
            raise XContentParseError(
                f"[synonyms_set] unknown field [{key}] of type {token_of(value)}"
            )
    raw = body.get("synonyms_set")
    if raw is None:
        raise XContentParseError("Required [synonyms_set]")
    if isinstance(raw, Mapping):
        raw = [raw]
    if not isinstance(raw, list):
        raise XContentParseError("[synonyms_set] failed to parse field [synonyms_set]")
    if len(raw) > MAX_RULES_PER_SET:
        raise ActionRequestValidation(
            "Validation Failed: 1: The number of synonyms rules in a synonym set cannot exceed "
            f"{MAX_RULES_PER_SET};"
        )
    rules = [parse_rule(item, rule_id=None) for item in raw]
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            raise IllegalArgument(f"the synonyms set holds rule id [{rule.id}] more than once")
        seen.add(rule.id)
    return rules


def parse_rule(body: Any, *, rule_id: str | None) -> SynonymRule:
    """One rule: a set's element, or a ``PUT _synonyms/{set}/{rule}`` body (`rule_id` given)."""
    if not isinstance(body, Mapping):
        raise XContentParseError("[synonym_rule] expected an object")
    allowed = ("synonyms",) if rule_id is not None else ("id", "synonyms")
    for key, value in body.items():
        if key not in allowed:
            raise XContentParseError(
                f"[synonym_rule] unknown field [{key}] of type {token_of(value)}"
            )
    synonyms = body.get("synonyms")
    if synonyms is None:
        raise XContentParseError("Required [synonyms]")
    if not isinstance(synonyms, str):
        raise XContentParseError("[synonym_rule] failed to parse field [synonyms]")
    if not synonyms.strip():
        raise ActionRequestValidation("Validation Failed: 1: synonyms field can't be empty;")
    if rule_id is None:
        given = body.get("id")
        if given is not None and not isinstance(given, str):
            raise XContentParseError("[synonym_rule] failed to parse field [id]")
        rule_id = given if given is not None else new_rule_id()
    check_id("synonym rule", rule_id)
    return SynonymRule(rule_id, synonyms)


def page(params: Mapping[str, str]) -> tuple[int, int]:
    """``from`` and ``size`` of a listing (size at most 10,000, as Elasticsearch's window)."""
    out = []
    for name, default in (("from", 0), ("size", 10)):
        text = params.get(name)
        if text is None:
            out.append(default)
            continue
        if not text.lstrip("-").isdigit():
            raise IllegalArgument(f"Failed to parse int parameter [{name}] with value [{text}]")
        value = int(text)
        if value < 0:
            raise ActionRequestValidation(
                f"Validation Failed: 1: [{name}] must be a positive integer;"
            )
        out.append(value)
    start, size = out
    if start + size > MAX_RULES_PER_SET:
        raise ActionRequestValidation(
            f"Validation Failed: 1: [from] + [size] must be at most {MAX_RULES_PER_SET};"
        )
    return start, size
