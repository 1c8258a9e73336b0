"""`POST /api/v1/deployments/{id}/_token`: who gets a token, with which stack roles, and how a
node verifies it against the served JWK Set (ADR 27)."""

from __future__ import annotations

from datetime import datetime

import jwt
import pytest

from citadel.deployment_tokens.claims import audience
from tests.deployment_tokens.helpers import events, mint, served_jwks, verify
from tests.fixtures.builders import (
    add_member,
    bearer,
    grant,
    key_headers,
    login,
    make_api_key,
    make_deployment,
    make_org,
    make_user,
)


@pytest.fixture
def world(services):
    """An organization with an owner, two deployments, and the owner's session."""

    class World:
        owner = make_user(services)
        org = make_org(services, owner)
        dep = make_deployment(services, org)
        other_dep = make_deployment(services, org, name="other")

    return World


def member_headers(client, services, world, *grants) -> dict[str, str]:
    user = make_user(services)
    add_member(services, world.org, user, *grants)
    return bearer(login(client, services, user))


def test_the_owner_gets_a_superuser_token_the_served_keys_verify(client, services, world):
    session = login(client, services, world.owner)
    response = mint(client, world.dep, bearer(session))

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["roles"] == ["superuser"]
    assert body["deployment_id"] == world.dep
    assert body["audience"] == audience(world.dep)
    assert body["expires_in"] == 300
    claims = verify(
        body["token"],
        served_jwks(client),
        audience=audience(world.dep),
        issuer=services.policies.token_issuer,
    )
    assert claims["sub"] == world.owner.user_id
    assert claims["email"] == world.owner.email
    assert claims["roles"] == ["superuser"]
    assert claims["amr"] == ["pwd", "mfa"]
    assert claims["org"] == world.org
    assert claims["exp"] - claims["iat"] == 300
    assert claims["nbf"] == claims["iat"]
    assert datetime.fromisoformat(body["expires_at"]).timestamp() == claims["exp"]


def test_the_token_names_its_key_and_algorithm(client, services, world):
    body = mint(client, world.dep, bearer(login(client, services, world.owner))).json()
    header = jwt.get_unverified_header(body["token"])
    kids = [k["kid"] for k in served_jwks(client)["keys"]]
    assert header["alg"] == "RS256"
    assert header["kid"] in kids


def test_a_token_for_one_deployment_fails_the_audience_of_another(client, services, world):
    body = mint(client, world.dep, bearer(login(client, services, world.owner))).json()
    with pytest.raises(jwt.InvalidAudienceError):
        verify(body["token"], served_jwks(client), audience=audience(world.other_dep))


def test_the_jwks_holds_public_keys_only_and_is_cached_briefly(client, services, world):
    mint(client, world.dep, bearer(login(client, services, world.owner)))
    response = client.get("/.well-known/jwks.json")
    assert response.headers["cache-control"] == "public, max-age=60"
    (key,) = response.json()["keys"]
    assert set(key) == {"kty", "kid", "use", "alg", "n", "e"}
    assert (key["kty"], key["use"], key["alg"]) == ("RSA", "sig", "RS256")


@pytest.mark.parametrize(
    ("role", "scoped", "roles"),
    [
        ("deployment-admin", False, ["superuser"]),
        ("deployment-admin", True, ["superuser"]),
        ("deployment-editor", False, ["editor"]),
        ("deployment-editor", True, ["editor"]),
        ("deployment-viewer", False, ["viewer"]),
        ("deployment-viewer", True, ["viewer"]),
    ],
)
def test_a_deployment_role_maps_to_its_stack_role(client, services, world, role, scoped, roles):
    ids = (world.dep,) if scoped else ()
    headers = member_headers(client, services, world, grant(world.org, role, *ids))
    response = mint(client, world.dep, headers)
    assert response.status_code == 200, response.text
    assert response.json()["roles"] == roles
    claims = verify(response.json()["token"], served_jwks(client), audience=audience(world.dep))
    assert claims["roles"] == roles


def test_a_role_on_another_deployment_only_answers_not_found(client, services, world):
    headers = member_headers(
        client, services, world, grant(world.org, "deployment-viewer", world.other_dep)
    )
    response = mint(client, world.dep, headers)
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "deployments.deployment_not_found"


@pytest.mark.parametrize("grants", [(), ("billing-admin",)], ids=["no role", "billing admin"])
def test_a_member_without_a_deployment_role_gets_not_found(client, services, world, grants):
    headers = member_headers(client, services, world, *(grant(world.org, g) for g in grants))
    assert mint(client, world.dep, headers).status_code == 404


def test_another_organizations_deployment_answers_like_an_unknown_id(client, services, world):
    stranger = make_user(services)
    make_org(services, stranger, "Other")
    headers = bearer(login(client, services, stranger))
    foreign = mint(client, world.dep, headers)
    unknown = mint(client, "0" * 32, headers)
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json() == unknown.json()
    assert events(services, "deployment.token.minted") == []


def test_a_deleted_deployment_answers_not_found(client, services, world):
    key = key_headers(make_api_key(services, world.org))
    stopped = make_deployment(services, world.org, name="gone", stopped=True)
    assert client.delete(f"/api/v1/deployments/{stopped}", headers=key).status_code == 200
    assert mint(client, stopped, key).status_code == 404


def test_an_api_key_of_the_organization_gets_a_token_as_itself(client, services, world):
    key_text = make_api_key(services, world.org)
    response = mint(client, world.dep, key_headers(key_text))
    assert response.status_code == 200
    claims = verify(response.json()["token"], served_jwks(client), audience=audience(world.dep))
    assert claims["sub"].startswith("api-key:")
    assert claims["amr"] == ["api_key"]
    assert claims["roles"] == ["superuser"]
    assert "email" not in claims


def test_an_api_key_carries_its_own_roles(client, services, world):
    viewer = key_headers(make_api_key(services, world.org, grant(world.org, "deployment-viewer")))
    assert mint(client, world.dep, viewer).json()["roles"] == ["viewer"]


def test_another_organizations_api_key_gets_not_found(client, services, world):
    stranger = make_user(services)
    other_org = make_org(services, stranger, "Other")
    assert (
        mint(client, world.dep, key_headers(make_api_key(services, other_org))).status_code == 404
    )


def test_without_credentials_minting_is_unauthenticated(client, world):
    assert mint(client, world.dep, {}).status_code == 401


def test_after_removal_the_next_mint_is_refused(client, services, clock, world):
    member = make_user(services)
    add_member(services, world.org, member, grant(world.org, "deployment-viewer"))
    owner_key = key_headers(make_api_key(services, world.org))
    session = bearer(login(client, services, member))
    assert mint(client, world.dep, session).status_code == 200

    removed = client.delete(
        f"/api/v1/organizations/{world.org}/members/{member.user_id}", headers=owner_key
    )
    assert removed.status_code == 200

    assert mint(client, world.dep, session).status_code == 401  # the session ended with it
    clock.advance(seconds=30)  # the next TOTP code
    again = bearer(login(client, services, member))  # a new sign-in belongs to nothing
    assert mint(client, world.dep, again).status_code == 404


def test_after_a_role_change_the_next_token_carries_the_new_roles(client, services, clock, world):
    member = make_user(services)
    add_member(services, world.org, member, grant(world.org, "deployment-viewer"))
    owner_key = key_headers(make_api_key(services, world.org))
    session = bearer(login(client, services, member))
    assert mint(client, world.dep, session).json()["roles"] == ["viewer"]
    path = f"/api/v1/users/{member.user_id}/role_assignments"

    editor = {
        "deployment": [{"role_id": "deployment-editor", "organization_id": world.org, "all": True}]
    }
    assert client.post(path, json=editor, headers=owner_key).status_code == 200
    assert mint(client, world.dep, session).json()["roles"] == ["editor", "viewer"]
    viewer = {
        "deployment": [{"role_id": "deployment-viewer", "organization_id": world.org, "all": True}]
    }
    assert client.request("DELETE", path, json=viewer, headers=owner_key).status_code == 200

    clock.advance(seconds=30)  # the next TOTP code
    session = bearer(login(client, services, member))  # a role removal ends sessions
    assert mint(client, world.dep, session).json()["roles"] == ["editor"]


def test_application_roles_are_the_tokens_roles(client, services, world):
    member = make_user(services)
    add_member(services, world.org, member)
    owner_key = key_headers(make_api_key(services, world.org))
    custom = {
        "deployment": [
            {
                "role_id": "deployment-viewer",
                "organization_id": world.org,
                "all": False,
                "deployment_ids": [world.dep],
                "application_roles": ["logs_reader"],
            }
        ]
    }
    path = f"/api/v1/users/{member.user_id}/role_assignments"
    assert client.post(path, json=custom, headers=owner_key).status_code == 200
    session = bearer(login(client, services, member))
    response = mint(client, world.dep, session)
    assert response.json()["roles"] == ["logs_reader"]


def test_every_mint_is_audited_without_the_token(client, services, world):
    body = mint(client, world.dep, bearer(login(client, services, world.owner))).json()
    (event,) = events(services, "deployment.token.minted")
    assert event.organization_id == world.org
    assert (event.target_type, event.target_id) == ("deployment", world.dep)
    assert event.actor_id == world.owner.user_id
    assert event.details["roles"] == ["superuser"]
    assert event.details["kid"] == jwt.get_unverified_header(body["token"])["kid"]
    assert body["token"] not in str(event.details)
    assert body["token"].split(".")[2] not in str(event.details)
