"""The token issuer's settings: the lifetime's bounds are checked at start, and the issuer id
is the public URL or a platform id stable for one keyring."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from citadel.config import Settings
from citadel.crypto.keyring import Keyring
from citadel.deployment_tokens.tokens import platform_issuer


@pytest.mark.parametrize("ttl", [29, 301, 0])
def test_a_lifetime_outside_30_to_300_seconds_is_refused_at_start(ttl: int) -> None:
    with pytest.raises(ValidationError, match="deployment_token_ttl_s"):
        Settings(deployment_token_ttl_s=ttl, _env_file=None)


@pytest.mark.parametrize("ttl", [30, 300])
def test_the_bounds_themselves_are_accepted(ttl: int) -> None:
    assert Settings(deployment_token_ttl_s=ttl, _env_file=None).deployment_token_ttl_s == ttl


def test_the_defaults_are_five_minutes_and_thirty_days() -> None:
    settings = Settings(_env_file=None)
    assert (settings.deployment_token_ttl_s, settings.token_key_rotation_days) == (300, 30)


def test_a_rotation_period_below_a_day_is_refused() -> None:
    with pytest.raises(ValidationError, match="token_key_rotation_days"):
        Settings(token_key_rotation_days=0, _env_file=None)


def test_the_issuer_is_the_public_url_when_set() -> None:
    keyring = Keyring(root=bytes(32))
    assert platform_issuer("https://cloud.example.com/", keyring) == "https://cloud.example.com"


def test_without_a_public_url_the_issuer_is_a_platform_id_of_the_keyring() -> None:
    one, other = Keyring(root=bytes(32)), Keyring(root=b"\x01" * 32)
    issuer = platform_issuer(None, one)
    assert issuer.startswith("citadel:")
    assert len(issuer) == len("citadel:") + 24
    assert platform_issuer(None, Keyring(root=bytes(32))) == issuer  # another replica, a restart
    assert platform_issuer(None, other) != issuer
