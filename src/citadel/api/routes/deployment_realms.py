"""A deployment's customer realms (ours: the Cloud API has no such routes). SAML and OpenID
Connect realms with Elasticsearch's settings keys; the OIDC client secret is write-only."""

from __future__ import annotations

from fastapi import APIRouter, Path, Response

from citadel.api.deps import WorkDep, deployment_access
from citadel.authz.permissions import Permission
from citadel.deployment_realms import service
from citadel.deployment_realms.schemas import RealmIn, RealmOut, RealmsOut, shown
from citadel.kit.schema import EmptyOut

router = APIRouter(tags=["deployments"])
DeploymentId = Path(max_length=32, description="Identifier for the Deployment")
RealmName = Path(max_length=64, description="The realm's name (unique in the deployment)")
MANAGE = deployment_access(Permission.DEPLOYMENTS_MANAGE_SECURITY)


@router.get("/deployments/{deployment_id}/security/realms", dependencies=[MANAGE])
def list_realms(work: WorkDep, deployment_id: str = DeploymentId) -> RealmsOut:
    """The deployment's SAML and OIDC realms by order (client secrets never shown)."""
    org = work.organization
    with work.read() as ctx:
        rows = service.list_realms(ctx, org, deployment_id)
        return RealmsOut(realms=[shown(row) for row in rows])


@router.put(
    "/deployments/{deployment_id}/security/realms/{realm_name}",
    dependencies=[MANAGE],
    responses={201: {"model": RealmOut, "description": "Created."}},
)
def put_realm(
    body: RealmIn,
    response: Response,
    work: WorkDep,
    deployment_id: str = DeploymentId,
    realm_name: str = RealmName,
) -> RealmOut:
    """Create or replace one realm; the node picks it up within a reconcile cycle. A SAML
    realm's ``idp.metadata.path`` (an https URL) is fetched first, outside the transaction."""
    org = work.organization
    fetched = service.fetch_metadata(work, org, deployment_id, realm_name, body)
    with work.write() as ctx:
        row, created = service.put_realm(ctx, org, deployment_id, realm_name, body, fetched)
        if created:
            response.status_code = 201
        return shown(row)


@router.delete("/deployments/{deployment_id}/security/realms/{realm_name}", dependencies=[MANAGE])
def delete_realm(
    work: WorkDep, deployment_id: str = DeploymentId, realm_name: str = RealmName
) -> EmptyOut:
    """Remove one realm: its users can no longer sign in to the deployment."""
    org = work.organization
    with work.write() as ctx:
        service.delete_realm(ctx, org, deployment_id, realm_name)
    return EmptyOut()
