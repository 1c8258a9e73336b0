"""The pure parts of the node's OIDC realm: reading a realm's settings, the pending logins
(single use, expiring, bounded), claim patterns and merging the userinfo answer's claims."""

from __future__ import annotations

from typing import Any

import pytest

from citadel.contract.messages import OidcRealm, egress_socket_name, egress_target
from citadel.node.security import oidc_realm
from citadel.node.security.oidc_realm import (
    OidcFailed,
    OidcSettings,
    Pending,
    PendingLogins,
    _claim,
    merge_claims,
)

BASE = {
    "op.issuer": "https://op.example",
    "op.authorization_endpoint": "https://op.example/authorize",
    "op.token_endpoint": "https://op.example/token",
    "op.jwkset_path": "https://keys.example:8443/jwks",
    "rp.client_id": "app",
    "rp.redirect_uri": "https://app.example/cb",
}


def settings(**overrides: Any) -> OidcSettings:
    return OidcSettings.of(OidcRealm(name="oidc1", settings={**BASE, **overrides}))


def test_defaults_are_elasticsearchs() -> None:
    s = settings()
    assert s.scopes == ("openid",)
    assert s.algorithms == ("RS256",)
    assert s.claims == {"principal": "sub"}
    assert s.clock_skew_s == 60
    assert s.client_auth_method == "client_secret_basic"


def test_openid_is_always_requested() -> None:
    assert settings(**{"rp.requested_scopes": "email,profile"}).scopes == (
        "openid",
        "email",
        "profile",
    )


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("rp.signature_algorithm", "HS256", "rp.signature_algorithm"),
        ("rp.signature_algorithm", "none", "rp.signature_algorithm"),
        ("rp.response_type", "id_token", "rp.response_type"),
        ("rp.client_auth_method", "private_key_jwt", "rp.client_auth_method"),
        ("op.token_endpoint", "/etc/passwd", "op.token_endpoint"),
        ("op.userinfo_endpoint", "/userinfo", "op.userinfo_endpoint"),
        ("op.issuer", "", "op.issuer"),
        ("allowed_clock_skew", "forever", "allowed_clock_skew"),
    ],
)
def test_a_bad_setting_is_refused_naming_it(key: str, value: str, named: str) -> None:
    with pytest.raises(ValueError, match=rf"\[{named}\]"):
        settings(**{key: value})


def test_the_userinfo_endpoint_is_read_when_set() -> None:
    assert settings().userinfo_endpoint is None
    s = settings(**{"op.userinfo_endpoint": "https://op.example/userinfo"})
    assert s.userinfo_endpoint == "https://op.example/userinfo"


def test_the_egress_target_of_each_endpoint() -> None:
    assert egress_target(BASE["op.token_endpoint"]) == ("op.example", 443)
    assert egress_target(BASE["op.jwkset_path"]) == ("keys.example", 8443)
    assert egress_target("file:///jwks.json") is None
    assert egress_socket_name("OP.example", 443) == egress_socket_name("op.example", 443)
    assert len(egress_socket_name("a" * 253, 65535)) == 29


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def pending(clock: Clock) -> Pending:
    return Pending("oidc1", "nonce", "verifier", clock.now)


def test_a_pending_login_is_taken_once() -> None:
    clock = Clock()
    logins = PendingLogins(clock)
    logins.add("state-1", pending(clock))
    assert logins.take("state-1") is not None
    assert logins.take("state-1") is None


def test_a_pending_login_expires() -> None:
    clock = Clock()
    logins = PendingLogins(clock)
    logins.add("state-1", pending(clock))
    clock.now += oidc_realm.PENDING_TTL_S + 1
    assert logins.take("state-1") is None


def test_a_state_already_pending_is_refused() -> None:
    clock = Clock()
    logins = PendingLogins(clock)
    logins.add("state-1", pending(clock))
    with pytest.raises(Exception, match="already in use"):
        logins.add("state-1", pending(clock))


def test_pending_logins_are_bounded_oldest_first() -> None:
    clock = Clock()
    logins = PendingLogins(clock, max_pending=3)
    for i in range(4):
        logins.add(f"state-{i}", pending(clock))
    assert logins.take("state-0") is None
    assert all(logins.take(f"state-{i}") is not None for i in (1, 2, 3))


def test_a_claim_pattern_takes_its_group_and_drops_what_does_not_match() -> None:
    s = settings(**{"claims.groups": "groups", "claim_patterns.groups": r"^cn=([^,]+),ou=g$"})
    claims = {"groups": ["cn=admins,ou=g", "cn=x,ou=other", "plain"]}
    assert _claim(s, "groups", claims) == ["admins"]
    assert _claim(s, "principal", {"sub": "alice"}) == ["alice"]
    assert _claim(s, "principal", {}) == []


# Elasticsearch's rules (OpenIdConnectAuthenticator.mergeObjects), one case each.


def test_a_claim_only_in_the_userinfo_answer_is_added() -> None:
    assert merge_claims({"sub": "a"}, {"sub": "a", "groups": ["g"]}) == {
        "sub": "a",
        "groups": ["g"],
    }


def test_the_id_tokens_value_of_a_simple_claim_is_kept() -> None:
    assert merge_claims({"name": "Alice", "n": 1}, {"name": "Mallory", "n": 2}) == {
        "name": "Alice",
        "n": 1,
    }


def test_lists_are_joined_with_duplicates_and_a_userinfo_string_appended() -> None:
    merged = merge_claims(
        {"g": ["a", "b"], "h": ["x"], "k": ["y"]}, {"g": ["b", "c"], "h": "z", "k": 3}
    )
    assert merged == {"g": ["a", "b", "b", "c"], "h": ["x", "z"], "k": ["y"]}


def test_objects_are_merged_by_the_same_rules() -> None:
    merged = merge_claims(
        {"address": {"country": "NL", "tags": ["a"]}},
        {"address": {"country": "BE", "locality": "Gent", "tags": ["b"]}},
    )
    assert merged == {"address": {"country": "NL", "tags": ["a", "b"], "locality": "Gent"}}


def test_true_and_the_string_true_are_the_boolean() -> None:
    assert merge_claims({"v": True}, {"v": "true"}) == {"v": True}
    assert merge_claims({"v": "false"}, {"v": False}) == {"v": False}


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [("Alice", 7), (True, "yes"), (1, 1.0), ({"a": 1}, "x"), (7, ["7"])],
)
def test_a_claim_of_another_type_fails_the_sign_in(ours: Any, theirs: Any) -> None:
    with pytest.raises(OidcFailed):
        merge_claims({"c": ours}, {"c": theirs})


def test_merging_leaves_both_answers_as_they_were() -> None:
    id_token = {"g": ["a"], "o": {"x": 1}}
    userinfo = {"g": ["b"], "o": {"y": 2}}
    merge_claims(id_token, userinfo)
    assert id_token == {"g": ["a"], "o": {"x": 1}}
    assert userinfo == {"g": ["b"], "o": {"y": 2}}
