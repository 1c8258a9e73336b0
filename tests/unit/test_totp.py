"""TOTP against the RFC 6238 test vectors (SHA-1), and replay protection."""

from datetime import UTC, datetime

import pytest

from citadel.authn import totp

RFC_SECRET = b"12345678901234567890"


@pytest.mark.parametrize(
    ("unix_time", "code8"),
    [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1111111111, "14050471"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
        (20000000000, "65353130"),
    ],
)
def test_rfc6238_vectors(unix_time, code8):
    # RFC 6238 lists 8-digit codes; the 6-digit code is their last six digits.
    assert totp.code_at(RFC_SECRET, unix_time // 30) == code8[-6:]


def test_a_current_code_matches_and_returns_its_step():
    now = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
    code = totp.code_at(RFC_SECRET, totp.counter_at(now))
    assert totp.matching_counter(RFC_SECRET, code, now, None) == totp.counter_at(now)


def test_a_code_one_step_old_is_still_accepted_but_two_is_not():
    now = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
    step = totp.counter_at(now)
    assert totp.matching_counter(RFC_SECRET, totp.code_at(RFC_SECRET, step - 1), now, None)
    assert totp.matching_counter(RFC_SECRET, totp.code_at(RFC_SECRET, step - 2), now, None) is None


def test_a_code_cannot_be_used_twice():
    now = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
    step = totp.counter_at(now)
    code = totp.code_at(RFC_SECRET, step)
    assert totp.matching_counter(RFC_SECRET, code, now, last_used=step) is None


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12 456"])
def test_malformed_codes_never_match(code):
    now = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
    assert totp.matching_counter(RFC_SECRET, code, now, None) is None


def test_provisioning_uri_carries_the_base32_secret():
    uri = totp.provisioning_uri(RFC_SECRET, account="a@example.com")
    assert uri.startswith("otpauth://totp/Citadel%3Aa%40example.com?")
    assert "secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" in uri
