"""How to reach a key provider: non-secret settings, one secret, a time limit, and where it may
be.

The key path names the key; the `Connection` says how to talk to its home. Settings are plain
strings an operator may see (a PKCS#11 module path, a CA file, an endpoint URL and region);
the one secret (an HSM PIN, a Vault token, a client key, an AWS secret key) is kept apart so it
is never logged with them. `endpoints` says which addresses the provider may be reached at: by
default only public ones (a customer's key manager); the operator's platform key is opened with
`EndpointPolicy.unrestricted()`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from citadel.crypto.providers.endpoints import EndpointPolicy


@dataclass(frozen=True)
class Connection:
    """Non-secret settings, the provider's secret, how long one call may take, and where the
    provider may be reached."""

    settings: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    secret: bytes | None = field(default=None, repr=False)
    timeout_s: float = 5.0
    endpoints: EndpointPolicy = field(default_factory=EndpointPolicy)
