"""The AWS KMS provider: a customer's symmetric KMS key, named by its key ARN or alias ARN.

Key path: ``arn:aws:kms:<region>:<account>:key/<key-id>`` or
``arn:aws:kms:<region>:<account>:alias/<name>`` (the reference accepts both; an alias is what
lets a customer rotate by pointing it at a new key). Connection: settings ``endpoint_url``
(optional: a KMS-compatible endpoint) and ``access_key_id``; the secret is the secret access
key. With neither, boto3's default credential chain is used. The region comes from the ARN.

KMS encrypts the small secret itself (up to 4 KiB), with the context bound as encryption
context ``{"citadel": context.hex()}``. Wrapped format::

    b"kms1" | len(version) (1) | version | len(key ARN) (1) | key ARN | KMS ciphertext blob

The key ARN is the one KMS actually used (behind an alias), and unwrapping names it: KMS
refuses to decrypt under an alias that has since moved to another key. The version is
``<key-id>:<key material id>`` ("1" where KMS does not report material ids), read before
wrapping, so both rotation of the key material and moving an alias show up as a new version.

Every call makes one attempt, bounded by ``connection.timeout_s`` for connecting and for each
read; the caller retries `ProviderUnreachable` with backoff. Connections go only to an address
the connection's `EndpointPolicy` checked (the endpoint's name resolved once), never through a
proxy from the environment.

What KMS (or whatever answers at ``endpoint_url``) says in an error is never repeated: only
its error code, and only when it is one of the codes below; anything else is "unreachable".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.awsrequest import AWSHTTPConnectionPool, AWSHTTPSConnectionPool
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.httpsession import URLLib3Session

from citadel.crypto.providers.base import (
    InvalidKeyPath,
    KeyDescription,
    KeyUnavailable,
    ProviderError,
    ProviderUnreachable,
    Reason,
)
from citadel.crypto.providers.connection import Connection
from citadel.crypto.providers.endpoints import EndpointNotAllowed, EndpointPolicy, pinned_pool

_MAGIC = b"kms1"
_ARN = re.compile(
    r"arn:(?P<partition>aws|aws-cn|aws-us-gov):kms:"
    r"(?P<region>[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}):(?P<account>[0-9]{12}):"
    r"(?:key/(?P<key_id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|mrk-[0-9a-f]{32})"
    r"|alias/(?P<alias>[A-Za-z0-9/_-]{1,250}))"
)
_REASONS = {
    "NotFoundException": Reason.UNKNOWN_KEY,
    "DisabledException": Reason.DISABLED,
    "KMSInvalidStateException": Reason.DISABLED,  # pending deletion, pending import
    "AccessDeniedException": Reason.ACCESS_DENIED,
    "UnrecognizedClientException": Reason.ACCESS_DENIED,  # the access key no longer exists
    "InvalidSignatureException": Reason.ACCESS_DENIED,  # the secret no longer matches
    "InvalidCiphertextException": Reason.WRONG_CONTEXT,
    "IncorrectKeyException": Reason.WRONG_CONTEXT,
    "InvalidKeyUsageException": Reason.WRONG_KEY_TYPE,
    "UnsupportedOperationException": Reason.WRONG_KEY_TYPE,
}


@dataclass(frozen=True)
class KmsKeyPath:
    """A parsed KMS key or alias ARN."""

    arn: str
    partition: str
    region: str
    account: str
    key_id: str | None
    alias: str | None


def parse_key_path(key_path: str) -> KmsKeyPath:
    """Parse a KMS key ARN or alias ARN, or raise `InvalidKeyPath`."""
    m = _ARN.fullmatch(key_path)
    if m is None:
        raise InvalidKeyPath(
            "an AWS KMS key path is arn:aws:kms:<region>:<account>:key/<key-id> "
            "or arn:aws:kms:<region>:<account>:alias/<name>"
        )
    alias = m["alias"]
    if alias is not None and alias.startswith("aws/"):
        raise InvalidKeyPath("alias/aws/... names an AWS managed key, not a customer's key")
    return KmsKeyPath(
        arn=key_path,
        partition=m["partition"],
        region=m["region"],
        account=m["account"],
        key_id=m["key_id"],
        alias=alias,
    )


class AwsKmsProvider:
    """A customer's symmetric key in AWS KMS (or a KMS-compatible endpoint)."""

    def __init__(self, key_path: str, connection: Connection) -> None:
        self._path = parse_key_path(key_path)
        access_key_id = connection.settings.get("access_key_id")
        secret = connection.secret
        if bool(access_key_id) != bool(secret):
            raise InvalidKeyPath("AWS KMS needs both access_key_id and the secret key, or neither")
        credentials: dict[str, str] = {}
        if access_key_id and secret:
            try:
                secret_key = secret.decode("ascii")
            except UnicodeDecodeError as exc:
                raise InvalidKeyPath("the AWS secret access key is not text") from exc
            credentials = {"aws_access_key_id": access_key_id, "aws_secret_access_key": secret_key}
        self._kms: Any = boto3.session.Session().client(
            "kms",
            region_name=self._path.region,
            endpoint_url=connection.settings.get("endpoint_url") or None,
            config=Config(
                connect_timeout=connection.timeout_s,
                read_timeout=connection.timeout_s,
                retries={"total_max_attempts": 1, "mode": "standard"},
                proxies={},  # none from the environment
            ),
            **credentials,
        )
        # Every request leaves through a session whose connections go only to addresses the
        # connection's `EndpointPolicy` checked (botocore uses what a before-send handler
        # answers instead of sending the request itself).
        session = _PinnedSession(connection.endpoints, connection.timeout_s)
        self._kms.meta.events.register("before-send.kms", session.send_request)

    def wrap(self, plaintext: bytes, *, context: bytes) -> bytes:
        """Encrypt `plaintext` under the key, recording the key version and the key used."""
        metadata = self._usable_metadata()
        version = _version(metadata)
        answer = self._request(
            "encrypt",
            KeyId=self._path.arn,
            Plaintext=plaintext,
            EncryptionContext=_encryption_context(context),
        )
        try:
            key_arn = str(answer["KeyId"]).encode()
            ciphertext = bytes(answer["CiphertextBlob"])
        except (KeyError, TypeError) as exc:
            raise ProviderUnreachable("AWS KMS gave an unreadable answer") from exc
        return b"".join(
            [
                _MAGIC,
                len(version).to_bytes(1, "big"),
                version,
                len(key_arn).to_bytes(1, "big"),
                key_arn,
                ciphertext,
            ]
        )

    def unwrap(self, wrapped: bytes, *, context: bytes) -> bytes:
        """Decrypt what `wrap` produced, under the key that wrapped it, with the same context."""
        blob = _Blob.parse(wrapped)
        key = _blob_key(blob.key_arn)
        if (key.partition, key.region, key.account) != (
            self._path.partition,
            self._path.region,
            self._path.account,
        ):
            raise KeyUnavailable("wrapped under a key of another account", Reason.WRONG_CONTEXT)
        answer = self._request(
            "decrypt",
            KeyId=blob.key_arn,
            CiphertextBlob=blob.ciphertext,
            EncryptionContext=_encryption_context(context),
        )
        try:
            return bytes(answer["Plaintext"])
        except (KeyError, TypeError) as exc:
            raise ProviderUnreachable("AWS KMS gave an unreadable answer") from exc

    def describe(self) -> KeyDescription:
        """The key's state, version and rotation schedule. A key of the wrong kind raises."""
        metadata = self._metadata()
        _check_kind(metadata)
        return KeyDescription(
            key_path=self._path.arn,
            enabled=metadata.get("KeyState") == "Enabled",
            version=_version(metadata).decode(),
            rotation=self._rotation(metadata),
        )

    def version_of(self, wrapped: bytes) -> str:
        """The key version recorded when the value was wrapped."""
        return _Blob.parse(wrapped).version

    def _metadata(self) -> dict[str, Any]:
        answer = self._request("describe_key", KeyId=self._path.arn)
        metadata = answer.get("KeyMetadata")
        if not isinstance(metadata, dict) or not metadata.get("KeyId"):
            raise ProviderUnreachable("AWS KMS gave an unreadable answer")
        return metadata

    def _usable_metadata(self) -> dict[str, Any]:
        metadata = self._metadata()
        _check_kind(metadata)
        state = metadata.get("KeyState")
        if state != "Enabled":
            raise KeyUnavailable(f"the KMS key is {state}", Reason.DISABLED)
        return metadata

    def _rotation(self, metadata: dict[str, Any]) -> str | None:
        # GetKeyRotationStatus takes a key ARN, never an alias.
        try:
            status = self._request("get_key_rotation_status", KeyId=metadata["Arn"])
        except KeyUnavailable as exc:
            if exc.reason is Reason.WRONG_KEY_TYPE:
                return None  # imported material or external key stores: no automatic rotation
            raise
        if not status.get("KeyRotationEnabled"):
            return None
        days = status.get("RotationPeriodInDays", 365)
        return f"automatic, {days} days"

    def _request(self, operation: str, **params: Any) -> dict[str, Any]:
        try:
            answer: dict[str, Any] = getattr(self._kms, operation)(**params)
        except ClientError as exc:
            raise _translate(exc) from exc
        except BotoCoreError as exc:  # connection refused, timeouts, unparseable answers
            if isinstance(exc.kwargs.get("error"), EndpointNotAllowed):
                raise exc.kwargs["error"] from None
            raise ProviderUnreachable(
                f"no usable answer from AWS KMS ({type(exc).__name__})"
            ) from exc
        return answer


class _PinnedSession(URLLib3Session):  # type: ignore[misc]  # botocore is untyped
    """botocore's HTTP session, its connections opened by an `EndpointPolicy` (no proxies)."""

    def __init__(self, endpoints: EndpointPolicy, timeout_s: float) -> None:
        super().__init__(proxies={}, timeout=(timeout_s, timeout_s))
        pools = {
            "http": pinned_pool(AWSHTTPConnectionPool, endpoints),
            "https": pinned_pool(AWSHTTPSConnectionPool, endpoints),
        }
        self._pool_classes_by_scheme = pools
        self._manager.pool_classes_by_scheme = pools

    def send_request(self, request: Any, **_: Any) -> Any:
        """The before-send handler: send `request` here."""
        return self.send(request)


@dataclass(frozen=True)
class _Blob:
    version: str
    key_arn: str
    ciphertext: bytes

    @classmethod
    def parse(cls, wrapped: bytes) -> _Blob:
        try:
            if wrapped[: len(_MAGIC)] != _MAGIC:
                raise ValueError("magic")
            at = len(_MAGIC)
            version_len = wrapped[at]
            version = wrapped[at + 1 : at + 1 + version_len].decode("ascii")
            at += 1 + version_len
            arn_len = wrapped[at]
            key_arn = wrapped[at + 1 : at + 1 + arn_len].decode("ascii")
            at += 1 + arn_len
            ciphertext = wrapped[at:]
            if len(version) != version_len or len(key_arn) != arn_len or not ciphertext:
                raise ValueError("truncated")
        except (ValueError, IndexError) as exc:
            raise KeyUnavailable("not a value wrapped by AWS KMS", Reason.WRONG_CONTEXT) from exc
        return cls(version=version, key_arn=key_arn, ciphertext=ciphertext)


def _blob_key(key_arn: str) -> KmsKeyPath:
    try:
        key = parse_key_path(key_arn)
    except InvalidKeyPath as exc:
        raise KeyUnavailable("not a value wrapped by AWS KMS", Reason.WRONG_CONTEXT) from exc
    if key.key_id is None:
        raise KeyUnavailable("not a value wrapped by AWS KMS", Reason.WRONG_CONTEXT)
    return key


def _encryption_context(context: bytes) -> dict[str, str]:
    return {"citadel": context.hex()}


def _check_kind(metadata: dict[str, Any]) -> None:
    # KeyUsage defaults to ENCRYPT_DECRYPT; AWS always says it, moto omits the default.
    usage = metadata.get("KeyUsage", "ENCRYPT_DECRYPT")
    if usage != "ENCRYPT_DECRYPT" or metadata.get("KeySpec") != "SYMMETRIC_DEFAULT":
        raise KeyUnavailable("the KMS key is not a symmetric encryption key", Reason.WRONG_KEY_TYPE)


def _version(metadata: dict[str, Any]) -> bytes:
    material = metadata.get("CurrentKeyMaterialId") or "1"
    version = f"{metadata['KeyId']}:{material}".encode()
    if len(version) > 255:
        raise ProviderUnreachable("AWS KMS gave an unreadable key version")
    return version


def _translate(exc: ClientError) -> ProviderError:
    error = exc.response.get("Error", {})
    code = error.get("Code", "")
    reason = _REASONS.get(code)
    if reason is not None:
        return KeyUnavailable(f"AWS KMS refused: {code}", reason)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return ProviderUnreachable(f"AWS KMS failed: HTTP {status}")
