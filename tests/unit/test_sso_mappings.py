"""SSO role mappings: wildcard patterns, all/any rules, merged grants, the owner check."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from citadel.authz.decide import Grant
from citadel.authz.roles import OWNER, RoleId
from citadel.sso.mappings import (
    Evaluation,
    RoleMapping,
    Rule,
    check_mapping,
    evaluate,
    leaves_an_owner,
    merge_grants,
    pattern_matches,
    rule_matches,
)

ORG = "org-1"
OWNER_GRANT = Grant(ORG, OWNER, all=True)
VIEWER_ALL = Grant(ORG, RoleId.DEPLOYMENT_VIEWER, all=True)


def ids(*values: str) -> frozenset[str]:
    return frozenset(values)


def viewer(*deployments: str) -> Grant:
    return Grant(ORG, RoleId.DEPLOYMENT_VIEWER, False, ids(*deployments))


def mapping(name: str, *patterns: str, match: str = "any", grants=(VIEWER_ALL,)) -> RoleMapping:
    return RoleMapping(name, Rule(match, patterns), tuple(grants))  # type: ignore[arg-type]


def owners_mapping() -> RoleMapping:
    return mapping("owners", "cloud-owners", grants=(OWNER_GRANT,))


# --- the wildcard matcher ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "group", "expected"),
    [
        ("admins", "admins", True),
        ("admins", "admins2", False),
        ("admins", "Admins", False),
        ("admins", "", False),
        ("eng-*", "eng-search", True),
        ("eng-*", "eng-", True),
        ("eng-*", "ops-eng-x", False),
        ("*-admins", "cloud-admins", True),
        ("*-admins", "-admins", True),
        ("*-admins", "cloud-admins-old", False),
        ("*cloud*", "cloud", True),
        ("*cloud*", "my-cloud-team", True),
        ("*cloud*", "my-clou-team", False),
        ("a*b*c", "abc", True),
        ("a*b*c", "a-x-b-y-c", True),
        ("a*b*c", "a-c-b", False),
        ("*", "anything", True),
        ("*", "", True),
        ("**", "", True),
        ("", "", True),
        ("", "x", False),
        ("team?", "team?", True),
        ("team?", "teamA", False),
        ("[ab]", "[ab]", True),
        ("[ab]", "a", False),
        ("a.b", "a.b", True),
        ("a.b", "axb", False),
        ("a\\*", "a\\xyz", True),
        ("cn=*,ou=groups", "cn=dev,ou=groups", True),
        ("line*", "line\nbreak", True),
    ],
)
def test_pattern_matches(pattern: str, group: str, expected: bool) -> None:
    assert pattern_matches(pattern, group) is expected


# --- all / any ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("match", "patterns", "groups", "expected"),
    [
        ("all", ("eng", "ops"), ("eng", "ops", "x"), True),
        ("all", ("eng", "ops"), ("eng",), False),
        ("all", ("eng-*", "*-lead"), ("eng-lead",), True),
        ("all", ("eng-*", "ops-*"), ("eng-a", "eng-b"), False),
        ("any", ("eng", "ops"), ("ops",), True),
        ("any", ("eng", "ops"), ("sales",), False),
        ("any", ("eng-*",), ("x", "eng-1"), True),
        ("all", (), ("eng",), False),
        ("any", (), ("eng",), False),
        ("all", ("eng",), (), False),
        ("any", ("*",), (), False),
        ("all", ("*",), ("",), True),
    ],
)
def test_rule_matches(match: str, patterns: tuple[str, ...], groups, expected: bool) -> None:
    assert rule_matches(Rule(match, patterns), groups) is expected  # type: ignore[arg-type]


# --- evaluate ------------------------------------------------------------------------------------


def test_evaluate_reports_matching_mappings_and_their_grants() -> None:
    result = evaluate([owners_mapping(), mapping("eng", "eng-*")], ["eng-search"], None)
    assert result == Evaluation(("eng-search",), ("eng",), (VIEWER_ALL,))


def test_evaluate_with_no_match_gives_nothing() -> None:
    result = evaluate([owners_mapping()], ["sales"], None)
    assert result == Evaluation(("sales",), (), ())


def test_missing_groups_attribute_uses_the_previous_groups() -> None:
    result = evaluate([owners_mapping()], None, ["cloud-owners"])
    assert result.groups_used == ("cloud-owners",)
    assert result.grants == (OWNER_GRANT,)


def test_present_groups_replace_the_previous_ones() -> None:
    result = evaluate([owners_mapping()], ["sales"], ["cloud-owners"])
    assert result == Evaluation(("sales",), (), ())


def test_empty_groups_attribute_is_not_missing() -> None:
    assert evaluate([owners_mapping()], [], ["cloud-owners"]) == Evaluation((), (), ())


def test_missing_groups_and_no_previous_groups_give_nothing() -> None:
    assert evaluate([owners_mapping(), mapping("all", "*")], None, None) == Evaluation((), (), ())


def test_no_mappings_give_nothing() -> None:
    assert evaluate([], ["eng"], None) == Evaluation(("eng",), (), ())


def test_groups_used_are_sorted_and_deduplicated() -> None:
    assert evaluate([], ["b", "a", "b"], None).groups_used == ("a", "b")


def test_all_scope_beats_specific_ids() -> None:
    mappings = [mapping("some", "eng", grants=[viewer("d1")]), mapping("every", "eng")]
    assert evaluate(mappings, ["eng"], None).grants == (VIEWER_ALL,)


def test_specific_ids_are_unioned() -> None:
    mappings = [
        mapping("one", "eng", grants=[viewer("d1", "d2")]),
        mapping("two", "eng", grants=[viewer("d2", "d3")]),
    ]
    assert evaluate(mappings, ["eng"], None).grants == (viewer("d1", "d2", "d3"),)


def test_different_roles_are_kept_apart_in_role_order() -> None:
    editor = Grant(ORG, RoleId.DEPLOYMENT_EDITOR, False, ids("d1"))
    mappings = [mapping("a", "eng", grants=[viewer("d1"), editor]), owners_mapping()]
    result = evaluate(mappings, ["eng", "cloud-owners"], None)
    assert result.matched == ("a", "owners")
    assert result.grants == (OWNER_GRANT, editor, viewer("d1"))


def test_grants_of_different_organizations_are_not_merged() -> None:
    other = Grant("org-2", RoleId.DEPLOYMENT_VIEWER, all=True)
    assert merge_grants([other, viewer("d1")]) == (viewer("d1"), other)


def test_an_all_grant_drops_stray_ids() -> None:
    merged = merge_grants([Grant(ORG, RoleId.DEPLOYMENT_VIEWER, True, ids("d1"))])
    assert merged == (VIEWER_ALL,)


def test_output_order_does_not_follow_input_order() -> None:
    a = mapping("a", "eng", grants=[viewer("d1")])
    b = mapping("b", "eng", grants=[OWNER_GRANT])
    assert evaluate([a, b], ["eng"], None) == evaluate([b, a], ["eng"], None)
    assert evaluate([b, a], ["eng"], None).matched == ("a", "b")


ROLES = st.sampled_from(list(RoleId))
GRANTS = st.builds(
    Grant,
    organization_id=st.sampled_from([ORG, "org-2"]),
    role_id=ROLES,
    all=st.booleans(),
    resource_ids=st.frozensets(st.sampled_from(["d1", "d2", "d3"]), max_size=3),
)
GROUP = st.sampled_from(["eng", "eng-lead", "ops", "", "sales*", "x?"])
PATTERN = st.sampled_from(["eng", "eng*", "*lead", "*", "ops", "sales*", "x?", "*a*"])
MAPPINGS = st.lists(
    st.builds(
        RoleMapping,
        name=st.text("abc", min_size=1, max_size=3),
        rule=st.builds(
            Rule, st.sampled_from(["all", "any"]), st.lists(PATTERN, max_size=3).map(tuple)
        ),
        grants=st.lists(GRANTS, min_size=1, max_size=3).map(tuple),
    ),
    max_size=5,
)


@given(mappings=MAPPINGS, groups=st.lists(GROUP, max_size=5), data=st.data())
def test_evaluate_ignores_the_order_of_mappings_and_groups(mappings, groups, data) -> None:
    shuffled_mappings = data.draw(st.permutations(mappings))
    regrouped = data.draw(st.permutations(groups)) + data.draw(
        st.lists(st.sampled_from(groups), max_size=3) if groups else st.just([])
    )
    assert evaluate(mappings, groups, None) == evaluate(shuffled_mappings, regrouped, None)
    assert evaluate(mappings, None, groups) == evaluate(shuffled_mappings, None, regrouped)


# --- the owner check ---------------------------------------------------------------------------


def test_sso_owner_keeps_ownership_through_the_owner_mapping() -> None:
    check = leaves_an_owner(
        {"alice": [OWNER_GRANT]}, {"alice": ["cloud-owners"]}, [owners_mapping()], ORG
    )
    assert check.ok
    assert check.owners == ("alice",)
    assert check.by_member == {"alice": (OWNER_GRANT,)}


def test_removing_the_owner_mapping_when_the_only_owner_uses_sso_fails() -> None:
    after_change = [mapping("eng", "cloud-*")]
    check = leaves_an_owner(
        {"alice": [OWNER_GRANT], "bob": [viewer("d1")]},
        {"alice": ["cloud-owners"], "bob": ["eng"]},
        after_change,
        ORG,
    )
    assert not check.ok
    assert check.owners == ()
    assert check.by_member == {"alice": (VIEWER_ALL,), "bob": ()}


def test_a_non_sso_owner_keeps_the_organization_owned() -> None:
    check = leaves_an_owner(
        {"alice": [OWNER_GRANT], "root": [OWNER_GRANT]},
        {"alice": ["cloud-owners"]},
        [],
        ORG,
    )
    assert check.ok
    assert check.owners == ("root",)
    assert check.by_member == {"alice": (), "root": (OWNER_GRANT,)}


def test_a_mapping_can_make_an_sso_member_the_owner() -> None:
    check = leaves_an_owner(
        {"alice": [viewer("d1")]}, {"alice": ["cloud-owners"]}, [owners_mapping()], ORG
    )
    assert check.owners == ("alice",)


def test_sso_member_with_no_recorded_groups_gets_nothing() -> None:
    check = leaves_an_owner({"alice": [OWNER_GRANT]}, {"alice": None}, [mapping("every", "*")], ORG)
    assert not check.ok
    assert check.by_member == {"alice": ()}


def test_owner_of_another_organization_does_not_count() -> None:
    elsewhere = Grant("org-2", OWNER, all=True)
    check = leaves_an_owner({"alice": [elsewhere]}, {}, [], ORG)
    assert not check.ok
    assert check.by_member == {"alice": (elsewhere,)}


def test_sign_in_replaces_only_this_organizations_roles() -> None:
    elsewhere = Grant("org-2", RoleId.DEPLOYMENT_ADMIN, all=True)
    foreign_mapping = mapping("odd", "eng", grants=[Grant("org-2", OWNER, all=True)])
    check = leaves_an_owner(
        {"alice": [elsewhere, OWNER_GRANT]}, {"alice": ["eng"]}, [foreign_mapping], ORG
    )
    assert check.by_member == {"alice": (elsewhere,)}
    assert not check.ok


def test_sso_user_not_yet_in_members_grants_counts_as_a_member() -> None:
    check = leaves_an_owner({}, {"carol": ["cloud-owners"]}, [owners_mapping()], ORG)
    assert check.ok
    assert check.owners == ("carol",)


def test_owners_and_members_are_listed_in_sorted_order() -> None:
    check = leaves_an_owner(
        {"zed": [OWNER_GRANT], "amy": [OWNER_GRANT]},
        {"amy": ["cloud-owners"]},
        [owners_mapping()],
        ORG,
    )
    assert check.owners == ("amy", "zed")
    assert list(check.by_member) == ["amy", "zed"]


# --- check_mapping -----------------------------------------------------------------------------


def test_well_formed_mapping_passes() -> None:
    check_mapping("owners", Rule("any", ("cloud-*",)), [OWNER_GRANT])


@pytest.mark.parametrize(
    ("name", "rule", "grants", "field"),
    [
        ("", Rule("any", ("g",)), [OWNER_GRANT], "name"),
        ("   ", Rule("any", ("g",)), [OWNER_GRANT], "name"),
        ("n" * 65, Rule("any", ("g",)), [OWNER_GRANT], "name"),
        ("ok", Rule("some", ("g",)), [OWNER_GRANT], "match"),  # type: ignore[arg-type]
        ("ok", Rule("any", ()), [OWNER_GRANT], "groups"),
        ("ok", Rule("any", ("g",) * 65), [OWNER_GRANT], "groups"),
        ("ok", Rule("any", ("g", "")), [OWNER_GRANT], "groups[1]"),
        ("ok", Rule("any", ("g" * 257,)), [OWNER_GRANT], "groups[0]"),
        ("ok", Rule("all", ("a\x00b",)), [OWNER_GRANT], "groups[0]"),
        ("ok", Rule("any", ("g",)), [], "grants"),
    ],
)
def test_malformed_mapping_names_the_field(name, rule, grants, field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{re.escape(field)}:"):
        check_mapping(name, rule, grants)


def test_limits_are_inclusive() -> None:
    check_mapping("n" * 64, Rule("all", ("g" * 256,) * 64), [VIEWER_ALL])
