"""Each provider's HTTP or TLS client goes through the connection's `EndpointPolicy`: refused
where the operator does not allow the address, and, where it does, connected to the address the
policy resolved (issue 17.4, ADR 19).

The key managers are real (OpenBao, moto's KMS server, PyKMIP) on loopback. A host name such as
``vault.test`` resolves only through `ScriptedDns` (a fake of DNS, the one outside service
these tests cannot run): that a provider reaches its server under such a name proves it
connected where the policy resolved, not through a lookup of its own.
"""

from __future__ import annotations

import uuid

import pytest

from citadel.crypto.providers.aws_kms import AwsKmsProvider
from citadel.crypto.providers.connection import Connection
from citadel.crypto.providers.endpoints import EndpointNotAllowed, EndpointPolicy
from citadel.crypto.providers.kmip import KmipProvider
from citadel.crypto.providers.vault_transit import VaultTransitProvider
from tests.fixtures.key_servers import Bao
from tests.fixtures.key_servers import bao as _bao  # noqa: F401
from tests.key_managers.test_endpoint_policy import ScriptedDns
from tests.providers.dead_servers import HangingService
from tests.providers.dead_servers import hanging_service as _hanging_service  # noqa: F401
from tests.providers.kmip_server import KmipServer
from tests.providers.kmip_server import kmip_server as _kmip_server  # noqa: F401
from tests.providers.moto_server import ACCESS_KEY_ID, REGION, SECRET_KEY, MotoKms
from tests.providers.moto_server import moto_kms as _moto_kms  # noqa: F401

DATA_KEY = bytes(range(32))
CONTEXT = b"deployment:d-1"
DEFAULT = EndpointPolicy()


def loopback_named(name: str) -> tuple[EndpointPolicy, ScriptedDns]:
    """A policy allowing 127.0.0.1 whose DNS knows `name` as 127.0.0.1."""
    dns = ScriptedDns({name: [["127.0.0.1"]]})
    allowed = EndpointPolicy.from_settings(["127.0.0.1/32"]).allowances
    return EndpointPolicy(allowed, resolver=dns), dns


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


# -- Vault / OpenBao (hvac, requests) --------------------------------------------------------


def test_vault_is_reached_at_the_address_the_policy_resolved(bao: Bao) -> None:
    name = f"kek-{uuid.uuid4().hex[:12]}"
    bao.add_key(name)
    policy, dns = loopback_named("vault.test")
    connection = Connection(
        settings={"scheme": "http"}, secret=bao.root_token.encode(), endpoints=policy
    )
    provider = VaultTransitProvider(f"vault-transit://vault.test:{bao.port}/{name}", connection)

    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)

    assert provider.unwrap(wrapped, context=CONTEXT) == DATA_KEY
    assert set(dns.lookups) == {"vault.test"}  # asked, and only for that name


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_vault_on_loopback_is_refused_by_default_and_never_reached(
    hanging_service: HangingService, host: str
) -> None:
    connection = Connection(settings={"scheme": "http"}, secret=b"token", endpoints=DEFAULT)
    provider = VaultTransitProvider(
        f"vault-transit://{host}:{hanging_service.port}/kek", connection
    )

    with pytest.raises(EndpointNotAllowed):
        provider.describe()
    assert not hanging_service.reached.is_set()


# -- AWS KMS (boto3, botocore) ---------------------------------------------------------------


def test_kms_is_reached_at_the_address_the_policy_resolved(moto_kms: MotoKms) -> None:
    key_arn = moto_kms.create_key()
    policy, dns = loopback_named("kms.test")
    connection = Connection(
        settings={
            "endpoint_url": f"http://kms.test:{port_of(moto_kms.endpoint_url)}",
            "access_key_id": ACCESS_KEY_ID,
        },
        secret=SECRET_KEY,
        endpoints=policy,
    )
    provider = AwsKmsProvider(key_arn, connection)

    wrapped = provider.wrap(DATA_KEY, context=CONTEXT)

    assert provider.unwrap(wrapped, context=CONTEXT) == DATA_KEY
    assert set(dns.lookups) == {"kms.test"}  # asked, and only for that name


def test_kms_on_loopback_is_refused_by_default_and_never_reached(
    hanging_service: HangingService,
) -> None:
    connection = Connection(
        settings={
            "endpoint_url": f"http://127.0.0.1:{hanging_service.port}",
            "access_key_id": ACCESS_KEY_ID,
        },
        secret=SECRET_KEY,
        endpoints=DEFAULT,
    )
    provider = AwsKmsProvider(f"arn:aws:kms:{REGION}:111122223333:alias/a", connection)

    with pytest.raises(EndpointNotAllowed):
        provider.describe()
    assert not hanging_service.reached.is_set()


# -- KMIP (PyKMIP) ---------------------------------------------------------------------------


def test_kmip_on_loopback_is_refused_by_default_and_never_reached(
    kmip_server: KmipServer, hanging_service: HangingService
) -> None:
    allowed = kmip_server.connection()
    connection = Connection(
        settings=allowed.settings, secret=allowed.secret, endpoints=DEFAULT, timeout_s=5
    )
    provider = KmipProvider(f"kmip://127.0.0.1:{hanging_service.port}/1", connection)

    with pytest.raises(EndpointNotAllowed):
        provider.describe()
    assert not hanging_service.reached.is_set()


def test_kmip_is_reached_at_a_listed_address(kmip_server: KmipServer) -> None:
    uid = kmip_server.create_aes_key()
    provider = KmipProvider(kmip_server.key_path(uid), kmip_server.connection())

    assert provider.unwrap(provider.wrap(DATA_KEY, context=CONTEXT), context=CONTEXT) == DATA_KEY
