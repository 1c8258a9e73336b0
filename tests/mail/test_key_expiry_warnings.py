"""Warnings 14 days before an API key expires: mailed once, to its creator while a member,
else to the organization's owners; a failed delivery is tried again at the next round."""

from __future__ import annotations

from citadel.authn.api_key_format import parse_key
from citadel.mail.delivery import SmtpMailer
from citadel.use_cases.notifications import warn_expiring_api_keys
from citadel.web.work import Work
from tests.fixtures.builders import add_member, grant, make_api_key, make_org, make_user
from tests.fixtures.mail import mailed_to


def warn(services, mailer=None) -> list[str]:
    """One round of the control plane's chores, as the platform."""
    units = Work(services, services.system_caller())
    return warn_expiring_api_keys(units, mailer or services.mailer)


def key_id(key_text: str) -> str:
    parsed = parse_key(key_text)
    assert parsed is not None
    return parsed.key_id


def subjects(services, address: str) -> list[str]:
    if not (services.settings.data_dir / "mail").exists():
        return []
    return [m["Subject"] for m in mailed_to(services.settings.data_dir, address)]


def test_the_creator_is_warned_once_fourteen_days_ahead(services):
    owner = make_user(services)
    org = make_org(services, owner, "Acme")
    dev = make_user(services)
    add_member(services, org, dev, grant(org, "deployment-editor"))
    soon = make_api_key(services, org, expiration="10d", created_by=dev.user_id)
    later = make_api_key(services, org, expiration="20d", created_by=dev.user_id)
    make_api_key(services, org, expiration=None, created_by=dev.user_id)  # never expires

    assert warn(services) == [key_id(soon)]
    assert subjects(services, dev.email) == ["An API key of Acme expires soon"]
    assert subjects(services, owner.email) == []
    assert warn(services) == []  # once per key

    services.clock.advance(days=7)
    assert warn(services) == [key_id(later)]
    assert len(subjects(services, dev.email)) == 2


def test_a_key_whose_creator_left_warns_the_owners(services):
    owner, other_owner = make_user(services), make_user(services)
    org = make_org(services, owner, "Acme")
    add_member(services, org, other_owner, grant(org, "organization-admin"))
    make_api_key(services, org, expiration="3d", created_by=None)

    assert len(warn(services)) == 1
    assert subjects(services, owner.email) == ["An API key of Acme expires soon"]
    assert subjects(services, other_owner.email) == ["An API key of Acme expires soon"]


def test_an_undelivered_warning_is_tried_again(services):
    owner = make_user(services)
    org = make_org(services, owner, "Acme")
    make_api_key(services, org, expiration="5d")
    unreachable = SmtpMailer("127.0.0.1", 1, "citadel@example.com", timeout_s=2)

    assert warn(services, unreachable) == []
    assert subjects(services, owner.email) == []
    assert len(warn(services)) == 1
    assert subjects(services, owner.email) == ["An API key of Acme expires soon"]


def test_the_warning_names_the_key_and_its_expiry(services):
    owner = make_user(services)
    org = make_org(services, owner, "Acme")
    text = make_api_key(services, org, expiration="2d")
    warn(services)

    (mail,) = mailed_to(services.settings.data_dir, owner.email)
    body = mail.get_payload(decode=True).decode()
    assert key_id(text) in body
    assert text not in body  # never the secret
