"""The Vault Transit provider: a key in a Vault (or OpenBao) transit engine, reached with hvac.

Key path: ``vault-transit://host:port/<key name>`` with an optional ``?mount=<mount path>``
(default ``transit``). The connection gives the scheme (``scheme``, default ``https``), the CA
bundle (``ca_file``, or ``ca_pem`` inline), optionally a client certificate (``client_cert``
and ``client_key``) and a namespace (``namespace``); its secret is the Vault token. Nothing is
read from the environment (no VAULT_TOKEN, VAULT_CACERT or proxy variables). Every connection
goes only to an address the connection's `EndpointPolicy` checked; redirects are not followed.

Wrapping is transit ``encrypt`` of the base64 plaintext with the context as ``associated_data``
(OpenBao 2.7.2 supports it for the AEAD key types aes256-gcm96 and chacha20-poly1305, so there
is no fall-back to derived keys). The context also goes as ``context``: a non-derived key ignores
it and a derived key (``derived=true``) needs it, so both kinds work. The wrapped value is the
``vault:vN:...`` ciphertext; ``version_of`` is ``N``.

Transit creates a missing key on ``encrypt`` when the token may (upsert), so `wrap` reads the
key first: a wrap never conjures up a key, and a key of the wrong type is refused before use.

Revocation: ``min_decryption_version`` above a value's version disables it (``DISABLED``);
a deleted key is ``UNKNOWN_KEY`` (Vault cannot tell deleted from never made); a revoked token or
a policy without the needed capability is ``ACCESS_DENIED``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

import hvac
import requests
from hvac import exceptions as hv
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from citadel.crypto.providers.base import (
    InvalidKeyPath,
    KeyDescription,
    KeyUnavailable,
    ProviderUnreachable,
    Reason,
)
from citadel.crypto.providers.connection import Connection
from citadel.crypto.providers.endpoints import EndpointPolicy, pinned_pool

_SCHEME = "vault-transit://"
_DEFAULT_PORT = 8200
_AEAD_TYPES = frozenset({"aes256-gcm96", "aes128-gcm96", "chacha20-poly1305"})
_NAME = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,126}[A-Za-z0-9_])?$")
_MOUNT = re.compile(r"^[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*$")
_CIPHERTEXT = re.compile(r"^vault:v([1-9][0-9]{0,9}):[A-Za-z0-9+/=]+$")

T = TypeVar("T")


@dataclass(frozen=True)
class TransitKeyPath:
    """Where the key lives: host, port, mount and name."""

    host: str
    port: int
    mount: str
    name: str


def parse_transit_key_path(key_path: str) -> TransitKeyPath:
    """Parse ``vault-transit://host:port/name?mount=...``; raises `InvalidKeyPath`."""
    if not key_path.startswith(_SCHEME):
        raise InvalidKeyPath("a Vault Transit key path starts with 'vault-transit://'")
    parts = urlsplit(key_path)
    if parts.username is not None or parts.password is not None:
        raise InvalidKeyPath("a Vault Transit key path carries no credentials")
    if parts.fragment:
        raise InvalidKeyPath("a Vault Transit key path has no '#fragment'")
    try:
        port = parts.port or _DEFAULT_PORT
    except ValueError as exc:
        raise InvalidKeyPath("the Vault Transit port is not a port number") from exc
    host = parts.hostname
    if not host:
        raise InvalidKeyPath("the Vault Transit key path names no host")
    name = parts.path.removeprefix("/")
    if not _NAME.match(name):
        raise InvalidKeyPath("the Vault Transit key path names no valid key after the host")
    mount = "transit"
    try:
        query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError as exc:
        raise InvalidKeyPath("the Vault Transit key path has a malformed query") from exc
    seen: set[str] = set()
    for key, value in query:
        if key != "mount":
            raise InvalidKeyPath(f"unknown Vault Transit key path option {key!r}")
        if key in seen:
            raise InvalidKeyPath(f"Vault Transit key path option {key!r} is given twice")
        seen.add(key)
        mount = value.strip("/")
        if not _MOUNT.match(mount) or {".", ".."} & set(mount.split("/")):
            raise InvalidKeyPath("the Vault Transit mount is not a valid mount path")
    return TransitKeyPath(host=host, port=port, mount=mount, name=name)


class VaultTransitProvider:
    """A transit key; every operation is one or two HTTP calls to Vault."""

    def __init__(self, key_path: str, connection: Connection | None = None) -> None:
        self._key_path = key_path
        self._where = parse_transit_key_path(key_path)
        connection = connection or Connection()
        self._client = _client(self._where, connection)

    # -- the KeyProvider interface ------------------------------------------------------

    def wrap(self, plaintext: bytes, *, context: bytes) -> bytes:
        """Encrypt under the key's latest version (after checking the key exists and fits)."""
        key = self._read_key()
        if key.min_decryption_version > key.latest_version:
            raise KeyUnavailable("the transit key's latest version is disabled", Reason.DISABLED)
        answer = self._call(
            lambda t: t.encrypt_data(
                self._where.name,
                plaintext=_b64(plaintext),
                associated_data=_b64(context),
                context=_b64(context),
                mount_point=self._where.mount,
            )
        )
        ciphertext = _field(answer, "ciphertext")
        if not _CIPHERTEXT.match(ciphertext):
            raise ProviderUnreachable("Vault answered an unreadable ciphertext")
        return ciphertext.encode("ascii")

    def unwrap(self, wrapped: bytes, *, context: bytes) -> bytes:
        """Decrypt a ``vault:vN:...`` value with the same context."""
        self.version_of(wrapped)
        answer = self._call(
            lambda t: t.decrypt_data(
                self._where.name,
                ciphertext=wrapped.decode("ascii"),
                associated_data=_b64(context),
                context=_b64(context),
                mount_point=self._where.mount,
            )
        )
        try:
            return base64.b64decode(_field(answer, "plaintext"), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProviderUnreachable("Vault answered an unreadable plaintext") from exc

    def describe(self) -> KeyDescription:
        """Latest version; enabled when it may decrypt and the token may encrypt and decrypt."""
        key = self._read_key()
        allowed = self._may_encrypt_and_decrypt()
        enabled = (
            allowed and not key.soft_deleted and (key.min_decryption_version <= key.latest_version)
        )
        rotation = None
        if key.auto_rotate_period > 0:
            rotation = f"automatic, every {_period(key.auto_rotate_period)}"
        return KeyDescription(
            key_path=self._key_path,
            enabled=enabled,
            version=str(key.latest_version),
            rotation=rotation,
        )

    def version_of(self, wrapped: bytes) -> str:
        """The ``N`` of ``vault:vN:...``."""
        try:
            text = wrapped.decode("ascii")
        except UnicodeDecodeError:
            text = ""
        match = _CIPHERTEXT.match(text)
        if not match:
            raise KeyUnavailable("not wrapped by a Vault Transit key", Reason.WRONG_CONTEXT)
        return match.group(1)

    # -- Vault -------------------------------------------------------------------------

    def _read_key(self) -> _TransitKey:
        answer = self._call(lambda t: t.read_key(self._where.name, mount_point=self._where.mount))
        key = _TransitKey.parse(answer)
        if key.type not in _AEAD_TYPES:
            raise KeyUnavailable(
                f"the transit key is of type {key.type!r}, not an AEAD key such as aes256-gcm96",
                Reason.WRONG_KEY_TYPE,
            )
        return key

    def _may_encrypt_and_decrypt(self) -> bool:
        mount, name = self._where.mount, self._where.name
        paths = [f"{mount}/encrypt/{name}", f"{mount}/decrypt/{name}"]
        answer = _data(
            self._guard(lambda: self._client.sys.get_capabilities(paths=paths)), "capabilities"
        )
        for path in paths:
            capabilities = answer.get(path)
            if not isinstance(capabilities, list):
                raise ProviderUnreachable("Vault answered unreadable capabilities")
            if not {"update", "root"} & set(capabilities):
                return False
        return True

    def _call(self, operation: Callable[[Any], Any]) -> dict[str, Any]:
        return _data(self._guard(lambda: operation(self._client.secrets.transit)), "transit")

    def _guard(self, operation: Callable[[], T]) -> T:
        try:
            return operation()
        except hv.VaultError as exc:
            raise _translate(exc) from exc
        except requests.RequestException as exc:
            raise ProviderUnreachable(f"Vault did not answer: {type(exc).__name__}") from exc
        except ValueError as exc:  # a body that is not JSON
            raise ProviderUnreachable("Vault answered something unreadable") from exc


@dataclass(frozen=True)
class _TransitKey:
    type: str
    latest_version: int
    min_decryption_version: int
    auto_rotate_period: int
    soft_deleted: bool

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> _TransitKey:
        try:
            key = cls(
                type=data["type"],
                latest_version=data["latest_version"],
                min_decryption_version=data["min_decryption_version"],
                auto_rotate_period=data.get("auto_rotate_period", 0) or 0,
                soft_deleted=data.get("soft_deleted", False) is True,
            )
        except (KeyError, TypeError) as exc:
            raise ProviderUnreachable("Vault answered an unreadable key description") from exc
        numbers = (key.latest_version, key.min_decryption_version, key.auto_rotate_period)
        if not isinstance(key.type, str) or not all(
            isinstance(n, int) and not isinstance(n, bool) for n in numbers
        ):
            raise ProviderUnreachable("Vault answered an unreadable key description")
        return key


def _client(where: TransitKeyPath, connection: Connection) -> hvac.Client:
    settings = connection.settings
    scheme = settings.get("scheme", "https")
    if scheme not in ("http", "https"):
        raise InvalidKeyPath("the Vault scheme setting must be 'http' or 'https'")
    session = requests.Session()
    session.trust_env = False  # no proxies or CA bundles from the environment
    adapter = _PinnedAdapter(connection.endpoints)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    verify: bool | str = settings.get("ca_file") or True
    if "ca_pem" in settings:
        verify = _pem_file(settings["ca_pem"])
    cert = None
    if "client_cert" in settings:
        cert = (settings["client_cert"], settings.get("client_key", settings["client_cert"]))
    session.verify = verify
    session.cert = cert
    token = connection.secret.decode("utf-8") if connection.secret is not None else ""
    host = f"[{where.host}]" if ":" in where.host else where.host
    return hvac.Client(
        url=f"{scheme}://{host}:{where.port}",
        token=token,
        verify=verify,
        cert=cert,
        timeout=connection.timeout_s,
        session=session,
        namespace=settings.get("namespace"),
        allow_redirects=False,
    )


class _PinnedAdapter(HTTPAdapter):
    """requests' adapter whose connections go only where the connection's `EndpointPolicy`
    allows, to the address it checked (redirects are not followed: ``allow_redirects=False``)."""

    def __init__(self, endpoints: EndpointPolicy) -> None:
        self._pools = {
            "http": pinned_pool(HTTPConnectionPool, endpoints),
            "https": pinned_pool(HTTPSConnectionPool, endpoints),
        }
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self._pools


@functools.lru_cache(maxsize=64)
def _pem_file(pem: str) -> str:
    """A CA bundle given inline (`ca_pem`, as key managers configured over the API give it),
    written once to a private file that requests can read."""
    directory = Path(tempfile.mkdtemp(prefix="citadel-vault-ca-"))
    path = directory / "ca.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(pem)
    return str(path)


def _data(answer: Any, what: str) -> dict[str, Any]:
    """The ``data`` object of a Vault answer; anything else is garbage."""
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, dict):
        raise ProviderUnreachable(f"Vault answered an unreadable {what} response")
    return data


def _field(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise ProviderUnreachable(f"Vault's answer has no {name}")
    return value


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _period(seconds: int) -> str:
    if seconds % 86400 == 0:
        return f"{seconds // 86400} days"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hours"
    return f"{seconds} seconds"


def _translate(exc: hv.VaultError) -> Exception:
    """Map a Vault error to what the platform should do about it."""
    message = str(exc)
    if isinstance(exc, hv.Forbidden | hv.Unauthorized):
        return KeyUnavailable("Vault denied access to the transit key", Reason.ACCESS_DENIED)
    if isinstance(exc, hv.InvalidPath):
        return KeyUnavailable("no such transit key (or mount)", Reason.UNKNOWN_KEY)
    if isinstance(exc, hv.InvalidRequest):
        if "encryption key not found" in message:
            return KeyUnavailable("no such transit key", Reason.UNKNOWN_KEY)
        if "disallowed by policy" in message:
            return KeyUnavailable(
                "the transit key version that wrapped this value is disabled", Reason.DISABLED
            )
        if "message authentication failed" in message or "invalid ciphertext" in message:
            return KeyUnavailable(
                "wrong transit key, wrong context or altered data", Reason.WRONG_CONTEXT
            )
        if "non-AEAD" in message or "does not support" in message:
            return KeyUnavailable("the transit key cannot do AEAD", Reason.WRONG_KEY_TYPE)
    return ProviderUnreachable(f"Vault failed: {type(exc).__name__}")
