"""The pure authorization functions as tables: every role x every permission x every scope.

Two kinds of tests live here. The generated table walks every (role, scope) x permission x
target and compares `decide` with an oracle built from `ROLE_PERMISSIONS` and
`MEMBER_PERMISSIONS`, so that a change to the table or to `decide` that breaks the scope rules
shows up as a precise diff. The explicit tests write the important expectations down by hand,
independently of the table (inventory sections 2.4 and 10), so that a wrong table cannot
agree with itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from citadel.authz.decide import (
    Coverage,
    Decision,
    Grant,
    Reason,
    Subject,
    Target,
    decide,
    may_grant,
    visible_part,
)
from citadel.authz.permissions import MEMBER_PERMISSIONS, ROLE_PERMISSIONS, Permission
from citadel.authz.roles import RoleId, ScopeKind

ORG = "org-a"
OTHER_ORG = "org-b"
INSIDE = "res-1"  # the resource a specifically scoped role names
OUTSIDE = "res-2"  # a resource of the same organization that it does not name

P = Permission
R = RoleId
DEPLOYMENT = ScopeKind.DEPLOYMENT
RESOURCE_KINDS = [k for k in ScopeKind if k is not ScopeKind.ORGANIZATION]
ORGANIZATION_ROLES = [r for r in RoleId if r.scope_kind is ScopeKind.ORGANIZATION]
RESOURCE_ROLES = [r for r in RoleId if r.scope_kind is not ScopeKind.ORGANIZATION]
DEPLOYMENT_ROLES = [R.DEPLOYMENT_ADMIN, R.DEPLOYMENT_EDITOR, R.DEPLOYMENT_VIEWER]


# --- subjects ---------------------------------------------------------------------------


def member_of(org: str, *grants: Grant) -> Subject:
    """A member of `org` holding `grants`."""
    return Subject(frozenset({org}), grants)


def on_all(role: RoleId, org: str = ORG) -> Grant:
    """`role` on the whole organization (organization roles) or on all resources of its kind."""
    return Grant(org, role, all=True)


def on(role: RoleId, *ids: str, org: str = ORG) -> Grant:
    """`role` scoped to these resources."""
    return Grant(org, role, all=False, resource_ids=frozenset(ids))


OWNER = member_of(ORG, on_all(R.ORGANIZATION_ADMIN))
BILLING_ADMIN = member_of(ORG, on_all(R.BILLING_ADMIN))
ADMIN_ALL = member_of(ORG, on_all(R.DEPLOYMENT_ADMIN))
EDITOR_ALL = member_of(ORG, on_all(R.DEPLOYMENT_EDITOR))
VIEWER_ALL = member_of(ORG, on_all(R.DEPLOYMENT_VIEWER))
ADMIN_DEP1 = member_of(ORG, on(R.DEPLOYMENT_ADMIN, INSIDE))
EDITOR_DEP1 = member_of(ORG, on(R.DEPLOYMENT_EDITOR, INSIDE))
VIEWER_DEP1 = member_of(ORG, on(R.DEPLOYMENT_VIEWER, INSIDE))
MEMBER_WITHOUT_ROLES = member_of(ORG)
NON_MEMBER = Subject(frozenset(), ())
OTHER_ORG_OWNER = member_of(OTHER_ORG, on_all(R.ORGANIZATION_ADMIN, org=OTHER_ORG))


# --- targets ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NamedTarget:
    name: str
    target: Target


def targets() -> list[NamedTarget]:
    """The organization; per resource kind: inside, outside, any, all; another organization."""
    out = [NamedTarget("organization", Target.organization(ORG))]
    for kind in RESOURCE_KINDS:
        out += [
            NamedTarget(f"{kind}:inside", Target.resource(ORG, kind, INSIDE)),
            NamedTarget(f"{kind}:outside", Target.resource(ORG, kind, OUTSIDE)),
            NamedTarget(f"{kind}:any", Target.any_of(ORG, kind)),
            NamedTarget(f"{kind}:all", Target.all_of(ORG, kind)),
        ]
    out.append(NamedTarget("other-organization", Target.organization(OTHER_ORG)))
    return out


TARGETS = targets()


# --- the generated table ----------------------------------------------------------------


@dataclass(frozen=True)
class Holder:
    """A subject with one role assignment (or none), named for test ids."""

    name: str
    grant: Grant | None

    @property
    def subject(self) -> Subject:
        return member_of(ORG, *([self.grant] if self.grant else []))


def holders() -> list[Holder]:
    out = [Holder("no-role", None)]
    for role in RoleId:
        out.append(Holder(f"{role}(all)", on_all(role)))
        if role.scope_kind is not ScopeKind.ORGANIZATION:
            out.append(Holder(f"{role}(one)", on(role, INSIDE)))
    return out


def oracle(grant: Grant | None, permission: Permission, target: Target) -> Decision:
    """What the permission table and the scope rules of inventory 10.7 say."""
    if target.organization_id != ORG:
        return Decision(False, Reason.NOT_A_MEMBER)
    if grant is not None and grant.role_id is R.ORGANIZATION_ADMIN:
        return Decision(True, Reason.OWNER)
    if target.kind is ScopeKind.ORGANIZATION and permission in MEMBER_PERMISSIONS:
        return Decision(True, Reason.MEMBERSHIP)
    if grant is None or permission not in ROLE_PERMISSIONS[grant.role_id]:
        return Decision(False, Reason.NO_ROLE)
    if target.kind is ScopeKind.ORGANIZATION:
        return Decision(True, Reason.ROLE)
    in_scope = {
        Coverage.ONE: grant.all or target.resource_id in grant.resource_ids,
        Coverage.ANY: True,  # every grant here covers all, or one resource
        Coverage.ALL: grant.all,
    }[target.coverage]
    if grant.kind is target.kind and in_scope:
        return Decision(True, Reason.ROLE)
    return Decision(False, Reason.OUT_OF_SCOPE)


@pytest.mark.parametrize("permission", list(Permission), ids=str)
@pytest.mark.parametrize("holder", holders(), ids=lambda h: h.name)
def test_decision_follows_the_permission_table_on_every_target(holder, permission):
    actual = {t.name: decide(holder.subject, permission, t.target) for t in TARGETS}
    expected = {t.name: oracle(holder.grant, permission, t.target) for t in TARGETS}
    assert actual == expected


def test_every_role_has_a_row_in_the_permission_table():
    assert set(ROLE_PERMISSIONS) == set(RoleId)


# --- explicit expectations, written independently of the table --------------------------


@pytest.mark.parametrize("permission", list(Permission), ids=str)
@pytest.mark.parametrize("target", TARGETS[:-1], ids=lambda t: t.name)
def test_organization_owner_holds_every_permission_everywhere_in_their_organization(
    target, permission
):
    assert decide(OWNER, permission, target.target) == Decision(True, Reason.OWNER)


def test_billing_admin_holds_only_billing_and_membership_permissions():
    allowed = {p for p in Permission if decide(BILLING_ADMIN, p, Target.organization(ORG))}
    assert allowed == {
        P.BILLING_READ,
        P.BILLING_MANAGE,
        P.ORGANIZATION_READ,
        P.MEMBERS_READ,
        P.TRAFFIC_FILTERS_READ,
    }


@pytest.mark.parametrize("kind", RESOURCE_KINDS, ids=str)
def test_billing_admin_holds_nothing_on_resources(kind):
    allowed = {p for p in Permission if decide(BILLING_ADMIN, p, Target.any_of(ORG, kind))}
    assert allowed == set()


def test_member_without_roles_holds_only_membership_permissions():
    allowed = {p for p in Permission if decide(MEMBER_WITHOUT_ROLES, p, Target.organization(ORG))}
    assert allowed == {P.ORGANIZATION_READ, P.MEMBERS_READ, P.TRAFFIC_FILTERS_READ}


def test_deployment_viewer_may_only_read_a_deployment():
    target = Target.resource(ORG, DEPLOYMENT, INSIDE)
    allowed = {p for p in Permission if decide(VIEWER_ALL, p, target)}
    assert allowed == {P.DEPLOYMENTS_READ}


def test_deployment_viewer_may_not_update_or_delete_a_deployment():
    target = Target.resource(ORG, DEPLOYMENT, INSIDE)
    assert decide(VIEWER_ALL, P.DEPLOYMENTS_UPDATE, target) == Decision(False, Reason.NO_ROLE)
    assert decide(VIEWER_ALL, P.DEPLOYMENTS_DELETE, target) == Decision(False, Reason.NO_ROLE)


def test_deployment_viewer_of_one_deployment_may_not_read_another():
    assert decide(VIEWER_DEP1, P.DEPLOYMENTS_READ, Target.resource(ORG, DEPLOYMENT, INSIDE))
    denied = decide(VIEWER_DEP1, P.DEPLOYMENTS_READ, Target.resource(ORG, DEPLOYMENT, OUTSIDE))
    assert denied == Decision(False, Reason.OUT_OF_SCOPE)


def test_deployment_editor_may_update_but_not_delete_or_manage_security():
    target = Target.resource(ORG, DEPLOYMENT, INSIDE)
    assert decide(EDITOR_ALL, P.DEPLOYMENTS_UPDATE, target)
    assert not decide(EDITOR_ALL, P.DEPLOYMENTS_DELETE, target)
    assert not decide(EDITOR_ALL, P.DEPLOYMENTS_MANAGE_SECURITY, target)


def test_deployment_editor_may_not_create_deployments():
    decision = decide(EDITOR_ALL, P.DEPLOYMENTS_CREATE, Target.all_of(ORG, DEPLOYMENT))
    assert decision == Decision(False, Reason.NO_ROLE)


def test_only_owner_and_admin_of_all_deployments_may_create_deployments():
    subjects = {
        "owner": OWNER,
        "billing_admin": BILLING_ADMIN,
        "admin_all": ADMIN_ALL,
        "editor_all": EDITOR_ALL,
        "viewer_all": VIEWER_ALL,
        "admin_dep1": ADMIN_DEP1,
        "editor_dep1": EDITOR_DEP1,
        "viewer_dep1": VIEWER_DEP1,
        "member": MEMBER_WITHOUT_ROLES,
    }
    create = Target.all_of(ORG, DEPLOYMENT)
    allowed = {n for n, s in subjects.items() if decide(s, P.DEPLOYMENTS_CREATE, create)}
    assert allowed == {"owner", "admin_all"}


def test_admin_of_one_deployment_may_not_create_deployments_because_of_scope():
    decision = decide(ADMIN_DEP1, P.DEPLOYMENTS_CREATE, Target.all_of(ORG, DEPLOYMENT))
    assert decision == Decision(False, Reason.OUT_OF_SCOPE)


@pytest.mark.parametrize(
    ("subject", "allowed"),
    [
        (ADMIN_ALL, True),
        (EDITOR_ALL, True),
        (ADMIN_DEP1, False),
        (EDITOR_DEP1, False),
        (VIEWER_ALL, False),
    ],
    ids=["admin_all", "editor_all", "admin_dep1", "editor_dep1", "viewer_all"],
)
def test_marking_a_traffic_filter_default_needs_a_role_on_all_deployments(subject, allowed):
    target = Target.all_of(ORG, DEPLOYMENT)
    assert decide(subject, P.TRAFFIC_FILTERS_SET_DEFAULT, target).allowed is allowed


@pytest.mark.parametrize(
    ("subject", "allowed"),
    [(ADMIN_DEP1, True), (EDITOR_DEP1, True), (VIEWER_ALL, False), (BILLING_ADMIN, False)],
    ids=["admin_dep1", "editor_dep1", "viewer_all", "billing_admin"],
)
def test_managing_traffic_filters_needs_admin_or_editor_on_at_least_one_deployment(
    subject, allowed
):
    target = Target.any_of(ORG, DEPLOYMENT)
    assert decide(subject, P.TRAFFIC_FILTERS_MANAGE, target).allowed is allowed


def test_associating_a_traffic_filter_needs_a_role_on_that_deployment():
    inside = Target.resource(ORG, DEPLOYMENT, INSIDE)
    outside = Target.resource(ORG, DEPLOYMENT, OUTSIDE)
    assert decide(EDITOR_DEP1, P.TRAFFIC_FILTERS_ASSOCIATE, inside)
    assert decide(EDITOR_DEP1, P.TRAFFIC_FILTERS_ASSOCIATE, outside) == Decision(
        False, Reason.OUT_OF_SCOPE
    )


def test_any_member_may_view_traffic_filters():
    decision = decide(MEMBER_WITHOUT_ROLES, P.TRAFFIC_FILTERS_READ, Target.organization(ORG))
    assert decision == Decision(True, Reason.MEMBERSHIP)


@pytest.mark.parametrize("permission", list(Permission), ids=str)
def test_non_member_is_denied_every_permission_as_not_a_member(permission):
    decision = decide(NON_MEMBER, permission, Target.organization(ORG))
    assert decision == Decision(False, Reason.NOT_A_MEMBER)


@pytest.mark.parametrize("permission", sorted(MEMBER_PERMISSIONS), ids=str)
def test_owner_of_another_organization_is_not_a_member_here(permission):
    decision = decide(OTHER_ORG_OWNER, permission, Target.organization(ORG))
    assert decision == Decision(False, Reason.NOT_A_MEMBER)


def test_grants_in_another_organization_do_not_count_here():
    subject = Subject(frozenset({ORG, OTHER_ORG}), (on_all(R.ORGANIZATION_ADMIN, org=OTHER_ORG),))
    decision = decide(subject, P.ORGANIZATION_UPDATE, Target.organization(ORG))
    assert decision == Decision(False, Reason.NO_ROLE)


def test_grant_naming_an_organization_without_membership_counts_for_nothing():
    subject = Subject(frozenset(), (on_all(R.ORGANIZATION_ADMIN),))
    decision = decide(subject, P.ORGANIZATION_READ, Target.organization(ORG))
    assert decision == Decision(False, Reason.NOT_A_MEMBER)


def test_deployment_roles_do_not_reach_projects():
    target = Target.any_of(ORG, ScopeKind.ELASTICSEARCH)
    assert decide(ADMIN_ALL, P.PROJECTS_READ, target) == Decision(False, Reason.NO_ROLE)
    traffic = decide(ADMIN_ALL, P.TRAFFIC_FILTERS_MANAGE, target)
    assert traffic == Decision(False, Reason.OUT_OF_SCOPE)


def test_roles_unite_their_permissions_and_scopes():
    subject = member_of(ORG, on_all(R.DEPLOYMENT_VIEWER), on(R.DEPLOYMENT_EDITOR, INSIDE))
    assert decide(subject, P.DEPLOYMENTS_UPDATE, Target.resource(ORG, DEPLOYMENT, INSIDE))
    assert decide(subject, P.DEPLOYMENTS_READ, Target.resource(ORG, DEPLOYMENT, OUTSIDE))
    assert not decide(subject, P.DEPLOYMENTS_UPDATE, Target.resource(ORG, DEPLOYMENT, OUTSIDE))


def test_a_decision_is_truthy_exactly_when_allowed():
    assert Decision(True, Reason.OWNER)
    assert not Decision(False, Reason.NO_ROLE)


# --- may_grant --------------------------------------------------------------------------


def assignments_in(org: str) -> list[Grant]:
    """Every role, on all and (for resource roles) on one or two resources."""
    out = [on_all(role, org=org) for role in RoleId]
    out += [on(role, INSIDE, org=org) for role in RESOURCE_ROLES]
    out += [on(role, INSIDE, OUTSIDE, org=org) for role in RESOURCE_ROLES]
    return out


def label(grant: Grant) -> str:
    scope = "all" if grant.all else ",".join(sorted(grant.resource_ids))
    return f"{grant.role_id}({scope})@{grant.organization_id}"


@pytest.mark.parametrize("assignment", assignments_in(ORG), ids=label)
def test_owner_may_grant_any_role_in_their_organization(assignment):
    assert may_grant(OWNER, assignment) == Decision(True, Reason.OWNER)


@pytest.mark.parametrize("assignment", assignments_in(OTHER_ORG), ids=label)
def test_nobody_grants_into_another_organization(assignment):
    assert may_grant(OWNER, assignment) == Decision(False, Reason.NOT_A_MEMBER)


def test_membership_in_both_organizations_does_not_carry_authority_across():
    subject = Subject(frozenset({ORG, OTHER_ORG}), (on_all(R.DEPLOYMENT_ADMIN),))
    decision = may_grant(subject, on(R.DEPLOYMENT_VIEWER, INSIDE, org=OTHER_ORG))
    assert decision == Decision(False, Reason.NO_ROLE)


@pytest.mark.parametrize(
    "assignment",
    [g for g in assignments_in(ORG) if g.role_id in DEPLOYMENT_ROLES],
    ids=label,
)
def test_admin_of_all_deployments_may_grant_any_deployment_role(assignment):
    assert may_grant(ADMIN_ALL, assignment) == Decision(True, Reason.ROLE)


@pytest.mark.parametrize("role", ORGANIZATION_ROLES, ids=str)
def test_admin_of_all_deployments_may_not_grant_organization_roles(role):
    decision = may_grant(ADMIN_ALL, on_all(role))
    assert decision == Decision(False, Reason.ORGANIZATION_ROLE_NEEDS_OWNER)


def test_admin_of_all_deployments_may_not_grant_project_roles():
    decision = may_grant(ADMIN_ALL, on_all(R.ELASTICSEARCH_VIEWER))
    assert decision == Decision(False, Reason.NO_ROLE)


def test_admin_of_one_deployment_may_grant_viewer_of_that_deployment():
    assert may_grant(ADMIN_DEP1, on(R.DEPLOYMENT_VIEWER, INSIDE)) == Decision(True, Reason.ROLE)


def test_admin_of_one_deployment_may_grant_admin_of_that_deployment():
    assert may_grant(ADMIN_DEP1, on(R.DEPLOYMENT_ADMIN, INSIDE)) == Decision(True, Reason.ROLE)


@pytest.mark.parametrize(
    "assignment",
    [
        on_all(R.DEPLOYMENT_ADMIN),
        on_all(R.DEPLOYMENT_VIEWER),
        on(R.DEPLOYMENT_VIEWER, OUTSIDE),
        on(R.DEPLOYMENT_VIEWER, INSIDE, OUTSIDE),
    ],
    ids=label,
)
def test_admin_of_one_deployment_may_not_grant_beyond_it(assignment):
    assert may_grant(ADMIN_DEP1, assignment) == Decision(False, Reason.OUT_OF_SCOPE)


@pytest.mark.parametrize(
    "subject",
    [EDITOR_ALL, VIEWER_ALL, EDITOR_DEP1, VIEWER_DEP1, BILLING_ADMIN, MEMBER_WITHOUT_ROLES],
    ids=["editor_all", "viewer_all", "editor_dep1", "viewer_dep1", "billing", "member"],
)
def test_non_admins_may_grant_nothing(subject):
    granted = [label(g) for g in assignments_in(ORG) if may_grant(subject, g)]
    assert granted == []


def test_editor_is_refused_a_deployment_role_for_want_of_an_admin_role():
    decision = may_grant(EDITOR_ALL, on(R.DEPLOYMENT_VIEWER, INSIDE))
    assert decision == Decision(False, Reason.NO_ROLE)


def test_non_member_may_grant_nothing():
    assert may_grant(NON_MEMBER, on(R.DEPLOYMENT_VIEWER, INSIDE)) == Decision(
        False, Reason.NOT_A_MEMBER
    )


# --- visible_part (inventory 10.7) -------------------------------------------------------


@pytest.mark.parametrize("assignment", assignments_in(ORG), ids=label)
def test_owner_sees_every_assignment_whole(assignment):
    assert visible_part(OWNER, assignment) == assignment


@pytest.mark.parametrize(
    "assignment",
    [
        on_all(R.DEPLOYMENT_VIEWER),
        on(R.DEPLOYMENT_EDITOR, INSIDE),
        on(R.DEPLOYMENT_ADMIN, INSIDE, OUTSIDE),
    ],
    ids=label,
)
def test_admin_of_all_deployments_sees_every_deployment_assignment_whole(assignment):
    assert visible_part(ADMIN_ALL, assignment) == assignment


@pytest.mark.parametrize(
    "assignment",
    [on_all(R.ORGANIZATION_ADMIN), on_all(R.BILLING_ADMIN), on_all(R.ELASTICSEARCH_ADMIN)],
    ids=label,
)
def test_admin_of_all_deployments_does_not_see_assignments_they_cannot_manage(assignment):
    assert visible_part(ADMIN_ALL, assignment) is None


def test_admin_of_one_deployment_sees_an_assignment_on_it():
    assignment = on(R.DEPLOYMENT_VIEWER, INSIDE)
    assert visible_part(ADMIN_DEP1, assignment) == assignment


def test_admin_of_one_deployment_sees_only_its_part_of_a_wider_assignment():
    part = visible_part(ADMIN_DEP1, on(R.DEPLOYMENT_VIEWER, INSIDE, OUTSIDE))
    assert part == on(R.DEPLOYMENT_VIEWER, INSIDE)


@pytest.mark.parametrize(
    "assignment",
    [
        on(R.DEPLOYMENT_VIEWER, OUTSIDE),
        on_all(R.DEPLOYMENT_VIEWER),
        on_all(R.DEPLOYMENT_ADMIN),
        on_all(R.ORGANIZATION_ADMIN),
    ],
    ids=label,
)
def test_admin_of_one_deployment_does_not_see_assignments_outside_their_scope(assignment):
    assert visible_part(ADMIN_DEP1, assignment) is None


@pytest.mark.parametrize(
    "subject",
    [EDITOR_ALL, VIEWER_ALL, BILLING_ADMIN, MEMBER_WITHOUT_ROLES],
    ids=["editor_all", "viewer_all", "billing", "member"],
)
def test_members_who_manage_no_assignments_see_none(subject):
    visible = [label(g) for g in assignments_in(ORG) if visible_part(subject, g) is not None]
    assert visible == []


def test_owner_of_another_organization_sees_no_assignment_here():
    visible = [label(g) for g in assignments_in(ORG) if visible_part(OTHER_ORG_OWNER, g)]
    assert visible == []
