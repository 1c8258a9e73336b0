"""The internal API (ADR 9) for the allocator and the gateway; served only over mTLS."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Request, Response
from pydantic import BaseModel, Field

from citadel.api.deps import ServicesDep, WorkDep
from citadel.authn.principal import Caller
from citadel.deployments import service
from citadel.deployments.errors import DeploymentNotFound
from citadel.deployments.lifecycle import Desired, Observed
from citadel.deployments.models import Deployment
from citadel.deployments.schemas import NodeCsrIn, StatusIn
from citadel.errors import BadRequest
from citadel.key_managers import service as key_managers
from citadel.kit.deployment_dirs import node_socket_path
from citadel.pki.components import InvalidCsr, sign_node_certificate
from citadel.traffic_filters import service as traffic_filters
from citadel.traffic_filters.clients import SeenClient
from citadel.use_cases import deployments as use_cases

DeploymentId = Path(max_length=32)


def component(request: Request, services: ServicesDep) -> Caller:
    """The caller of every internal route: a platform component, proven by its client
    certificate at the TLS layer (the listener requires one from the platform CA)."""
    caller = Caller(None, request.state.source_ip, request.state.request_id, system=True)
    request.state.caller = caller
    return caller


router = APIRouter(prefix="/internal/v1", dependencies=[Depends(component)])


class InvalidNodeCsr(BadRequest):
    code = "deployments.invalid_csr"
    default_message = "The certificate signing request is not valid."


@router.get("/allocations")
def allocations(work: WorkDep) -> dict[str, Any]:
    """What should run, with a version that increases on every change."""
    with work.read() as ctx:
        items = []
        for row in service.all_deployments(ctx):
            if row.desired_state == Desired.DELETED and row.observed_state == Observed.DELETED:
                continue
            wrapped = row.data_key_wrapped
            items.append(
                {
                    "id": row.id,
                    "region": row.region,
                    "desired_state": row.desired_state,
                    "sandbox_uid": row.sandbox_uid,
                    "wrapped_data_key": base64.b64encode(wrapped).decode() if wrapped else None,
                    "key_path": row.key_path,
                    "elastic_password": service.pending_password(ctx, row),
                    "key_connection": key_managers.connection_payload(ctx, row.key_manager_id),
                }
            )
        return {"version": service.allocation_version(ctx), "deployments": items}


@router.post("/deployments/{deployment_id}/status")
def report_status(body: StatusIn, work: WorkDep, deployment_id: str = DeploymentId) -> dict:
    """The allocator's observation of one deployment."""
    with work.write() as ctx:
        service.record_status(
            ctx,
            deployment_id,
            observed_state=body.observed_state,
            healthy=body.healthy,
            detail=body.detail,
            password_applied=body.elastic_password_applied,
        )
    return {}


@router.post("/deployments/{deployment_id}/node-certificate")
def node_certificate(
    body: NodeCsrIn, work: WorkDep, services: ServicesDep, deployment_id: str = DeploymentId
) -> dict[str, str]:
    """A server certificate for the deployment's node, over the CSR's public key."""
    with work.read() as ctx:
        row = ctx.session.get(Deployment, deployment_id)
        if row is None or row.desired_state == Desired.DELETED:
            raise DeploymentNotFound()
    try:
        cert, ca = sign_node_certificate(
            services.settings.data_dir, services.keyring, body.csr.encode(), deployment_id
        )
    except InvalidCsr as exc:
        raise InvalidNodeCsr(str(exc), fields=["body.csr"]) from exc
    return {"certificate": cert.decode(), "ca": ca.decode()}


@router.get("/routes")
def routes(
    work: WorkDep,
    services: ServicesDep,
    response: Response,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Any:
    """The gateway's snapshot: every deployment not deleted, with its node socket and the
    traffic-filter rulesets associated with it. `ETag` is the version; a gateway that already
    has it gets 304 (with many rules the document is large)."""
    settings = services.settings
    with work.read() as ctx:
        version = service.allocation_version(ctx)
        etag = f'"{version}"'
        if if_none_match == etag:
            return Response(status_code=304, headers={"etag": etag})
        response.headers["etag"] = etag
        by_deployment, rulesets = traffic_filters.gateway_view(ctx)
        items = [
            {
                "id": row.id,
                "alias": row.alias,
                "region": row.region,
                "state": row.observed_state
                if row.desired_state == Desired.RUNNING
                else row.desired_state,
                "node_socket": str(node_socket_path(settings.data_dir, row.id)),
                "rulesets": by_deployment.get(row.id, []),
                "detail": (row.observed_detail or "") if row.observed_state == "locked" else "",
            }
            for row in service.all_deployments(ctx)
            if row.desired_state != Desired.DELETED
        ]
        return {
            "version": version,
            "domain": settings.deployment_domain,
            "deployments": items,
            "rulesets": rulesets,
        }


class SeenClientIn(BaseModel):
    deployment_id: str = Field(max_length=32)
    client_ip: str = Field(max_length=64)
    endpoint_id: str | None = Field(default=None, max_length=160)
    last_seen: float
    connected: bool = False


class GatewayClientsIn(BaseModel):
    clients: list[SeenClientIn] = Field(max_length=100_000)


@router.post("/gateway/clients")
def gateway_clients(body: GatewayClientsIn, services: ServicesDep) -> dict:
    """What a gateway saw recently: the lockout guard's "currently connected clients"."""
    services.recent_clients.report(
        SeenClient(c.deployment_id, c.client_ip, c.endpoint_id, c.last_seen, c.connected)
        for c in body.clients
    )
    return {}


@router.post("/deployments/{deployment_id}/encryption/_rewrap")
def rewrap(work: WorkDep, services: ServicesDep, deployment_id: str = DeploymentId) -> dict:
    """The allocator saw a newer key version at the provider: re-wrap under it."""
    return use_cases.rotate_key(work, None, deployment_id, services.platform_keys)
