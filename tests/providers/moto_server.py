"""moto's KMS in server mode on loopback, one per test session (per xdist worker).

moto keeps keys in memory and does not enforce key state on encrypt and decrypt (a disabled
key or one pending deletion still decrypts), nor IAM: tests that need a key to go dark use a
provider that enforces it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from citadel.crypto.providers.connection import Connection
from tests.fixtures.key_servers import LOOPBACK_ALLOWED

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account
ACCESS_KEY_ID = "citadel-test"
SECRET_KEY = b"citadel-test-secret"


@dataclass(frozen=True)
class MotoKms:
    """A running moto server and how to reach its KMS."""

    endpoint_url: str

    def connection(self, *, timeout_s: float = 5.0) -> Connection:
        return Connection(
            settings={"endpoint_url": self.endpoint_url, "access_key_id": ACCESS_KEY_ID},
            secret=SECRET_KEY,
            timeout_s=timeout_s,
            endpoints=LOOPBACK_ALLOWED,
        )

    def admin(self) -> Any:
        """The customer's own KMS client, to create, alias, disable and rotate keys."""
        return boto3.session.Session().client(
            "kms",
            region_name=REGION,
            endpoint_url=self.endpoint_url,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_KEY.decode(),
        )

    def create_key(self, **params: Any) -> str:
        """A new key (symmetric encryption by default); its ARN."""
        return self.admin().create_key(**params)["KeyMetadata"]["Arn"]

    def create_alias(self, name: str, key_arn: str) -> str:
        """Point alias/<name> at the key; the alias ARN."""
        self.admin().create_alias(AliasName=f"alias/{name}", TargetKeyId=key_arn)
        return f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/{name}"


@pytest.fixture(name="moto_kms", scope="session")
def moto_kms() -> Iterator[MotoKms]:
    """moto in this process, on a port the operating system picks."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield MotoKms(endpoint_url=f"http://{host}:{port}")
    finally:
        server.stop()
