"""What the API shows only once (the `elastic` password, an invitation token) is printed whole
on its own line after the table, however narrow the terminal: never cut in a cell."""

from __future__ import annotations

import json
import ssl

import httpx
import sqlalchemy as sa

from citadel.bootstrap import Services
from citadel.deployments.internal import pending_password
from citadel.deployments.models import Deployment
from tests.cli.conftest import LocalApi

NARROW = {"COLUMNS": "40"}


def _shown_once(output: str, label: str) -> str:
    [line] = [line for line in output.splitlines() if line.startswith(f"{label} (shown once): ")]
    return line.removeprefix(f"{label} (shown once): ")


def _password_of(services: Services, deployment_id: str) -> str | None:
    with services.db.read() as session:
        ctx = services.context(session, services.system_caller())
        return pending_password(ctx, session.get(Deployment, deployment_id))


def _only_deployment_id(services: Services) -> str:
    with services.db.read() as session:
        [deployment_id] = session.scalars(sa.select(Deployment.id)).all()
    return deployment_id


def test_the_elastic_password_of_a_new_deployment_is_printed_whole(
    local_api: LocalApi, services: Services
) -> None:
    result = local_api.run("deployment", "create", "--name", "shop", env=NARROW)

    assert result.exit_code == 0, result.output
    shown = _shown_once(result.stdout, "elastic password")
    assert shown == _password_of(services, _only_deployment_id(services))


def test_a_reset_elastic_password_is_printed_whole(local_api: LocalApi, services: Services) -> None:
    local_api.run("deployment", "create", "--name", "shop")
    deployment_id = _only_deployment_id(services)

    result = local_api.run("deployment", "reset-password", deployment_id, env=NARROW)

    assert result.exit_code == 0, result.output
    assert _shown_once(result.stdout, "elastic password") == _password_of(services, deployment_id)


def test_an_invitation_token_is_printed_whole(local_api: LocalApi) -> None:
    result = local_api.run(
        "org", "invite", local_api.org_id, "new.colleague@example.com", env=NARROW
    )

    assert result.exit_code == 0, result.output
    token = _shown_once(result.stdout, "invitation token for new.colleague@example.com")
    endpoints = json.loads((local_api.data_dir / "run" / "endpoints.json").read_text())
    looked_up = httpx.get(
        f"{endpoints['api_url']}/organizations/invitations/{token}",
        verify=ssl.create_default_context(cafile=endpoints["ca_file"]),
    )
    assert looked_up.status_code == 200, looked_up.text
