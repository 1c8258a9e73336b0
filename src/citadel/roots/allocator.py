"""The allocator process's composition root: settings in, a ready `Allocator` out, with its
metrics endpoint (`citadel.runtime.metrics`: its state and its nodes' series, read per scrape)
and the renewal of certificates between reconcile passes (ADR 18): its client certificate,
re-issued when due and loaded into the one client context its internal-API client and node
probes share, and its nodes' server certificates (each node loads its renewed pair itself).
The nodes' security audit events are shipped to the control plane on a thread of their own
(`citadel.runtime.audit_shipping`), so a slow node never holds up the reconcile loop; their
snapshots move on the snapshot worker's threads (`citadel.runtime.snapshot_worker`, ADR 30)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from citadel.config import Settings
from citadel.contract.client import ComponentTls, ControlPlane
from citadel.crypto.providers.endpoints import EndpointPolicy
from citadel.pki.components import ensure_component_certificate
from citadel.pki.renewal import CertificateRenewer
from citadel.roots.component import NotReady, open_component_keys, wait_for_endpoints
from citadel.roots.join import joined_renewal
from citadel.roots.metrics import MetricsEndpoint, metrics_endpoint
from citadel.runtime.allocator import Allocator
from citadel.runtime.audit_shipping import AuditShipper
from citadel.runtime.heartbeat import (
    LOCAL_ALLOCATOR,
    AllocatorIdentity,
    Heartbeat,
    default_allocator_id,
    interval_for,
    machine_memory_mb,
)
from citadel.runtime.metrics import AllocatorCollector
from citadel.runtime.node_listener import NodeListeners, PortRange
from citadel.runtime.sandbox import BubblewrapSandbox, deployment_sandbox
from citadel.runtime.snapshot_worker import SnapshotWorker


@dataclass(frozen=True)
class AllocatorProcess:
    """The allocator's parts: its internal-API client, the reconcile loop and its metrics
    endpoint (None when turned off)."""

    internal_url: str
    control_plane: ControlPlane
    allocator: Allocator
    metrics: MetricsEndpoint | None = None
    renewer: CertificateRenewer | None = None
    audit_shipper: AuditShipper | None = None
    heartbeat: Heartbeat | None = None  # ADR 31: None sends none (the control plane places none)
    snapshot_worker: SnapshotWorker | None = None  # ADR 30: moves the nodes' snapshots

    def _renew(self) -> None:
        """Between reconcile passes: the allocator's own certificate, then its nodes'."""
        if self.renewer is not None:
            self.renewer.poll()
        self.allocator.renew_node_certificates()

    def run(self, stop: threading.Event, *, interval: float) -> None:
        """Serve the metrics and reconcile until `stop` is set; then stop every node and close
        the client and the metrics endpoint."""
        if self.metrics is not None:
            self.metrics.start()
        shipping = None
        if self.audit_shipper is not None:
            shipping = self.audit_shipper.start(stop)
        beating = None
        if self.heartbeat is not None:
            self.heartbeat.beat()  # registered (and placed on) before the first fetch
            beating = self.heartbeat.start(stop)
        snapshotting = None
        if self.snapshot_worker is not None:
            snapshotting = self.snapshot_worker.start(stop)
        try:
            self.allocator.run(stop, interval=interval, between=self._renew)
        finally:
            if shipping is not None:
                shipping.join(timeout=10)
            if snapshotting is not None:
                snapshotting.join(timeout=30)
            if beating is not None:
                beating.join(timeout=10)
            if self.metrics is not None:
                self.metrics.close()
            self.control_plane.close()


def allocator_identity(
    *,
    allocator_id: str | None = None,
    zone: str = LOCAL_ALLOCATOR,
    capacity_mb: int | None = None,
    advertise_address: str = "127.0.0.1",
) -> AllocatorIdentity:
    """What this allocator tells the control plane of itself (ADR 31); the defaults: the host
    name, zone ``local``, the machine's memory, nodes reached on loopback."""
    return AllocatorIdentity(
        allocator_id=allocator_id or default_allocator_id(),
        address=advertise_address,
        zone=zone,
        capacity_mb=machine_memory_mb() if capacity_mb is None else capacity_mb,
    )


def node_port_range(text: str | None) -> PortRange | None:
    """``--node-ports LOW-HIGH`` (None without one: nodes on their unix socket only).
    Raises `NodePortsError`, a ValueError, saying what is wrong."""
    return PortRange.parse(text) if text is not None else None


def build(
    settings: Settings,
    *,
    wait_s: float,
    key_check_interval_s: float | None = None,
    identity: AllocatorIdentity | None = None,
    node_ports: PortRange | None = None,
) -> AllocatorProcess:
    """Check the sandbox, find the control plane (waiting up to `wait_s`), open the keys once
    and wire the allocator. With `identity` it sends heartbeats and runs only what is placed
    on it (ADR 31); with `node_ports` each running node also listens on the identity's address
    (`citadel.runtime.node_listener`), for gateways on other hosts. Raises `NotReady` saying
    what is missing."""
    reason = BubblewrapSandbox.available()
    if reason is not None:
        raise NotReady(f"cannot sandbox nodes: {reason}")
    keys = open_component_keys(settings, "allocator")
    if keys.internal_url is not None:  # joined (ADR 33): no endpoints file on this host
        endpoints: dict | None = {"internal_url": keys.internal_url}
    else:
        endpoints = wait_for_endpoints(settings.data_dir, wait_s)
    if endpoints is None:
        raise NotReady(f"no internal_url in {settings.data_dir}/run/endpoints.json")
    if keys.platform_key is None:
        raise NotReady(
            "no platform key on this host: set CITADEL_PLATFORM_KEY to the platform's key "
            "service, or place the platform's keys/platform.key in the data directory"
        )
    cert = keys.certificate
    tls = ComponentTls(cert.ca_file, cert.cert_file, cert.key_file, cert.key_password)
    control_plane = ControlPlane(endpoints["internal_url"], tls)
    allocator = Allocator(
        data_dir=settings.data_dir,
        control_plane=control_plane,
        key_provider=keys.platform_key,
        sandbox=deployment_sandbox(),  # cgroups when the machine has them (ADR 20)
        client_tls=tls,
        key_check_interval_s=key_check_interval_s or settings.key_check_interval_s,
        log_level=settings.log_level,
        key_manager_endpoints=EndpointPolicy.from_settings(
            settings.key_manager_allowed_endpoints, public=settings.key_manager_public_endpoints
        ),
        allocator_id=identity.allocator_id if identity is not None else None,
        node_listeners=(
            NodeListeners(identity.address if identity is not None else "127.0.0.1", node_ports)
            if node_ports is not None
            else None
        ),
    )
    shipper = AuditShipper(allocator, control_plane)
    registry = CollectorRegistry()
    registry.register(AllocatorCollector(allocator, audit_shipper=shipper))
    keyring = keys.keyring
    metrics, renewer = None, None
    if keys.joined is not None:  # joined (ADR 33): renewed through the internal API; no
        # metrics endpoint (no CA key here to issue its server certificate)
        renewal = joined_renewal(keys.joined, control_plane)
        renewer = CertificateRenewer("allocator", renewal, [tls.client_context()], cert)
    elif keyring is not None:
        metrics = metrics_endpoint(
            settings, keyring, "allocator", settings.allocator_metrics_port, registry
        )
        data_dir = settings.data_dir
        renewer = CertificateRenewer(
            "allocator",
            lambda: ensure_component_certificate(data_dir, keyring, "allocator"),
            [tls.client_context()],
            cert,
        )
    heartbeat = None
    if identity is not None:
        heartbeat = Heartbeat(
            ControlPlane(endpoints["internal_url"], tls),  # its own client, on its own thread
            identity,
            interval_s=interval_for(settings.allocator_unhealthy_after_s),
        )
    return AllocatorProcess(
        endpoints["internal_url"],
        control_plane,
        allocator,
        metrics,
        renewer,
        shipper,
        heartbeat,
        snapshot_worker=SnapshotWorker(allocator),
    )
