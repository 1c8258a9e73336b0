"""Deployment tokens against the real control plane in process; the SSO tests use the real
SimpleSAMLphp IdP of `tests/sso` (its session-wide fixture)."""

from __future__ import annotations

from tests.sso.conftest import idp  # noqa: F401 (a fixture)
