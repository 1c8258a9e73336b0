"""The gateway process's composition root: settings and listener options in, the TLS
contexts, the snapshot keeper and the serving loop out (docs/adr/0009).

Every worker renews its server context's certificate in place (ADR 18): worker 0 re-issues
the platform-issued certificate when due, the other workers load what it wrote, and an
operator's own certificate is reloaded by every worker whenever its files change.

The settings' limits are gateway-wide; each worker gets its share (`worker_limits`). Worker 0
serves ``/metrics`` (`gateway_metrics_port`) summed over every worker's counters, which it
asks the others for over their channels (`citadel.gateway.metrics`, ADR 23)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TextIO

import uvloop
from prometheus_client import CollectorRegistry

from citadel.config import Settings
from citadel.contract.client import ComponentTls, ControlPlane
from citadel.gateway.admission import per_worker
from citadel.gateway.certificates import ensure_gateway_certificate, gateway_hostnames
from citadel.gateway.listener import ProxyListenerConfig
from citadel.gateway.metrics import GatewayCollector, WorkerSnapshots, answer_asks
from citadel.gateway.proxy import (
    Gateway,
    Limits,
    run,
    server_ssl_context,
    upstream_ssl_context,
)
from citadel.gateway.snapshot import SnapshotKeeper
from citadel.gateway.workers import Worker, run_workers
from citadel.kit.tls import apply_intermediate
from citadel.log import get_logger
from citadel.pki.components import NODE_DOMAIN, ensure_component_certificate
from citadel.pki.renewal import (
    CertificateFiles,
    CertificatePair,
    CertificateRenewer,
    fingerprint,
)
from citadel.roots.component import NotReady, open_component_keys, wait_for_endpoints
from citadel.roots.join import joined_gateway_server, joined_renewal
from citadel.roots.metrics import MetricsEndpoint, metrics_endpoint

log = get_logger(__name__)
EVENT_FLUSH_S = 0.5  # request events are buffered and written at most this late


@dataclass(frozen=True)
class GatewayOptions:
    """The listeners and the certificate, as the command line gives them."""

    host: str
    port: int
    domain: str
    regions: list[str]
    cert_file: Path | None = None
    key_file: Path | None = None
    wait_s: float = 10.0
    access_log: bool = True
    proxy_listener: ProxyListenerConfig | None = None
    workers: int = 1


@dataclass(frozen=True)
class GatewayProcess:
    """The gateway's parts, built once before the workers fork."""

    options: GatewayOptions
    server_ssl: ssl.SSLContext
    upstream_ssl: ssl.SSLContext
    keeper: SnapshotKeeper
    control_plane: ControlPlane | None
    certificate: CertificateFiles
    issue: Callable[[], CertificateFiles] | None  # None: the operator's certificate
    limits: Limits = field(default_factory=Limits)  # one worker's share
    server_names: frozenset[str] = frozenset({"localhost"})
    collector: GatewayCollector | None = None
    metrics: MetricsEndpoint | None = None  # served by worker 0
    component: CertificateFiles | None = None  # the client certificate (nodes, internal API)
    issue_component: Callable[[], CertificateFiles] | None = None
    # What the contexts were built from (a worker's renewer is made after the fork).
    loaded: tuple[str, str] = ("", "")

    def renewer(self, index: int) -> CertificateRenewer:
        """Worker `index`'s renewer: worker 0 issues, the others follow the files."""
        ensure = self.issue if index == 0 and self.issue is not None else self._on_disk
        return CertificateRenewer("gateway", ensure, [self.server_ssl], self.loaded[0])

    def _on_disk(self) -> CertificateFiles:
        return self.certificate

    def component_renewer(self, index: int) -> CertificateRenewer | None:
        """Worker `index`'s renewer of the client certificate it presents to the nodes and
        the internal API: worker 0 issues, the others follow the files."""
        if self.component is None:
            return None
        component = self.component

        def on_disk() -> CertificateFiles:
            return component

        issue = self.issue_component
        ensure = issue if index == 0 and issue is not None else on_disk
        contexts = [self.upstream_ssl]
        if self.control_plane is not None:
            contexts.append(self.control_plane.tls.client_context())
        return CertificateRenewer("gateway-component", ensure, contexts, self.loaded[1])

    def run(self, events: TextIO) -> None:
        """Serve on every worker until SIGTERM or SIGINT; `events` is the buffered log
        stream, flushed every `EVENT_FLUSH_S`."""
        events.flush()  # nothing buffered may be written twice by the forked workers
        run_workers(self.options.workers, lambda worker: self._serve_worker(worker, events))

    def _serve_worker(self, worker: Worker, events: TextIO) -> None:
        # Worker 0 fetches (and persists) snapshots; the others follow the persisted file.
        o = self.options
        index = worker.index
        proxy = Gateway(
            self.keeper if index == 0 else self.keeper.follower(),
            self.upstream_ssl,
            limits=self.limits,
            node_server_name="{id}." + NODE_DOMAIN,
            access_log=o.access_log,
            server_names=self.server_names,
        )
        try:
            uvloop.run(self._serve(proxy, events, self.renewer(index), worker))
            if index == 0:
                log.info("gateway.stopped")
        finally:
            events.flush()

    async def _serve(
        self, proxy: Gateway, events: TextIO, renewer: CertificateRenewer, worker: Worker
    ) -> None:
        o = self.options
        task = asyncio.ensure_future(
            run(
                proxy,
                o.host,
                o.port,
                self.server_ssl,
                o.proxy_listener,
                reuse_port=o.workers > 1,
                reports_to=self.control_plane,
            )
        )
        loop = asyncio.get_running_loop()

        def flush_events() -> None:
            events.flush()
            loop.call_later(EVENT_FLUSH_S, flush_events)

        loop.call_later(EVENT_FLUSH_S, flush_events)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        renewing = asyncio.ensure_future(renewer.run())
        component_renewer = self.component_renewer(worker.index)
        renewing_component = (
            asyncio.ensure_future(component_renewer.run()) if component_renewer else None
        )
        answering = None
        if worker.channel is not None:  # a forked worker: the parent asks for its counters
            answering = asyncio.ensure_future(answer_asks(worker.channel, proxy.stats))
        metrics = self.metrics if worker.index == 0 else None
        if metrics is not None and self.collector is not None:
            self.collector.source = WorkerSnapshots(loop, proxy.stats, worker.children)
            await asyncio.to_thread(metrics.start)
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            renewing.cancel()
            if renewing_component is not None:
                renewing_component.cancel()
            if answering is not None:
                answering.cancel()
            if metrics is not None:
                await asyncio.to_thread(metrics.close)


def build(settings: Settings, options: GatewayOptions) -> GatewayProcess:
    """Open the keys once, make (or load) the certificates, and find the control plane
    (waiting up to `options.wait_s`; without it the persisted snapshot is served alone).
    Raises `NotReady` before the control plane's first start."""
    data_dir = settings.data_dir
    keys = open_component_keys(settings, "gateway")
    component = keys.certificate
    certificate: CertificateFiles
    issue: Callable[[], CertificateFiles] | None = None
    keyring = keys.keyring
    if options.cert_file is not None and options.key_file is not None:
        certificate = CertificatePair(options.cert_file, options.key_file)
    elif keys.joined is not None:  # joined (ADR 33): the listener's from the internal API
        issuer = ControlPlane(
            keys.joined.internal_url,
            ComponentTls(component.ca_file, component.cert_file, component.key_file, b""),
        )
        issue = joined_gateway_server(keys.joined, issuer)
        certificate = issue()
        issuer.close()  # each worker opens its own connection when it renews (after the fork)
        if not certificate.cert_file.exists():
            raise NotReady(
                "no listener certificate yet: the control plane at "
                f"{keys.joined.internal_url} did not issue one (or give --cert and --key)"
            )
    elif keyring is None:
        raise NotReady("no keyring on this host: give --cert and --key")
    else:
        barrier, password = keyring.barrier, keyring.tls_key_password()
        names = gateway_hostnames(options.domain, options.regions)

        def issue() -> CertificateFiles:
            return ensure_gateway_certificate(data_dir / "pki", barrier, password, names)

        certificate = issue()
    server_ssl = apply_intermediate(  # Mozilla intermediate, as on every listener (ADR 18)
        server_ssl_context(
            str(certificate.cert_file), str(certificate.key_file), certificate.key_password
        )
    )
    upstream_ssl = upstream_ssl_context(
        str(component.ca_file),
        str(component.cert_file),
        str(component.key_file),
        component.key_password,
    )
    if keys.internal_url is not None:  # joined: no endpoints file on this host
        endpoints: dict | None = {"internal_url": keys.internal_url}
    else:
        endpoints = wait_for_endpoints(data_dir, options.wait_s)
    if endpoints is None:
        log.warning("gateway.no_control_plane", detail="serving the persisted snapshot")
        endpoints = {}
    control_plane = None
    if endpoints.get("internal_url"):
        tls = ComponentTls(
            Path(endpoints.get("ca_file") or component.ca_file),
            component.cert_file,
            component.key_file,
            component.key_password,
        )
        control_plane = ControlPlane(endpoints["internal_url"], tls)
    keeper = SnapshotKeeper(data_dir / "gateway" / "snapshot.json", control_plane)
    collector = GatewayCollector(list)  # its source is set in worker 0, once it runs
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    metrics = None  # a joined gateway has no CA key to issue its metrics certificate
    issue_component: Callable[[], CertificateFiles] | None = None
    if keys.joined is not None and control_plane is not None:  # renewed over the internal API
        issue_component = joined_renewal(keys.joined, control_plane)
    elif keyring is not None:
        metrics = metrics_endpoint(
            settings, keyring, "gateway", settings.gateway_metrics_port, registry
        )
        issue_component = partial(ensure_component_certificate, data_dir, keyring, "gateway")

    return GatewayProcess(
        options,
        server_ssl,
        upstream_ssl,
        keeper,
        control_plane,
        certificate,
        issue,
        limits=worker_limits(settings, options.workers),
        server_names=server_names(settings),
        collector=collector,
        metrics=metrics,
        component=component,
        issue_component=issue_component,
        loaded=(fingerprint(certificate), fingerprint(component)),
    )


def worker_limits(settings: Settings, workers: int) -> Limits:
    """One worker's share of the settings' gateway-wide limits: the per-address caps rounded
    up (an address's connections spread evenly over the workers), the per-deployment budget
    rounded down (the workers together never exceed it)."""
    return Limits(
        max_connections_per_client=per_worker(settings.gateway_max_connections_per_client, workers),
        max_requests_per_client=per_worker(settings.gateway_max_requests_per_client, workers),
        max_upstreams_per_deployment=max(
            1, settings.gateway_max_upstreams_per_deployment // max(1, workers)
        ),
        body_deadline_s=settings.gateway_body_deadline_s,
        body_min_rate=settings.gateway_body_min_rate,
        body_rate_grace_s=settings.gateway_body_rate_grace_s,
        wake_timeout_s=settings.project_wake_timeout_s,
    )


def server_names(settings: Settings) -> frozenset[str]:
    """The TLS server names that are the gateway's own beyond the domain and its regions'."""
    return frozenset({"localhost", *settings.gateway_server_names})
