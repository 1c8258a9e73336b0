"""A uvicorn server that treats SIGTERM as "finish and exit 0".

uvicorn re-raises the captured signal after its graceful shutdown, so a process stopped with
SIGTERM would report death by signal. Launchers (the allocator, systemd, tests) read a clean
stop as exit status 0; this server keeps the graceful shutdown and does not re-raise.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

import uvicorn


class GracefulServer(uvicorn.Server):
    """uvicorn.Server whose SIGTERM/SIGINT end the serve loop without re-raising."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {s: signal.signal(s, self.handle_exit) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
