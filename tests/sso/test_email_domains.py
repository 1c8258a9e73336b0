"""`email_in_domains`: the claimed-domain check on an SSO email (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from citadel.sso.saml import InMemoryAssertionLedger, email_in_domains


@pytest.mark.parametrize(
    ("email", "domains", "expected"),
    [
        ("alice@acme.example", ["acme.example"], True),
        ("alice@ACME.example", ["acme.example"], True),
        ("alice@eu.acme.example", ["acme.example"], False),
        ("alice@eu.acme.example", ["eu.acme.example"], True),
        ("alice@acme.example.", ["acme.example"], True),
        ("alice@notacme.example", ["acme.example"], False),
        ("alice@acme.example.evil.example", ["acme.example"], False),
        ("alice@evil.example", ["acme.example", "globex.example"], False),
        ("alice@globex.example", ["acme.example", "globex.example"], True),
        ("alice@acme.example", [], False),
        ("alice", ["acme.example"], False),
        ("@acme.example", ["acme.example"], False),
        ("a@b@acme.example", ["acme.example"], False),
        ("alice@acme.example", [""], False),
    ],
)
def test_email_in_domains(email: str, domains: list[str], expected: bool) -> None:
    assert email_in_domains(email, domains) is expected


def test_ledger_remembers_an_assertion_once() -> None:
    ledger = InMemoryAssertionLedger()
    expiry = datetime.now(UTC) + timedelta(minutes=5)
    assert ledger.seen("_a", expiry) is False
    assert ledger.seen("_a", expiry) is True
    assert ledger.seen("_b", expiry) is False


def test_ledger_forgets_only_expired_ids() -> None:
    ledger = InMemoryAssertionLedger()
    now = datetime.now(UTC)
    ledger.seen("_old", now - timedelta(minutes=5))
    ledger.seen("_new", now + timedelta(minutes=5))
    ledger.forget_expired(now)
    assert ledger.seen("_old", now) is False
    assert ledger.seen("_new", now) is True
