"""Joining the platform before a component starts on another host (ADR 33): read the token
file, settle which CA to trust, and join once; a data directory that already joined as the
role keeps its files (a token works once, restarts need none)."""

from __future__ import annotations

import re
import socket
from pathlib import Path

from citadel.join import host
from citadel.join.schemas import JoinRole
from citadel.roots.component import NotReady


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
    """This data directory's membership as `role`: the one it has, or a new one from the
    control plane at `url`. Raises `NotReady` saying what is missing or what went wrong."""
    joined = host.joined_host(data_dir, role)
    if joined is not None:
        return joined
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
