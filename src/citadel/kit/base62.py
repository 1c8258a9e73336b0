"""Base62 text for secrets and checksums: copy-safe, double-click selects it whole."""

from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(ALPHABET)}


def encode(number: int, width: int) -> str:
    """`number` in base62, left-padded with zeros to exactly `width` characters."""
    if number < 0:
        raise ValueError("negative")
    out = []
    for _ in range(width):
        number, rem = divmod(number, 62)
        out.append(ALPHABET[rem])
    if number:
        raise ValueError("does not fit")
    return "".join(reversed(out))


def random_text(length: int) -> str:
    """`length` characters drawn uniformly from the alphabet by the OS CSPRNG."""
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def is_base62(text: str) -> bool:
    """Whether every character of `text` is in the alphabet."""
    return all(c in _INDEX for c in text)
