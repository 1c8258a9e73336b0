"""A password sign-in from an address the account was never used from is mailed to its
owner; a first sign-in, and a sign-in from a known address, are not."""

from __future__ import annotations

from contextlib import contextmanager

from fastapi.testclient import TestClient

from citadel.app import create_app
from tests.fixtures.builders import make_org, make_user
from tests.fixtures.mail import mailed_to

LOGIN = "/api/v1/users/auth/_login"


@contextmanager
def browser_at(services, address: str):
    with TestClient(create_app(services), client=(address, 50000)) as client:
        yield client


def sign_in(services, user, address: str) -> None:
    """A sign-in half a minute after the last (a TOTP code works once)."""
    services.clock.advance(seconds=30)
    body = {"username": user.email, "password": user.password, "totp_code": user.code(services)}
    with browser_at(services, address) as client:
        assert client.post(LOGIN, json=body).status_code == 200


def notices(services, user) -> list[str]:
    if not (services.settings.data_dir / "mail").exists():
        return []
    return [
        m.get_payload(decode=True).decode()
        for m in mailed_to(services.settings.data_dir, user.email)
    ]


def test_only_a_new_address_after_the_first_sign_in_is_mailed(services):
    user = make_user(services)
    make_org(services, user, "Acme")

    sign_in(services, user, "198.51.100.7")  # the first sign-in: news to nobody
    sign_in(services, user, "198.51.100.7")  # a known address
    assert notices(services, user) == []

    sign_in(services, user, "203.0.113.99")

    (notice,) = notices(services, user)
    assert "203.0.113.99" in notice
    assert user.password not in notice
    sign_in(services, user, "203.0.113.99")  # known now
    assert len(notices(services, user)) == 1
