"""The ``_analyze`` API: the tokens a text becomes, with offsets, positions and types. Pure.

The analyzers are the node's own (`citadel.node.engine.analysis`): ``standard``, ``english``,
``whitespace``, ``simple``, ``keyword``; tokenizers ``standard``, ``whitespace``, ``letter``,
``keyword``; token filters ``lowercase``, ``uppercase`` and (through ``english``) the English
stop words and stemmer. Anything else is a 400 naming it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from citadel.node.engine.analysis import analyze as engine_analyze
from citadel.node.engine.fields import SlotKind
from citadel.node.errors import IllegalArgument, ParsingError

ANALYZERS = ("standard", "english", "whitespace", "simple", "keyword")
TOKENIZERS: dict[str, re.Pattern[str] | None] = {
    "standard": re.compile(r"[^\W_]+"),
    "whitespace": re.compile(r"\S+"),
    "letter": re.compile(r"[^\W\d_]+"),
    "keyword": None,
}
FILTERS = ("lowercase", "uppercase")
_KEYS = frozenset({"analyzer", "text", "tokenizer", "filter", "field", "explain", "attributes"})
MAX_TOKENS = 10_000


@dataclass(frozen=True)
class Token:
    """One token as ``_analyze`` shows it."""

    token: str
    start_offset: int
    end_offset: int
    type: str
    position: int

    def body(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "start_offset": self.start_offset,
            "end_offset": self.end_offset,
            "type": self.type,
            "position": self.position,
        }


def parse_request(body: Any) -> dict[str, Any]:
    """A validated ``_analyze`` body."""
    if not isinstance(body, Mapping):
        raise ParsingError("request body or source parameter is required")
    for key in body:
        if key not in _KEYS:
            raise IllegalArgument(
                f"Unknown parameter [{key}] in request body or parameter is of the wrong "
                "type[VALUE_STRING] "
            )
    if body.get("explain"):
        raise IllegalArgument("[explain] is not supported by this node's _analyze")
    text = body.get("text")
    if text is None:
        raise IllegalArgument("text is missing")
    texts = text if isinstance(text, list) else [text]
    if not all(isinstance(t, str) for t in texts):
        raise IllegalArgument("[text] must be a string or a list of strings")
    return {**body, "text": texts}


def tokens(
    texts: list[str],
    *,
    analyzer: str | None = None,
    tokenizer: str | None = None,
    filters: list[str] | None = None,
) -> list[Token]:
    """The tokens of `texts` (several texts continue positions and offsets, as ES does)."""
    if tokenizer is not None:
        if analyzer is not None:
            raise IllegalArgument("tokenizer/analyze should be null if analyzer is specified")
        return _custom(texts, tokenizer, filters or [])
    if filters:
        raise IllegalArgument("[filter] needs a [tokenizer] on this node")
    name = analyzer or "standard"
    if name not in ANALYZERS:
        raise IllegalArgument(f"failed to find global analyzer [{name}]")
    if name == "keyword":
        return _custom(texts, "keyword", [])
    if name == "whitespace":
        return _custom(texts, "whitespace", [])
    if name == "simple":
        return _custom(texts, "letter", ["lowercase"])
    out = _custom(texts, "standard", ["lowercase"], standard=True)
    if name == "english":
        kept = []
        for token in out:
            stems = engine_analyze(SlotKind.TEXT_ENGLISH, token.token)
            if stems:
                kept.append(
                    Token(
                        stems[0], token.start_offset, token.end_offset, token.type, token.position
                    )
                )
        out = kept
    return out


def _custom(
    texts: list[str], tokenizer: str, filters: list[str], standard: bool = False
) -> list[Token]:
    if tokenizer not in TOKENIZERS:
        raise IllegalArgument(f"failed to find global tokenizer under [{tokenizer}]")
    for name in filters:
        if name not in FILTERS:
            raise IllegalArgument(f"failed to find global filter under [{name}]")
    out: list[Token] = []
    position = 0
    offset = 0
    for text in texts:
        pattern = TOKENIZERS[tokenizer]
        spans = [(0, len(text))] if pattern is None else [m.span() for m in pattern.finditer(text)]
        for start, end in spans:
            word = text[start:end]
            if standard and len(word.encode()) > 255:
                continue
            for name in filters:
                word = word.lower() if name == "lowercase" else word.upper()
            kind = "word"
            if standard:
                kind = "<NUM>" if word.isdigit() else "<ALPHANUM>"
            out.append(Token(word, offset + start, offset + end, kind, position))
            position += 1
            if len(out) > MAX_TOKENS:
                raise IllegalArgument(
                    f"The number of tokens produced by calling _analyze has exceeded the "
                    f"allowed maximum of [{MAX_TOKENS}]. This limit can be set by changing "
                    "the [index.analyze.max_token_count] index level setting."
                )
        position += 100  # position_increment_gap between values
        offset += len(text) + 1
    return out


def field_analyzer(mappings_field: Mapping[str, Any] | None, field: str) -> str:
    """The analyzer of field `field` (its mapping), as ``_analyze`` with ``field`` uses it."""
    if mappings_field is None:
        return "standard"
    kind = mappings_field.get("type")
    if kind == "text":
        return str(mappings_field.get("analyzer", "standard"))
    return "keyword"
