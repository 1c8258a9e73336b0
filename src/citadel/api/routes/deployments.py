"""Deployment routes (Cloud API shapes); the organization is the caller's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from citadel.api.deps import ServicesDep, WorkDep, deployment_access
from citadel.api.openapi import errors
from citadel.authz.permissions import Permission
from citadel.bootstrap import Services
from citadel.deployments import schemas, service
from citadel.deployments.schemas import (
    ClusterCredentialsOut,
    CreateDeploymentIn,
    DeploymentCreateOut,
    DeploymentGetOut,
    DeploymentsListOut,
    DeploymentSummaryOut,
    DeploymentUpdateOut,
    Endpoints,
    UpdateDeploymentIn,
)
from citadel.key_managers.schemas import KeyRotationOut, RekeyIn, RekeyOut
from citadel.use_cases import deployments as use_cases

router = APIRouter(tags=["deployments"])
DeploymentId = Path(max_length=32, description="Identifier for the Deployment")
RefId = Path(max_length=64, description="User-specified id of the Elasticsearch resource")
RequestIdQuery = Annotated[
    str | None,
    Query(min_length=32, max_length=128, description="Idempotency token of the create."),
]


def endpoints(services: Services) -> Endpoints:
    s = services.settings
    return Endpoints(s.deployment_domain, s.gateway_port)


@router.post(
    "/deployments",
    status_code=201,
    dependencies=[deployment_access(Permission.DEPLOYMENTS_CREATE)],
    responses={
        200: {"model": DeploymentCreateOut, "description": "`validate_only`: nothing created."},
        202: {"model": DeploymentCreateOut, "description": "Created earlier (`request_id`)."},
        404: {
            "description": "The deployment `plan.transient.restore_snapshot` names does not "
            "exist, or the caller may not see it."
        },
        **errors(503),
    },
)
def create_deployment(
    body: CreateDeploymentIn,
    response: Response,
    work: WorkDep,
    services: ServicesDep,
    request_id: RequestIdQuery = None,
    validate_only: bool = False,
) -> DeploymentCreateOut:
    """Create a deployment; the `elastic` password in the answer is the only copy."""
    org = work.organization
    if validate_only:
        plan = use_cases.validate_deployment(work, org, body)
        response.status_code = 200
        return schemas.validated(plan.name)
    made = use_cases.create_deployment(
        work, services.platform_keys, org, body, request_id=request_id
    )
    if not made.fresh:
        response.status_code = 202
    return schemas.created(made.row, endpoints(services), password=made.password, fresh=made.fresh)


@router.get("/deployments", dependencies=[deployment_access(Permission.DEPLOYMENTS_READ)])
def list_deployments(work: WorkDep, services: ServicesDep) -> DeploymentsListOut:
    """The deployments the caller may read."""
    org = work.organization
    with work.read() as ctx:
        rows = service.list_deployments(ctx, org)
        return DeploymentsListOut(
            deployments=[schemas.listing(r, endpoints(services)) for r in rows]
        )


@router.get(
    "/deployments/{deployment_id}", dependencies=[deployment_access(Permission.DEPLOYMENTS_READ)]
)
def get_deployment(
    work: WorkDep, services: ServicesDep, deployment_id: str = DeploymentId
) -> DeploymentGetOut:
    """One deployment: health, status, endpoints, cloud_id."""
    org = work.organization
    shown = use_cases.get_deployment(work, org, deployment_id)
    return schemas.detail(
        shown.row,
        endpoints(services),
        shown.rulesets,
        now=services.clock.now(),
        snapshot_interval_s=services.policies.snapshot_interval_s,
    )


@router.put(
    "/deployments/{deployment_id}",
    dependencies=[deployment_access(Permission.DEPLOYMENTS_UPDATE)],
)
def update_deployment(
    body: UpdateDeploymentIn,
    work: WorkDep,
    services: ServicesDep,
    deployment_id: str = DeploymentId,
) -> DeploymentUpdateOut:
    """Change the name, alias or tags."""
    org = work.organization
    with work.write() as ctx:
        row = service.update_deployment(ctx, org, deployment_id, body)
        return schemas.updated(row, endpoints(services))


@router.post(
    "/deployments/{deployment_id}/_shutdown",
    dependencies=[deployment_access(Permission.DEPLOYMENTS_UPDATE)],
)
def shutdown_deployment(work: WorkDep, deployment_id: str = DeploymentId) -> DeploymentSummaryOut:
    """Stop the deployment; its data stays until it is deleted."""
    org = work.organization
    with work.write() as ctx:
        return schemas.summary(service.shutdown_deployment(ctx, org, deployment_id))


@router.delete(
    "/deployments/{deployment_id}",
    dependencies=[deployment_access(Permission.DEPLOYMENTS_DELETE)],
)
def delete_deployment(work: WorkDep, deployment_id: str = DeploymentId) -> DeploymentSummaryOut:
    """Delete a shut-down deployment; its data key is destroyed."""
    org = work.organization
    return schemas.summary(use_cases.delete_deployment(work, org, deployment_id))


@router.post(
    "/deployments/{deployment_id}/elasticsearch/{ref_id}/_reset-password",
    dependencies=[deployment_access(Permission.DEPLOYMENTS_MANAGE_SECURITY)],
)
def reset_elastic_password(
    work: WorkDep, deployment_id: str = DeploymentId, ref_id: str = RefId
) -> ClusterCredentialsOut:
    """A new password for the `elastic` user; this answer is its only copy."""
    org = work.organization
    with work.write() as ctx:
        _, password = service.reset_elastic_password(ctx, org, deployment_id, ref_id)
        return ClusterCredentialsOut(username="elastic", password=password)


@router.post(
    "/deployments/{deployment_id}/encryption/_rotate",
    dependencies=[deployment_access(Permission.DEPLOYMENTS_MANAGE_SECURITY)],
    responses=errors(503),
)
def rotate_encryption_key(
    work: WorkDep, services: ServicesDep, deployment_id: str = DeploymentId
) -> KeyRotationOut:
    """Re-wrap the data key under the newest version of its key (ours; the node keeps running)."""
    org = work.organization
    rotated = use_cases.rotate_key(work, org, deployment_id, services.platform_keys)
    return KeyRotationOut.model_validate(rotated)


@router.post(
    "/deployments/{deployment_id}/encryption/_rekey",
    dependencies=[deployment_access(Permission.DEPLOYMENTS_MANAGE_SECURITY)],
    responses=errors(503),
)
def rekey_deployment(
    body: RekeyIn, work: WorkDep, services: ServicesDep, deployment_id: str = DeploymentId
) -> RekeyOut:
    """Move the deployment to another customer key, or back to the platform key
    (`key_resource_path: null`), without stopping it (ours)."""
    org = work.organization
    row = use_cases.rekey_deployment(
        work,
        org,
        deployment_id,
        services.platform_keys,
        key_path=body.key_resource_path,
        manager_id=body.key_manager_id,
    )
    return RekeyOut(
        id=row.id, key_resource_path=row.key_path, byok_enabled=row.key_manager_id is not None
    )
