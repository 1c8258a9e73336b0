"""Passwords: argon2id hashes, and the rules a new password must meet.

Production uses argon2-cffi's default parameters (RFC 9106 low-memory profile: 64 MiB, three
passes). The test suite switches to the library's cheap profile with `use_profile` so that a
thousand sign-ins do not take minutes; the hash records its parameters, so either verifies.
"""

from __future__ import annotations

from argon2 import Parameters, PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 256

_hasher = PasswordHasher()
_dummy: str | None = None
"""A hash to verify against when there is none, made at first need (not at import: a node
that never sees an unknown user would pay for it at every start)."""


def use_profile(parameters: Parameters) -> None:
    """Hash new passwords with other argon2 parameters (the tests' cheap profile)."""
    global _hasher, _dummy
    _hasher = PasswordHasher.from_parameters(parameters)
    _dummy = None


def _dummy_hash() -> str:
    global _dummy
    if _dummy is None:
        _dummy = _hasher.hash("citadel-dummy-password-for-timing")
    return _dummy


def hash_password(password: str) -> str:
    """An argon2id hash of `password` with a fresh salt."""
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether `password` matches; spends the same work when there is no stored hash."""
    try:
        return _hasher.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def password_problem(password: str) -> str | None:
    """Why `password` is unacceptable, or None."""
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    return None
