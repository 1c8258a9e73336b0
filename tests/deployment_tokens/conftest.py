"""Deployment tokens against the real control plane in process; the SSO tests use the real
SimpleSAMLphp IdP and the "acme" organization of `tests/sso`, the CLI tests the served API of
`tests/cli`."""

from __future__ import annotations

from tests.cli.conftest import local_api  # noqa: F401 (a fixture)
from tests.sso.conftest import idp  # noqa: F401 (a fixture)
from tests.sso.test_sign_in import acme  # noqa: F401 (a fixture)
