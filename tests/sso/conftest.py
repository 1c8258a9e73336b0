"""The real IdP, one per test session (per xdist worker: each worker has its own port)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from tests.sso.idp import SIMPLESAMLPHP, Idp, start_idp


@pytest.fixture(scope="session", name="idp")
def idp() -> Iterator[Idp]:
    """SimpleSAMLphp under `php -S`; skipped (failed under CI) when it is not installed."""
    if shutil.which("php") is None or not SIMPLESAMLPHP.is_dir():
        message = "needs php-cli and simplesamlphp (scripts/test.sh installs them)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with start_idp() as running:
        yield running
