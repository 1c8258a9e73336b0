"""The control plane's tokens as a node sees them: the JWT realm built from the allocation's
security document (what the allocator writes to `security.json`) accepts a token for its own
deployment with the minted roles, and refuses one for another deployment."""

from __future__ import annotations

import pytest

from citadel.contract.messages import Allocations, ComponentKind, JwtRealm
from citadel.node.security.jwt_realm import JwtRefused, JwtVerifier
from tests.deployment_tokens.helpers import mint
from tests.fixtures.builders import (
    add_member,
    bearer,
    grant,
    login,
    make_deployment,
    make_org,
    make_user,
)
from tests.fixtures.internal import as_component


def node_realms(services) -> dict[str, JwtRealm]:
    """Each running deployment's platform realm, as the allocator receives it."""
    with as_component(services, ComponentKind.ALLOCATOR) as internal:
        answer = Allocations.model_validate(internal.get("/internal/v1/allocations").json())
    realms = {}
    for allocation in answer.deployments:
        assert allocation.security is not None
        assert allocation.security.jwt is not None
        realms[allocation.id] = allocation.security.jwt
    return realms


def test_a_viewer_of_one_deployment_is_a_viewer_there_and_nobody_on_another(
    client, services, clock
):
    org = make_org(services, make_user(services))
    dep_a = make_deployment(services, org, name="a")
    dep_b = make_deployment(services, org, name="b")
    viewer = make_user(services)
    add_member(services, org, viewer, grant(org, "deployment-viewer", dep_a))
    token = mint(client, dep_a, bearer(login(client, services, viewer))).json()["token"]
    realms = node_realms(services)

    verified = JwtVerifier(realms[dep_a], clock).verify(token)
    assert verified.user.username == viewer.user_id
    assert verified.user.email == viewer.email
    assert verified.granted == ("viewer",)

    with pytest.raises(JwtRefused):
        JwtVerifier(realms[dep_b], clock).verify(token)


def test_an_expired_token_is_refused_by_the_node(client, services, clock):
    owner = make_user(services)
    org = make_org(services, owner)
    dep = make_deployment(services, org)
    token = mint(client, dep, bearer(login(client, services, owner))).json()["token"]
    realm = node_realms(services)[dep]
    clock.advance(seconds=300 + realm.allowed_clock_skew_s + 1)
    with pytest.raises(JwtRefused):
        JwtVerifier(realm, clock).verify(token)
