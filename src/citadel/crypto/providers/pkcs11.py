"""The PKCS#11 provider: a key-encryption key on a hardware security module (or SoftHSM2).

Key path: an RFC 7512 URI naming a token and an AES secret key on it, for example
``pkcs11:token=citadel;object=tenant-a`` (values percent-encoded). Accepted path attributes:
``token``, ``object``, ``id``, ``slot-id``, ``serial`` and ``type`` (``secret-key`` only); query
attributes: ``pin-value`` and ``pin-source=file:/path``. The module comes from the connection's
``module`` setting, never from the key path; the connection's secret is the user PIN and wins
over a PIN in the key path.

Wrapping is AES-GCM inside the HSM, the context as AAD, a random 12-byte IV. Wrapped format:
``b"p11" | len(id) (1) | CKA_ID | iv (12) | ciphertext || tag (16)``.

Versions: several key objects may share the label; CKA_ID tells them apart and the highest one
(as an unsigned big-endian number) is current. A wrapped value records the CKA_ID it was made
with and unwraps under exactly that object, so a rotation (a new object with the same label and a
higher CKA_ID) leaves old values readable while `version_of` differs from `describe().version`.
A key path with ``id=`` pins one object and has no rotation.

Revocation: clearing CKA_ENCRYPT / CKA_DECRYPT disables the key (``DISABLED``); destroying the
only object makes it unknown (``UNKNOWN_KEY``); destroying the version a value names while
others remain is ``DESTROYED``.

Concurrency: PKCS#11 login state belongs to the whole process, not to a session, so operations
on one module are serialised by a lock and each opens, logs in, works and closes its own
session. The provider assumes it is the module's only user in the process.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, unquote_to_bytes

import pkcs11
from pkcs11 import Attribute, GCMParams, KeyType, Mechanism, ObjectClass
from pkcs11 import exceptions as p11e

from citadel.crypto.providers.base import (
    InvalidKeyPath,
    KeyDescription,
    KeyUnavailable,
    ProviderUnreachable,
    Reason,
)
from citadel.crypto.providers.connection import Connection

DEFAULT_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
_MAGIC = b"p11"
_IV_BYTES = 12
_TAG_BITS = 128
_CKR_KEY_FUNCTION_NOT_PERMITTED = 0x68

_PATH_ATTRIBUTES = frozenset({"token", "object", "id", "slot-id", "serial", "type"})
_QUERY_ATTRIBUTES = frozenset({"pin-value", "pin-source"})
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


@dataclass(frozen=True)
class Pkcs11Uri:
    """The parts of an RFC 7512 URI this provider understands."""

    object_label: str
    token_label: str | None = None
    serial: str | None = None
    slot_id: int | None = None
    key_id: bytes | None = None
    pin_value: str | None = None
    pin_file: Path | None = None


def parse_pkcs11_uri(key_path: str) -> Pkcs11Uri:
    """Parse ``pkcs11:...``; raises `InvalidKeyPath` naming what is wrong."""
    if not key_path.startswith("pkcs11:"):
        raise InvalidKeyPath("a PKCS#11 key path starts with 'pkcs11:'")
    body = key_path[len("pkcs11:") :]
    path_part, _, query_part = body.partition("?")
    path = _attributes(path_part, ";", _PATH_ATTRIBUTES, "path")
    query = _attributes(query_part, "&", _QUERY_ATTRIBUTES, "query")

    if "object" not in path:
        raise InvalidKeyPath("the PKCS#11 key path names no 'object' (the key's label)")
    if not {"token", "serial", "slot-id"} & path.keys():
        raise InvalidKeyPath("the PKCS#11 key path names no 'token' (or 'serial' or 'slot-id')")
    if path.get("type", "secret-key") != "secret-key":
        raise InvalidKeyPath("the PKCS#11 key must be of type 'secret-key'")
    if "pin-value" in query and "pin-source" in query:
        raise InvalidKeyPath("give 'pin-value' or 'pin-source', not both")

    slot_id = None
    if "slot-id" in path:
        raw = path["slot-id"]
        if not raw.isascii() or not raw.isdigit():
            raise InvalidKeyPath("'slot-id' must be a decimal number")
        slot_id = int(raw)

    pin_file = None
    if "pin-source" in query:
        source = query["pin-source"]
        if not source.startswith("file:") or not source[len("file:") :].startswith("/"):
            raise InvalidKeyPath("'pin-source' must be 'file:' followed by an absolute path")
        pin_file = Path(source[len("file:") :])

    return Pkcs11Uri(
        object_label=_text(path["object"], "object"),
        token_label=_text(path["token"], "token") if "token" in path else None,
        serial=_text(path["serial"], "serial") if "serial" in path else None,
        slot_id=slot_id,
        key_id=unquote_to_bytes(path["id"]) if "id" in path else None,
        pin_value=_text(query["pin-value"], "pin-value") if "pin-value" in query else None,
        pin_file=pin_file,
    )


def _attributes(part: str, separator: str, known: frozenset[str], where: str) -> dict[str, str]:
    """Split ``a=b;c=d`` into raw (still percent-encoded) values, refusing surprises."""
    found: dict[str, str] = {}
    if not part:
        return found
    for item in part.split(separator):
        name, eq, value = item.partition("=")
        if not eq:
            raise InvalidKeyPath(f"PKCS#11 {where} attribute {name!r} has no value")
        if name not in known:
            raise InvalidKeyPath(f"unknown PKCS#11 {where} attribute {name!r}")
        if name in found:
            raise InvalidKeyPath(f"PKCS#11 {where} attribute {name!r} is given twice")
        if not value:
            raise InvalidKeyPath(f"PKCS#11 {where} attribute {name!r} is empty")
        if _BAD_PERCENT.search(value):
            raise InvalidKeyPath(f"PKCS#11 {where} attribute {name!r} has a bad %-escape")
        found[name] = value
    return found


def _text(raw: str, name: str) -> str:
    try:
        return unquote(raw, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise InvalidKeyPath(f"PKCS#11 attribute {name!r} is not UTF-8") from exc


class _Module:
    """One loaded PKCS#11 library and the lock its operations take turns on."""

    def __init__(self, lib: Any) -> None:
        self.lib = lib
        self.lock = threading.Lock()


_modules: dict[str, _Module] = {}
_modules_lock = threading.Lock()


def _module(path: str) -> _Module:
    """The library at `path`, loaded once per process (a second C_Initialize is an error)."""
    with _modules_lock:
        found = _modules.get(path)
        if found is None:
            if not os.path.isfile(path):
                raise ProviderUnreachable(f"no PKCS#11 module at {path}")
            try:
                lib = pkcs11.lib(path)
            except (p11e.PKCS11Error, OSError) as exc:
                raise ProviderUnreachable(f"the PKCS#11 module {path} did not load: {exc}") from exc
            found = _modules[path] = _Module(lib)
        return found


@dataclass(frozen=True)
class _Version:
    key: Any
    key_id: bytes

    @property
    def version(self) -> str:
        return self.key_id.hex()


def _id_order(key_id: bytes) -> tuple[int, int]:
    return int.from_bytes(key_id, "big"), len(key_id)


class Pkcs11Provider:
    """An AES key on a PKCS#11 token; wrapping happens inside the token."""

    def __init__(self, key_path: str, connection: Connection | None = None) -> None:
        self._key_path = key_path
        self._uri = parse_pkcs11_uri(key_path)
        connection = connection or Connection()
        settings: Mapping[str, str] = connection.settings
        self._module_path = settings.get("module", DEFAULT_MODULE)
        self._secret = connection.secret

    # -- the KeyProvider interface ------------------------------------------------------

    def wrap(self, plaintext: bytes, *, context: bytes) -> bytes:
        """Encrypt `plaintext` in the HSM under the current version of the key."""
        with self._session() as session:
            current = self._current(session)
            if not current.key[Attribute.ENCRYPT]:
                raise KeyUnavailable("the PKCS#11 key may not encrypt", Reason.DISABLED)
            iv = os.urandom(_IV_BYTES)
            try:
                sealed = current.key.encrypt(
                    plaintext,
                    mechanism=Mechanism.AES_GCM,
                    mechanism_param=GCMParams(iv, context, _TAG_BITS),
                )
            except p11e.PKCS11Error as exc:
                raise _translate(exc, "encrypt") from exc
        return _MAGIC + bytes([len(current.key_id)]) + current.key_id + iv + bytes(sealed)

    def unwrap(self, wrapped: bytes, *, context: bytes) -> bytes:
        """Decrypt what `wrap` produced, under the very key version that wrapped it."""
        key_id, iv, sealed = _split(wrapped)
        if self._uri.key_id is not None and key_id != self._uri.key_id:
            raise KeyUnavailable("wrapped under another PKCS#11 key", Reason.WRONG_CONTEXT)
        with self._session() as session:
            version = self._version(session, key_id)
            if not version.key[Attribute.DECRYPT]:
                raise KeyUnavailable("the PKCS#11 key may not decrypt", Reason.DISABLED)
            try:
                plaintext = version.key.decrypt(
                    sealed,
                    mechanism=Mechanism.AES_GCM,
                    mechanism_param=GCMParams(iv, context, _TAG_BITS),
                )
            except (
                p11e.GeneralError,
                p11e.EncryptedDataInvalid,
                p11e.EncryptedDataLenRange,
            ) as exc:
                # SoftHSM2 answers a failed GCM tag check with CKR_GENERAL_ERROR.
                raise KeyUnavailable(
                    "wrong PKCS#11 key, wrong context or altered data", Reason.WRONG_CONTEXT
                ) from exc
            except p11e.PKCS11Error as exc:
                raise _translate(exc, "decrypt") from exc
        return bytes(plaintext)

    def describe(self) -> KeyDescription:
        """Enabled when the current version may both encrypt and decrypt; version = hex CKA_ID."""
        with self._session() as session:
            current = self._current(session)
            enabled = bool(current.key[Attribute.ENCRYPT]) and bool(current.key[Attribute.DECRYPT])
        return KeyDescription(key_path=self._key_path, enabled=enabled, version=current.version)

    def version_of(self, wrapped: bytes) -> str:
        """The hex CKA_ID of the key object that wrapped `wrapped`."""
        key_id, _, _ = _split(wrapped)
        return key_id.hex()

    # -- the token ---------------------------------------------------------------------

    @contextmanager
    def _session(self) -> Iterator[Any]:
        module = _module(self._module_path)
        pin = self._pin()
        with module.lock:
            token = self._token(module)
            try:
                session = token.open(user_pin=pin) if pin is not None else token.open()
            except p11e.PinIncorrect as exc:
                raise KeyUnavailable("the HSM refused the PIN", Reason.ACCESS_DENIED) from exc
            except (p11e.PinLocked, p11e.PinExpired, p11e.PinInvalid, p11e.PinLenRange) as exc:
                raise KeyUnavailable(
                    f"the HSM refused the PIN ({type(exc).__name__})", Reason.ACCESS_DENIED
                ) from exc
            except p11e.PKCS11Error as exc:
                raise _translate(exc, "open a session") from exc
            try:
                yield session
            except p11e.PKCS11Error as exc:
                raise _translate(exc, "use the key") from exc
            finally:
                with suppress(p11e.PKCS11Error):
                    session.close()

    def _pin(self) -> str | None:
        if self._secret is not None:
            return self._secret.decode("utf-8")
        if self._uri.pin_value is not None:
            return self._uri.pin_value
        if self._uri.pin_file is not None:
            try:
                return self._uri.pin_file.read_text(encoding="utf-8").rstrip("\r\n")
            except (OSError, UnicodeDecodeError) as exc:
                raise ProviderUnreachable(f"cannot read the PIN file: {exc}") from exc
        return None

    def _token(self, module: _Module) -> Any:
        """The one token the URI names; the slot list is re-read once if it is not there.

        SoftHSM2 (and other modules) see tokens created after C_Initialize only after a
        C_Finalize/C_Initialize; under the module lock no session of ours is open, so that is safe.
        """
        for attempt in range(2):
            try:
                tokens = list(self._matching_tokens(module.lib))
            except p11e.PKCS11Error as exc:
                raise ProviderUnreachable(f"cannot list the PKCS#11 slots: {exc}") from exc
            if len(tokens) == 1:
                return tokens[0]
            if len(tokens) > 1:
                raise KeyUnavailable(
                    "several PKCS#11 tokens match the key path", Reason.UNKNOWN_KEY
                )
            if attempt == 0:
                try:
                    module.lib.reinitialize()
                except p11e.PKCS11Error as exc:
                    raise ProviderUnreachable(f"cannot reload the PKCS#11 module: {exc}") from exc
        raise KeyUnavailable("no such PKCS#11 token", Reason.UNKNOWN_KEY)

    def _matching_tokens(self, lib: Any) -> Iterator[Any]:
        uri = self._uri
        for slot in lib.get_slots(token_present=True):
            if uri.slot_id is not None and slot.slot_id != uri.slot_id:
                continue
            try:
                token = slot.get_token()
            except (p11e.TokenNotPresent, p11e.TokenNotRecognised):
                continue
            if not token.flags & pkcs11.TokenFlag.TOKEN_INITIALIZED:
                continue
            if uri.token_label is not None and token.label != uri.token_label:
                continue
            if uri.serial is not None and token.serial.decode("ascii", "replace") != uri.serial:
                continue
            yield token

    def _versions(self, session: Any, key_id: bytes | None = None) -> list[_Version]:
        """The AES versions of the key (with `key_id`, just that one); raises if there are none."""
        template: dict[Attribute, Any] = {Attribute.LABEL: self._uri.object_label}
        if key_id is not None:
            template[Attribute.ID] = key_id
        objects = list(session.get_objects(template))
        if not objects:
            raise KeyUnavailable("no such key on the PKCS#11 token", Reason.UNKNOWN_KEY)
        versions = []
        for obj in objects:
            if obj[Attribute.CLASS] != ObjectClass.SECRET_KEY:
                continue
            if obj[Attribute.KEY_TYPE] != KeyType.AES:
                raise KeyUnavailable("the PKCS#11 key is not an AES key", Reason.WRONG_KEY_TYPE)
            versions.append(_Version(obj, bytes(obj[Attribute.ID])))
        if not versions:
            raise KeyUnavailable("the PKCS#11 object is not a secret key", Reason.WRONG_KEY_TYPE)
        if len({v.key_id for v in versions}) != len(versions):
            raise KeyUnavailable(
                "several PKCS#11 keys share this label and CKA_ID", Reason.UNKNOWN_KEY
            )
        return versions

    def _current(self, session: Any) -> _Version:
        return max(self._versions(session, self._uri.key_id), key=lambda v: _id_order(v.key_id))

    def _version(self, session: Any, key_id: bytes) -> _Version:
        try:
            return self._versions(session, key_id)[0]
        except KeyUnavailable as exc:
            if exc.reason is not Reason.UNKNOWN_KEY or self._uri.key_id is not None:
                raise
            try:
                self._versions(session)
            except KeyUnavailable:
                raise exc from None
            raise KeyUnavailable(
                "the PKCS#11 key version that wrapped this value is gone", Reason.DESTROYED
            ) from exc


def _split(wrapped: bytes) -> tuple[bytes, bytes, bytes]:
    """(CKA_ID, iv, ciphertext) of a wrapped value; anything else is not ours."""
    if wrapped[:3] != _MAGIC or len(wrapped) < 4:
        raise KeyUnavailable("not wrapped by a PKCS#11 key", Reason.WRONG_CONTEXT)
    id_len = wrapped[3]
    start = 4 + id_len
    if len(wrapped) < start + _IV_BYTES + _TAG_BITS // 8:
        raise KeyUnavailable("truncated PKCS#11-wrapped value", Reason.WRONG_CONTEXT)
    return wrapped[4:start], wrapped[start : start + _IV_BYTES], wrapped[start + _IV_BYTES :]


def _translate(exc: p11e.PKCS11Error, doing: str) -> Exception:
    """Map a PKCS#11 error to what the platform should do about it."""
    if str(exc).endswith(hex(_CKR_KEY_FUNCTION_NOT_PERMITTED)) or isinstance(
        exc, p11e.FunctionRejected
    ):
        return KeyUnavailable(f"the PKCS#11 key may not {doing}", Reason.DISABLED)
    if isinstance(exc, p11e.KeyTypeInconsistent | p11e.MechanismInvalid | p11e.KeySizeRange):
        return KeyUnavailable(f"the PKCS#11 key cannot {doing} with AES-GCM", Reason.WRONG_KEY_TYPE)
    if isinstance(exc, p11e.PinIncorrect | p11e.PinLocked | p11e.UserNotLoggedIn):
        return KeyUnavailable("the HSM refused the PIN", Reason.ACCESS_DENIED)
    if isinstance(exc, p11e.KeyHandleInvalid | p11e.ObjectHandleInvalid):
        return KeyUnavailable("the PKCS#11 key went away", Reason.UNKNOWN_KEY)
    return ProviderUnreachable(f"the HSM failed to {doing}: {type(exc).__name__} {exc}")
