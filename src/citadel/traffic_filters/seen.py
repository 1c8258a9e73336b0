"""What a gateway reports of a client (pure: the lockout guard's input, `lockout.judge`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SeenClient:
    """One client of one deployment, as a gateway saw it."""

    deployment_id: str
    client_ip: str
    endpoint_id: str | None
    last_seen: float
    connected: bool
