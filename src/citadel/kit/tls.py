"""Server TLS contexts that meet Mozilla's "intermediate" configuration (ADR 18), and loading
a renewed certificate into a context that is already serving.

Every listener of the platform (the public and internal APIs, the gateway, the metrics
endpoints, the nodes) builds its context here, so the policy lives in one place:

- TLS 1.2 and 1.3 only; the TLS 1.2 suites are intermediate's ECDHE ones (AES-GCM and
  ChaCha20-Poly1305, forward secret, AEAD). Intermediate's DHE suites are left out: no DH
  group is configured, so OpenSSL could not negotiate them anyway. TLS 1.3 keeps OpenSSL's
  three suites, which are intermediate's. The client picks among them (intermediate has no
  server preference); no compression, no renegotiation.
- Key exchange groups X25519, P-256 and P-384 only. Python 3.11's `ssl` can set one curve
  (`set_ecdh_curve`), not a list; `SSLContext.set_groups` (newer Pythons) is used when it
  exists, and otherwise OpenSSL's ``SSL_CTX_set1_groups_list`` is called through ctypes on the
  context's own ``SSL_CTX`` (found beside the Python object header, and checked against the
  context's options and verify mode before anything is written). If that check fails the
  context falls back to P-256 alone: still inside the policy, only less choice for clients.
- `reload_certificate` loads a new certificate and key into the same context object: new
  handshakes present it, connections already open keep theirs. The pair is first loaded into a
  scratch context, so a half-written or mismatched pair never reaches the live one.
  `CertificateFollower` instead switches each new handshake to a fresh context built from
  the files once they change on disk, for listeners whose handshakes run on several threads.
"""

from __future__ import annotations

import _ssl
import ctypes
import os
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path

GROUPS = ("X25519", "P-256", "P-384")
TLS12_CIPHERS = ":".join(
    [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ]
)
_SSL_CTRL_SET_GROUPS_LIST = 92  # OpenSSL's ssl.h; SSL_CTX_set1_groups_list is this ctrl
_FALLBACK_CURVE = "prime256v1"
# What OpenSSL's SSL_CTX_get_verify_mode reports for each of Python's verify modes.
_OPENSSL_VERIFY = {ssl.CERT_NONE: 0, ssl.CERT_OPTIONAL: 1, ssl.CERT_REQUIRED: 3}

PathLike = str | Path


def server_context(
    cert_file: PathLike,
    key_file: PathLike,
    password: bytes | None = None,
    *,
    client_ca: PathLike | None = None,
    alpn: tuple[str, ...] = (),
) -> ssl.SSLContext:
    """A server context with the intermediate policy presenting `cert_file`; with `client_ca`
    every client must present a certificate from that CA (mTLS)."""
    ctx = apply_intermediate(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    if client_ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile=str(client_ca))
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    ctx.load_cert_chain(str(cert_file), str(key_file), password=password)
    return ctx


def apply_intermediate(ctx: ssl.SSLContext) -> ssl.SSLContext:
    """Set the intermediate policy (versions, suites, groups, options) on `ctx`, whatever it
    had before; returns `ctx`."""
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.set_ciphers(TLS12_CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    set_groups(ctx, GROUPS)
    return ctx


def reload_certificate(
    ctx: ssl.SSLContext, cert_file: PathLike, key_file: PathLike, password: bytes | None = None
) -> None:
    """Present `cert_file` on every new handshake of `ctx` (open connections keep theirs).
    Raises `ssl.SSLError` or `OSError`, leaving `ctx` untouched, if the pair does not load."""
    trial = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    trial.load_cert_chain(str(cert_file), str(key_file), password=password)
    ctx.load_cert_chain(str(cert_file), str(key_file), password=password)


class CertificateFollower:
    """Serves the newest certificate on disk without touching a context in use, for a listener
    whose handshakes may run on several threads (a metrics endpoint) or in a process that does
    not issue its own certificate (a node: the allocator writes its renewed pair).

    It works inside handshakes, through `ctx`'s SNI callback (which OpenSSL calls with or
    without a server name): at most every `every_s` seconds, one handshake runs `renew` (which
    may re-issue the files) and, if the certificate file changed, `build` makes a fresh context
    with the same policy from the files. Every later handshake is switched to the newest
    context (`ssl_object.context`, what SNI callbacks are for), so no live context is ever
    modified. A pair that does not load (half-written) is retried at the next check."""

    def __init__(
        self,
        ctx: ssl.SSLContext,
        cert_file: PathLike,
        build: Callable[[], ssl.SSLContext],
        *,
        renew: Callable[[], object] | None = None,
        every_s: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cert_file, self.build, self.renew = Path(cert_file), build, renew
        self.every_s, self.monotonic = every_s, monotonic
        self.current = ctx
        self._stamp = self._stat()
        self._next = monotonic() + every_s
        self._checking = threading.Lock()
        ctx.sni_callback = self._on_handshake

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.cert_file)
        except OSError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def _on_handshake(
        self,
        ssl_object: ssl.SSLObject | ssl.SSLSocket,
        server_name: str | None,
        ctx: ssl.SSLContext,
    ) -> None:
        if self.monotonic() >= self._next and self._checking.acquire(blocking=False):
            try:
                self._next = self.monotonic() + self.every_s
                self._check()
            finally:
                self._checking.release()
        if self.current is not ctx:
            ssl_object.context = self.current

    def _check(self) -> None:
        try:
            if self.renew is not None:
                self.renew()
            stamp = self._stat()
            if stamp != self._stamp:
                self.current = self.build()
                self._stamp = stamp
        except (OSError, ValueError, ssl.SSLError):
            return  # half-written or unreadable: the next check tries again


def set_groups(ctx: ssl.SSLContext, groups: tuple[str, ...]) -> bool:
    """Limit `ctx`'s key exchange to `groups` (OpenSSL names); False when only the P-256
    fallback could be set."""
    native = getattr(ctx, "set_groups", None)
    if native is not None:  # Python 3.15+
        native(":".join(groups))
        return True
    handle = _ssl_ctx_pointer(ctx)
    if handle is not None and _LIBSSL is not None:
        answer = _LIBSSL.SSL_CTX_ctrl(
            handle, _SSL_CTRL_SET_GROUPS_LIST, 0, ":".join(groups).encode("ascii")
        )
        if answer == 1:
            return True
    ctx.set_ecdh_curve(_FALLBACK_CURVE)
    return False


def _load_libssl() -> ctypes.CDLL | None:
    # The `_ssl` extension's handle resolves the very libssl it is linked against.
    try:
        lib = ctypes.CDLL(_ssl.__file__)
        lib.SSL_CTX_ctrl.restype = ctypes.c_long
        lib.SSL_CTX_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_char_p]
        lib.SSL_CTX_get_options.restype = ctypes.c_uint64
        lib.SSL_CTX_get_options.argtypes = [ctypes.c_void_p]
        lib.SSL_CTX_get_verify_mode.restype = ctypes.c_int
        lib.SSL_CTX_get_verify_mode.argtypes = [ctypes.c_void_p]
    except (OSError, AttributeError, TypeError):
        return None
    return lib


_LIBSSL = _load_libssl()


def _ssl_ctx_pointer(ctx: ssl.SSLContext) -> int | None:
    """The ``SSL_CTX *`` of `ctx`: CPython's context object holds it right after the object
    header. Returned only when OpenSSL, asked through it, reports `ctx`'s own options and
    verify mode (checked twice, with two different option sets)."""
    if _LIBSSL is None:
        return None
    address = ctypes.c_void_p.from_address(id(ctx) + object.__basicsize__).value
    if not address:
        return None
    saved = ctx.options
    try:
        for flip in (ssl.OP_NO_TICKET, 0):
            ctx.options = saved ^ flip
            if _LIBSSL.SSL_CTX_get_options(address) != int(ctx.options):
                return None
        if _LIBSSL.SSL_CTX_get_verify_mode(address) != _OPENSSL_VERIFY[ctx.verify_mode]:
            return None
    finally:
        ctx.options = saved
    return int(address)
