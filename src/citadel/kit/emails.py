"""Email addresses: validated syntactically and compared in one normal form.

Citadel is self-hosted, so internal names (``corp.local``, ``*.localhost``, ``*.test``) are
real addresses for its users; only ``.invalid``, ``.arpa`` and ``.onion`` are refused.
"""

from __future__ import annotations

import email_validator
from email_validator import EmailNotValidError, validate_email

# The library's list is consulted at call time; keep the names that can never receive mail.
email_validator.SPECIAL_USE_DOMAIN_NAMES[:] = ["arpa", "invalid", "onion"]


class InvalidEmail(ValueError):
    """Not an email address."""


def normalize_email(text: str) -> str:
    """The address in normal form, lowercased as a whole."""
    if len(text) > 320:
        raise InvalidEmail(text[:40])
    try:
        info = validate_email(
            text, check_deliverability=False, globally_deliverable=False, test_environment=True
        )
    except EmailNotValidError as exc:
        raise InvalidEmail(str(exc)) from None
    return info.normalized.lower()
