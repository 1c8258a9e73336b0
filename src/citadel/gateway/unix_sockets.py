"""Reaching a node's unix socket: a path that fits `sun_path`, and whether it accepts.

A node listens on `<data-dir>/deployments/<id>/node.sock`; a data directory of more than a
few dozen characters makes that path longer than a unix socket address may be (107 bytes),
so a long one is reached through its directory's descriptor (`/proc/self/fd/N/node.sock`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Iterator


@contextlib.contextmanager
def short_socket_path(path: str) -> Iterator[str]:
    """A path to the same unix socket that fits sun_path (107 bytes), via the directory's fd."""
    if len(os.fsencode(path)) < 100:
        yield path
        return
    dir_fd = os.open(os.path.dirname(path), os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{dir_fd}/{os.path.basename(path)}"
    finally:
        os.close(dir_fd)


async def accepts(path: str) -> bool:
    """Whether something listens on the unix socket at `path`: one connect, closed at once
    (no TLS, no request). False when the socket is missing, refuses or is not a socket."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        with short_socket_path(path) as short:
            await loop.sock_connect(sock, short)
        return True
    except OSError:
        return False
    finally:
        sock.close()
