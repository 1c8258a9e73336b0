"""The typed client answers with the response models the routes declare, parsed from what the
real application (in process) sent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from citadel.api_keys.schemas import ApiKeyOut
from citadel.app import create_app
from citadel.bootstrap import Services
from citadel.client.api import CitadelClient, ClientError
from citadel.deployments.schemas import (
    ClusterCredentialsOut,
    DeploymentCreateOut,
    DeploymentGetOut,
    DeploymentsListingDataOut,
    DeploymentSummaryOut,
    StaticIpsOut,
)
from citadel.domains.schemas import DomainOut
from citadel.kit.schema import EmptyOut
from citadel.members.schemas import MembershipOut
from citadel.orgs.schemas import OrganizationOut
from citadel.traffic_filters.schemas import (
    RulesetIdOut,
    RulesetInfoOut,
    RulesetWithAssociationsOut,
    ValidationOut,
)
from tests.fixtures.builders import make_api_key, make_org, make_user

RULESET = {
    "name": "office",
    "type": "ip",
    "region": "local",
    "include_by_default": False,
    "rules": [{"source": "192.0.2.0/24"}],
}


@pytest.fixture
def org_id(services: Services) -> str:
    return make_org(services, make_user(services))


@pytest.fixture
def api(services: Services, org_id: str) -> Iterator[CitadelClient]:
    http = TestClient(create_app(services), base_url="https://testserver")
    with CitadelClient(
        "https://testserver/api/v1", api_key=make_api_key(services, org_id), http=http
    ) as client:
        yield client


def test_organization_and_members_are_models(api: CitadelClient, org_id: str) -> None:
    [org] = api.list_organizations()
    assert isinstance(org, OrganizationOut)
    assert api.get_organization(org_id).id == org_id
    [member] = api.list_members(org_id)
    assert isinstance(member, MembershipOut)


def test_a_new_api_key_carries_its_secret_once(api: CitadelClient) -> None:
    made = api.create_api_key("ci", expiration="1d")
    assert isinstance(made, ApiKeyOut)
    assert made.key
    assert all(k.key is None for k in api.list_api_keys())


def test_deployment_answers_are_models(api: CitadelClient) -> None:
    made = api.create_deployment({"name": "search"})
    assert isinstance(made, DeploymentCreateOut)
    [resource] = made.resources
    assert resource.credentials is not None
    assert resource.credentials.username == "elastic"
    shown = api.get_deployment(made.id)
    assert isinstance(shown, DeploymentGetOut)
    assert shown.resources.elasticsearch[0].info.metadata.cloud_id == resource.cloud_id
    [listed] = api.list_deployments()
    assert isinstance(listed, DeploymentsListingDataOut)
    assert isinstance(api.reset_elastic_password(made.id), ClusterCredentialsOut)
    assert isinstance(api.shutdown_deployment(made.id), DeploymentSummaryOut)
    assert api.delete_deployment(made.id).id == made.id


def test_validate_only_answers_the_validation_model(api: CitadelClient) -> None:
    checked = api.create_ruleset(RULESET, validate_only=True)
    assert isinstance(checked, ValidationOut)
    assert checked.valid is True


def test_a_ruleset_read_with_associations_is_the_wider_model(api: CitadelClient) -> None:
    made = api.create_ruleset(RULESET)
    assert isinstance(made, RulesetIdOut)
    plain = api.get_ruleset(made.id)
    wide = api.get_ruleset(made.id, include_associations=True)
    assert type(plain) is RulesetInfoOut
    assert isinstance(wide, RulesetWithAssociationsOut)
    assert wide.total_associations == 0
    assert isinstance(api.delete_ruleset(made.id), EmptyOut)


def test_domain_claims_send_null_until_verified(api: CitadelClient, org_id: str) -> None:
    claim = api.add_domain(org_id, "example.com")
    assert isinstance(claim, DomainOut)
    assert claim.verified is None
    assert claim.model_dump(mode="json")["verified"] is None


def test_static_ips_are_a_model(api: CitadelClient) -> None:
    assert isinstance(api.static_ips(), StaticIpsOut)


def test_an_error_answer_raises_with_its_code(api: CitadelClient) -> None:
    with pytest.raises(ClientError) as raised:
        api.get_deployment("0" * 32)
    assert raised.value.status == 404
    assert raised.value.code == "deployments.deployment_not_found"
