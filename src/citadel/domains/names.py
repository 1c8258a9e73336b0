"""What a claimable domain name is (pure).

A claim names a real hostname: at least two labels, letters, digits and inner hyphens only
(after IDNA 2008 / UTS 46 encoding, so ``Bücher.Example`` becomes ``xn--bcher-kva.example``),
at most 253 characters, no wildcard, no IP address, and a top-level label that is not all
digits. The stored form is lowercase ASCII without a trailing dot.
"""

from __future__ import annotations

import ipaddress
import re

import idna

from citadel.domains.errors import InvalidDomain

CHALLENGE_LABEL = "_citadel_domain_challenge"
MAX_LENGTH = 253
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def normalize_domain(text: str, *, field: str = "body.domain") -> str:
    """The canonical form of `text`, or `InvalidDomain` naming `field` and why."""
    name = text.strip().removesuffix(".")
    if not name:
        raise InvalidDomain("A domain is required.", fields=[field])
    if "*" in name:
        raise InvalidDomain("A wildcard cannot be claimed; name the domain.", fields=[field])
    if _is_ip(name):
        raise InvalidDomain("An IP address is not a domain.", fields=[field])
    try:
        ascii_name = idna.encode(name, uts46=True).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError, ValueError):
        raise InvalidDomain("That is not a valid domain name.", fields=[field]) from None
    if len(ascii_name) > MAX_LENGTH:
        raise InvalidDomain(f"A domain has at most {MAX_LENGTH} characters.", fields=[field])
    labels = ascii_name.split(".")
    if len(labels) < 2:
        raise InvalidDomain("A domain has at least two labels (example.com).", fields=[field])
    if not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        raise InvalidDomain("That is not a valid domain name.", fields=[field])
    return ascii_name


def challenge_name(domain: str) -> str:
    """Where the owner publishes the verification code (a TXT record)."""
    return f"{CHALLENGE_LABEL}.{domain}"


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True
