"""Joining the platform before a component starts on another host (ADR 33): read the token
file, settle which CA to trust, and join once; a data directory that already joined as the
role keeps its files (a token works once, restarts need none). While it runs, a joined
component renews its certificate through the internal API (`joined_renewal`)."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from citadel.contract.client import ControlPlane, ControlPlaneUnavailable
from citadel.join import host
from citadel.join.schemas import JoinRole
from citadel.log import get_logger
from citadel.pki.components import ComponentCertificate
from citadel.pki.renewal import CertificatePair
from citadel.roots.component import NotReady

log = get_logger(__name__)


def default_name(role: JoinRole) -> str:
    """``<role>-<short host name>``, as a component name (lowercase, at most 32 characters)."""
    short = re.sub(r"[^a-z0-9-]+", "-", socket.gethostname().split(".")[0].lower()).strip("-")
    return f"{role.value}-{short}"[:32].rstrip("-") if short else role.value


def join_once(
    data_dir: Path,
    role: JoinRole,
    *,
    url: str,
    token_file: Path | None,
    ca_file: Path | None,
    ca_sha256: str | None,
    name: str | None,
    hostnames: tuple[str, ...] = (),
) -> host.JoinedHost:
    """This data directory's membership as `role`: the one it has, or (none, or its
    certificate expired) a new one from the control plane at `url`. Raises `NotReady` saying
    what is missing or what went wrong."""
    joined = host.joined_host(data_dir, role)
    if joined is not None and not host.expired(joined, datetime.now(UTC)):
        return joined  # an expired one is replaced by joining again
    if token_file is None:
        raise NotReady(
            "--join needs --join-token-file (the token `citadel platform join-token` printed)"
        )
    if (ca_file is None) == (ca_sha256 is None):
        raise NotReady(
            "--join needs exactly one of --ca-file and --ca-sha256 to trust the control plane"
        )
    try:
        token = token_file.read_text().strip()
        ca_pem = ca_file.read_bytes() if ca_file is not None else None
    except OSError as exc:
        raise NotReady(f"cannot read {exc.filename}: {exc.strerror}") from None
    try:
        if ca_pem is None:
            assert ca_sha256 is not None
            ca_pem = host.pinned_ca(url, ca_sha256)
        return host.join(
            data_dir,
            url,
            token,
            role=role,
            name=name or default_name(role),
            ca_pem=ca_pem,
            hostnames=hostnames,
        )
    except host.JoinFailed as exc:
        raise NotReady(str(exc)) from None


def joined_renewal(
    joined: host.JoinedHost,
    control_plane: ControlPlane,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Callable[[], ComponentCertificate]:
    """The `ensure` of a joined component's `CertificateRenewer` (ADR 18): when due, a new
    key here and its certificate from ``POST /internal/v1/components/certificate``; a
    control plane that does not answer leaves the current one, for the next check."""

    def ensure() -> ComponentCertificate:
        if host.renewal_due(joined, now()):
            try:
                host.renew(joined, lambda csr: _signed(control_plane, csr))
            except (ControlPlaneUnavailable, host.JoinFailed) as exc:
                log.warning("join.renewal_failed", role=joined.role.value, error=str(exc))
            else:
                log.info("join.certificate_renewed", role=joined.role.value, name=joined.name)
        return joined.certificate

    return ensure


def _signed(control_plane: ControlPlane, csr: bytes) -> tuple[str, str]:
    answer = control_plane.component_certificate(csr)
    return answer.certificate, answer.ca


def joined_gateway_server(
    joined: host.JoinedHost,
    control_plane: ControlPlane,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Callable[[], CertificatePair]:
    """The `ensure` of a joined gateway's listener certificate: obtained (and, when due,
    renewed) from ``POST /internal/v1/gateway/server-certificate`` with a key made here; a
    control plane that does not answer leaves the one on disk, for the next check."""

    def ensure() -> CertificatePair:
        if host.server_certificate_due(joined, now()):
            try:
                host.obtain_server_certificate(
                    joined, lambda csr: _server_signed(control_plane, csr)
                )
            except (ControlPlaneUnavailable, host.JoinFailed) as exc:
                log.warning("join.server_certificate_failed", error=str(exc))
            else:
                log.info("join.server_certificate_issued", name=joined.name)
        cert_file, key_file = host.server_files(joined)
        return CertificatePair(cert_file, key_file, b"")

    return ensure


def _server_signed(control_plane: ControlPlane, csr: bytes) -> tuple[str, str]:
    answer = control_plane.gateway_server_certificate(csr)
    return answer.certificate, answer.ca
