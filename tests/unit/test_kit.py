"""Durations, client addresses, emails and base62."""

from datetime import timedelta

import pytest

from citadel.kit import base62
from citadel.kit.durations import InvalidDuration, parse_duration
from citadel.kit.emails import InvalidEmail, normalize_email
from citadel.kit.net import client_address, parse_networks


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("30m", timedelta(minutes=30)),
        ("24h", timedelta(hours=24)),
        ("3d", timedelta(days=3)),
        ("2w", timedelta(weeks=2)),
        ("1y", timedelta(days=365)),
    ],
)
def test_durations_parse(text, delta):
    assert parse_duration(text) == delta


@pytest.mark.parametrize("text", ["-1d", "0d", "1.5h", "d", "1", "1 d", "10x", "9999999d", ""])
def test_bad_durations_are_refused(text):
    with pytest.raises(InvalidDuration):
        parse_duration(text)


def test_forwarded_for_is_ignored_without_trusted_proxies():
    assert client_address("203.0.113.9", "10.0.0.1", ()) == "203.0.113.9"


def test_forwarded_for_is_read_from_a_trusted_proxy_right_to_left():
    trusted = parse_networks(["10.0.0.0/8"])
    assert client_address("10.0.0.2", "198.51.100.7, 10.0.0.5", trusted) == "198.51.100.7"


def test_forged_forwarded_for_from_an_untrusted_peer_is_ignored():
    trusted = parse_networks(["10.0.0.0/8"])
    assert client_address("203.0.113.9", "10.0.0.1", trusted) == "203.0.113.9"


def test_emails_normalize_and_internal_domains_are_allowed():
    assert normalize_email("Alice@Corp.Local") == "alice@corp.local"
    with pytest.raises(InvalidEmail):
        normalize_email("not-an-email")
    with pytest.raises(InvalidEmail):
        normalize_email("a@b.invalid")


def test_base62_round_trips_fixed_width():
    assert base62.encode(0, 6) == "000000"
    assert base62.encode(2**32 - 1, 6) == "4gfFC3"
    with pytest.raises(ValueError, match="fit"):
        base62.encode(62**6, 6)
