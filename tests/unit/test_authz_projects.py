"""Cloud RBAC for serverless projects, written down by hand (serverless notes section 6): the
project role ids and their scope, the Security analyst roles (a Viewer's Cloud permissions),
the decision on one project against another, who grants project roles, role assignments in
the Cloud API's `project` shape, and the node roles each Cloud role gives inside a project.

The generated every-role x every-permission table is `test_authz_decide.py`; it covers the
analyst roles through `RoleId` and `ROLE_PERMISSIONS`.
"""

from __future__ import annotations

import pytest

from citadel.authz.assignments import (
    Assignment,
    InvalidRoleAssignment,
    RoleAssignmentsIn,
    from_request,
    from_stored,
    to_response,
    to_stored,
)
from citadel.authz.decide import Decision, Grant, Reason, Subject, Target, decide, may_grant
from citadel.authz.permissions import ROLE_PERMISSIONS, Permission
from citadel.authz.roles import SECURITY_ANALYSTS, RoleId, ScopeKind
from citadel.deployment_tokens.claims import stack_roles as token_roles
from citadel.node.security import project_roles as node_roles
from citadel.projects.roles import STACK_ROLE, project_roles, stack_roles
from citadel.projects.types import ProjectType

ORG = "o" * 32
A = "a" * 32  # project A
B = "b" * 32  # project B, same organization and type
P = Permission
R = RoleId
ES = ScopeKind.ELASTICSEARCH
SEC = ScopeKind.SECURITY

ANALYST_IDS = [
    "security-t1-analyst",
    "security-t2-analyst",
    "security-t3-analyst",
    "security-threat-intel-analyst",
    "security-rule-author",
    "security-soc-manager",
    "security-endpoint-operations-analyst",
    "security-platform-engineer",
    "security-detections-admin",
    "security-endpoint-policy-manager",
]


def member(*grants: Grant) -> Subject:
    return Subject(frozenset({ORG}), grants)


def on(role: RoleId, *ids: str) -> Grant:
    return Grant(ORG, role, all=False, resource_ids=frozenset(ids))


def on_all(role: RoleId) -> Grant:
    return Grant(ORG, role, all=True)


def project(kind: ScopeKind, project_id: str) -> Target:
    return Target.resource(ORG, kind, project_id)


# --- the role ids ---------------------------------------------------------------------------


@pytest.mark.parametrize("role_id", ANALYST_IDS)
def test_each_analyst_role_id_is_a_security_project_role(role_id: str) -> None:
    assert RoleId(role_id).scope_kind is ScopeKind.SECURITY


def test_the_analyst_roles_are_exactly_the_ten_of_the_role_table() -> None:
    assert [str(r) for r in SECURITY_ANALYSTS] == ANALYST_IDS


@pytest.mark.parametrize("role", SECURITY_ANALYSTS, ids=str)
def test_an_analyst_holds_a_viewers_cloud_permissions(role: RoleId) -> None:
    assert ROLE_PERMISSIONS[role] == ROLE_PERMISSIONS[R.SECURITY_VIEWER] == {P.PROJECTS_READ}


def test_the_detections_admin_is_no_admin_of_security_projects() -> None:
    assert not R.SECURITY_DETECTIONS_ADMIN.is_resource_admin
    subject = member(on_all(R.SECURITY_DETECTIONS_ADMIN))
    assert may_grant(subject, on(R.SECURITY_VIEWER, A)) == Decision(False, Reason.NO_ROLE)
    assert not decide(subject, P.PROJECTS_UPDATE, project(SEC, A))


@pytest.mark.parametrize(
    "role",
    [R.DEPLOYMENT_ADMIN, R.ELASTICSEARCH_ADMIN, R.OBSERVABILITY_ADMIN, R.SECURITY_ADMIN],
    ids=str,
)
def test_the_four_kind_admins_are_resource_admins(role: RoleId) -> None:
    assert role.is_resource_admin


# --- decide on projects ---------------------------------------------------------------------


def test_a_viewer_of_project_a_reads_a_and_not_b() -> None:
    viewer = member(on(R.ELASTICSEARCH_VIEWER, A))
    assert decide(viewer, P.PROJECTS_READ, project(ES, A)) == Decision(True, Reason.ROLE)
    assert decide(viewer, P.PROJECTS_READ, project(ES, B)) == Decision(False, Reason.OUT_OF_SCOPE)


def test_a_viewer_of_project_a_may_not_change_it() -> None:
    viewer = member(on(R.ELASTICSEARCH_VIEWER, A))
    for permission in (P.PROJECTS_UPDATE, P.PROJECTS_DELETE, P.PROJECTS_MANAGE_SECURITY):
        assert decide(viewer, permission, project(ES, A)) == Decision(False, Reason.NO_ROLE)


def test_a_role_on_all_projects_of_a_type_covers_every_project_of_that_type_only() -> None:
    viewer = member(on_all(R.OBSERVABILITY_VIEWER))
    assert decide(viewer, P.PROJECTS_READ, project(ScopeKind.OBSERVABILITY, B))
    refused = decide(viewer, P.PROJECTS_READ, project(ES, B))
    assert refused == Decision(False, Reason.OUT_OF_SCOPE)


def test_the_same_id_under_another_type_is_out_of_scope() -> None:
    viewer = member(on(R.SECURITY_VIEWER, A))
    assert decide(viewer, P.PROJECTS_READ, project(SEC, A))
    assert not decide(viewer, P.PROJECTS_READ, project(ES, A))


def test_the_organization_owner_covers_every_project_of_every_type() -> None:
    owner = member(on_all(R.ORGANIZATION_ADMIN))
    for kind in (ES, ScopeKind.OBSERVABILITY, SEC):
        for permission in (P.PROJECTS_CREATE, P.PROJECTS_DELETE, P.PROJECTS_MANAGE_SECURITY):
            assert decide(owner, permission, project(kind, A)) == Decision(True, Reason.OWNER)


def test_only_an_admin_of_all_projects_of_the_type_creates_projects_of_it() -> None:
    create = Target.all_of(ORG, ES)
    assert decide(member(on_all(R.ELASTICSEARCH_ADMIN)), P.PROJECTS_CREATE, create)
    one = decide(member(on(R.ELASTICSEARCH_ADMIN, A)), P.PROJECTS_CREATE, create)
    assert one == Decision(False, Reason.OUT_OF_SCOPE)
    other = decide(member(on_all(R.SECURITY_ADMIN)), P.PROJECTS_CREATE, create)
    assert other == Decision(False, Reason.OUT_OF_SCOPE)


def test_the_elasticsearch_developer_manages_settings_but_not_the_project() -> None:
    developer = member(on(R.ELASTICSEARCH_DEVELOPER, A))
    assert decide(developer, P.PROJECTS_UPDATE, project(ES, A))
    assert not decide(developer, P.PROJECTS_DELETE, project(ES, A))
    assert not decide(developer, P.TRAFFIC_FILTERS_ASSOCIATE, project(ES, A))


def test_an_editor_associates_traffic_filters_with_its_projects_only() -> None:
    editor = member(on(R.SECURITY_EDITOR, A))
    assert decide(editor, P.TRAFFIC_FILTERS_ASSOCIATE, project(SEC, A))
    assert not decide(editor, P.TRAFFIC_FILTERS_ASSOCIATE, project(SEC, B))


def test_deployment_roles_reach_no_project_and_project_roles_no_deployment() -> None:
    deployment_admin = member(on_all(R.DEPLOYMENT_ADMIN))
    assert not decide(deployment_admin, P.PROJECTS_READ, project(ES, A))
    project_admin = member(on_all(R.ELASTICSEARCH_ADMIN))
    deployment = Target.resource(ORG, ScopeKind.DEPLOYMENT, A)
    assert not decide(project_admin, P.DEPLOYMENTS_READ, deployment)


# --- granting project roles -----------------------------------------------------------------


def test_an_admin_of_project_a_grants_roles_on_a_only() -> None:
    admin = member(on(R.SECURITY_ADMIN, A))
    assert may_grant(admin, on(R.SECURITY_T1_ANALYST, A)) == Decision(True, Reason.ROLE)
    beyond = may_grant(admin, on(R.SECURITY_T1_ANALYST, A, B))
    assert beyond == Decision(False, Reason.OUT_OF_SCOPE)


def test_a_project_admin_grants_no_role_of_another_type() -> None:
    admin = member(on_all(R.SECURITY_ADMIN))
    assert may_grant(admin, on_all(R.ELASTICSEARCH_VIEWER)) == Decision(False, Reason.NO_ROLE)


# --- role assignments in the Cloud API shape ------------------------------------------------


def request(body: dict) -> list[Assignment]:
    return from_request(RoleAssignmentsIn.model_validate(body), at="body")


@pytest.mark.parametrize("role_id", ANALYST_IDS)
def test_an_analyst_role_is_accepted_for_security_projects(role_id: str) -> None:
    body = {"project": {"security": [{"role_id": role_id, "organization_id": ORG, "all": True}]}}
    (assigned,) = request(body)
    assert assigned.grant == Grant(ORG, RoleId(role_id), all=True)
    assert to_response([assigned]) == body


@pytest.mark.parametrize("kind", ["elasticsearch", "observability"])
def test_an_analyst_role_is_refused_for_other_project_types(kind: str) -> None:
    entry = {"role_id": "security-t1-analyst", "organization_id": ORG, "all": True}
    with pytest.raises(InvalidRoleAssignment) as refused:
        request({"project": {kind: [entry]}})
    assert refused.value.fields == [f"body.project.{kind}[0].role_id"]


def test_project_ids_and_application_roles_survive_storage_and_the_answer() -> None:
    entry = {
        "role_id": "elasticsearch-viewer",
        "organization_id": ORG,
        "all": False,
        "project_ids": [A],
        "application_roles": ["logs_reader"],
    }
    assigned = request({"project": {"elasticsearch": [entry]}})
    again = from_stored(to_stored(assigned))
    assert again == assigned
    assert to_response(again) == {"project": {"elasticsearch": [entry]}}


# --- the roles inside a project -------------------------------------------------------------


def test_each_type_lists_its_roles_admin_first() -> None:
    names = {t: [name for name, _ in project_roles(t)] for t in ProjectType}
    assert names[ProjectType.ELASTICSEARCH] == ["admin", "developer", "viewer"]
    assert names[ProjectType.OBSERVABILITY] == ["admin", "editor", "viewer"]
    assert names[ProjectType.SECURITY] == [
        "admin",
        "editor",
        "viewer",
        "t1_analyst",
        "t2_analyst",
        "t3_analyst",
        "threat_intelligence_analyst",
        "rule_author",
        "soc_manager",
        "endpoint_operations_analyst",
        "platform_engineer",
        "detections_admin",
        "endpoint_policy_manager",
    ]
    assert all(description for t in ProjectType for _, description in project_roles(t))


STACK_TABLE = [
    (R.ORGANIZATION_ADMIN, ("superuser",)),
    (R.BILLING_ADMIN, ()),
    (R.DEPLOYMENT_ADMIN, ()),
    (R.DEPLOYMENT_EDITOR, ()),
    (R.DEPLOYMENT_VIEWER, ()),
    (R.ELASTICSEARCH_ADMIN, ("superuser",)),
    (R.ELASTICSEARCH_DEVELOPER, ("developer",)),
    (R.ELASTICSEARCH_VIEWER, ("viewer",)),
    (R.OBSERVABILITY_ADMIN, ("superuser",)),
    (R.OBSERVABILITY_EDITOR, ("editor",)),
    (R.OBSERVABILITY_VIEWER, ("viewer",)),
    (R.SECURITY_ADMIN, ("superuser",)),
    (R.SECURITY_EDITOR, ("editor",)),
    (R.SECURITY_VIEWER, ("viewer",)),
    (R.SECURITY_T1_ANALYST, ("t1_analyst",)),
    (R.SECURITY_T2_ANALYST, ("t2_analyst",)),
    (R.SECURITY_T3_ANALYST, ("t3_analyst",)),
    (R.SECURITY_THREAT_INTEL_ANALYST, ("threat_intelligence_analyst",)),
    (R.SECURITY_RULE_AUTHOR, ("rule_author",)),
    (R.SECURITY_SOC_MANAGER, ("soc_manager",)),
    (R.SECURITY_ENDPOINT_OPERATIONS_ANALYST, ("endpoint_operations_analyst",)),
    (R.SECURITY_PLATFORM_ENGINEER, ("platform_engineer",)),
    (R.SECURITY_DETECTIONS_ADMIN, ("detections_admin",)),
    (R.SECURITY_ENDPOINT_POLICY_MANAGER, ("endpoint_policy_manager",)),
]


def test_the_stack_table_names_every_role() -> None:
    assert [role for role, _ in STACK_TABLE] == list(RoleId)


@pytest.mark.parametrize(("role", "expected"), STACK_TABLE, ids=lambda v: str(v))
def test_each_cloud_role_gives_its_node_role_in_a_project(
    role: RoleId, expected: tuple[str, ...]
) -> None:
    assert stack_roles(role) == expected


@pytest.mark.parametrize("project_type", list(ProjectType), ids=str)
def test_every_node_role_a_cloud_role_gives_is_a_role_of_the_projects_type(
    project_type: ProjectType,
) -> None:
    kind = ScopeKind(project_type.value)
    given = {STACK_ROLE[r] for r in STACK_ROLE if r.scope_kind is kind}
    listed = {name for name, _ in project_roles(project_type)}
    assert given - {"superuser"} <= listed
    assert "admin" in listed  # the project's name for superuser


@pytest.mark.parametrize("project_type", list(ProjectType), ids=str)
def test_the_listed_roles_are_the_built_in_roles_of_the_projects_node(
    project_type: ProjectType,
) -> None:
    listed = [name for name, _ in project_roles(project_type)]
    assert listed == list(node_roles.ROLES_BY_TYPE[project_type.value])


def test_every_node_role_a_cloud_role_gives_is_built_into_project_nodes() -> None:
    given = set(STACK_ROLE.values()) - {"superuser"}  # superuser is built into every node
    assert given <= set(node_roles.PROJECT_ROLES)


def held(grant: Grant, apps: tuple[str, ...] = ()) -> list[Assignment]:
    return [Assignment(grant, apps)]


def project_token_roles(assignments: list[Assignment], kind: ScopeKind, project_id: str):
    return token_roles(assignments, ORG, project_id, scope=kind, predefined=STACK_ROLE)


def test_a_viewer_of_project_a_gets_viewer_in_a_and_nothing_in_b() -> None:
    viewer = held(on(R.ELASTICSEARCH_VIEWER, A))
    assert project_token_roles(viewer, ES, A) == ("viewer",)
    assert project_token_roles(viewer, ES, B) == ()


def test_a_role_of_another_type_gives_nothing_in_a_project() -> None:
    admin = held(on_all(R.ELASTICSEARCH_ADMIN))
    assert project_token_roles(admin, SEC, A) == ()


def test_the_owner_is_superuser_in_every_project() -> None:
    owner = held(on_all(R.ORGANIZATION_ADMIN))
    assert project_token_roles(owner, SEC, A) == ("superuser",)


def test_application_roles_replace_the_project_roles_node_role() -> None:
    custom = held(on(R.SECURITY_VIEWER, A), ("alerts_reader",))
    assert project_token_roles(custom, SEC, A) == ("alerts_reader",)
    assert project_token_roles(custom, SEC, B) == ()


def test_a_deployment_role_gives_nothing_in_a_project_of_the_same_id() -> None:
    deployment_admin = held(on_all(R.DEPLOYMENT_ADMIN))
    assert project_token_roles(deployment_admin, ES, A) == ()


def test_roles_of_several_assignments_unite() -> None:
    both = [
        Assignment(on_all(R.SECURITY_VIEWER)),
        Assignment(on(R.SECURITY_T2_ANALYST, A)),
    ]
    assert project_token_roles(both, SEC, A) == ("t2_analyst", "viewer")
    assert project_token_roles(both, SEC, B) == ("viewer",)
