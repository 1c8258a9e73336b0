"""Deployment access tokens (our addition, ADR 27): a signed-in member or an API key gets a
short-lived JWT for one deployment; the JWK Set that verifies them is public."""

from __future__ import annotations

from fastapi import APIRouter, Path, Response

from citadel.api.deps import WorkDep, public, signed_in
from citadel.api.openapi import errors
from citadel.deployment_tokens.schemas import DeploymentTokenOut, JwkOut, JwksOut
from citadel.use_cases import deployment_tokens as use_cases

router = APIRouter(tags=["deployments"])
well_known = APIRouter(tags=["deployments"])
DeploymentId = Path(max_length=32, description="Identifier for the Deployment")

JWKS_CACHE = "public, max-age=60"
"""Short: a new key is published a minute before it signs (ADR 27)."""


@router.post(
    "/deployments/{deployment_id}/_token",
    dependencies=[signed_in()],
    responses=errors(403, 404),
)
def mint_deployment_token(work: WorkDep, deployment_id: str = DeploymentId) -> DeploymentTokenOut:
    """A bearer token for the deployment's Elasticsearch API, with the stack roles your Cloud
    roles give there (`superuser`, `editor`, `viewer` or your `application_roles`); it lives
    `expires_in` seconds (at most 300). 403 `deployment_token.sso_required` when the
    organization enforces SSO and this session did not sign in through it;
    403 `deployment_token.no_stack_role` when no role gives access to the deployment's data."""
    minted = use_cases.mint_deployment_token(work, deployment_id)
    return DeploymentTokenOut(
        token=minted.token,
        token_type=minted.token_type,
        expires_in=minted.expires_in,
        expires_at=minted.expires_at,
        roles=list(minted.roles),
        deployment_id=minted.resource_id,
        audience=minted.audience,
    )


@well_known.get("/.well-known/jwks.json", dependencies=[public(read_credentials=False)])
def jwks(work: WorkDep, response: Response) -> JwksOut:
    """The public keys deployment tokens are signed with (RFC 7517), the current one and any
    whose tokens may still be alive."""
    response.headers["cache-control"] = JWKS_CACHE
    keys = use_cases.jwks(work)["keys"]
    return JwksOut(keys=[JwkOut.model_validate(k) for k in keys])
