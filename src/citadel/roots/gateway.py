"""The gateway process's composition root: settings and listener options in, the TLS
contexts, the snapshot keeper and the serving loop out (docs/adr/0009).

Every worker renews its server context's certificate in place (ADR 18): worker 0 re-issues
the platform-issued certificate when due, the other workers load what it wrote, and an
operator's own certificate is reloaded by every worker whenever its files change."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import uvloop

from citadel.config import Settings
from citadel.contract.client import ComponentTls, ControlPlane
from citadel.gateway.certificates import ensure_gateway_certificate, gateway_hostnames
from citadel.gateway.listener import ProxyListenerConfig
from citadel.gateway.proxy import Gateway, run, server_ssl_context, upstream_ssl_context
from citadel.gateway.snapshot import SnapshotKeeper
from citadel.gateway.workers import run_workers
from citadel.kit.tls import apply_intermediate
from citadel.log import get_logger
from citadel.pki.components import NODE_DOMAIN
from citadel.pki.renewal import CertificateFiles, CertificatePair, CertificateRenewer
from citadel.roots.component import open_component_keys, wait_for_endpoints

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

    def renewer(self, index: int) -> CertificateRenewer:
        """Worker `index`'s renewer: worker 0 issues, the others follow the files."""
        ensure = self.issue if index == 0 and self.issue is not None else self._on_disk
        return CertificateRenewer("gateway", ensure, [self.server_ssl], self.certificate)

    def _on_disk(self) -> CertificateFiles:
        return self.certificate

    def run(self, events: TextIO) -> None:
        """Serve on every worker until SIGTERM or SIGINT; `events` is the buffered log
        stream, flushed every `EVENT_FLUSH_S`."""
        events.flush()  # nothing buffered may be written twice by the forked workers
        run_workers(self.options.workers, lambda index: self._serve_worker(index, events))

    def _serve_worker(self, index: int, events: TextIO) -> None:
        # Worker 0 fetches (and persists) snapshots; the others follow the persisted file.
        o = self.options
        proxy = Gateway(
            self.keeper if index == 0 else self.keeper.follower(),
            self.upstream_ssl,
            node_server_name="{id}." + NODE_DOMAIN,
            access_log=o.access_log,
        )
        try:
            uvloop.run(self._serve(proxy, events, self.renewer(index)))
            if index == 0:
                log.info("gateway.stopped")
        finally:
            events.flush()

    async def _serve(self, proxy: Gateway, events: TextIO, renewer: CertificateRenewer) -> None:
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
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            renewing.cancel()


def build(settings: Settings, options: GatewayOptions) -> GatewayProcess:
    """Open the keys once, make (or load) the certificates, and find the control plane
    (waiting up to `options.wait_s`; without it the persisted snapshot is served alone).
    Raises `NotReady` before the control plane's first start."""
    data_dir = settings.data_dir
    keys = open_component_keys(settings, "gateway")
    component = keys.certificate
    certificate: CertificateFiles
    issue: Callable[[], CertificateFiles] | None = None
    if options.cert_file is not None and options.key_file is not None:
        certificate = CertificatePair(options.cert_file, options.key_file)
    else:
        barrier, password = keys.keyring.barrier, keys.keyring.tls_key_password()
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
    return GatewayProcess(
        options, server_ssl, upstream_ssl, keeper, control_plane, certificate, issue
    )
