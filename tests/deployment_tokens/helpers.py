"""Minting and verifying deployment tokens the way a client and a node would."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import sqlalchemy as sa
from fastapi.testclient import TestClient

from citadel.audit.models import AuditEvent
from citadel.bootstrap import Services


def mint(client: TestClient, deployment_id: str, headers: dict[str, str]) -> httpx.Response:
    return client.post(f"/api/v1/deployments/{deployment_id}/_token", headers=headers)


def served_jwks(client: TestClient) -> dict[str, Any]:
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    return response.json()


def verify(
    token: str, jwks: dict[str, Any], *, audience: str, issuer: str | None = None
) -> dict[str, Any]:
    """Verify as a node does: the key named by `kid` in the JWK Set, RS256 only, the audience
    (and issuer when given); raises a `jwt` error otherwise."""
    keys = jwt.PyJWKSet.from_dict(jwks)
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in keys.keys if k.key_id == kid)
    return jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        audience=audience,
        issuer=issuer,
        options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]},
    )


def events(services: Services, action: str) -> list[AuditEvent]:
    with services.db.read() as session:
        stmt = sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
        return list(session.scalars(stmt))
