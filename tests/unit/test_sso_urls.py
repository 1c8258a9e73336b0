"""The SP's addresses and the checks on what users type into them (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from citadel.sso.urls import is_idp_url, is_login_prefix, safe_return_to, sp_urls


def test_sp_addresses_carry_the_organization_and_only_the_login_url_the_prefix():
    urls = sp_urls("https://citadel.example:8443/", "org1", "acme")
    assert urls.entity_id == "https://citadel.example:8443/sso/saml/org1/metadata"
    assert urls.metadata_url == urls.entity_id
    assert urls.acs_url == "https://citadel.example:8443/sso/saml/org1/acs"
    assert urls.login_url == "https://citadel.example:8443/sso/saml/acme/login"


@pytest.mark.parametrize("prefix", ["a", "acme", "acme-corp", "a1-b2", "x" * 63])
def test_lowercase_letters_digits_and_inner_hyphens_make_a_login_prefix(prefix):
    assert is_login_prefix(prefix)


@pytest.mark.parametrize(
    "prefix", ["", "Acme", "-acme", "acme-", "ac_me", "ac.me", "x" * 64, "ac me", "é"]
)
def test_anything_else_is_not_a_login_prefix(prefix):
    assert not is_login_prefix(prefix)


@pytest.mark.parametrize(
    "url", ["https://idp.example/sso", "http://127.0.0.1:8080/saml2/idp/SSOService.php"]
)
def test_an_idp_url_is_absolute_http(url):
    assert is_idp_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "/relative",
        "ftp://idp.example/sso",
        "https://user:pw@idp.example/sso",
        "https://idp.example/sso#frag",
        "https:///nohost",
    ],
)
def test_anything_else_is_not_an_idp_url(url):
    assert not is_idp_url(url)


@pytest.mark.parametrize(
    ("given_path", "expected"),
    [
        (None, "/"),
        ("", "/"),
        ("/deployments/abc?tab=security", "/deployments/abc?tab=security"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("/ok\r\nSet-Cookie: x=1", "/"),
        ("/" + "a" * 600, "/"),
    ],
)
def test_the_return_path_stays_on_this_site(given_path, expected):
    assert safe_return_to(given_path) == expected


@given(st.text(max_size=80))
def test_a_return_path_is_always_a_local_path(text):
    result = safe_return_to(text)
    assert result.startswith("/")
    assert not result.startswith("//")
    assert "\\" not in result
    assert all(ord(ch) > 0x20 and ord(ch) != 0x7F for ch in result)
