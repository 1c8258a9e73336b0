"""Domain claims (inventory 8.2): add a domain, publish its code as a TXT record at
`_citadel_domain_challenge.<domain>`, verify it against a real DNS server (dnsmasq on
loopback). At most ten per organization; a domain verified by one organization is not
claimable by another; a resolver that does not answer is a 503 within the timeout."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from citadel.app import create_app
from citadel.audit.models import AuditEvent
from citadel.bootstrap import Services
from citadel.kit.ids import new_id
from tests.fixtures.builders import key_headers, make_api_key, make_org, make_user
from tests.fixtures.dns_server import dns_server as _dns  # noqa: F401
from tests.fixtures.dns_server import silent_resolver as _silent  # noqa: F401
from tests.fixtures.state import business_state

TIMEOUT_S = 1.0


def with_resolver(services: Services, address: tuple[str, int]) -> Services:
    policies = dataclasses.replace(services.policies, dns_resolver=address, dns_timeout_s=TIMEOUT_S)
    return dataclasses.replace(services, policies=policies)


@pytest.fixture
def api(services, dns_server) -> Iterator[TestClient]:
    """The application, asking the test's dnsmasq for TXT records."""
    app = create_app(with_resolver(services, dns_server.address))
    with TestClient(app, base_url="https://testserver") as c:
        yield c


@pytest.fixture
def owner(services, org) -> dict[str, str]:
    return key_headers(make_api_key(services, org))


def base(org: str) -> str:
    return f"/api/v1/organizations/{org}/domains"


def add(api: TestClient, org: str, headers: dict[str, str], domain: str):
    return api.post(base(org), json={"domain": domain}, headers=headers)


def code_of(api: TestClient, org: str, headers: dict[str, str], domain: str) -> str:
    response = add(api, org, headers, domain)
    assert response.status_code == 201, response.text
    return response.json()["verification"]["value"]


def verify(api: TestClient, org: str, headers: dict[str, str], domain: str):
    return api.post(f"{base(org)}/{domain}/_verify", headers=headers)


def actions(services: Services, org: str) -> list[str]:
    with services.db.read() as session:
        return list(
            session.scalars(
                sa.select(AuditEvent.action)
                .where(AuditEvent.organization_id == org, AuditEvent.action.like("domain.%"))
                .order_by(AuditEvent.seq)
            )
        )


def test_an_added_domain_is_pending_with_a_code_and_the_record_to_publish(api, org, owner):
    response = add(api, org, owner, "example.com")

    assert response.status_code == 201
    body = response.json()
    assert body["domain"] == "example.com"
    assert body["status"] == "pending"
    assert body["verified"] is None
    assert body["verification"]["record_type"] == "TXT"
    assert body["verification"]["record_name"] == "_citadel_domain_challenge.example.com"
    assert len(body["verification"]["value"]) == 48


def test_each_claim_gets_its_own_code(api, services, owner, org):
    other = make_org(services, make_user(services), "Other")
    other_key = key_headers(make_api_key(services, other))

    assert code_of(api, org, owner, "example.com") != code_of(api, other, other_key, "example.com")


def test_the_published_code_verifies_the_claim_and_is_audited(
    api, services, dns_server, org, owner
):
    code = code_of(api, org, owner, "example.com")
    dns_server.publish({"_citadel_domain_challenge.example.com": ["unrelated", code]})

    response = verify(api, org, owner, "example.com")

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "verified"
    assert response.json()["verified"] is not None
    assert actions(services, org) == ["domain.added", "domain.verified"]


def test_a_wrong_code_is_refused_naming_why_and_the_claim_stays_pending(
    api, services, dns_server, org, owner
):
    code_of(api, org, owner, "example.com")
    dns_server.publish({"_citadel_domain_challenge.example.com": ["not-the-code"]})

    response = verify(api, org, owner, "example.com")

    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == "domains.verification_failed"
    assert "none is this claim's verification code" in error["message"]
    claim = api.get(f"{base(org)}/example.com", headers=owner).json()
    assert claim["status"] == "pending"
    assert claim["last_error"] == "wrong_code"
    assert claim["last_checked"] is not None
    assert actions(services, org) == ["domain.added", "domain.verification_failed"]


def test_a_missing_record_is_refused_naming_why(api, org, owner):
    code_of(api, org, owner, "example.com")

    response = verify(api, org, owner, "example.com")

    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == "domains.verification_failed"
    assert "No TXT record was found at _citadel_domain_challenge.example.com" in error["message"]


def test_a_resolver_that_does_not_answer_is_a_503_after_the_timeout(
    services, silent_resolver, org, owner
):
    app = create_app(with_resolver(services, silent_resolver))
    with TestClient(app, base_url="https://testserver") as api:
        code_of(api, org, owner, "example.com")
        response = verify(api, org, owner, "example.com")
        claim = api.get(f"{base(org)}/example.com", headers=owner).json()

    assert response.status_code == 503
    assert response.json()["errors"][0]["code"] == "domains.dns_unavailable"
    assert claim["status"] == "pending"
    assert claim["last_error"] == "dns_unavailable"


def test_the_same_organization_cannot_add_a_domain_twice(api, org, owner):
    add(api, org, owner, "example.com")

    response = add(api, org, owner, "EXAMPLE.com.")

    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "domains.already_claimed"
    assert response.json()["errors"][0]["fields"] == ["body.domain"]


def test_the_eleventh_domain_is_refused(api, services, org, owner):
    for n in range(10):
        assert add(api, org, owner, f"d{n}.example.com").status_code == 201
    before = business_state(services)

    response = add(api, org, owner, "d10.example.com")

    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "domains.limit_reached"
    assert business_state(services) == before


def test_a_domain_verified_by_one_organization_cannot_be_verified_by_another(
    api, services, dns_server, org, owner
):
    other = make_org(services, make_user(services), "Other")
    other_key = key_headers(make_api_key(services, other))
    mine = code_of(api, org, owner, "example.com")
    theirs = code_of(api, other, other_key, "example.com")  # pending claims may coexist
    dns_server.publish({"_citadel_domain_challenge.example.com": [mine, theirs]})
    assert verify(api, org, owner, "example.com").status_code == 200

    response = verify(api, other, other_key, "example.com")

    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "domains.claimed_elsewhere"
    claim = api.get(f"{base(other)}/example.com", headers=other_key).json()
    assert (claim["status"], claim["last_error"]) == ("pending", "claimed_elsewhere")
    assert actions(services, other) == ["domain.added", "domain.verification_failed"]


def test_a_domain_verified_elsewhere_cannot_be_added(api, services, dns_server, org, owner):
    dns_server.publish(
        {"_citadel_domain_challenge.example.com": [code_of(api, org, owner, "example.com")]}
    )
    verify(api, org, owner, "example.com")
    other = make_org(services, make_user(services), "Other")

    response = add(api, other, key_headers(make_api_key(services, other)), "example.com")

    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "domains.claimed_elsewhere"


def test_a_removed_claim_is_gone_and_audited(api, services, org, owner):
    add(api, org, owner, "example.com")

    response = api.delete(f"{base(org)}/example.com", headers=owner)

    assert response.status_code == 200
    assert api.get(f"{base(org)}/example.com", headers=owner).status_code == 404
    assert api.get(base(org), headers=owner).json() == {"domains": []}
    assert actions(services, org) == ["domain.added", "domain.removed"]


def test_a_released_domain_can_be_verified_by_another_organization(
    api, services, dns_server, org, owner
):
    dns_server.publish(
        {"_citadel_domain_challenge.example.com": [code_of(api, org, owner, "example.com")]}
    )
    verify(api, org, owner, "example.com")
    api.delete(f"{base(org)}/example.com", headers=owner)
    other = make_org(services, make_user(services), "Other")
    other_key = key_headers(make_api_key(services, other))
    dns_server.publish(
        {"_citadel_domain_challenge.example.com": [code_of(api, other, other_key, "example.com")]}
    )

    assert verify(api, other, other_key, "example.com").json()["status"] == "verified"


@pytest.mark.parametrize(
    "domain",
    [
        "192.0.2.1",
        "2001:db8::1",
        "*.example.com",
        "localhost",
        "exa mple.com",
        "-bad.example.com",
        "example.123",
        ("a" * 60 + ".") * 4 + "example.com",
        "",
    ],
)
def test_an_invalid_domain_is_refused_naming_the_field(api, org, owner, domain):
    response = add(api, org, owner, domain)

    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["fields"] == ["body.domain"]


def test_a_domain_is_stored_lowercase_in_idna_form(api, org, owner):
    assert add(api, org, owner, " Example.COM. ").json()["domain"] == "example.com"
    assert add(api, org, owner, "Bücher.example").json()["domain"] == "xn--bcher-kva.example"


def test_another_organizations_id_answers_like_a_nonexistent_one(api, services, org):
    stranger_org = make_org(services, make_user(services), "Elsewhere")
    stranger = key_headers(make_api_key(services, stranger_org))

    foreign = api.get(base(org), headers=stranger)
    missing = api.get(base(new_id()), headers=stranger)

    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()
