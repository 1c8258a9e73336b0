"""The use cases behind `/internal/v1` (ADR 9, ADR 17): the control plane's side of the
internal contract, one function per route.

Each builds or reads a message of `citadel.contract.messages`; the routes only check the
component and the contract version and translate. Allocations carry secrets only where the
allocator needs them: a pending `elastic` password and a customer key manager's credential
are unsealed for a deployment that should run, never for a stopped or deleted one, and a
password only until the allocator reports it applied. The tag of both documents is the
deployments' version: every change that alters them touches a deployment (a key manager's
new credential touches the deployments it serves), so an unchanged tag means an unchanged
document and nothing is unsealed for a 304.

A serverless project's runtime instance (a deployment row of kind ``project``, ADR 28) is
allocated and routed as a deployment is, with what makes it a project's: its type and CPU
quota in the allocation (`ProjectRuntime`), its type, alias and applications in the route
(`ProjectRoute`), and there whether the gateway may wake it when it is not running (ADR 29):
a project that is available (``initializing`` or ``initialized``) may be, a suspended one may
not. Its status reports also move the project's phase (`citadel.projects.service.observe`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import sqlalchemy as sa

from citadel.allocators.models import Allocator
from citadel.authn.context import Context
from citadel.contract.messages import (
    Allocation,
    Allocations,
    DesiredState,
    GatewaySecurityEvents,
    KeyConnection,
    NodeCertificate,
    NodeCertificateRequest,
    ObservedState,
    ProjectRoute,
    ProjectRuntime,
    RestoreSource,
    RouteEntry,
    RoutesSnapshot,
    RulesetEntry,
    SecurityEvents,
    SeenClients,
    SnapshotDefaults,
    SnapshotRepository,
    StatusReport,
)
from citadel.crypto.keyring import Keyring
from citadel.deployment_audit import service as deployment_audit
from citadel.deployment_tokens import keys as token_keys
from citadel.deployments import internal as deployments
from citadel.deployments import snapshots
from citadel.deployments.errors import DeploymentNotFound
from citadel.deployments.lifecycle import Desired, Observed
from citadel.deployments.models import PROJECT, Deployment
from citadel.deployments.service import touch
from citadel.errors import BadRequest
from citadel.key_managers import service as key_managers
from citadel.key_managers.models import KeyManager
from citadel.kit.deployment_dirs import node_socket_path
from citadel.pki.components import InvalidCsr, sign_node_certificate
from citadel.projects import service as projects
from citadel.projects.models import Project
from citadel.projects.phases import Phase
from citadel.projects.sizing import sizing
from citadel.projects.types import APPS, ProjectType
from citadel.traffic_filters import service as traffic_filters
from citadel.traffic_filters.clients import RecentClients, SeenClient
from citadel.use_cases.node_security import node_security, published_jwks

WAKEABLE_PHASES = frozenset({Phase.INITIALIZING, Phase.INITIALIZED})
"""A project in these phases is available: when its instance is not running (idle-stopped,
starting) the gateway holds a request and wakes it."""


class InvalidNodeCsr(BadRequest):
    code = "deployments.invalid_csr"
    default_message = "The certificate signing request is not valid."


def tag(
    ctx: Context,
    allocator: str | None = None,
    *,
    repository: SnapshotRepository | None = None,
) -> str:
    """The entity tag of the allocations and of the routes: the deployments' version, and the
    version of the deployment-token key set every allocation's security carries (ADR 27);
    one allocator's allocations name it too (every placement change bumps the version), and
    allocations the snapshot repository they carry (another repository is another document)."""
    version = f"{deployments.allocation_version(ctx)}.{token_keys.key_set_version(ctx.session)}"
    if repository is not None:
        version += f".{_fingerprint(repository)}"
    return f'"{version}.{allocator}"' if allocator is not None else f'"{version}"'


def _fingerprint(repository: SnapshotRepository) -> str:
    """A short digest of where the repository is (its secret key left out of it)."""
    described = repository.model_dump_json(exclude={"s3_secret_access_key"})
    return hashlib.sha256(described.encode()).hexdigest()[:12]


def allocations(
    ctx: Context,
    *,
    repository: SnapshotRepository | None = None,
    allocator: str | None = None,
) -> Allocations:
    """What should run: every deployment not deleted and observed gone, with its wrapped key;
    secrets only for those that should run. With a snapshot `repository`, a deployment that
    should run carries the platform's snapshot schedule, and a restore to do before its first
    start carries the source's wrapped key (issue 20, ADR 30). With `allocator`, only the
    deployments placed on it (ADR 31)."""
    items = []
    defaults = _snapshot_defaults(ctx) if repository is not None else None
    jwks = published_jwks(ctx.session)
    projects = _projects(ctx)
    for row in deployments.all_deployments(ctx):
        if row.desired_state == Desired.DELETED and row.observed_state == Observed.DELETED:
            continue
        if allocator is not None and row.allocator_id != allocator:
            continue
        runs = row.desired_state == Desired.RUNNING
        project = projects.get(row.id) if row.kind == PROJECT else None
        items.append(
            Allocation(
                id=row.id,
                region=row.region,
                desired_state=DesiredState(row.desired_state),
                sandbox_uid=row.sandbox_uid,
                wrapped_data_key=(
                    row.data_key_wrapped if row.desired_state != Desired.DELETED else None
                ),
                key_path=row.key_path,
                elastic_password=deployments.pending_password(ctx, row) if runs else None,
                key_connection=_key_connection(ctx, row.key_manager_id) if runs else None,
                size_mb=row.size,
                security=(
                    node_security(
                        ctx.session, row, ctx.policies, jwks=jwks, barrier=ctx.keyring.barrier
                    )
                    if runs
                    else None
                ),
                project=_runtime(project) if project is not None else None,
                snapshots=defaults if runs and row.kind != PROJECT else None,
                restore=_restore(ctx, row) if runs and repository is not None else None,
            )
        )
    return Allocations(
        version=deployments.allocation_version(ctx),
        deployments=tuple(items),
        repository=repository,
    )


def _snapshot_defaults(ctx: Context) -> SnapshotDefaults:
    """The platform's snapshot schedule and retention (the node's SLM policy starts there)."""
    policies = ctx.policies
    return SnapshotDefaults(
        interval_s=policies.snapshot_interval_s,
        retention_max_count=policies.snapshot_retention_max_count,
        retention_expire_after_s=policies.snapshot_retention_expire_after_s,
    )


def _restore(ctx: Context, row: Deployment) -> RestoreSource | None:
    """The restore to do before the deployment's first start: the source's snapshot and the
    source's data key (the deployment's own after a lost host; a deleted source's while it is
    retained, else none: the allocator reports the failure)."""
    if row.restore_source_id is None:
        return None
    source_id = row.restore_source_id
    source = row if source_id == row.id else ctx.session.get(Deployment, source_id)
    if source is None or not snapshots.restorable(source, ctx.clock.now()):
        return RestoreSource(deployment_id=source_id, snapshot=row.restore_snapshot)
    return RestoreSource(
        deployment_id=source.id,
        snapshot=row.restore_snapshot,
        wrapped_data_key=source.data_key_wrapped,
        key_path=source.key_path,
        key_connection=_key_connection(ctx, source.key_manager_id),
        include_security=row.restore_include_security,
    )


def _projects(ctx: Context) -> dict[str, Project]:
    """Every project by id (its instance has the same id)."""
    return {row.id: row for row in ctx.session.scalars(sa.select(Project))}


def _runtime(project: Project) -> ProjectRuntime:
    """What the allocator needs to run an instance as this project: its type and the CPU
    quota its search power buys."""
    search_lake = project.settings.get("search_lake") or {}
    power = search_lake.get("search_power") if isinstance(search_lake, dict) else None
    limits = sizing(power if isinstance(power, int) else None, project.optimized_for)
    return ProjectRuntime(type=project.type, cpu_millis=limits.cpu_millis)


def _route(project: Project) -> ProjectRoute:
    """How the gateway serves this project: its hosts, and whether it may wake it."""
    return ProjectRoute(
        type=project.type,
        alias=project.alias,
        apps=APPS[ProjectType(project.type)],
        wake=project.phase in WAKEABLE_PHASES,
    )


def _key_connection(ctx: Context, manager_id: str | None) -> KeyConnection | None:
    if manager_id is None:
        return None
    row = ctx.session.get(KeyManager, manager_id)
    if row is None:
        return None
    conn = key_managers.connection(ctx, row)
    return KeyConnection(settings=dict(conn.settings), secret=conn.secret, timeout_s=conn.timeout_s)


def report_status(ctx: Context, deployment_id: str, report: StatusReport) -> None:
    """Record the allocator's observation of one deployment (for a project's instance, the
    project's phase follows it)."""
    row = deployments.record_status(
        ctx,
        deployment_id,
        observed_state=Observed(report.observed_state),
        healthy=report.healthy,
        detail=report.detail,
        password_applied=report.elastic_password_applied,
    )
    _record_node_port(ctx, row, report.node_port)
    if report.snapshots is not None or report.restored_from is not None:
        snapshots.record_report(ctx, row, report.snapshots, report.restored_from)
    if row.kind == PROJECT:
        projects.observe(ctx, row.id, Observed(report.observed_state))


def node_certificate(
    ctx: Context,
    data_dir: Path,
    keyring: Keyring,
    deployment_id: str,
    request: NodeCertificateRequest,
) -> NodeCertificate:
    """A server certificate for the deployment's node over the CSR's public key (the
    deployment must exist and not be deleted)."""
    row = ctx.session.get(Deployment, deployment_id)
    if row is None or row.desired_state == Desired.DELETED:
        raise DeploymentNotFound()
    try:
        cert, ca = sign_node_certificate(data_dir, keyring, request.csr.encode(), deployment_id)
    except InvalidCsr as exc:
        raise InvalidNodeCsr(str(exc), fields=["body.csr"]) from exc
    return NodeCertificate(certificate=cert.decode(), ca=ca.decode())


def _record_node_port(ctx: Context, row: Deployment, port: int | None) -> None:
    """Where the deployment's node is reached on its allocator's host now (ADR 31; None: on
    its unix socket only): a change is a new version of the gateways' routes."""
    if row.node_port != port:
        row.node_port = port
        touch(ctx, row)


def _node_address(address: str | None, port: int | None) -> str:
    """``host:port`` (``[v6]:port``) of a node on its allocator's host; "" when either part
    is unknown (the gateway then uses the node's unix socket)."""
    if not address or port is None:
        return ""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def routes(ctx: Context, data_dir: Path, domain: str) -> RoutesSnapshot:
    """The gateway's snapshot: every deployment not deleted, with where its node is reached
    (its unix socket, and ``<allocator address>:<node port>`` when its allocator listens for
    it: ADR 31) and the traffic-filter rulesets associated with it."""
    by_deployment, rulesets = traffic_filters.gateway_view(ctx)
    projects = _projects(ctx)
    addresses = {a.id: a.address for a in ctx.session.scalars(sa.select(Allocator))}
    items = tuple(
        RouteEntry(
            id=row.id,
            alias=row.alias,
            region=row.region,
            state=ObservedState(
                row.observed_state if row.desired_state == Desired.RUNNING else row.desired_state
            ),
            node_socket=str(node_socket_path(data_dir, row.id)),
            node_address=_node_address(addresses.get(row.allocator_id or ""), row.node_port),
            rulesets=tuple(by_deployment.get(row.id, [])),
            detail=(row.observed_detail or "") if row.observed_state == Observed.LOCKED else "",
            project=_route(projects[row.id]) if row.id in projects else None,
        )
        for row in deployments.all_deployments(ctx)
        if row.desired_state != Desired.DELETED and (row.kind != PROJECT or row.id in projects)
    )
    return RoutesSnapshot(
        version=deployments.allocation_version(ctx),
        domain=domain,
        deployments=items,
        rulesets={k: RulesetEntry.model_validate(v) for k, v in rulesets.items()},
    )


def report_clients(recent: RecentClients, report: SeenClients) -> None:
    """What a gateway saw recently: the lockout guard's "currently connected clients"."""
    recent.report(
        SeenClient(c.deployment_id, c.client_ip, c.endpoint_id, c.last_seen, c.connected)
        for c in report.clients
    )


def record_security_events(ctx: Context, deployment_id: str, report: SecurityEvents) -> int:
    """Keep the audit events the allocator collected from a deployment's node (and count
    those it says the node dropped); returns how many were stored."""
    return deployment_audit.record_events(
        ctx.session, deployment_id, report.events, dropped=report.dropped
    )


def record_gateway_security_events(ctx: Context, report: GatewaySecurityEvents) -> int:
    """Keep a gateway's ``connection_denied`` events by deployment; a deployment deleted since
    the gateway refused the connection is passed over. Returns how many were stored."""
    stored = 0
    for item in report.deployments:
        try:
            stored += deployment_audit.record_events(
                ctx.session, item.deployment_id, item.events, dropped=item.dropped
            )
        except DeploymentNotFound:
            continue
    return stored
