"""Which user, role and API key names the security API accepts, as Elasticsearch does.

User and role names: 1 to 507 printable ASCII characters (letters, digits, spaces,
punctuation, symbols), no leading or trailing whitespace.
"""

from __future__ import annotations

import re

MAX_NAME = 507
_PRINTABLE = re.compile(r"[\x20-\x7e]+")


def valid_name(name: str) -> bool:
    """Whether `name` is acceptable as a user or role name."""
    return (
        0 < len(name) <= MAX_NAME
        and _PRINTABLE.fullmatch(name) is not None
        and name == name.strip()
    )


def name_rule(what: str) -> str:
    """The rule, in Elasticsearch's words, for a 400 (`what`: ``Usernames``, ``Role names``)."""
    return (
        f"{what} must be at least [1] and no more than [{MAX_NAME}] characters. They can "
        "contain alphanumeric characters (a-z, A-Z, 0-9), spaces, punctuation, and printable "
        "symbols in the Basic Latin (ASCII) block. Leading or trailing whitespace is not allowed."
    )
