"""The gateway's server certificate: `*.<domain>`, `*.<region>.<domain>`, a project
application's `*.<app>.<region>.<domain>` (a wildcard covers one label), localhost.

Issued by the platform CA at first start (operators may pass their own certificate instead)
and renewed by the running gateway once a third of its 90 days is left (ADR 18). The key PEM
sits on disk encrypted with the keyring's TLS key password, as the API's does.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from citadel.crypto.barrier import Barrier
from citadel.gateway.routing import APM, ES, INGEST, KB
from citadel.pki.authority import ServerCertificate, ensure_server_certificate

PROJECT_APPS = (ES, KB, APM, INGEST)


def gateway_hostnames(domain: str, regions: list[str]) -> list[str]:
    """Names a client may use: any deployment or project application in any known region,
    and local access."""
    domain = domain.lower().strip(".")
    names = [f"*.{domain}"] + [f"*.{region.lower()}.{domain}" for region in regions]
    names += [f"*.{app}.{region.lower()}.{domain}" for region in regions for app in PROJECT_APPS]
    return list(dict.fromkeys([*names, "localhost", "127.0.0.1"]))


def ensure_gateway_certificate(
    pki_dir: Path,
    barrier: Barrier,
    key_password: bytes,
    hostnames: list[str],
    *,
    now: datetime | None = None,
) -> ServerCertificate:
    """Issue (or reissue for other names, or when due at `now`) the gateway's certificate."""
    return ensure_server_certificate(
        pki_dir, barrier, key_password, hostnames, stem="gateway-server", now=now
    )
