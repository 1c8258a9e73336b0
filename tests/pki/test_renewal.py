"""Leaf certificates live at most 90 days and are re-issued once a third of their lifetime is
left (issue 17.9): the decision is a pure function of the validity window and the time, and
every `ensure_*` re-issues by it at the time it is given."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from citadel.crypto.barrier import Barrier
from citadel.pki.authority import (
    LEAF_LIFETIME,
    ensure_api_certificate,
    ensure_ca,
    issue_leaf,
    renewal_due,
)

START = datetime(2026, 1, 1, tzinfo=UTC)
END = START + timedelta(days=90)


@pytest.mark.parametrize(
    ("now", "due"),
    [
        (START, False),
        (START + timedelta(days=59), False),
        (START + timedelta(days=60), False),  # exactly a third left
        (START + timedelta(days=60, seconds=1), True),
        (START + timedelta(days=89), True),
        (END, True),  # expired
        (END + timedelta(days=1), True),
        (START - timedelta(seconds=1), True),  # not valid yet: the clock went back
    ],
)
def test_renewal_is_due_once_a_third_of_the_lifetime_is_left(now: datetime, due: bool) -> None:
    assert renewal_due(START, END, now) is due


def test_renewal_of_a_short_certificate_follows_its_own_lifetime() -> None:
    end = START + timedelta(days=3)
    assert renewal_due(START, end, START + timedelta(days=1)) is False
    assert renewal_due(START, end, START + timedelta(days=2, hours=1)) is True


def _barrier() -> Barrier:
    return Barrier({1: os.urandom(32)})


def _lifetime(cert_file: Path) -> timedelta:
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    return cert.not_valid_after_utc - cert.not_valid_before_utc


def test_leaf_certificates_live_at_most_ninety_days(tmp_path: Path) -> None:
    ca_cert, ca_key = ensure_ca(tmp_path, _barrier())
    cert, _ = issue_leaf(ca_cert, ca_key, ["localhost"])

    assert timedelta(days=90) == LEAF_LIFETIME
    assert cert.not_valid_after_utc - cert.not_valid_before_utc <= timedelta(days=90, minutes=5)


def test_the_api_certificate_is_kept_until_due_then_reissued(tmp_path: Path) -> None:
    barrier, names = _barrier(), ["localhost", "127.0.0.1"]
    first = ensure_api_certificate(tmp_path, barrier, b"pw", names, now=START)
    issued = first.cert_file.read_bytes()

    ensure_api_certificate(tmp_path, barrier, b"pw", names, now=START + timedelta(days=59))
    assert first.cert_file.read_bytes() == issued

    ensure_api_certificate(tmp_path, barrier, b"pw", names, now=START + timedelta(days=61))
    renewed = x509.load_pem_x509_certificate(first.cert_file.read_bytes())
    assert renewed.not_valid_before_utc > START + timedelta(days=60)
    assert _lifetime(first.cert_file) <= timedelta(days=90, minutes=5)
    key = serialization.load_pem_private_key(first.key_file.read_bytes(), password=b"pw")
    assert key.public_key() == renewed.public_key()


def test_a_node_certificate_lives_ninety_days(tmp_path: Path) -> None:
    from citadel.crypto.keyring import Keyring
    from citadel.pki.components import sign_node_certificate

    keyring = Keyring(root=os.urandom(32))
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )

    cert_pem, _ = sign_node_certificate(tmp_path, keyring, csr, "d1", now=START)

    cert = x509.load_pem_x509_certificate(cert_pem)
    assert cert.not_valid_after_utc == START + timedelta(days=90)


def test_a_component_certificate_is_reissued_when_due(tmp_path: Path) -> None:
    from citadel.crypto.keyring import Keyring
    from citadel.pki.components import ensure_component_certificate

    keyring = Keyring(root=os.urandom(32))
    made = ensure_component_certificate(tmp_path, keyring, "gateway", now=START)
    issued = made.cert_file.read_bytes()

    ensure_component_certificate(tmp_path, keyring, "gateway", now=START + timedelta(days=30))
    assert made.cert_file.read_bytes() == issued
    ensure_component_certificate(tmp_path, keyring, "gateway", now=START + timedelta(days=61))
    assert made.cert_file.read_bytes() != issued
