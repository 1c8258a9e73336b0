"""What the allocator and the gateway open first: the platform key, the keyring and the
component's client certificate for the internal API (ADR 9); on a host that joined the
platform (ADR 33), the certificate, CA and internal URL it joined with, and the platform key
when the host has one (no keyring: the CA key never leaves the control plane)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from citadel.config import Settings
from citadel.crypto.keyring import Keyring, open_keyring
from citadel.crypto.platform import has_platform_key, open_platform_key
from citadel.crypto.providers.base import KeyProvider
from citadel.join.host import JoinedHost, expired, joined_host
from citadel.join.schemas import JoinRole
from citadel.pki.components import ComponentCertificate, ensure_component_certificate


class NotReady(Exception):
    """The process cannot start yet (no platform key, no control plane, no sandbox); the
    message says why."""


@dataclass(frozen=True)
class ComponentKeys:
    """A component's keys, opened once for the whole process. A joined host has no keyring
    and, unless its operator configured one, no platform key; it has the internal URL."""

    platform_key: KeyProvider | None
    keyring: Keyring | None
    certificate: ComponentCertificate
    internal_url: str | None = None  # a joined host's; else the endpoints file says
    joined: JoinedHost | None = None  # what this host joined as (ADR 33)


def open_component_keys(settings: Settings, component: str) -> ComponentKeys:
    """On a host that joined as `component`, its joined certificate (and the platform key if
    configured); else open the existing platform key and keyring (the control plane creates
    them) and ensure `component`'s client certificate. Raises `NotReady` before the control
    plane's first start."""
    joined = joined_host(settings.data_dir, JoinRole(component))
    if joined is not None:
        if expired(joined, datetime.now(UTC)):
            raise NotReady(
                f"the certificate {component} joined with ({joined.cert_file}) has expired: "
                "join again with a new token (--join URL --join-token-file F)"
            )
        provider = open_platform_key(settings) if has_platform_key(settings) else None
        return ComponentKeys(provider, None, joined.certificate, joined.internal_url, joined)
    keyring_file = settings.data_dir / "keys" / "keyring.wrapped"
    if not has_platform_key(settings) or not keyring_file.exists():
        raise NotReady("the data directory has no platform key yet")
    provider = open_platform_key(settings)
    keyring = open_keyring(keyring_file, provider)
    certificate = ensure_component_certificate(settings.data_dir, keyring, component)
    return ComponentKeys(provider, keyring, certificate)


def wait_for_endpoints(data_dir: Path, wait: float) -> dict | None:
    """The control plane's ``run/endpoints.json`` once it names the internal API, or None
    after `wait` seconds (the allocator and gateway start beside `citadel up`)."""
    path = data_dir / "run" / "endpoints.json"
    deadline = time.monotonic() + wait
    while True:
        try:
            endpoints = json.loads(path.read_text())
            if endpoints.get("internal_url"):
                return endpoints
        except (OSError, ValueError):
            pass
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.2)
