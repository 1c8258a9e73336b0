"""Sandbox uids stay unique when the obvious next one is already taken."""

from citadel.deployments import service
from citadel.deployments.models import Deployment
from citadel.deployments.schemas import CreateDeploymentIn
from citadel.use_cases import deployments as use_cases
from tests.fixtures.builders import SystemUnits, make_deployment, make_org, make_user


def test_create_moves_past_a_sandbox_uid_taken_meanwhile(services, monkeypatch):
    org = make_org(services, make_user(services))
    first = make_deployment(services, org)
    with services.db.read() as session:
        taken = session.get(Deployment, first).sandbox_uid
    answers = iter([taken, taken + 1])
    monkeypatch.setattr(service, "_next_sandbox_uid", lambda ctx: next(answers))

    made = use_cases.create_deployment(
        SystemUnits(services), services.platform_keys, org, CreateDeploymentIn(name="second")
    )
    uid = made.row.sandbox_uid

    assert uid == taken + 1
