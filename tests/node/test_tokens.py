"""Bearer tokens (``/_security/oauth2/token``): the grants, refresh rotation, invalidation by
each selector, expiry, the bound on live tokens, and ``Authorization: Bearer`` on any route."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from citadel.kit.clock import SettableClock
from citadel.node.http.app import NodeApp
from citadel.node.security.tokens import TokenService
from citadel.node.services import NodeServices
from tests.node.builders import PASSWORD, client_of, error_of, logs_reader, put_role, put_user

TOKEN = "/_security/oauth2/token"


@pytest.fixture
def bob(es: TestClient) -> str:
    logs_reader(es)  # may read logs-* and nothing else
    return "bob"


@pytest.fixture
def app_client(node_app: NodeApp) -> Iterator[TestClient]:
    """The node as an application that holds only ``manage_token`` (like Kibana)."""
    with client_of(node_app) as client:
        yield client


@pytest.fixture
def kibana(es: TestClient, node_app: NodeApp) -> Iterator[TestClient]:
    put_role(es, "token_manager", cluster=["manage_token"])
    put_user(es, "kibana", roles=["token_manager"])
    with client_of(node_app, ("kibana", PASSWORD)) as client:
        yield client


def password_grant(client: TestClient, username: str = "bob", password: str = PASSWORD) -> Any:
    return client.post(
        TOKEN, json={"grant_type": "password", "username": username, "password": password}
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def whoami(client: TestClient, token: str) -> Any:
    return client.get("/_security/_authenticate", headers=bearer(token), auth=None)


# -- grants ---------------------------------------------------------------------------------


def test_a_password_grant_answers_as_elasticsearch(kibana: TestClient, bob: str) -> None:
    response = password_grant(kibana)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "type", "expires_in", "refresh_token", "authentication"}
    assert body["type"] == "Bearer"
    assert body["expires_in"] == 1200
    assert len(body["access_token"]) >= 43
    assert "." not in body["access_token"]
    assert body["authentication"]["username"] == "bob"
    assert body["authentication"]["authentication_realm"] == {
        "name": "default_native",
        "type": "native",
    }


def test_the_access_token_authenticates_as_the_user_with_their_roles(
    kibana: TestClient, bob: str, es: TestClient
) -> None:
    es.put("/logs-1/_doc/1?refresh=true", json={"m": 1})
    es.put("/secret/_doc/1?refresh=true", json={"m": 1})
    token = password_grant(kibana).json()["access_token"]
    me = whoami(kibana, token).json()
    assert (me["username"], me["roles"], me["authentication_type"]) == (
        "bob",
        ["logs_reader"],
        "token",
    )
    assert kibana.get("/logs-1/_doc/1", headers=bearer(token), auth=None).status_code == 200
    assert kibana.get("/secret/_doc/1", headers=bearer(token), auth=None).status_code == 403


def test_a_wrong_password_is_the_realms_401(kibana: TestClient, bob: str) -> None:
    error = error_of(password_grant(kibana, password="wrong-password"), 401)
    assert error["type"] == "security_exception"


def test_client_credentials_give_the_caller_a_token_without_refresh(
    kibana: TestClient,
) -> None:
    body = kibana.post(TOKEN, json={"grant_type": "client_credentials"}).json()
    assert "refresh_token" not in body
    assert whoami(kibana, body["access_token"]).json()["username"] == "kibana"


def test_the_token_api_needs_manage_token(app_client: TestClient, es: TestClient, bob: str) -> None:
    response = app_client.post(
        TOKEN,
        json={"grant_type": "client_credentials"},
        auth=("bob", PASSWORD),
    )
    error = error_of(response, 403)
    assert "manage_token" in error["reason"]
    assert app_client.post(TOKEN, json={"grant_type": "client_credentials"}).status_code == 401
    assert es.post(TOKEN, json={"grant_type": "client_credentials"}).status_code == 200


@pytest.mark.parametrize(
    ("body", "error", "description"),
    [
        ({}, "unsupported_grant_type", "grant_type is missing"),
        ({"grant_type": "authorization_code"}, "unsupported_grant_type", "[authorization_code]"),
        ({"grant_type": "password", "username": "bob"}, "invalid_request", "password is missing"),
        (
            {"grant_type": "refresh_token", "refresh_token": "x", "username": "bob"},
            "unsupported_grant_type",  # Elasticsearch's rule: the message names grant_type
            "[username] is not supported for grant_type [refresh_token]",
        ),
        ({"grant_type": "refresh_token"}, "invalid_request", "refresh_token is missing"),
    ],
)
def test_a_malformed_token_request_is_an_oauth2_error(
    kibana: TestClient, body: dict[str, str], error: str, description: str
) -> None:
    response = kibana.post(TOKEN, json=body)
    assert response.status_code == 400
    answer = response.json()
    assert answer["error"] == error
    assert description in answer["error_description"]
    assert answer["error_description"].startswith("Validation Failed: 1: ")


def test_kerberos_is_refused_naming_it(kibana: TestClient) -> None:
    response = kibana.post(TOKEN, json={"grant_type": "_kerberos", "kerberos_ticket": "x"})
    assert "Kerberos" in error_of(response, 400)["reason"]


def test_an_unknown_field_is_a_parse_error(kibana: TestClient) -> None:
    response = kibana.post(TOKEN, json={"grant_type": "client_credentials", "x": 1})
    assert error_of(response, 400)["type"] == "x_content_parse_exception"


# -- refresh --------------------------------------------------------------------------------


def test_a_refresh_rotates_and_the_old_refresh_token_is_refused(
    kibana: TestClient, bob: str
) -> None:
    first = password_grant(kibana).json()
    refreshed = kibana.post(
        TOKEN, json={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    second = refreshed.json()
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    assert whoami(kibana, second["access_token"]).json()["username"] == "bob"
    again = kibana.post(
        TOKEN, json={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert again.status_code == 400
    assert again.json() == {
        "error": "invalid_grant",
        "error_description": "token has already been refreshed",
    }
    third = kibana.post(
        TOKEN, json={"grant_type": "refresh_token", "refresh_token": second["refresh_token"]}
    )
    assert third.status_code == 200


def test_an_unknown_refresh_token_is_an_invalid_grant(kibana: TestClient) -> None:
    response = kibana.post(TOKEN, json={"grant_type": "refresh_token", "refresh_token": "nope"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_a_refresh_token_dies_after_24_hours(
    kibana: TestClient, bob: str, node_clock: SettableClock
) -> None:
    first = password_grant(kibana).json()
    node_clock.advance(hours=24, seconds=1)
    response = kibana.post(
        TOKEN, json={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "refresh token is expired",
    }


# -- expiry ---------------------------------------------------------------------------------


def test_an_access_token_dies_after_20_minutes(
    kibana: TestClient, bob: str, node_clock: SettableClock
) -> None:
    token = password_grant(kibana).json()["access_token"]
    node_clock.advance(minutes=19, seconds=59)
    assert whoami(kibana, token).status_code == 200
    node_clock.advance(seconds=1)
    assert error_of(whoami(kibana, token), 401)["type"] == "security_exception"


def test_a_made_up_bearer_token_is_a_401(anonymous: TestClient) -> None:
    assert whoami(anonymous, "A" * 43).status_code == 401


# -- invalidation ---------------------------------------------------------------------------


def test_invalidating_an_access_token_stops_it_at_once(kibana: TestClient, bob: str) -> None:
    token = password_grant(kibana).json()["access_token"]
    response = kibana.request("DELETE", TOKEN, json={"token": token})
    assert response.json() == {
        "invalidated_tokens": 1,
        "previously_invalidated_tokens": 0,
        "error_count": 0,
    }
    assert whoami(kibana, token).status_code == 401
    again = kibana.request("DELETE", TOKEN, json={"token": token}).json()
    assert (again["invalidated_tokens"], again["previously_invalidated_tokens"]) == (0, 1)


def test_invalidating_by_refresh_token_stops_both(kibana: TestClient, bob: str) -> None:
    pair = password_grant(kibana).json()
    kibana.request("DELETE", TOKEN, json={"refresh_token": pair["refresh_token"]})
    assert whoami(kibana, pair["access_token"]).status_code == 401
    response = kibana.post(
        TOKEN, json={"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}
    )
    assert response.json()["error"] == "invalid_grant"


def test_invalidating_by_username_spares_other_users(
    kibana: TestClient, bob: str, es: TestClient
) -> None:
    put_user(es, "carol", roles=["logs_reader"])
    bobs = [password_grant(kibana).json()["access_token"] for _ in range(2)]
    carols = password_grant(kibana, "carol").json()["access_token"]
    body = kibana.request("DELETE", TOKEN, json={"username": "bob"}).json()
    assert body["invalidated_tokens"] == 2
    assert all(whoami(kibana, t).status_code == 401 for t in bobs)
    assert whoami(kibana, carols).status_code == 200


def test_invalidating_by_realm_name_takes_the_realms_tokens(
    kibana: TestClient, bob: str, es: TestClient
) -> None:
    native = password_grant(kibana).json()["access_token"]
    reserved = es.post(TOKEN, json={"grant_type": "client_credentials"}).json()["access_token"]
    body = kibana.request("DELETE", TOKEN, json={"realm_name": "default_native"}).json()
    assert body["invalidated_tokens"] == 1  # bob's (native), not elastic's (reserved)
    assert whoami(kibana, native).status_code == 401
    assert whoami(kibana, reserved).status_code == 200  # elastic's: the reserved realm


def test_invalidating_by_realm_and_username_takes_both_conditions(
    kibana: TestClient, bob: str
) -> None:
    password_grant(kibana)
    body = kibana.request(
        "DELETE", TOKEN, json={"realm_name": "reserved", "username": "bob"}
    ).json()
    assert body["invalidated_tokens"] == 0


def test_an_unknown_token_is_a_404(kibana: TestClient) -> None:
    response = kibana.request("DELETE", TOKEN, json={"token": "B" * 43})
    assert response.status_code == 404
    assert response.json()["invalidated_tokens"] == 0


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({}, "token string must be provided"),
        ({"token": "a", "username": "bob"}, "token string must not be provided"),
        ({"token": "a", "refresh_token": "b"}, "only one of [token, refresh_token]"),
    ],
)
def test_a_malformed_invalidation_is_a_400(
    kibana: TestClient, body: dict[str, str], reason: str
) -> None:
    assert reason in error_of(kibana.request("DELETE", TOKEN, json=body), 400)["reason"]


# -- bounded --------------------------------------------------------------------------------


def test_live_tokens_are_bounded_and_expired_ones_make_room(
    node_services: NodeServices, node_clock: SettableClock, es: TestClient, bob: str
) -> None:
    tokens = TokenService(node_services.store, node_services.realm, node_clock, max_tokens=3)  # type: ignore[arg-type]
    identity = node_services.realm.with_password("bob", PASSWORD)  # type: ignore[attr-defined]
    existing = tokens.live_count()
    tokens.max_tokens = existing + 3
    first = tokens.issue(identity, refresh=False)
    tokens.issue(identity)
    tokens.issue(identity)
    with pytest.raises(Exception, match="at most") as refused:
        tokens.issue(identity)
    assert refused.value.status == 429  # type: ignore[attr-defined]
    assert tokens.authenticate(first["access_token"]) is not None  # no live token evicted
    node_clock.advance(minutes=21)  # the first (no refresh) is now of no use to anyone
    tokens.issue(identity)
    assert tokens.live_count() == existing + 3
    assert tokens.authenticate(first["access_token"]) is None
