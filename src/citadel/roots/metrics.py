"""A component's metrics endpoint, as its root wires it (docs/operations.md, "Metrics").

`metrics_endpoint` turns settings into what `citadel.kit.metrics.serve_metrics` needs: the
platform's token (``keys/metrics.token``), the component's server certificate from the
platform CA (`citadel.pki.metrics`), the host and port. A port of 0 means no endpoint. The
process starts it once it runs; an endpoint that cannot listen (the port is taken) is logged
and left out, since the component's real work must not depend on it.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from citadel.config import Settings
from citadel.crypto.keyring import Keyring
from citadel.kit.metrics import MetricsServer, ensure_token, serve_metrics
from citadel.kit.tls import CertificateFollower
from citadel.log import get_logger
from citadel.pki.authority import ServerCertificate
from citadel.pki.metrics import ensure_metrics_certificate, metrics_tls_context

log = get_logger(__name__)


@dataclass
class MetricsEndpoint:
    """One component's ``https://host:port/metrics``, not yet listening."""

    component: str
    registry: CollectorRegistry
    host: str
    port: int
    tls: ssl.SSLContext = field(repr=False)
    token: str = field(repr=False)
    server: MetricsServer | None = None

    def start(self) -> MetricsServer | None:
        """Listen (once); None, logged, when the address cannot be bound."""
        if self.server is None:
            try:
                self.server = serve_metrics(
                    self.registry, host=self.host, port=self.port, tls=self.tls, token=self.token
                )
            except OSError as exc:
                log.error(
                    "metrics.listen_failed",
                    component=self.component,
                    host=self.host,
                    port=self.port,
                    error=str(exc),
                )
                return None
            log.info("metrics.listening", component=self.component, port=self.server.port)
        return self.server

    def close(self) -> None:
        """Stop listening (nothing when it never started)."""
        if self.server is not None:
            self.server.close()
            self.server = None


def metrics_endpoint(
    settings: Settings,
    keyring: Keyring,
    component: str,
    port: int,
    registry: CollectorRegistry,
) -> MetricsEndpoint | None:
    """`component`'s endpoint over `registry` on `settings.metrics_host` and `port`; None
    when `port` is 0 (turned off)."""
    if port == 0:
        return None
    host = settings.metrics_host

    def renew() -> ServerCertificate:
        return ensure_metrics_certificate(settings.data_dir, keyring, component, host=host)

    certificate = renew()
    tls = metrics_tls_context(certificate)
    # Renewed without a restart (ADR 18): handshakes run on the endpoint's threads, so each
    # new one is switched to a fresh context once the certificate is re-issued.
    CertificateFollower(
        tls, certificate.cert_file, lambda: metrics_tls_context(certificate), renew=renew
    )
    return MetricsEndpoint(
        component=component,
        registry=registry,
        host=host,
        port=port,
        tls=tls,
        token=ensure_token(settings.data_dir),
    )
