"""The provider tests' real key managers: SoftHSM2 and OpenBao (``tests/fixtures/key_servers.py``,
shared with the API tests)."""

from tests.fixtures.key_servers import (
    BAO,
    SO_PIN,
    SOFTHSM_MODULE,
    TOKENS,
    USER_PIN,
    Bao,
    SoftHsm,
    b64,
    bao,
    free_port,
    label,
    missing,
    nonsense_http,
    softhsm,
)

__all__ = [
    "BAO",
    "SOFTHSM_MODULE",
    "SO_PIN",
    "TOKENS",
    "USER_PIN",
    "Bao",
    "SoftHsm",
    "b64",
    "bao",
    "free_port",
    "label",
    "missing",
    "nonsense_http",
    "softhsm",
]
