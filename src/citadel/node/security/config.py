"""The platform's security settings for this node: the file the allocator writes (issue 18).

The allocator writes the deployment's `NodeSecurity` as JSON to ``/run/citadel/security.json``
(0600, the node's uid) before the node starts, and replaces it atomically (a rename) whenever
the control plane changes it; the node is not restarted. `SecurityConfig.current` looks at the
file at most once a `CHECK_INTERVAL_S` and parses it again only when its mtime, size or inode
changed, so a request pays a clock read, not a ``stat``. A file that cannot be read or parsed
keeps the last good settings and logs ``node.security_config_invalid`` (the file carries
secrets, so neither its content nor the parse error's input is logged). Without a file (no
``--security-file``, none written yet, or one removed because the platform has no settings)
the node's security is the empty `NodeSecurity`: the native and reserved realms only, as
before.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import structlog
from pydantic import ValidationError

from citadel.contract.messages import NodeSecurity

log = structlog.get_logger(__name__)

CHECK_INTERVAL_S = 1.0
MAX_FILE_BYTES = 4 * 1024 * 1024
EMPTY = NodeSecurity()


class SecurityConfig:
    """The node's current `NodeSecurity`, followed from `path` (None: no file, ever)."""

    def __init__(
        self, path: Path | None, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.path = path
        self._monotonic = monotonic
        self._lock = threading.RLock()  # a listener may ask for `current`
        self._current = EMPTY
        self._seen: tuple[int, int, int] | None = None  # (mtime_ns, size, inode) last parsed
        self._next_check = float("-inf")
        self._listeners: list[Callable[[NodeSecurity], None]] = []
        if path is not None:
            self._check()

    def current(self) -> NodeSecurity:
        """The settings in force (the file re-read when it changed, checked at most once a
        second)."""
        if self.path is not None and self._monotonic() >= self._next_check:
            with self._lock:
                if self._monotonic() >= self._next_check:
                    self._check()
        return self._current

    def reload(self) -> NodeSecurity:
        """Look at the file now rather than within the second (tests; a signal handler)."""
        if self.path is not None:
            with self._lock:
                self._check()
        return self._current

    def on_change(self, listener: Callable[[NodeSecurity], None]) -> None:
        """Call `listener` with the new settings each time a changed file is taken."""
        self._listeners.append(listener)

    def _check(self) -> None:
        self._next_check = self._monotonic() + CHECK_INTERVAL_S
        assert self.path is not None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if self._seen is not None:  # removed: the platform has no settings any more
                self._seen = None
                self._take(EMPTY)
            return
        except OSError as exc:
            log.warning("node.security_config_invalid", reason=type(exc).__name__)
            return
        seen = (st.st_mtime_ns, st.st_size, st.st_ino)
        if seen == self._seen:
            return
        self._seen = seen
        try:
            parsed = read_security_file(self.path)
        except ValueError as exc:  # its messages name fields, never values
            log.warning("node.security_config_invalid", reason=str(exc))
            return
        except OSError as exc:
            log.warning("node.security_config_invalid", reason=type(exc).__name__)
            return
        self._take(parsed)

    def _take(self, parsed: NodeSecurity) -> None:
        if parsed == self._current:
            return
        self._current = parsed
        log.info(
            "node.security_config_loaded",
            jwt=parsed.jwt is not None,
            saml=len(parsed.saml),
            oidc=len(parsed.oidc),
            audit=parsed.audit.enabled,
        )
        for listener in self._listeners:
            listener(parsed)


def read_security_file(path: Path) -> NodeSecurity:
    """Parse the file; `ValueError` (without the file's content) when it is not a
    `NodeSecurity`."""
    with open(path, "rb") as f:
        raw = f.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise ValueError(f"the security file is over {MAX_FILE_BYTES} bytes")
    try:
        return NodeSecurity.model_validate(json.loads(raw))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError("the security file is not JSON") from None
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
        raise ValueError(f"the security file does not match NodeSecurity: {fields}") from None
