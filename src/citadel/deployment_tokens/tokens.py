"""Signing a token, and the issuer's identity.

The issuer is the control plane's public URL when the operator set one (``public_url``),
else ``citadel:`` and a platform id derived from the keyring root: stable across restarts and
identical on every replica (they share the keyring), unlike an address made up from the
listener's host and port.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt

from citadel.crypto.keyring import Keyring, derive
from citadel.deployment_tokens.keys import ALGORITHM, SigningKey
from citadel.deployment_tokens.rotation import RotationPolicy

CLOCK_SKEW_S = 60
"""How far a node's clock may differ from the control plane's (the nodes' JWT realm allows it;
retired keys stay published this much longer)."""
PROPAGATION_S = 60
"""How long a new key is published before it signs: the allocator's poll and the node's
reload of its security file take seconds, this leaves a wide margin."""


@dataclass(frozen=True)
class TokenPolicy:
    """The issuer's identity, the tokens' lifetime and the keys' rotation period."""

    issuer: str
    lifetime_s: int = 300
    rotation_days: int = 30

    @property
    def lifetime(self) -> timedelta:
        return timedelta(seconds=self.lifetime_s)

    @property
    def rotation(self) -> RotationPolicy:
        """The pure rotation policy these settings make."""
        return RotationPolicy(
            rotate_after=timedelta(days=self.rotation_days),
            token_lifetime=self.lifetime,
            clock_skew=timedelta(seconds=CLOCK_SKEW_S),
            propagation=timedelta(seconds=PROPAGATION_S),
        )


def platform_issuer(public_url: str | None, keyring: Keyring) -> str:
    """The ``iss`` of every token: the public URL when configured, else a stable platform id."""
    if public_url:
        return public_url.rstrip("/")
    return "citadel:" + derive(keyring.root, "citadel/platform-id/v1").hex()[:24]


def sign(key: SigningKey, claims: dict[str, Any]) -> str:
    """The compact JWS of `claims` under `key` (header: ``alg`` RS256, ``kid``, ``typ`` JWT)."""
    return jwt.encode(claims, key.private_pem, algorithm=ALGORITHM, headers={"kid": key.kid})
