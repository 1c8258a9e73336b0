"""The allocator's heartbeat (ADR 31): every few seconds, on a thread of its own, it tells the
control plane its id, where its nodes are reached, its zone and its memory. The control plane
places deployments on allocators that keep doing so and, when one stops for
``allocator_unhealthy_after_s``, brings its deployments back elsewhere.

The heartbeat has its own internal-API client (one HTTP connection per thread); a slow
reconcile pass never delays a heartbeat, and a control plane that does not answer is logged
once, not at every beat.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from pathlib import Path

from citadel.contract.client import ControlPlane, ControlPlaneUnavailable
from citadel.contract.messages import AllocatorHeartbeat
from citadel.log import get_logger

log = get_logger(__name__)

HEARTBEAT_S = 5.0
"""The most time between two heartbeats (less when the unhealthy interval is short)."""
LOCAL_ALLOCATOR = "local"
"""The id and zone of the allocator `citadel up` runs beside the control plane."""


@dataclass(frozen=True)
class AllocatorIdentity:
    """What this allocator says of itself: its id, where its nodes are reached, its zone and
    its memory for nodes (MB)."""

    allocator_id: str
    address: str
    zone: str
    capacity_mb: int

    def message(self) -> AllocatorHeartbeat:
        return AllocatorHeartbeat(
            address=self.address, zone=self.zone, capacity_mb=self.capacity_mb
        )


def machine_memory_mb(meminfo: Path = Path("/proc/meminfo")) -> int:
    """The machine's memory in MB (``MemTotal`` of /proc/meminfo; 0 when unreadable)."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def default_allocator_id() -> str:
    """This host's name (the default allocator id), cut to the 64 characters an id may have."""
    return socket.gethostname().split(".")[0][:64] or LOCAL_ALLOCATOR


def interval_for(unhealthy_after_s: float) -> float:
    """Beat often enough that two lost heartbeats never make a healthy allocator unhealthy."""
    return max(0.2, min(HEARTBEAT_S, unhealthy_after_s / 3))


class Heartbeat:
    """Sends this allocator's heartbeat every `interval_s` seconds."""

    def __init__(
        self, control_plane: ControlPlane, identity: AllocatorIdentity, *, interval_s: float
    ) -> None:
        self.control_plane = control_plane
        self.identity = identity
        self.interval_s = interval_s
        self.sent = 0
        self._answered: bool | None = None  # logged on change only

    def beat(self) -> bool:
        """Send one heartbeat; False when the control plane did not take it."""
        try:
            self.control_plane.heartbeat(self.identity.allocator_id, self.identity.message())
        except ControlPlaneUnavailable as exc:
            if self._answered is not False:
                log.warning("allocator.heartbeat_failed", error=str(exc))
            self._answered = False
            return False
        if self._answered is not True:
            log.info(
                "allocator.heartbeat",
                allocator_id=self.identity.allocator_id,
                zone=self.identity.zone,
                address=self.identity.address,
                capacity_mb=self.identity.capacity_mb,
            )
        self._answered = True
        self.sent += 1
        return True

    def run(self, stop: threading.Event) -> None:
        """Beat until `stop` is set, then close the client."""
        try:
            while not stop.is_set():
                self.beat()
                stop.wait(self.interval_s)
        finally:
            self.control_plane.close()

    def start(self, stop: threading.Event) -> threading.Thread:
        """Run on a daemon thread of its own."""
        thread = threading.Thread(target=self.run, args=(stop,), name="heartbeat", daemon=True)
        thread.start()
        return thread
