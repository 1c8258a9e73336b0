"""The allocator process's composition root: settings in, a ready `Allocator` out."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from citadel.config import Settings
from citadel.contract.client import ComponentTls, ControlPlane
from citadel.roots.component import NotReady, open_component_keys, wait_for_endpoints
from citadel.runtime.allocator import Allocator
from citadel.runtime.sandbox import BubblewrapSandbox


@dataclass(frozen=True)
class AllocatorProcess:
    """The allocator's parts: its internal-API client and the reconcile loop."""

    internal_url: str
    control_plane: ControlPlane
    allocator: Allocator

    def run(self, stop: threading.Event, *, interval: float) -> None:
        """Reconcile until `stop` is set; then stop every node and close the client."""
        try:
            self.allocator.run(stop, interval=interval)
        finally:
            self.control_plane.close()


def build(
    settings: Settings, *, wait_s: float, key_check_interval_s: float | None = None
) -> AllocatorProcess:
    """Check the sandbox, find the control plane (waiting up to `wait_s`), open the keys once
    and wire the allocator. Raises `NotReady` saying what is missing."""
    reason = BubblewrapSandbox.available()
    if reason is not None:
        raise NotReady(f"cannot sandbox nodes: {reason}")
    endpoints = wait_for_endpoints(settings.data_dir, wait_s)
    if endpoints is None:
        raise NotReady(f"no internal_url in {settings.data_dir}/run/endpoints.json")
    keys = open_component_keys(settings, "allocator")
    cert = keys.certificate
    tls = ComponentTls(cert.ca_file, cert.cert_file, cert.key_file, cert.key_password)
    control_plane = ControlPlane(endpoints["internal_url"], tls)
    allocator = Allocator(
        data_dir=settings.data_dir,
        control_plane=control_plane,
        key_provider=keys.platform_key,
        sandbox=BubblewrapSandbox(),
        client_tls=tls,
        key_check_interval_s=key_check_interval_s or settings.key_check_interval_s,
    )
    return AllocatorProcess(endpoints["internal_url"], control_plane, allocator)
