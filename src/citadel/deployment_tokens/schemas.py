"""The answers of the token routes: a minted deployment or project token, and the published
JWK Set."""

from __future__ import annotations

from datetime import datetime

from citadel.kit.schema import ResponseModel


class DeploymentTokenOut(ResponseModel):
    """`POST /deployments/{deployment_id}/_token`: a bearer token for the deployment's
    Elasticsearch API (``Authorization: Bearer <token>``); never stored, shown once."""

    token: str
    token_type: str
    expires_in: int
    expires_at: datetime
    roles: list[str]
    deployment_id: str
    audience: str


class ProjectTokenOut(ResponseModel):
    """`POST /serverless/projects/{type}/{id}/_token` (ours): a bearer token for the project's
    Elasticsearch API (``Authorization: Bearer <token>``); never stored, shown once."""

    token: str
    token_type: str
    expires_in: int
    expires_at: datetime
    roles: list[str]
    project_id: str
    audience: str


class JwkOut(ResponseModel):
    """One RSA public key (RFC 7517)."""

    kty: str
    kid: str
    use: str
    alg: str
    n: str
    e: str


class JwksOut(ResponseModel):
    """`GET /.well-known/jwks.json`: the keys deployment tokens are signed with (RFC 7517)."""

    keys: list[JwkOut]
