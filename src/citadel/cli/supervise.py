"""`citadel up` runs the allocator and the gateway as child processes and keeps them up.

A child that exits while Citadel runs is started again after a pause that doubles from one
second to thirty. On the way out every child gets SIGTERM, then SIGKILL after ten seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from citadel.log import get_logger

log = get_logger(__name__)

CITADEL = str(Path(sys.executable).parent / "citadel")


@dataclass
class Child:
    """One supervised command."""

    name: str
    args: list[str]
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    stopping: bool = field(default=False)

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(CITADEL, *self.args)
        log.info("child.started", child=self.name, pid=self.process.pid)

    async def keep_running(self) -> None:
        """Restart the child whenever it exits, until `stop`."""
        delay = 1.0
        while not self.stopping:
            await self.start()
            assert self.process is not None
            status = await self.process.wait()
            if self.stopping:
                return
            self.restarts += 1
            log.warning("child.exited", child=self.name, status=status, restart_in_s=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def stop(self) -> None:
        self.stopping = True
        if self.process is None or self.process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), timeout=10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()


def runtime_children(
    data_dir: Path,
    *,
    host: str,
    gateway_port: int,
    domain: str,
    regions: Sequence[str],
    log_level: str = "info",
) -> list[Child]:
    """The allocator and the gateway of one machine (its certificate names every region),
    logging at `log_level` like the control plane."""
    data = ["--data-dir", str(data_dir), "--log-level", log_level]
    gateway = ["gateway", *data, "--host", host, "--port", str(gateway_port), "--domain", domain]
    for region in regions:
        gateway += ["--region", region]
    allocator = ["allocator", *data, "--allocator-id", "local", "--zone", "local"]  # ADR 31
    return [Child("allocator", allocator), Child("gateway", gateway)]
