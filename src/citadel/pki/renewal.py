"""Keeping a serving process's certificate current without a restart (ADR 18).

A `CertificateRenewer` belongs to one certificate and the live server contexts that present
it. Each `check()` asks its `ensure` function for the certificate (which re-issues it when it
is missing, names other hosts or is due, `citadel.pki.authority.renewal_due`) and, when the
file on disk is not the one the contexts hold, loads it into each of them
(`citadel.kit.tls.reload_certificate`): new handshakes present the new certificate, open
connections keep theirs. `run()` checks every `interval_s` seconds on the event loop that
serves the contexts, so a reload never races a handshake.

A process that only follows a certificate another one renews (a gateway worker beside worker
0, a certificate the operator supplies) passes an `ensure` that issues nothing: the renewer
then reloads whatever appears on disk. A pair caught half-written (new key, old certificate)
does not load and is retried at the next check.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from citadel.kit.tls import reload_certificate
from citadel.log import get_logger

log = get_logger(__name__)
CHECK_INTERVAL_S = 3600.0  # a 90-day certificate is renewed 30 days before it expires


class CertificateFiles(Protocol):
    """A certificate and key file pair, and the key file's password (`ServerCertificate`,
    `ComponentCertificate`)."""

    @property
    def cert_file(self) -> Path: ...

    @property
    def key_file(self) -> Path: ...

    @property
    def key_password(self) -> bytes | None: ...


@dataclass(frozen=True)
class CertificatePair:
    """A certificate and key file pair from elsewhere (an operator's own certificate)."""

    cert_file: Path
    key_file: Path
    key_password: bytes | None = None


class CertificateRenewer:
    """Re-issues one certificate when due and loads it into live server contexts."""

    def __init__(
        self,
        name: str,
        ensure: Callable[[], CertificateFiles],
        contexts: Sequence[ssl.SSLContext],
        loaded: CertificateFiles | str,
        *,
        interval_s: float = CHECK_INTERVAL_S,
    ) -> None:
        """`loaded` is the pair `contexts` were built from, or its `fingerprint` taken then
        (a renewer made later, in a forked worker, must not read a newer file as loaded)."""
        self.name = name
        self.ensure = ensure
        self.contexts = list(contexts)
        self.interval_s = interval_s
        self._loaded = loaded if isinstance(loaded, str) else fingerprint(loaded)
        self._next = time.monotonic() + interval_s

    def check(self) -> bool:
        """Renew if due and load a changed certificate; True when the contexts now present a
        new one. A failure is logged and left for the next check."""
        try:
            files = self.ensure()
            current = fingerprint(files)
            if current == self._loaded:
                return False
            for ctx in self.contexts:
                reload_certificate(ctx, files.cert_file, files.key_file, files.key_password)
        except (OSError, ValueError, ssl.SSLError) as exc:
            log.warning("tls.certificate_reload_failed", certificate=self.name, error=str(exc))
            return False
        self._loaded = current
        log.info("tls.certificate_reloaded", certificate=self.name, sha256=current)
        return True

    def poll(self) -> bool:
        """`check()` once `interval_s` has passed since the last poll, for a loop that is not
        asyncio (the allocator's, on the thread that uses the contexts)."""
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + self.interval_s
        return self.check()

    async def run(self) -> None:
        """Check every `interval_s` until cancelled."""
        while True:
            await asyncio.sleep(self.interval_s)
            self.check()


def fingerprint(files: CertificateFiles) -> str:
    """SHA-256 of the certificate file as it is on disk now."""
    return hashlib.sha256(files.cert_file.read_bytes()).hexdigest()
