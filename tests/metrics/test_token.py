"""The platform's metrics token (`citadel.kit.metrics`)."""

from __future__ import annotations

import pytest

from citadel.kit.metrics import TOKEN_FILE, TokenMissing, authorized, ensure_token


def test_the_token_is_made_once_with_mode_0600_and_read_back(tmp_path):
    token = ensure_token(tmp_path)
    assert len(token) >= 40
    assert oct((tmp_path / TOKEN_FILE).stat().st_mode & 0o777) == "0o600"
    assert ensure_token(tmp_path) == token


def test_an_empty_token_file_is_refused_not_used(tmp_path):
    (tmp_path / "keys").mkdir()
    (tmp_path / TOKEN_FILE).write_text("\n")
    with pytest.raises(TokenMissing):
        ensure_token(tmp_path, wait_s=0)
    assert not authorized("Bearer ", "")
    assert not authorized("Bearer", "")


def test_only_the_bearer_token_is_authorized():
    assert authorized("Bearer s3cret", "s3cret")
    assert authorized("bearer s3cret", "s3cret")
    assert not authorized("Basic s3cret", "s3cret")
    assert not authorized("Bearer s3cre", "s3cret")
    assert not authorized(None, "s3cret")
