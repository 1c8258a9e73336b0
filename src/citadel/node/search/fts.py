"""Query text as FTS5 expressions. Pure.

User input never reaches FTS5 as syntax: text is split into tokens by the rule of the
``unicode61`` tokenizer the text fields use (letters, numbers and private-use characters
make tokens; everything else separates them), and each token is written as an FTS5 string
(``"token"``), which FTS5 folds (case, diacritics) the same way it folded the documents.
"""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Sequence


def analyze(text: str) -> list[str]:
    """The tokens of `text`, in order (duplicates kept)."""
    tokens, current = [], []
    for ch in text:
        category = unicodedata.category(ch)
        if category[0] in "LN" or category == "Co":
            current.append(ch)
        elif current:
            tokens.append("".join(current))
            current = []
    if current:
        tokens.append("".join(current))
    return tokens


def unique(tokens: Sequence[str]) -> list[str]:
    """Tokens without repeats (first occurrence kept), compared as FTS5 compares them."""
    seen: dict[str, str] = {}
    for token in tokens:
        seen.setdefault(token.casefold(), token)
    return list(seen.values())


def is_single_token(text: str) -> bool:
    """Whether `text` is exactly one token, as an un-analyzed term must be to match one."""
    return bool(text) and analyze(text) == [text]


def string(token: str) -> str:
    """One FTS5 string (tokens never contain quotes, but escape them anyway)."""
    return '"' + token.replace('"', '""') + '"'


def any_of(tokens: Sequence[str]) -> str:
    """Documents with any of the tokens."""
    return " OR ".join(string(t) for t in tokens)


def all_of(tokens: Sequence[str]) -> str:
    """Documents with all of the tokens."""
    return " AND ".join(string(t) for t in tokens)


def at_least(tokens: Sequence[str], need: int) -> str:
    """Documents with at least `need` of the tokens: an OR of every `need`-subset's AND."""
    return " OR ".join("(" + all_of(group) + ")" for group in itertools.combinations(tokens, need))


def phrase(tokens: Sequence[str], *, prefix: bool = False, slop: int = 0) -> str:
    """The tokens as one phrase; `prefix`: the last one is a prefix; `slop` > 0: near."""
    if slop > 0 and len(tokens) > 1:
        return f"NEAR({' '.join(string(t) for t in tokens)}, {slop + len(tokens) - 2})"
    text = string(" ".join(tokens))
    return text + " *" if prefix else text


def prefix(token: str) -> str:
    """Documents with a token starting with `token`."""
    return string(token) + " *"
