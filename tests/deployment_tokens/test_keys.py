"""The signing keys over time (ADR 27): made on first need, rotated with an overlap in the
JWK Set, published to nodes in every allocation (whose tag follows the key set), and made once
when replicas race for the first one."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwt
import pytest
import sqlalchemy as sa

from citadel.contract.messages import ComponentKind
from citadel.deployment_tokens.claims import audience
from citadel.deployment_tokens.models import TokenSigningKey
from citadel.use_cases.deployment_tokens import ensure_signing_key, rotate_token_keys
from tests.deployment_tokens.helpers import events, mint, served_jwks
from tests.fixtures.builders import (
    SystemUnits,
    key_headers,
    make_api_key,
    make_deployment,
    make_org,
    make_user,
)
from tests.fixtures.internal import as_component

ALLOCATIONS = "/internal/v1/allocations"


@pytest.fixture
def world(services):
    class World:
        org = make_org(services, make_user(services))
        dep = make_deployment(services, org)
        key = key_headers(make_api_key(services, org, expiration="365d"))  # outlives rotations

    return World


def kid_of(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def kids(client) -> list[str]:
    return [k["kid"] for k in served_jwks(client)["keys"]]


def signature_verifies(token: str, jwks: dict[str, Any], deployment_id: str) -> bool:
    """The signature and audience check against `jwks` (the test clock runs ahead of the real
    one, so the time claims are not checked here)."""
    by_kid = {k.key_id: k for k in jwt.PyJWKSet.from_dict(jwks).keys}
    key = by_kid.get(kid_of(token))
    if key is None:
        return False
    jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        audience=audience(deployment_id),
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )
    return True


def stored(services) -> list[TokenSigningKey]:
    with services.db.read() as session:
        return list(
            session.scalars(sa.select(TokenSigningKey).order_by(TokenSigningKey.generation))
        )


def test_there_is_no_key_until_one_is_needed(client, services, world):
    assert served_jwks(client) == {"keys": []}
    token = mint(client, world.dep, world.key).json()["token"]
    assert kids(client) == [kid_of(token)]


def test_asking_for_a_deployment_one_cannot_see_makes_no_key(client, services, world):
    stranger_org = make_org(services, make_user(services), "Other")
    stranger = key_headers(make_api_key(services, stranger_org))
    assert mint(client, world.dep, stranger).status_code == 404
    assert stored(services) == []


def test_the_private_key_is_stored_sealed(client, services, world):
    mint(client, world.dep, world.key)
    (row,) = stored(services)
    assert b"PRIVATE KEY" not in row.private_key_sealed
    assert "d" not in row.public_jwk


def test_a_rotation_publishes_the_successor_before_it_signs_and_keeps_the_old_key(
    client, services, clock, world
):
    first = mint(client, world.dep, world.key).json()["token"]
    units = SystemUnits(services)

    clock.advance(days=29)
    assert rotate_token_keys(units).empty
    clock.advance(days=1)
    done = rotate_token_keys(units)
    assert done.make is not None
    assert done.make.generation == 2

    published = kids(client)
    assert len(published) == 2
    assert published[0] == kid_of(first)
    still_old = mint(client, world.dep, world.key).json()["token"]
    assert kid_of(still_old) == kid_of(first)  # the successor waits until nodes have it

    clock.advance(seconds=60)
    new = mint(client, world.dep, world.key).json()["token"]
    assert kid_of(new) == published[1]
    jwks = served_jwks(client)
    assert signature_verifies(still_old, jwks, world.dep)
    assert signature_verifies(new, jwks, world.dep)


def test_the_old_key_leaves_the_jwks_once_its_last_token_has_expired(
    client, services, clock, world
):
    units = SystemUnits(services)
    mint(client, world.dep, world.key)
    clock.advance(days=30)
    rotate_token_keys(units)
    clock.advance(seconds=60)  # the successor signs from now; the old key's last token ...
    last_old = mint(client, world.dep, world.key)  # ... was minted just before
    assert last_old.status_code == 200

    clock.advance(seconds=300 + 59)  # lifetime + skew - 1 s
    assert rotate_token_keys(units).empty
    assert len(kids(client)) == 2
    clock.advance(seconds=1)
    done = rotate_token_keys(units)
    assert len(done.delete) == 1
    assert kids(client) == [stored(services)[0].kid]
    assert [r.generation for r in stored(services)] == [2]


def test_rotations_are_audited_as_platform_events(client, services, clock, world):
    units = SystemUnits(services)
    ensure_signing_key(units)
    clock.advance(days=30)
    rotate_token_keys(units)
    rotated = events(services, "platform.token_key.rotated")
    assert [e.organization_id for e in rotated] == [None, None]
    assert [e.details.get("generation") for e in rotated] == [1, 2]
    assert rotated[1].details["retired"] == stored(services)[0].kid


def test_a_forced_rotation_makes_a_successor_of_a_young_key(services, clock):
    units = SystemUnits(services)
    ensure_signing_key(units)
    done = rotate_token_keys(units, force=True)
    assert done.make is not None
    assert rotate_token_keys(units, force=True).empty  # one successor waiting is enough
    assert len(stored(services)) == 2


def test_every_running_allocation_carries_the_platform_realm_with_the_jwks(client, services, world):
    mint(client, world.dep, world.key)
    with as_component(services, ComponentKind.ALLOCATOR) as internal:
        (allocation,) = internal.get(ALLOCATIONS).json()["deployments"]
    realm = allocation["security"]["jwt"]
    assert realm["issuer"] == services.policies.token_issuer
    assert realm["audience"] == audience(world.dep)
    assert realm["allowed_signature_algorithms"] == ["RS256"]
    assert json.loads(realm["jwks"]) == served_jwks(client)


def test_a_stopped_deployment_gets_no_security_document(services, world):
    stopped = make_deployment(services, world.org, name="idle", stopped=True)
    with as_component(services, ComponentKind.ALLOCATOR) as internal:
        rows = {d["id"]: d for d in internal.get(ALLOCATIONS).json()["deployments"]}
    assert rows[stopped].get("security") is None
    assert rows[world.dep]["security"] is not None


def test_the_allocations_tag_changes_when_the_key_set_does(client, services, clock, world):
    units = SystemUnits(services)
    with as_component(services, ComponentKind.ALLOCATOR) as internal:
        before = internal.get(ALLOCATIONS).headers["etag"]
        ensure_signing_key(units)
        first = internal.get(ALLOCATIONS, headers={"if-none-match": before})
        assert first.status_code == 200
        tag = first.headers["etag"]
        assert internal.get(ALLOCATIONS, headers={"if-none-match": tag}).status_code == 304

        clock.advance(days=30)
        rotate_token_keys(units)
        rotated = internal.get(ALLOCATIONS, headers={"if-none-match": tag})
        assert rotated.status_code == 200
        assert (
            len(json.loads(rotated.json()["deployments"][0]["security"]["jwt"]["jwks"])["keys"])
            == 2
        )

        clock.advance(seconds=60 + 300 + 60)
        rotate_token_keys(units)
        pruned = internal.get(ALLOCATIONS, headers={"if-none-match": rotated.headers["etag"]})
        assert pruned.status_code == 200


def test_replicas_racing_for_the_first_key_make_exactly_one(services):
    racers = 4
    start = threading.Barrier(racers)

    def first_key(_: int) -> str:
        start.wait()
        return ensure_signing_key(SystemUnits(services)).kid

    with ThreadPoolExecutor(racers) as pool:
        chosen = set(pool.map(first_key, range(racers)))
    assert len(chosen) == 1
    assert [r.kid for r in stored(services)] == list(chosen)
    assert len(events(services, "platform.token_key.rotated")) == 1
