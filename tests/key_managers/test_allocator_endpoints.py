"""The allocator reaches a customer's key manager only where its own settings allow: elsewhere
the key is unavailable (``endpoint_not_allowed``) and the deployment locks (issue 17.4, ADR 19).
"""

from __future__ import annotations

import base64
import json

from citadel.config import Settings
from citadel.contract.messages import Allocation, DesiredState, KeyConnection
from citadel.crypto.providers.endpoints import EndpointPolicy
from citadel.crypto.providers.local import LocalKeyFile
from citadel.runtime import keywatch
from tests.fixtures.key_servers import LOOPBACK
from tests.providers.dead_servers import HangingService
from tests.providers.dead_servers import hanging_service as _hanging_service  # noqa: F401


def allocation_at(port: int) -> Allocation:
    """A running deployment whose key is a transit key at 127.0.0.1:`port`."""
    return Allocation.model_validate(
        {
            "id": "d-1",
            "desired_state": DesiredState.RUNNING,
            "sandbox_uid": 100000,
            "wrapped_data_key": base64.b64encode(b"vault:v1:AAAA").decode(),
            "key_path": f"vault-transit://127.0.0.1:{port}/kek",
            "key_connection": KeyConnection(settings={"scheme": "http"}, secret=b"t", timeout_s=1),
        }
    )


def test_a_key_manager_the_allocator_may_not_reach_locks_the_deployment(
    tmp_path, hanging_service: HangingService
) -> None:
    platform = LocalKeyFile.create_or_open(tmp_path / "platform.key")
    allocation = allocation_at(hanging_service.port)
    providers = keywatch.Providers(platform, EndpointPolicy())

    outcome = keywatch.check(providers.of(allocation), allocation)

    assert outcome.unavailable is not None
    assert outcome.unavailable.startswith("endpoint_not_allowed")
    assert not hanging_service.reached.is_set()


def test_the_environment_lists_the_endpoints_and_may_refuse_public_ones(monkeypatch) -> None:
    monkeypatch.setenv("CITADEL_KEY_MANAGER_ALLOWED_ENDPOINTS", json.dumps(LOOPBACK))
    monkeypatch.setenv("CITADEL_KEY_MANAGER_PUBLIC_ENDPOINTS", "false")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]  # pydantic-settings option

    policy = EndpointPolicy.from_settings(
        settings.key_manager_allowed_endpoints, public=settings.key_manager_public_endpoints
    )

    assert policy.entries == ("127.0.0.0/8", "::1/128")
    assert policy.public is False
