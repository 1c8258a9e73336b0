"""Builders for the jwt realm tests: a signing key, its JWK Set, tokens, the security file.

The tests play the control plane: they sign with their own RSA key and write the node's
security file as the allocator does (`NodeSecurity` JSON). Signing is PyJWT's, the same
library the control plane uses, over a key made here.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from citadel.contract.messages import JwtRealm, NodeSecurity
from citadel.kit.clock import SettableClock
from citadel.node.main import assemble
from citadel.node.services import NodeServices
from citadel.node.store.connection import Store
from tests.node.builders import ELASTIC_PASSWORD

ISSUER = "https://citadel.test"
AUDIENCE = "citadel:deployment:d-1"


@dataclass(frozen=True)
class SigningKey:
    """An RSA key and the ``kid`` it is published under."""

    kid: str
    private: rsa.RSAPrivateKey

    def jwk(self) -> dict[str, Any]:
        """The public half as a JWK."""
        jwk = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}


def signing_key(kid: str = "k1") -> SigningKey:
    """A fresh 2048-bit RSA key."""
    return SigningKey(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))


def jwks(*keys: SigningKey) -> str:
    """A JWK Set of the keys' public halves, as JSON text."""
    return json.dumps({"keys": [k.jwk() for k in keys]})


def security(*keys: SigningKey, **settings: Any) -> NodeSecurity:
    """A node's security with the platform's jwt realm trusting `keys`."""
    realm = JwtRealm(issuer=ISSUER, audience=AUDIENCE, jwks=jwks(*keys), **settings)
    return NodeSecurity(jwt=realm)


def write_security(path: Path, value: NodeSecurity) -> None:
    """Replace the security file atomically, as the allocator does."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(value.model_dump_json())
    os.replace(tmp, path)


def claims(now: float | None = None, **overrides: Any) -> dict[str, Any]:
    """The claims of a token the control plane would mint (a viewer), with `overrides`
    (a value of None removes the claim)."""
    now = time.time() if now is None else now
    body: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "u-alice",
        "iat": int(now),
        "nbf": int(now),
        "exp": int(now) + 300,
        "jti": "j-1",
        "name": "Alice Example",
        "email": "alice@example.com",
        "roles": ["viewer"],
        "amr": ["pwd"],
        "org": "o-1",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def token(
    key: SigningKey, body: dict[str, Any], *, alg: str = "RS256", kid: str | None = None
) -> str:
    """`body` signed by `key`, its header naming `kid` (the key's own by default)."""
    return jwt.encode(body, key.private, algorithm=alg, headers={"kid": kid or key.kid})


@contextmanager
def node_with_security_file(
    data_dir: Path, clock: SettableClock, security_file: Path
) -> Iterator[NodeServices]:
    """A node in process that follows `security_file`, ``elastic`` bootstrapped."""
    store = Store.open(data_dir)
    services = assemble(
        store, data_dir, clock, "node-1", "test-cluster", security_file=security_file
    )
    try:
        services.realm.bootstrap_elastic(ELASTIC_PASSWORD)  # type: ignore[attr-defined]
        yield services
    finally:
        services.engine.close()
        store.close()
