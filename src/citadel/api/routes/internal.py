"""The internal API (ADR 9, ADR 17) for the allocator and the gateway; served only over mTLS.

Each route admits only the component kinds it serves (`admits`): the allocator is given
allocations, reports status, has node certificates signed, asks for re-wraps and posts its
nodes' security audit events; the gateway fetches the routes, reports the clients it saw and
posts its connection_denied audit events; for serverless projects (ADR 29) it reports which
it forwarded requests to and wakes a stopped one it holds a request for; a component that
joined from another host renews its client certificate, and a joined gateway gets its
listener's (ADR 33). Any other caller is refused (403, audited by `citadel.api.internal`). A
request that does not speak this contract version is refused (400). The messages are
`citadel.contract.messages`; the use cases `citadel.use_cases.internal` and
`citadel.use_cases.projects_runtime`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response

from citadel.api.deps import ServicesDep, WorkDep
from citadel.authn.principal import Caller
from citadel.bootstrap import snapshot_repository
from citadel.contract.messages import (
    CONTRACT_HEADER,
    CONTRACT_VERSION,
    PREFIX,
    Allocations,
    AllocatorHeartbeat,
    ComponentCertificateAnswer,
    ComponentCertificateRequest,
    ComponentKind,
    Empty,
    GatewaySecurityEvents,
    NodeCertificate,
    NodeCertificateRequest,
    ProjectActivity,
    Refusal,
    Rewrapped,
    RoutesSnapshot,
    SecurityEvents,
    SeenClients,
    StatusReport,
    WakeAnswer,
)
from citadel.errors import BadRequest, Forbidden
from citadel.gateway.certificates import gateway_hostnames
from citadel.join import service as join
from citadel.pki.components import component_kind_of
from citadel.use_cases import deployments as use_cases
from citadel.use_cases import internal as service
from citadel.use_cases import platform, projects_runtime

DeploymentId = Path(max_length=32)
AllocatorId = Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
ProjectId = Path(max_length=32)


class NotAComponent(Forbidden):
    code = Refusal.NO_COMPONENT
    default_message = (
        "The client certificate names no platform component (urn:citadel:component:<kind>); "
        "a certificate issued before component kinds is replaced when its component restarts."
    )


class ComponentNotAllowed(Forbidden):
    code = Refusal.COMPONENT_NOT_ALLOWED
    default_message = "This internal route does not serve this component."


class ContractMismatch(BadRequest):
    code = Refusal.CONTRACT_MISMATCH
    default_message = (
        f"This control plane speaks internal contract {CONTRACT_VERSION} "
        f"(header {CONTRACT_HEADER}); upgrade the component and the control plane together."
    )


def client_certificates(request: Request) -> list[str]:
    """The peer's certificate chain (PEM) the listener verified (ASGI TLS extension)."""
    tls = (request.scope.get("extensions") or {}).get("tls") or {}
    return list(tls.get("client_cert_chain") or [])


def admits(*kinds: ComponentKind) -> Any:
    """The access dependency of an internal route: the caller's certificate must name one of
    `kinds`, and the request must speak this contract version."""
    allowed = frozenset(kinds)

    def dependency(request: Request) -> ComponentKind:
        state = request.state
        state.caller = Caller(None, state.source_ip, state.request_id, system=True)
        chain = client_certificates(request)
        kind = component_kind_of(chain[0].encode()) if chain else None
        state.component = kind
        if kind is None:
            raise NotAComponent()
        if kind not in allowed:
            served = ", ".join(sorted(allowed))
            raise ComponentNotAllowed(
                f"This internal route serves the {served}, not the {kind}.",
                details={"component": str(kind), "serves": sorted(allowed)},
            )
        spoken = request.headers.get(CONTRACT_HEADER)
        if spoken != str(CONTRACT_VERSION):
            raise ContractMismatch(
                f"This control plane speaks internal contract {CONTRACT_VERSION}; the request "
                f"says {spoken or 'none'} (header {CONTRACT_HEADER}).",
                fields=[f"header.{CONTRACT_HEADER}"],
            )
        return kind

    dependency.admits = allowed  # type: ignore[attr-defined]  # read by the tests
    return Depends(dependency)


ALLOCATOR = admits(ComponentKind.ALLOCATOR)
GATEWAY = admits(ComponentKind.GATEWAY)
COMPONENT = admits(ComponentKind.ALLOCATOR, ComponentKind.GATEWAY)

router = APIRouter(prefix=PREFIX)


def _conditional(tag: str, if_none_match: str | None, response: Response) -> Response | None:
    """A 304 when the caller already has `tag`; else the tag goes on `response`."""
    if if_none_match == tag:
        return Response(status_code=304, headers={"etag": tag})
    response.headers["etag"] = tag
    return None


@router.get("/allocations", dependencies=[ALLOCATOR], response_model=Allocations)
def allocations(
    work: WorkDep,
    response: Response,
    services: ServicesDep,
    if_none_match: Annotated[str | None, Header()] = None,
    allocator: Annotated[str | None, Query(max_length=64)] = None,
) -> Any:
    """What should run, with a version that increases on every change. `ETag` is the version;
    an allocator that already has it gets 304 and nothing is unsealed. With ``?allocator=``
    only what is placed on that allocator, after placing the deployments waiting for room
    (ADR 31); without it, everything (a single-host caller)."""
    if allocator is not None:
        platform.place_waiting(work)
    repository = snapshot_repository(services.settings)
    with work.read() as ctx:
        tag = service.tag(ctx, allocator, repository=repository)
        unchanged = _conditional(tag, if_none_match, response)
        if unchanged is not None:
            return unchanged
        return service.allocations(ctx, repository=repository, allocator=allocator)


@router.post("/allocators/{allocator_id}/heartbeat", dependencies=[ALLOCATOR])
def allocator_heartbeat(
    body: AllocatorHeartbeat, work: WorkDep, allocator_id: str = AllocatorId
) -> Empty:
    """An allocator's address, zone and capacity, every few seconds (ADR 31): it is healthy
    while they keep coming; deployments waiting for room are placed."""
    platform.heartbeat(work, allocator_id, body)
    return Empty()


@router.post("/deployments/{deployment_id}/status", dependencies=[ALLOCATOR])
def report_status(body: StatusReport, work: WorkDep, deployment_id: str = DeploymentId) -> Empty:
    """The allocator's observation of one deployment."""
    with work.write() as ctx:
        service.report_status(ctx, deployment_id, body)
    return Empty()


@router.post("/deployments/{deployment_id}/security-events", dependencies=[ALLOCATOR])
def security_events(
    body: SecurityEvents, work: WorkDep, deployment_id: str = DeploymentId
) -> Empty:
    """The audit events the allocator collected from the deployment's node."""
    with work.write() as ctx:
        service.record_security_events(ctx, deployment_id, body)
    return Empty()


@router.post("/deployments/{deployment_id}/node-certificate", dependencies=[ALLOCATOR])
def node_certificate(
    body: NodeCertificateRequest,
    work: WorkDep,
    services: ServicesDep,
    deployment_id: str = DeploymentId,
) -> NodeCertificate:
    """A server certificate for the deployment's node, over the CSR's public key."""
    with work.read() as ctx:
        return service.node_certificate(
            ctx, services.settings.data_dir, services.keyring, deployment_id, body
        )


@router.post("/deployments/{deployment_id}/encryption/_rewrap", dependencies=[ALLOCATOR])
def rewrap(work: WorkDep, services: ServicesDep, deployment_id: str = DeploymentId) -> Rewrapped:
    """The allocator saw a newer key version at the provider: re-wrap under it."""
    answer = use_cases.rotate_key(work, None, deployment_id, services.platform_keys)
    return Rewrapped.model_validate(answer)


@router.get("/routes", dependencies=[GATEWAY], response_model=RoutesSnapshot)
def routes(
    work: WorkDep,
    services: ServicesDep,
    response: Response,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Any:
    """The gateway's snapshot. `ETag` is the version; a gateway that already has it gets 304
    (with many rules the document is large)."""
    settings = services.settings
    with work.read() as ctx:
        unchanged = _conditional(service.tag(ctx), if_none_match, response)
        return unchanged or service.routes(ctx, settings.data_dir, settings.deployment_domain)


@router.post("/gateway/clients", dependencies=[GATEWAY])
def gateway_clients(body: SeenClients, services: ServicesDep) -> Empty:
    """What a gateway saw recently: the lockout guard's "currently connected clients"."""
    service.report_clients(services.recent_clients, body)
    return Empty()


@router.post("/gateway/security-events", dependencies=[GATEWAY])
def gateway_security_events(body: GatewaySecurityEvents, work: WorkDep) -> Empty:
    """The gateway's ``connection_denied`` events (traffic-filter refusals), by deployment."""
    with work.write() as ctx:
        service.record_gateway_security_events(ctx, body)
    return Empty()


@router.post("/gateway/activity", dependencies=[GATEWAY])
def gateway_activity(body: ProjectActivity, work: WorkDep) -> Empty:
    """The projects a gateway forwarded requests to, each with its latest request (ADR 29)."""
    projects_runtime.record_activity(work, body)
    return Empty()


@router.post("/projects/{project_id}/wake", dependencies=[GATEWAY])
def wake_project(work: WorkDep, project_id: str = ProjectId) -> WakeAnswer:
    """A gateway holds a request for a stopped project: have it run again (ADR 29). The answer
    is its instance's observed state; 404 for a project unknown or being deleted."""
    return WakeAnswer(state=projects_runtime.wake_project(work, project_id))


@router.post("/components/certificate", dependencies=[COMPONENT])
def component_certificate(
    body: ComponentCertificateRequest, request: Request, work: WorkDep, services: ServicesDep
) -> ComponentCertificateAnswer:
    """The calling component's next client certificate (same kind and name) over the CSR's
    key: how a component that joined from another host renews without the CA key (ADR 33)."""
    (current, *_) = client_certificates(request)
    with work.read() as ctx:
        certificate, ca = join.renew_component_certificate(
            ctx, services.settings.data_dir, current_pem=current, csr_pem=body.csr
        )
    return ComponentCertificateAnswer(certificate=certificate, ca=ca)


@router.post("/gateway/server-certificate", dependencies=[GATEWAY])
def gateway_server_certificate(
    body: ComponentCertificateRequest, work: WorkDep, services: ServicesDep
) -> ComponentCertificateAnswer:
    """A server certificate for a joined gateway's listener (the platform's deployment domain
    and regions) over the CSR's key: how a gateway on another host gets and renews one
    without the CA key (ADR 33)."""
    settings = services.settings
    names = gateway_hostnames(settings.deployment_domain, settings.regions)
    with work.read() as ctx:
        certificate, ca = join.sign_gateway_server_certificate(
            ctx, settings.data_dir, csr_pem=body.csr, hostnames=names
        )
    return ComponentCertificateAnswer(certificate=certificate, ca=ca)
