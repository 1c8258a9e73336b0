"""What a claimable domain is, and how the DNS resolver setting is read (pure)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from citadel.config import Settings
from citadel.domains.errors import InvalidDomain
from citadel.domains.names import challenge_name, normalize_domain


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("example.com", "example.com"),
        (" Sub.Example.COM. ", "sub.example.com"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("a-b.c0.example", "a-b.c0.example"),
    ],
)
def test_a_domain_is_normalised(text, expected):
    assert normalize_domain(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "com",
        "*.example.com",
        "192.0.2.1",
        "::1",
        "under_score.example.com",
        "-lead.example.com",
        "trail-.example.com",
        "example.123",
        "a..example.com",
        ("a" * 63 + ".") * 4 + "com",
        "x" * 64 + ".com",
    ],
)
def test_a_domain_that_is_not_a_hostname_is_refused_naming_the_field(text):
    with pytest.raises(InvalidDomain) as refused:
        normalize_domain(text)

    assert refused.value.fields == ["body.domain"]


def test_the_challenge_record_sits_under_the_domain():
    assert challenge_name("example.com") == "_citadel_domain_challenge.example.com"


def test_the_resolver_setting_is_an_address_and_port():
    assert Settings(_env_file=None).dns_nameserver is None
    assert Settings(dns_resolver="127.0.0.1:5353", _env_file=None).dns_nameserver == (
        "127.0.0.1",
        5353,
    )
    assert Settings(dns_resolver="[::1]:53", _env_file=None).dns_nameserver == ("::1", 53)


@pytest.mark.parametrize("text", ["127.0.0.1", "resolver.example:53", "127.0.0.1:0", ":53"])
def test_a_resolver_setting_that_is_not_an_address_and_port_is_refused(text):
    with pytest.raises(ValidationError):
        Settings(dns_resolver=text, _env_file=None)
