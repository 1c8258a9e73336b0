"""What a key manager of each kind may be configured with (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from citadel.key_managers.errors import InvalidKeyManager

SETTINGS = {
    "pkcs11": {"module"},
    "vault-transit": {"scheme", "ca_pem", "mount"},
    "kmip": {"ca_pem", "cert_pem"},
    "aws-kms": {"endpoint_url", "access_key_id"},
}
# An AWS KMS manager without its own credentials would reach KMS with the control plane's
# (boto3's default chain): an organization could use any key the platform may use.
REQUIRED = {"kmip": {"ca_pem", "cert_pem"}, "aws-kms": {"access_key_id"}}
SECRET = {
    "pkcs11": "the user PIN",
    "vault-transit": "a token",
    "kmip": "the client certificate's private key (PEM)",
    "aws-kms": "the secret access key",
}


def check_settings(
    kind: str, settings: Mapping[str, str], secret: str | None, pkcs11_modules: Sequence[str]
) -> None:
    """Refuse settings the kind does not take, missing ones, and a PKCS#11 module the operator
    has not allowed (loading a module runs its code inside the control plane)."""
    unknown = sorted(set(settings) - SETTINGS[kind])
    if unknown:
        raise InvalidKeyManager(
            f"A {kind} key manager takes only: {', '.join(sorted(SETTINGS[kind]))}.",
            fields=[f"body.settings.{name}" for name in unknown],
        )
    missing = sorted(REQUIRED.get(kind, set()) - set(settings))
    if missing:
        raise InvalidKeyManager(
            f"A {kind} key manager needs {', '.join(missing)}.",
            fields=[f"body.settings.{name}" for name in missing],
        )
    if kind in SECRET and secret is None:
        message = f"A {kind} key manager needs {SECRET[kind]}."
        raise InvalidKeyManager(message, fields=["body.secret"])
    if kind == "pkcs11" and settings.get("module", pkcs11_modules[0]) not in pkcs11_modules:
        raise InvalidKeyManager(
            "That PKCS#11 module is not one the operator allows (CITADEL_PKCS11_MODULES).",
            fields=["body.settings.module"],
        )
    if kind == "vault-transit" and settings.get("scheme", "https") not in ("http", "https"):
        raise InvalidKeyManager("scheme is http or https.", fields=["body.settings.scheme"])
