"""The platform's jwt realm on a real node (in process): tokens the control plane would mint
are accepted, forged ones are one indistinguishable 401, the JWK Set follows the security file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from citadel.contract.messages import JwtRealm, NodeSecurity
from citadel.crypto.barrier import Barrier
from citadel.deployment_tokens import claims as issued
from citadel.deployment_tokens import keys, tokens
from citadel.kit.clock import SettableClock
from citadel.node.security.jwt_realm import MAX_TOKEN_BYTES
from citadel.node.services import NodeServices
from tests.node.builders import ELASTIC, app_of, client_of, put_role
from tests.node.jwt_builders import (
    AUDIENCE,
    SigningKey,
    claims,
    node_with_security_file,
    security,
    signing_key,
    token,
    write_security,
)

SKEW = 60


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return signing_key("k1")


@pytest.fixture
def security_file(tmp_path: Path, key: SigningKey) -> Path:
    path = tmp_path / "security.json"
    write_security(path, security(key, allowed_clock_skew_s=SKEW))
    return path


@pytest.fixture
def services(
    tmp_path: Path, node_clock: SettableClock, security_file: Path
) -> Iterator[NodeServices]:
    with node_with_security_file(tmp_path / "node", node_clock, security_file) as services:
        yield services


@pytest.fixture
def es(services: NodeServices) -> Iterator[TestClient]:
    with client_of(app_of(services), ELASTIC) as client:
        client.put("/logs-1/_doc/1?refresh=true", json={"msg": "hello"})
        yield client


@pytest.fixture
def node(services: NodeServices, es: TestClient) -> Iterator[TestClient]:
    """The node with no credentials of its own (each request brings its bearer token)."""
    with client_of(app_of(services)) as client:
        yield client


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def now_of(clock: SettableClock) -> float:
    return clock.now().timestamp()


def authenticate(node: TestClient, value: str) -> Any:
    return node.get("/_security/_authenticate", headers=bearer(value))


# -- accepted -----------------------------------------------------------------------------


def test_a_platform_token_authenticates_as_its_subject_in_the_citadel_cloud_realm(
    node: TestClient, key: SigningKey, node_clock: SettableClock
) -> None:
    response = authenticate(node, token(key, claims(now_of(node_clock))))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["username"] == "u-alice"
    assert body["roles"] == ["viewer"]
    assert body["full_name"] == "Alice Example"
    assert body["email"] == "alice@example.com"
    assert body["authentication_realm"] == {"name": "citadel-cloud", "type": "jwt"}
    assert body["lookup_realm"] == {"name": "citadel-cloud", "type": "jwt"}
    assert body["authentication_type"] == "realm"
    assert body["metadata"]["jwt_claim_org"] == "o-1"
    assert body["metadata"]["jwt_token_type"] == "id_token"


def test_the_roles_claim_is_granted_as_roles(
    node: TestClient, key: SigningKey, node_clock: SettableClock
) -> None:
    viewer = bearer(token(key, claims(now_of(node_clock))))
    assert node.get("/logs-1/_search", headers=viewer).json()["hits"]["total"]["value"] == 1
    refused = node.put("/logs-1/_doc/2", json={"msg": "no"}, headers=viewer)
    assert refused.status_code == 403
    assert "user [u-alice] with effective roles [viewer]" in refused.text


def test_a_token_with_no_role_may_only_ask_who_it_is(
    node: TestClient, key: SigningKey, node_clock: SettableClock
) -> None:
    nobody = token(key, claims(now_of(node_clock), roles=[]))
    assert authenticate(node, nobody).json()["roles"] == []
    assert node.get("/logs-1/_search", headers=bearer(nobody)).status_code == 403
    assert node.get("/_cluster/health", headers=bearer(nobody)).status_code == 403


def test_an_audience_list_containing_the_deployment_is_accepted(
    node: TestClient, key: SigningKey, node_clock: SettableClock
) -> None:
    body = claims(now_of(node_clock), aud=["other", AUDIENCE])
    assert authenticate(node, token(key, body)).status_code == 200


def test_other_asymmetric_algorithms_can_be_allowed(
    tmp_path: Path, node_clock: SettableClock
) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key()))
    path = tmp_path / "security.json"
    value = security(allowed_signature_algorithms=("ES256",))
    assert value.jwt is not None
    realm = value.jwt.model_copy(update={"jwks": json.dumps({"keys": [{**jwk, "kid": "e1"}]})})
    write_security(path, value.model_copy(update={"jwt": realm}))
    signed = jwt.encode(
        claims(now_of(node_clock)), ec_key, algorithm="ES256", headers={"kid": "e1"}
    )
    with (
        node_with_security_file(tmp_path / "n", node_clock, path) as services,
        client_of(app_of(services)) as node,
    ):
        assert authenticate(node, signed).json()["username"] == "u-alice"


# -- refused: one 401 for every reason ----------------------------------------------------


def _forgeries(key: SigningKey, other: SigningKey, now: float) -> dict[str, str]:
    public_pem = key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    good = token(key, claims(now))
    head, payload, signature = good.split(".")
    raised = claims(now, roles=["superuser"])
    tampered_payload = base64.urlsafe_b64encode(json.dumps(raised).encode()).rstrip(b"=")
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT","kid":"k1"}').rstrip(b"=")
    return {
        "wrong issuer": token(key, claims(now, iss="https://evil.test")),
        "wrong audience": token(key, claims(now, aud="citadel:deployment:d-2")),
        "no audience": token(key, claims(now, aud=None)),
        "alg none": f"{none_header.decode()}.{payload}.",
        "hs256 with the public key": _hs256(claims(now), public_pem),
        "expired": token(key, claims(now - 1000, exp=int(now) - SKEW)),
        "no exp": token(key, claims(now, exp=None)),
        "no iat": token(key, claims(now, iat=None)),
        "nbf in the future": token(key, claims(now, nbf=int(now) + SKEW + 5)),
        "iat in the future": token(key, claims(now, iat=int(now) + SKEW + 5, nbf=None)),
        "kid not in the JWK Set": token(key, claims(now), kid="k9"),
        "no kid": jwt.encode(claims(now), key.private, algorithm="RS256"),
        "signed by another key under our kid": token(other, claims(now), kid="k1"),
        "tampered claims": f"{head}.{tampered_payload.decode()}.{signature}",
        "no principal": token(key, claims(now, sub=None)),
        "empty principal": token(key, claims(now, sub="")),
        "roles not strings": token(key, claims(now, roles=[{"x": 1}])),
        "too large": token(key, claims(now, pad="x" * MAX_TOKEN_BYTES)),
        "not a jwt at all": "abc.def.ghi",
    }


def _hs256(body: dict[str, Any], secret: bytes) -> str:
    """An HS256 "signature" made with the public key as the secret (algorithm confusion),
    built by hand because PyJWT refuses a PEM key as an HMAC secret."""

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing_input = (
        b64(b'{"alg":"HS256","typ":"JWT","kid":"k1"}') + "." + b64(json.dumps(body).encode())
    )
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


FORGERIES = [
    "wrong issuer",
    "wrong audience",
    "no audience",
    "alg none",
    "hs256 with the public key",
    "expired",
    "no exp",
    "no iat",
    "nbf in the future",
    "iat in the future",
    "kid not in the JWK Set",
    "no kid",
    "signed by another key under our kid",
    "tampered claims",
    "no principal",
    "empty principal",
    "roles not strings",
    "too large",
    "not a jwt at all",
]


@pytest.fixture(scope="module")
def other_key() -> SigningKey:
    return signing_key("k2")


@pytest.mark.parametrize("forgery", FORGERIES)
def test_a_forged_or_unfit_token_is_the_same_401(
    node: TestClient,
    key: SigningKey,
    other_key: SigningKey,
    node_clock: SettableClock,
    forgery: str,
) -> None:
    forged = _forgeries(key, other_key, now_of(node_clock))[forgery]
    response = node.get("/logs-1/_search", headers=bearer(forged))
    assert response.status_code == 401
    reference = node.get("/logs-1/_search", headers=bearer("not-a-token"))
    assert response.json() == reference.json()
    assert response.json()["error"]["type"] == "security_exception"
    assert "jwt" not in response.text.lower()  # nothing says which check failed


def test_without_a_jwt_realm_a_jwt_is_refused(
    tmp_path: Path, node_clock: SettableClock, key: SigningKey
) -> None:
    absent = tmp_path / "absent.json"
    with (
        node_with_security_file(tmp_path / "n", node_clock, absent) as services,
        client_of(app_of(services)) as node,
    ):
        assert authenticate(node, token(key, claims(now_of(node_clock)))).status_code == 401
        assert node.get("/", auth=ELASTIC).status_code == 200  # the node works as before


# -- clock skew ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [(-(SKEW - 1), True), (-SKEW, False)],
    ids=["exp just within the skew", "exp at the skew"],
)
def test_an_expired_token_is_accepted_only_within_the_clock_skew(
    node: TestClient, key: SigningKey, node_clock: SettableClock, offset: int, accepted: bool
) -> None:
    now = now_of(node_clock)
    body = claims(now - 300, exp=int(now) + offset)
    assert (authenticate(node, token(key, body)).status_code == 200) is accepted


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [(SKEW, True), (SKEW + 1, False)],
    ids=["nbf at the skew", "nbf beyond the skew"],
)
def test_a_token_not_yet_valid_is_accepted_only_within_the_clock_skew(
    node: TestClient, key: SigningKey, node_clock: SettableClock, offset: int, accepted: bool
) -> None:
    now = int(now_of(node_clock))
    body = claims(now, nbf=now + offset, iat=now)
    assert (authenticate(node, token(key, body)).status_code == 200) is accepted


def test_a_remembered_token_still_dies_at_its_expiry(
    node: TestClient, key: SigningKey, node_clock: SettableClock
) -> None:
    now = now_of(node_clock)
    value = token(key, claims(now, exp=int(now) + 30))
    assert authenticate(node, value).status_code == 200
    assert authenticate(node, value).status_code == 200  # remembered
    node_clock.advance(seconds=30 + SKEW)
    assert authenticate(node, value).status_code == 401


# -- the JWK Set follows the security file ------------------------------------------------


def test_a_rotated_out_key_is_refused_even_for_a_remembered_token(
    node: TestClient,
    services: NodeServices,
    security_file: Path,
    key: SigningKey,
    other_key: SigningKey,
    node_clock: SettableClock,
) -> None:
    now = now_of(node_clock)
    old, new = token(key, claims(now)), token(other_key, claims(now, sub="u-bob"))
    assert authenticate(node, old).status_code == 200
    write_security(security_file, security(key, other_key, allowed_clock_skew_s=SKEW))
    services.security_config.reload()
    assert authenticate(node, old).status_code == 200  # both published during the overlap
    assert authenticate(node, new).json()["username"] == "u-bob"
    write_security(security_file, security(other_key, allowed_clock_skew_s=SKEW))
    services.security_config.reload()
    assert authenticate(node, old).status_code == 401
    assert authenticate(node, new).status_code == 200


def test_a_broken_security_file_keeps_the_last_good_settings(
    node: TestClient,
    services: NodeServices,
    security_file: Path,
    key: SigningKey,
    node_clock: SettableClock,
) -> None:
    security_file.write_text('{"jwt": {"issuer": 3}}')
    services.security_config.reload()
    assert authenticate(node, token(key, claims(now_of(node_clock)))).status_code == 200


# -- role mappings apply to jwt users -----------------------------------------------------


def test_role_mappings_give_jwt_users_roles_until_deleted(
    es: TestClient, node: TestClient, key: SigningKey, node_clock: SettableClock
) -> None:
    put_role(es, "org_writer", indices={"logs-*": ["write"]})
    mapping = {
        "enabled": True,
        "roles": ["org_writer"],
        "rules": {
            "all": [
                {"field": {"realm.name": "citadel-cloud"}},
                {"field": {"metadata.jwt_claim_org": "o-1"}},
                {"field": {"groups": "view*"}},
            ]
        },
    }
    assert es.put("/_security/role_mapping/writers", json=mapping).status_code == 200
    value = bearer(token(key, claims(now_of(node_clock))))
    assert node.get("/_security/_authenticate", headers=value).json()["roles"] == [
        "viewer",
        "org_writer",
    ]
    assert node.put("/logs-1/_doc/2", json={"m": 1}, headers=value).status_code == 201
    assert es.delete("/_security/role_mapping/writers").status_code == 200
    assert node.put("/logs-1/_doc/3", json={"m": 1}, headers=value).status_code == 403


def test_a_disabled_mapping_maps_nobody(
    es: TestClient, node: TestClient, key: SigningKey, node_clock: SettableClock
) -> None:
    mapping = {"enabled": False, "roles": ["superuser"], "rules": {"field": {"username": "*"}}}
    assert es.put("/_security/role_mapping/off", json=mapping).status_code == 200
    value = token(key, claims(now_of(node_clock), roles=[]))
    assert authenticate(node, value).json()["roles"] == []


def test_a_role_template_names_a_role_after_the_user(
    es: TestClient, node: TestClient, key: SigningKey, node_clock: SettableClock
) -> None:
    mapping = {
        "enabled": True,
        "role_templates": [
            {"template": {"source": "user_{{username}}"}, "format": "string"},
            {"template": {"source": '["{{realm.name}}_all"]'}, "format": "json"},
        ],
        "rules": {"field": {"username": "u-*"}},
    }
    assert es.put("/_security/role_mapping/per-user", json=mapping).status_code == 200
    value = token(key, claims(now_of(node_clock), roles=[]))
    assert authenticate(node, value).json()["roles"] == ["user_u-alice", "citadel-cloud_all"]


def test_native_users_are_not_mapped(es: TestClient) -> None:
    mapping = {"enabled": True, "roles": ["viewer"], "rules": {"field": {"username": "*"}}}
    assert es.put("/_security/role_mapping/all", json=mapping).status_code == 200
    assert es.get("/_security/_authenticate").json()["roles"] == ["superuser"]


# -- the control plane's own minting code, end to end with the node's realm ---------------


def test_a_token_minted_by_the_control_planes_issuer_code_is_accepted(
    tmp_path: Path, node_clock: SettableClock
) -> None:
    barrier = Barrier({1: os.urandom(32)})
    row = keys.new_key(barrier, 1, node_clock.now(), node_clock.now())
    pem = barrier.open(row.private_key_sealed, context=f"deployment_tokens.key:{row.kid}")
    realm = JwtRealm(
        issuer="https://citadel.example",
        audience=issued.audience("d-7"),
        jwks=json.dumps({"keys": [row.public_jwk]}),
        allowed_clock_skew_s=tokens.CLOCK_SKEW_S,
    )
    path = tmp_path / "security.json"
    write_security(path, NodeSecurity(jwt=realm))
    body = issued.token_claims(
        issuer="https://citadel.example",
        audience=issued.audience("d-7"),
        organization_id="o-1",
        bearer=issued.Bearer("u-9", "Grace", "grace@example.com", (issued.Amr.PASSWORD,)),
        roles=("editor",),
        jti="j-9",
        now=node_clock.now(),
        lifetime=timedelta(seconds=300),
    )
    value = tokens.sign(keys.SigningKey(row.kid, pem), body)
    with (
        node_with_security_file(tmp_path / "n", node_clock, path) as services,
        client_of(app_of(services)) as node,
    ):
        me = authenticate(node, value).json()
    assert (me["username"], me["roles"], me["email"]) == ("u-9", ["editor"], "grace@example.com")
    assert me["metadata"]["jwt_claim_amr"] == ["pwd"]
