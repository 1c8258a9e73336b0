"""Role-mapping rules evaluated as Elasticsearch evaluates them: a table of field matches,
the any/all/except algebra as properties, role templates. Pure: no node, no store."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from citadel.node.security.role_mappings import (
    UserData,
    compile_mapping,
    evaluate,
    matches_name,
    normalize_mapping,
)

ALICE = UserData(
    username="alice",
    realm_name="citadel-cloud",
    groups=("viewer", "ops-team"),
    dn="cn=alice,ou=people,dc=example,dc=com",
    metadata={"org": "o-1", "level": 3, "admin": False, "tags": ["a", "b"]},
)


def field(name: str, value: Any) -> dict[str, Any]:
    return {"field": {name: value}}


@pytest.mark.parametrize(
    ("rule", "matches"),
    [
        (field("username", "alice"), True),
        (field("username", "Alice"), False),
        (field("username", "ali*"), True),
        (field("username", "al?ce"), True),
        (field("username", "al?"), False),
        (field("username", "/a.*e/"), True),
        (field("username", "/lic/"), False),  # a regular expression matches the whole value
        (field("username", ["bob", "alice"]), True),
        (field("username", []), False),
        (field("dn", "*,ou=people,dc=example,dc=com"), True),
        (field("dn", "*,ou=admins,dc=example,dc=com"), False),
        (field("groups", "ops-team"), True),
        (field("groups", "*-team"), True),
        (field("groups", "admins"), False),
        (field("realm.name", "citadel-cloud"), True),
        (field("realm.name", "saml1"), False),
        (field("metadata.org", "o-1"), True),
        (field("metadata.level", 3), True),
        (field("metadata.level", "3"), False),
        (field("metadata.level", 3.0), True),
        (field("metadata.admin", False), True),
        (field("metadata.admin", 0), False),
        (field("metadata.tags", "b"), True),
        (field("metadata.missing", None), True),
        (field("metadata.org", None), False),
        (field("nonsense", "alice"), False),
        (field("username", "/[/"), False),  # a regular expression that does not compile
    ],
)
def test_field_rules_match_as_elasticsearch(rule: dict[str, Any], matches: bool) -> None:
    assert evaluate(rule, ALICE) is matches


def test_a_user_without_groups_matches_a_null_groups_rule() -> None:
    lonely = UserData(username="x", realm_name="r")
    assert evaluate(field("groups", None), lonely)
    assert not evaluate(field("groups", "*"), lonely)


def test_empty_any_is_false_and_empty_all_is_true() -> None:
    assert not evaluate({"any": []}, ALICE)
    assert evaluate({"all": []}, ALICE)


def test_run_as_names_match_like_field_values() -> None:
    assert matches_name(["bob", "ali*"], "alice")
    assert matches_name(["/a.+/"], "alice")
    assert not matches_name(["al"], "alice")
    assert not matches_name([], "alice")


# -- the algebra, over random rule trees ---------------------------------------------------

LEAVES = [
    field("username", "alice"),
    field("username", "b*"),
    field("groups", "viewer"),
    field("metadata.org", "o-2"),
    field("realm.name", "/citadel-.*/"),
]
USERS = st.builds(
    UserData,
    username=st.sampled_from(["alice", "bob", "bert"]),
    realm_name=st.sampled_from(["citadel-cloud", "saml1"]),
    groups=st.lists(st.sampled_from(["viewer", "editor"]), max_size=2).map(tuple),
    metadata=st.fixed_dictionaries({"org": st.sampled_from(["o-1", "o-2"])}),
)
RULES = st.recursive(
    st.sampled_from(LEAVES),
    lambda children: st.one_of(
        st.lists(children, max_size=3).map(lambda rs: {"any": rs}),
        st.lists(children, max_size=3).map(lambda rs: {"all": rs}),
        children.map(lambda r: {"except": r}),
    ),
    max_leaves=12,
)


@given(RULES, st.lists(RULES, max_size=3), USERS)
def test_any_is_the_or_and_all_the_and_of_their_children(
    first: dict[str, Any], rest: list[dict[str, Any]], user: UserData
) -> None:
    children = [first, *rest]
    values = [evaluate(r, user) for r in children]
    assert evaluate({"any": children}, user) is any(values)
    assert evaluate({"all": children}, user) is all(values)


@given(RULES, RULES, USERS)
def test_except_is_negation_and_obeys_de_morgan(
    a: dict[str, Any], b: dict[str, Any], user: UserData
) -> None:
    assert evaluate({"except": a}, user) is not evaluate(a, user)
    assert evaluate({"except": {"except": a}}, user) is evaluate(a, user)
    assert evaluate({"except": {"any": [a, b]}}, user) is evaluate(
        {"all": [{"except": a}, {"except": b}]}, user
    )


@given(RULES, USERS)
def test_a_stored_rule_evaluates_as_the_rule_it_was_given(
    rule: dict[str, Any], user: UserData
) -> None:
    stored = normalize_mapping({"enabled": True, "roles": ["r"], "rules": rule}, "m")
    assert evaluate(stored["rules"], user) is evaluate(rule, user)


# -- roles and templates -------------------------------------------------------------------


def mapping(**body: Any) -> Any:
    compiled = compile_mapping("m", normalize_mapping({"enabled": True, **body}, "m"))
    assert compiled is not None
    return compiled


def test_roles_are_given_only_when_the_rules_match() -> None:
    m = mapping(roles=["a", "b"], rules=field("username", "alice"))
    assert m.roles_for(ALICE) == ("a", "b")
    assert m.roles_for(UserData(username="bob", realm_name="r")) == ()


@pytest.mark.parametrize(
    ("template", "fmt", "roles"),
    [
        ("{{username}}_role", "string", ("alice_role",)),
        ("{{realm.name}}", "string", ("citadel-cloud",)),
        ("org_{{metadata.org}}", "string", ("org_o-1",)),
        ("{{#toJson}}groups{{/toJson}}", "json", ("viewer", "ops-team")),
        ('"{{username}}"', "json", ("alice",)),
        ("{{metadata.missing}}", "string", ()),  # an empty name is no role
        ("not json", "json", ()),
    ],
)
def test_role_templates_render_over_the_user(
    template: str, fmt: str, roles: tuple[str, ...]
) -> None:
    m = mapping(
        role_templates=[{"template": {"source": template}, "format": fmt}],
        rules=field("username", "*"),
    )
    assert m.roles_for(ALICE) == roles


def test_a_disabled_mapping_compiles_to_nothing() -> None:
    body = normalize_mapping(
        {"enabled": False, "roles": ["a"], "rules": field("username", "*")}, "m"
    )
    assert compile_mapping("m", body) is None
