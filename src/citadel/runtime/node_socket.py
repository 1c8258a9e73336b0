"""Asking a running node for something over its socket, as the allocator reads its series
(`citadel.runtime.metrics`) and its audit events (`citadel.runtime.audit_shipping`).

One ``GET`` on the node's unix socket, mTLS with the allocator's certificate and the node's
per-start token, ``Connection: close``, within one deadline and at most a given size.
`send_to_node` does the same with a body (``POST``/``PUT``: the snapshot worker's job results
and catalog, `citadel.runtime.snapshot_worker`) and answers the status too.
"""

from __future__ import annotations

import ssl
import time
from pathlib import Path

from citadel.runtime.allocator import connect_unix

NODE_TOKEN_HEADER = "X-Citadel-Metrics-Token"  # noqa: S105 - a header name


def get_from_node(
    socket_path: Path,
    context: ssl.SSLContext,
    server_name: str,
    token: str,
    target: str,
    *,
    timeout: float,
    max_bytes: int,
) -> bytes | None:
    """The body of the node's answer to ``GET target``, or None when it does not answer 200
    within `timeout` or its answer is longer than `max_bytes`."""
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {server_name}\r\n"
        f"{NODE_TOKEN_HEADER}: {token}\r\nConnection: close\r\n\r\n"
    ).encode()
    answer = _exchange(socket_path, context, server_name, request, timeout, max_bytes)
    if answer is None or answer[0] != 200:
        return None
    return answer[1]


def send_to_node(
    socket_path: Path,
    context: ssl.SSLContext,
    server_name: str,
    token: str,
    method: str,
    target: str,
    body: bytes,
    *,
    timeout: float,
    max_bytes: int = 1024 * 1024,
) -> tuple[int, bytes] | None:
    """``method target`` with a JSON `body`: the node's status and answer, or None when it
    does not answer within `timeout` (or answers more than `max_bytes`)."""
    head = (
        f"{method} {target} HTTP/1.1\r\nHost: {server_name}\r\n"
        f"{NODE_TOKEN_HEADER}: {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    return _exchange(socket_path, context, server_name, head + body, timeout, max_bytes)


def _exchange(
    socket_path: Path,
    context: ssl.SSLContext,
    server_name: str,
    request: bytes,
    timeout: float,
    max_bytes: int,
) -> tuple[int, bytes] | None:
    """Send `request` and read the whole answer (the node closes the connection): its status
    and body, or None past the deadline, past `max_bytes` or on a broken connection."""
    deadline = time.monotonic() + timeout
    data = bytearray()
    try:
        with (
            connect_unix(socket_path, timeout) as raw,
            context.wrap_socket(raw, server_hostname=server_name) as tls,
        ):
            tls.sendall(request)
            while len(data) <= max_bytes:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                tls.settimeout(left)
                chunk = tls.recv(65536)
                if not chunk:
                    break
                data += chunk
            else:
                return None
    except (OSError, ssl.SSLError):
        return None
    status_line, _, rest = bytes(data).partition(b"\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        return None
    return int(parts[1]), rest.partition(b"\r\n\r\n")[2]
