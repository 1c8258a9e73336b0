"""The OIDC realm against an independent OpenID Provider (oidc-provider-mock over TLS, in its
own process; `tests.node.oidc_provider`), through the real authorization-code flow.

The node runs in process with its security file in ``run/`` and reaches the provider only
through the allocator's egress forwarder (`citadel.runtime.egress`) on ``run/egress/``, as it
does from its sandbox: there is no other way from the realm to the network.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from citadel.contract.messages import AuditSettings
from tests.node.builders import error_of
from tests.node.oidc_provider import Provider, running_provider, start_oidc_node

CALLBACK = "https://app.example/api/oidc/callback"
CLIENT_ID = "kibana-like-app"


@pytest.fixture(scope="module")
def op(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    with running_provider(tmp_path_factory.mktemp("op")) as provider:
        yield provider


def realm_settings(op: Provider, **overrides: Any) -> dict[str, Any]:
    settings = {
        "op.issuer": op.issuer,
        "op.authorization_endpoint": f"{op.issuer}/oauth2/authorize",
        "op.token_endpoint": f"{op.issuer}/oauth2/token",
        "op.jwkset_path": f"{op.issuer}/jwks",
        "op.endsession_endpoint": f"{op.issuer}/oauth2/end_session",
        "rp.client_id": CLIENT_ID,
        "rp.redirect_uri": CALLBACK,
        "rp.post_logout_redirect_uri": "https://app.example/logged-out",
        "rp.requested_scopes": ["openid", "email", "profile"],
        "claims.principal": "sub",
        "claims.groups": "groups",
        "claims.name": "name",
        "claims.mail": "email",
        "ssl.certificate_authorities": op.ca_pem,
    }
    settings.update(overrides)
    return {k: v for k, v in settings.items() if v is not None}


NodeFactory = Callable[..., TestClient]


@pytest.fixture
def oidc_node(tmp_path: Path, op: Provider) -> Iterator[NodeFactory]:
    """Make a node whose security file holds one OIDC realm ``oidc1`` (settings overridden by
    keyword), its egress forwarder running; answers a client signed in as ``elastic``."""
    with ExitStack() as stack:

        def make(*, egress: bool = True, **overrides: Any) -> TestClient:
            settings = realm_settings(op, **overrides)
            return start_oidc_node(stack, tmp_path, settings, egress=egress)[0]

        yield make


def prepare(node: TestClient, **body: str) -> dict[str, Any]:
    response = node.post("/_security/oidc/prepare", json=body or {"realm": "oidc1"})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def sign_in(node: TestClient, op: Provider, sub: str, claims: dict[str, Any]) -> Any:
    """The whole flow for user `sub`: prepare, the provider's form, authenticate."""
    op.set_user(sub, claims)
    prepared = prepare(node)
    callback = op.sign_in(prepared["redirect"], sub)
    return node.post(
        "/_security/oidc/authenticate",
        json={
            "redirect_uri": callback,
            "state": prepared["state"],
            "nonce": prepared["nonce"],
            "realm": "oidc1",
        },
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


ALICE = {"email": "alice@example.com", "name": "Alice A", "groups": ["readers", "staff"]}


# -- the flow -------------------------------------------------------------------------------


def test_prepare_answers_the_authorization_url_with_state_nonce_and_pkce(
    oidc_node: NodeFactory, op: Provider
) -> None:
    prepared = prepare(oidc_node())
    assert prepared["realm"] == "oidc1"
    url = urlsplit(prepared["redirect"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{op.issuer}/oauth2/authorize"
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == CALLBACK
    assert query["scope"] == "openid email profile"
    assert (query["state"], query["nonce"]) == (prepared["state"], prepared["nonce"])
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert len(prepared["state"]) >= 43


def test_a_signed_in_user_gets_tokens_and_the_role_mapping_decides(
    oidc_node: NodeFactory, op: Provider
) -> None:
    node = oidc_node()
    response = sign_in(node, op, "alice", ALICE)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "username",
        "access_token",
        "refresh_token",
        "expires_in",
        "authentication",
    }
    assert body["username"] == "alice"
    token = bearer(body["access_token"])
    me = node.get("/_security/_authenticate", headers=token, auth=None).json()
    assert me["username"] == "alice"
    assert me["roles"] == ["logs_reader"]
    assert me["authentication_realm"] == {"name": "oidc1", "type": "oidc"}
    assert (me["full_name"], me["email"]) == ("Alice A", "alice@example.com")
    assert me["authentication_type"] == "token"
    assert node.get("/logs-1/_doc/1", headers=token, auth=None).status_code == 200
    assert node.get("/secret-1/_doc/1", headers=token, auth=None).status_code == 403


def test_a_user_no_mapping_matches_can_do_nothing(oidc_node: NodeFactory, op: Provider) -> None:
    node = oidc_node()
    response = sign_in(node, op, "mallory", {"email": "m@example.com", "groups": ["staff"]})
    assert response.status_code == 200, response.text
    token = bearer(response.json()["access_token"])
    assert node.get("/_security/_authenticate", headers=token, auth=None).json()["roles"] == []
    assert node.get("/logs-1/_doc/1", headers=token, auth=None).status_code == 403


def test_the_oidc_tokens_refresh_and_log_out(oidc_node: NodeFactory, op: Provider) -> None:
    node = oidc_node()
    first = sign_in(node, op, "alice", ALICE).json()
    refreshed = node.post(
        "/_security/oauth2/token",
        json={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
    ).json()
    me = node.get(
        "/_security/_authenticate", headers=bearer(refreshed["access_token"]), auth=None
    ).json()
    assert me["authentication_realm"] == {"name": "oidc1", "type": "oidc"}
    logout = node.post(
        "/_security/oidc/logout",
        json={"token": refreshed["access_token"], "refresh_token": refreshed["refresh_token"]},
    )
    assert logout.status_code == 200, logout.text
    url = urlsplit(logout.json()["redirect"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{op.issuer}/oauth2/end_session"
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query["post_logout_redirect_uri"] == "https://app.example/logged-out"
    assert query["id_token_hint"].count(".") == 2
    gone = node.get("/_security/_authenticate", headers=bearer(refreshed["access_token"]))
    assert gone.status_code == 200  # as elastic (the client's own credentials)
    alone = node.get(
        "/_security/_authenticate", headers=bearer(refreshed["access_token"]), auth=None
    )
    assert alone.status_code == 401


def test_a_claim_pattern_maps_the_principal_and_a_mismatch_fails(
    oidc_node: NodeFactory, op: Provider
) -> None:
    node = oidc_node(
        **{
            "claims.principal": "email",
            "claim_patterns.principal": r"^([^@]+)@example\.com$",
        }
    )
    ok = sign_in(node, op, "sub-1", {"email": "carol@example.com", "groups": ["readers"]})
    assert ok.json()["username"] == "carol"
    refused = sign_in(node, op, "sub-2", {"email": "eve@elsewhere.test", "groups": ["readers"]})
    assert error_of(refused, 401)["reason"] == "Failed to authenticate user with OpenID Connect"


def test_the_userinfo_endpoint_is_asked_with_the_access_token_and_its_claims_merged(
    oidc_node: NodeFactory, op: Provider
) -> None:
    node = oidc_node(**{"op.userinfo_endpoint": f"{op.issuer}/userinfo"})
    response = sign_in(node, op, "alice", ALICE)
    assert response.status_code == 200, response.text  # the provider took the Bearer token
    me = node.get(
        "/_security/_authenticate", headers=bearer(response.json()["access_token"]), auth=None
    ).json()
    assert me["roles"] == ["logs_reader"]
    assert me["email"] == "alice@example.com"
    # The provider answers the same claims in the ID token and at its userinfo endpoint:
    # Elasticsearch joins lists without removing duplicates and keeps the ID token's value of
    # any other claim, so the groups come twice (the userinfo answer was read) and the rest once.
    assert me["metadata"]["oidc(groups)"] == ["readers", "staff", "readers", "staff"]
    assert me["metadata"]["oidc(email)"] == "alice@example.com"


def test_a_userinfo_endpoint_that_answers_no_claims_fails_the_sign_in(
    oidc_node: NodeFactory, op: Provider
) -> None:
    node = oidc_node(**{"op.userinfo_endpoint": f"{op.issuer}/jwks"})  # JSON, but no sub
    error = error_of(sign_in(node, op, "alice", ALICE), 401)
    assert error["reason"] == "Failed to authenticate user with OpenID Connect"


def test_prepare_by_issuer_passes_the_login_hint(oidc_node: NodeFactory, op: Provider) -> None:
    prepared = prepare(oidc_node(), iss=op.issuer, login_hint="alice@example.com")
    assert prepared["realm"] == "oidc1"
    query = parse_qs(urlsplit(prepared["redirect"]).query)
    assert query["login_hint"] == ["alice@example.com"]


# -- refusals -------------------------------------------------------------------------------


def authenticate_with(node: TestClient, op: Provider, change: Callable[[dict[str, str]], None]):  # type: ignore[no-untyped-def]
    """Run the flow up to the provider's redirect, let `change` tamper with what the
    application sends back, then authenticate."""
    op.set_user("alice", ALICE)
    prepared = prepare(node)
    body = {
        "redirect_uri": op.sign_in(prepared["redirect"], "alice"),
        "state": prepared["state"],
        "nonce": prepared["nonce"],
    }
    change(body)
    return node.post("/_security/oidc/authenticate", json=body)


def test_a_forged_state_is_refused(oidc_node: NodeFactory, op: Provider) -> None:
    def forge(body: dict[str, str]) -> None:
        body["state"] = "forged-state"
        body["redirect_uri"] = body["redirect_uri"].split("state=")[0] + "state=forged-state"

    error = error_of(authenticate_with(oidc_node(), op, forge), 401)
    assert error["reason"] == "Failed to authenticate user with OpenID Connect"


def test_a_redirect_whose_state_is_not_the_logins_is_refused(
    oidc_node: NodeFactory, op: Provider
) -> None:
    node = oidc_node()
    other = prepare(node)  # another pending login's state, in the redirect URL

    def swap(body: dict[str, str]) -> None:
        query = parse_qs(urlsplit(body["redirect_uri"]).query)
        body["redirect_uri"] = f"{CALLBACK}?code={query['code'][0]}&state={other['state']}"

    error_of(authenticate_with(node, op, swap), 401)


def test_a_wrong_nonce_is_refused(oidc_node: NodeFactory, op: Provider) -> None:
    def wrong(body: dict[str, str]) -> None:
        body["nonce"] = "not-the-nonce"

    error_of(authenticate_with(oidc_node(), op, wrong), 401)


def test_a_replayed_authentication_is_refused(oidc_node: NodeFactory, op: Provider) -> None:
    node = oidc_node()
    sent: dict[str, str] = {}
    first = authenticate_with(node, op, sent.update)
    assert first.status_code == 200
    error_of(node.post("/_security/oidc/authenticate", json=sent), 401)


def test_an_id_token_from_another_issuer_is_refused(oidc_node: NodeFactory, op: Provider) -> None:
    node = oidc_node(**{"op.issuer": "https://accounts.elsewhere.test"})
    error_of(sign_in(node, op, "alice", ALICE), 401)


def test_the_providers_certificate_is_verified(oidc_node: NodeFactory, op: Provider) -> None:
    node = oidc_node(**{"ssl.certificate_authorities": None})  # the system's CAs only
    error = error_of(sign_in(node, op, "alice", ALICE), 401)
    assert error["caused_by"]["reason"] == (
        "Failed to exchange code for Id Token using the Token Endpoint."
    )


def test_an_unreachable_token_endpoint_is_a_clear_401(oidc_node: NodeFactory, op: Provider) -> None:
    node = oidc_node(egress=False)  # no forwarder: the node has no way out
    error = error_of(sign_in(node, op, "alice", ALICE), 401)
    assert error["reason"] == "Failed to authenticate user with OpenID Connect"
    assert error["caused_by"]["reason"] == (
        "Failed to exchange code for Id Token using the Token Endpoint."
    )


def test_the_oidc_api_needs_manage_oidc(oidc_node: NodeFactory, op: Provider) -> None:
    node = oidc_node()
    assert node.put(
        "/_security/user/app", json={"password": "app-password-1", "roles": ["logs_reader"]}
    ).is_success
    response = node.post(
        "/_security/oidc/prepare", json={"realm": "oidc1"}, auth=("app", "app-password-1")
    )
    assert "manage_oidc" in error_of(response, 403)["reason"]


@pytest.mark.parametrize(
    ("path", "body", "reason"),
    [
        ("prepare", {}, "one of [realm, issuer] must be provided"),
        ("prepare", {"realm": "oidc1", "iss": "x"}, "only one of [realm, issuer]"),
        ("prepare", {"realm": "nope"}, "Cannot find OIDC realm with name [nope]"),
        ("authenticate", {"state": "s"}, "nonce parameter is missing"),
        ("logout", {}, "token is missing"),
        ("prepare", {"realm": "oidc1", "state": "s" * 1025}, "[state] may not be longer"),
        (
            "authenticate",
            {"state": "s", "nonce": "n", "redirect_uri": "u" * 8193},
            "[redirect_uri]",
        ),
    ],
)
def test_malformed_oidc_requests_are_400s(
    oidc_node: NodeFactory, path: str, body: dict[str, str], reason: str
) -> None:
    response = oidc_node().post(f"/_security/oidc/{path}", json=body)
    assert reason in error_of(response, 400)["reason"]


def test_sign_ins_are_audited_as_the_user_or_the_oidc_token(tmp_path: Path, op: Provider) -> None:
    audit = AuditSettings(enabled=True, include=("authentication_success", "authentication_failed"))
    with ExitStack() as stack:
        node, services = start_oidc_node(stack, tmp_path, realm_settings(op), audit=audit)
        assert sign_in(node, op, "alice", ALICE).status_code == 200
        refused = authenticate_with(node, op, lambda body: body.update(nonce="wrong"))
        assert refused.status_code == 401
        events = services.audit.collect(0)["events"]
    signed_in = [
        e
        for e in events
        if e["event.action"] == "authentication_success" and e.get("user.name") == "alice"
    ]
    assert signed_in
    assert signed_in[0]["user.realm"] == "oidc1"
    failed = [e for e in events if e["event.action"] == "authentication_failed"]
    assert [e["user.name"] for e in failed] == ["<OIDC Token>"]
