"""The KMIP provider: a customer's AES key on a KMIP 1.2 server, reached over mutual TLS.

Key path: ``kmip://<host>[:<port>]/<uid>`` (host: a DNS name or an IPv4 address; port 5696 by
default). Connection: settings ``ca_pem`` (the CA that signed the server's certificate) and
``cert_pem`` (the platform's client certificate); the secret is the client's private key, PEM.

Wrapping is envelope encryption, because a KMIP 1.2 client cannot send authenticated data: a
fresh one-time 32-byte key ``k`` is encrypted on the server under the customer key
(AES-CBC-PKCS5, random IV), and the plaintext is sealed locally with AES-256-GCM under ``k``
with the context as AAD. Wrapped format::

    b"kmip1" | len(uid) (1) | uid | iv (16) | len(enc_k) (2) | enc_k | nonce (12) | ct || tag

Versions: re-keying on KMIP makes a new key with a new uid, so a key's version is its uid. A
wrapped value names the uid that wrapped it and is unwrapped with that uid, so values wrapped
before a re-key stay readable (while the old key is active) until they are re-wrapped.

Every call opens one TLS connection to an address the connection's `EndpointPolicy` checked
(the name resolved once; the server's name or IP is checked against its certificate) and is
bounded by ``connection.timeout_s``: each socket operation times out, and the whole call runs
in a worker thread that is abandoned at the deadline.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import ssl
import tempfile
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from citadel.crypto.providers.base import (
    InvalidKeyPath,
    KeyDescription,
    KeyUnavailable,
    ProviderError,
    ProviderUnreachable,
    Reason,
)
from citadel.crypto.providers.connection import Connection

with warnings.catch_warnings():  # PyKMIP is unmaintained and warns about its dependencies
    warnings.simplefilter("ignore")
    from kmip import enums
    from kmip.pie.client import ProxyKmipClient
    from kmip.pie.exceptions import KmipOperationFailure

T = TypeVar("T")

_MAGIC = b"kmip1"
_DEFAULT_PORT = 5696
_IV_LEN = 16
_NONCE_LEN = 12
_PATH = re.compile(
    r"kmip://(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)"
    r"(?::(?P<port>[0-9]{1,5}))?/(?P<uid>[A-Za-z0-9._:~-]{1,255})"
)
_CBC = {
    "cryptographic_algorithm": enums.CryptographicAlgorithm.AES,
    "block_cipher_mode": enums.BlockCipherMode.CBC,
    "padding_method": enums.PaddingMethod.PKCS5,
}
_ATTRIBUTES = [
    "Object Type",
    "State",
    "Cryptographic Algorithm",
    "Cryptographic Length",
    "Cryptographic Usage Mask",
]
_DISABLED_STATES = {
    enums.State.PRE_ACTIVE,
    enums.State.DEACTIVATED,
    enums.State.COMPROMISED,
}
_DESTROYED_STATES = {enums.State.DESTROYED, enums.State.DESTROYED_COMPROMISED}
_NEEDED_USAGE = {enums.CryptographicUsageMask.ENCRYPT, enums.CryptographicUsageMask.DECRYPT}
# TLS alerts a server sends when it refuses the client's certificate.
_REFUSED_ALERTS = {
    "SSLV3_ALERT_BAD_CERTIFICATE",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED",
    "SSLV3_ALERT_CERTIFICATE_REVOKED",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
    "TLSV1_ALERT_ACCESS_DENIED",
    "TLSV1_ALERT_UNKNOWN_CA",
    "TLSV13_ALERT_CERTIFICATE_REQUIRED",
}


@dataclass(frozen=True)
class KmipKeyPath:
    """A parsed ``kmip://host:port/uid``."""

    host: str
    port: int
    uid: str


def parse_key_path(key_path: str) -> KmipKeyPath:
    """Parse a KMIP key path, or raise `InvalidKeyPath`."""
    m = _PATH.fullmatch(key_path)
    if m is None:
        raise InvalidKeyPath("a KMIP key path is kmip://<host>[:<port>]/<uid>")
    port = int(m["port"]) if m["port"] else _DEFAULT_PORT
    if not 0 < port < 65536:
        raise InvalidKeyPath("the KMIP port is out of range")
    return KmipKeyPath(host=m["host"], port=port, uid=m["uid"])


class KmipProvider:
    """A customer key held by a KMIP server; the platform authenticates with a certificate."""

    def __init__(self, key_path: str, connection: Connection) -> None:
        self._key_path = key_path
        self._path = parse_key_path(key_path)
        self._timeout_s = connection.timeout_s
        self._tls = _tls_context(connection)
        self._endpoints = connection.endpoints

    def wrap(self, plaintext: bytes, *, context: bytes) -> bytes:
        """Seal `plaintext` under a one-time key that the KMIP key encrypts."""
        uid = self._path.uid
        k = os.urandom(32)
        iv = os.urandom(_IV_LEN)

        def encrypt(client: ProxyKmipClient) -> bytes:
            try:
                enc_k, _ = client.encrypt(
                    k, uid=uid, cryptographic_parameters=_CBC, iv_counter_nonce=iv
                )
            except KmipOperationFailure as exc:
                raise _refusal(client, uid, exc) from exc
            return bytes(enc_k)

        enc_k = self._call(encrypt)
        nonce = os.urandom(_NONCE_LEN)
        sealed = AESGCM(k).encrypt(nonce, plaintext, context)
        uid_bytes = uid.encode()
        return b"".join(
            [
                _MAGIC,
                len(uid_bytes).to_bytes(1, "big"),
                uid_bytes,
                iv,
                len(enc_k).to_bytes(2, "big"),
                enc_k,
                nonce,
                sealed,
            ]
        )

    def unwrap(self, wrapped: bytes, *, context: bytes) -> bytes:
        """Open what `wrap` produced, with the key (uid) that wrapped it and the same context."""
        blob = _Blob.parse(wrapped)

        def decrypt(client: ProxyKmipClient) -> bytes:
            try:
                return bytes(
                    client.decrypt(
                        blob.enc_k,
                        uid=blob.uid,
                        cryptographic_parameters=_CBC,
                        iv_counter_nonce=blob.iv,
                    )
                )
            except KmipOperationFailure as exc:
                raise _refusal(client, blob.uid, exc, decrypting=True) from exc

        k = self._call(decrypt)
        if len(k) != 32:
            raise KeyUnavailable("the wrapped value was altered", Reason.WRONG_CONTEXT)
        try:
            return AESGCM(k).decrypt(blob.nonce, blob.sealed, context)
        except InvalidTag as exc:
            raise KeyUnavailable("wrong context or altered data", Reason.WRONG_CONTEXT) from exc

    def describe(self) -> KeyDescription:
        """The key's state; its version is its uid. A key of the wrong kind raises."""
        uid = self._path.uid

        def attributes(client: ProxyKmipClient) -> dict[str, Any]:
            try:
                return _attributes(client, uid)
            except KmipOperationFailure as exc:
                raise _lookup_failure(uid, exc) from exc

        attrs = self._call(attributes)
        problem = _type_problem(attrs) or _destroyed(attrs)
        if problem is not None:
            raise problem
        return KeyDescription(
            key_path=self._key_path,
            enabled=attrs.get("State") == enums.State.ACTIVE,
            version=uid,
        )

    def version_of(self, wrapped: bytes) -> str:
        """The uid of the key that wrapped this value."""
        return _Blob.parse(wrapped).uid

    def _call(self, operation: Callable[[ProxyKmipClient], T]) -> T:
        """Run `operation` on a fresh connection, within the deadline; translate failures."""
        results: list[T] = []
        errors: list[Exception] = []

        def run() -> None:
            try:
                client = self._client()
                client.open()
                try:
                    results.append(operation(client))
                finally:
                    _close_quietly(client)
            except Exception as exc:  # re-raised in the caller's thread
                errors.append(exc)

        worker = threading.Thread(target=run, name="kmip-call", daemon=True)
        worker.start()
        worker.join(self._timeout_s)
        if errors:
            raise _translate(errors[0]) from errors[0]
        if not results:
            raise ProviderUnreachable("the KMIP server did not answer in time")
        return results[0]

    def _client(self) -> ProxyKmipClient:
        host, port = self._path.host, self._path.port
        # Resolved once and every address checked; PyKMIP then connects to those addresses
        # (in order), never to the name, while TLS verifies the certificate against the name.
        addresses = [sockaddr[0] for _, sockaddr in self._endpoints.resolve(host, port)]
        client = ProxyKmipClient(
            hostname=addresses[0],
            port=port,
            config_file="/dev/null",
            kmip_version=enums.KMIPVersion.KMIP_1_2,
        )
        proxy = client.proxy
        proxy.host_list = addresses
        tls, timeout_s = self._tls, self._timeout_s

        def create_socket(given: socket.socket) -> None:
            # Replaces PyKMIP's own, which checks no host name and has no useful timeout; and
            # its socket is IPv4 only.
            given.close()
            family = socket.AF_INET6 if ":" in proxy.host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.settimeout(timeout_s)
            proxy.socket = tls.wrap_socket(sock, server_hostname=host)

        proxy._create_socket = create_socket
        return client


@dataclass(frozen=True)
class _Blob:
    uid: str
    iv: bytes
    enc_k: bytes
    nonce: bytes
    sealed: bytes

    @classmethod
    def parse(cls, wrapped: bytes) -> _Blob:
        try:
            if wrapped[: len(_MAGIC)] != _MAGIC:
                raise ValueError("magic")
            at = len(_MAGIC)
            uid_len = wrapped[at]
            at += 1
            uid = wrapped[at : at + uid_len].decode("ascii")
            at += uid_len
            iv = wrapped[at : at + _IV_LEN]
            at += _IV_LEN
            enc_len = int.from_bytes(wrapped[at : at + 2], "big")
            at += 2
            enc_k = wrapped[at : at + enc_len]
            at += enc_len
            nonce = wrapped[at : at + _NONCE_LEN]
            at += _NONCE_LEN
            sealed = wrapped[at:]
            if not uid or len(iv) != _IV_LEN or len(enc_k) != enc_len or len(sealed) < 16:
                raise ValueError("truncated")
        except (ValueError, IndexError) as exc:
            raise KeyUnavailable("not a value wrapped by KMIP", Reason.WRONG_CONTEXT) from exc
        return cls(uid=uid, iv=iv, enc_k=enc_k, nonce=nonce, sealed=sealed)


def _tls_context(connection: Connection) -> ssl.SSLContext:
    """A client TLS context from the connection's PEMs (the key touches the disk briefly)."""
    ca_pem = connection.settings.get("ca_pem")
    cert_pem = connection.settings.get("cert_pem")
    if not ca_pem or not cert_pem or not connection.secret:
        raise InvalidKeyPath("KMIP needs ca_pem, cert_pem and the client key")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    # ssl loads a certificate chain only from files: a private directory, removed at once.
    workdir = Path(tempfile.mkdtemp(prefix="citadel-kmip-"))
    try:
        cert_file, key_file = workdir / "client.crt", workdir / "client.key"
        _write_private(cert_file, cert_pem.encode())
        _write_private(key_file, connection.secret)
        ctx.load_verify_locations(cadata=ca_pem)
        ctx.load_cert_chain(cert_file, key_file, password=b"")
    except (ssl.SSLError, ValueError) as exc:
        raise InvalidKeyPath("the KMIP CA, certificate or key is unreadable") from exc
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return ctx


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _close_quietly(client: ProxyKmipClient) -> None:
    # The answer is already in hand; a failing close changes nothing.
    with contextlib.suppress(Exception):
        client.close()


def _attributes(client: ProxyKmipClient, uid: str) -> dict[str, Any]:
    _, attrs = client.get_attributes(uid, list(_ATTRIBUTES))
    return {a.attribute_name.value: a.attribute_value.value for a in attrs}


def _type_problem(attrs: dict[str, Any]) -> KeyUnavailable | None:
    if attrs.get("Object Type") != enums.ObjectType.SYMMETRIC_KEY:
        return KeyUnavailable("the KMIP object is not a symmetric key", Reason.WRONG_KEY_TYPE)
    if attrs.get("Cryptographic Algorithm") != enums.CryptographicAlgorithm.AES:
        return KeyUnavailable("the KMIP key is not an AES key", Reason.WRONG_KEY_TYPE)
    usage = _usage(attrs.get("Cryptographic Usage Mask"))
    if usage is not None and not usage >= _NEEDED_USAGE:
        return KeyUnavailable("the KMIP key may not encrypt and decrypt", Reason.WRONG_KEY_TYPE)
    return None


def _usage(mask: int | None) -> set[enums.CryptographicUsageMask] | None:
    if mask is None:
        return None
    return {m for m in enums.CryptographicUsageMask if mask & m.value}


def _destroyed(attrs: dict[str, Any]) -> KeyUnavailable | None:
    if attrs.get("State") in _DESTROYED_STATES:
        return KeyUnavailable("the KMIP key was destroyed", Reason.DESTROYED)
    return None


def _lookup_failure(uid: str, exc: KmipOperationFailure) -> ProviderError:
    if exc.reason == enums.ResultReason.ITEM_NOT_FOUND:
        return KeyUnavailable(f"no KMIP key {uid}", Reason.UNKNOWN_KEY)
    if exc.reason == enums.ResultReason.PERMISSION_DENIED:
        return KeyUnavailable(f"access to KMIP key {uid} denied", Reason.ACCESS_DENIED)
    return ProviderUnreachable(f"the KMIP server failed: {exc.reason.name}")


def _refusal(
    client: ProxyKmipClient, uid: str, exc: KmipOperationFailure, *, decrypting: bool = False
) -> ProviderError:
    """Why the server refused to use the key: asks it for the key's kind and state."""
    if exc.reason == enums.ResultReason.ITEM_NOT_FOUND:
        return KeyUnavailable(f"no KMIP key {uid}", Reason.UNKNOWN_KEY)
    try:
        attrs = _attributes(client, uid)
    except KmipOperationFailure as lookup:
        return _lookup_failure(uid, lookup)
    problem = _type_problem(attrs) or _destroyed(attrs)
    if problem is not None:
        return problem
    if attrs.get("State") in _DISABLED_STATES:
        return KeyUnavailable(f"KMIP key {uid} is not active", Reason.DISABLED)
    if exc.reason in (
        enums.ResultReason.PERMISSION_DENIED,
        enums.ResultReason.WRONG_KEY_LIFECYCLE_STATE,
    ):
        return KeyUnavailable(f"access to KMIP key {uid} denied", Reason.ACCESS_DENIED)
    if decrypting and exc.reason in (
        enums.ResultReason.CRYPTOGRAPHIC_FAILURE,
        enums.ResultReason.GENERAL_FAILURE,
    ):
        # The key is active and fit for decryption, so the server choked on our data: the
        # one-time key's ciphertext was altered (its padding no longer checks out).
        return KeyUnavailable("the wrapped value was altered", Reason.WRONG_CONTEXT)
    return ProviderUnreachable(f"the KMIP server failed: {exc.reason.name}")


def _translate(exc: BaseException) -> ProviderError:
    """A failure of a call, as the provider errors say what to do about it."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, ssl.SSLCertVerificationError):
        # Not the server we trust (or a misconfigured CA): we never reached the key.
        return ProviderUnreachable("the KMIP server's certificate does not verify")
    if isinstance(exc, ssl.SSLError) and exc.reason in _REFUSED_ALERTS:
        return KeyUnavailable("the KMIP server refused our certificate", Reason.ACCESS_DENIED)
    if isinstance(exc, KmipOperationFailure):
        return ProviderUnreachable(f"the KMIP server failed: {exc.reason.name}")
    return ProviderUnreachable(f"no usable answer from the KMIP server ({type(exc).__name__})")
