"""The embedded database is encrypted at rest; secrets are sealed in their rows."""

import sqlite3

import pytest

from tests.fixtures.builders import make_org, make_user


def test_the_sqlite_file_is_unreadable_without_the_platform_key(services, data_dir):
    if services.db.engine.dialect.name != "sqlite":
        pytest.skip("SQLCipher is the embedded backend")
    owner = make_user(services, email="secret-owner@example.com")
    make_org(services, owner)
    raw = (data_dir / "citadel.db").read_bytes()
    assert not raw.startswith(b"SQLite format 3")
    assert b"secret-owner@example.com" not in raw
    plain = sqlite3.connect(data_dir / "citadel.db")
    with pytest.raises(sqlite3.DatabaseError):
        plain.execute("SELECT count(*) FROM sqlite_master").fetchone()


def test_totp_seeds_are_sealed_to_their_user(services):
    from citadel.crypto.barrier import SealBroken
    from tests.fixtures.builders import user_row

    a, b = make_user(services), make_user(services)
    row_a = user_row(services, a.user_id)
    assert a.totp_secret not in row_a.totp_secret_sealed
    with pytest.raises(SealBroken):
        services.keyring.barrier.open(
            row_a.totp_secret_sealed, context=f"users.totp_secret:{b.user_id}"
        )
