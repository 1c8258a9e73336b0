"""Members and role assignments: last owner, escalation, immediate loss of access."""

import threading

from tests.fixtures.builders import (
    add_member,
    bearer,
    grant,
    key_headers,
    login,
    make_api_key,
    make_org,
    make_user,
)

DEP1 = "d1" * 16
DEP2 = "d2" * 16


def _roles(org, role, **scope):
    entry = {"role_id": role, "organization_id": org, **scope}
    kind = "organization" if role in ("organization-admin", "billing-admin") else "deployment"
    return {kind: [entry]}


def test_removing_the_last_owner_is_a_conflict(client, services):
    owner = make_user(services)
    org = make_org(services, owner)
    key = make_api_key(services, org)
    response = client.delete(
        f"/api/v1/organizations/{org}/members/{owner.user_id}", headers=key_headers(key)
    )
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "organization.last_owner"


def test_demoting_the_last_owner_is_a_conflict(client, services):
    owner = make_user(services)
    org = make_org(services, owner)
    key = make_api_key(services, org)
    response = client.request(
        "DELETE",
        f"/api/v1/users/{owner.user_id}/role_assignments",
        json=_roles(org, "organization-admin"),
        headers=key_headers(key),
    )
    assert response.status_code == 409
    members = client.get(f"/api/v1/organizations/{org}/members", headers=key_headers(key)).json()
    assert members["members"][0]["role_assignments"]["organization"][0]["role_id"] == (
        "organization-admin"
    )


def test_an_owner_may_remove_another_owner(client, services):
    owner, second = make_user(services), make_user(services)
    org = make_org(services, owner)
    add_member(services, org, second, grant(org, "organization-admin"))
    key = make_api_key(services, org)
    response = client.delete(
        f"/api/v1/organizations/{org}/members/{second.user_id}", headers=key_headers(key)
    )
    assert response.status_code == 200


def test_two_owners_removing_each_other_at_once_leave_one_owner(client, services):
    a, b = make_user(services), make_user(services)
    org = make_org(services, a)
    add_member(services, org, b, grant(org, "organization-admin"))
    key_a, key_b = make_api_key(services, org), make_api_key(services, org)
    results = {}

    def remove(key, victim):
        results[victim] = client.delete(
            f"/api/v1/organizations/{org}/members/{victim}", headers=key_headers(key)
        ).status_code

    threads = [
        threading.Thread(target=remove, args=(key_a, b.user_id)),
        threading.Thread(target=remove, args=(key_b, a.user_id)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == [200, 409]
    members = client.get(f"/api/v1/organizations/{org}/members", headers=key_headers(key_a))
    assert len(members.json()["members"]) == 1


def test_admin_of_one_deployment_cannot_grant_admin_of_all(client, services):
    owner, admin, target = make_user(services), make_user(services), make_user(services)
    org = make_org(services, owner)
    add_member(services, org, admin, grant(org, "deployment-admin", DEP1))
    add_member(services, org, target)
    token = login(client, services, admin)
    response = client.post(
        f"/api/v1/users/{target.user_id}/role_assignments",
        json=_roles(org, "deployment-admin", all=True),
        headers=bearer(token),
    )
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "role_assignments.unauthorized_role_assignments"


def test_admin_of_one_deployment_may_grant_viewer_of_that_deployment(client, services):
    owner, admin, target = make_user(services), make_user(services), make_user(services)
    org = make_org(services, owner)
    add_member(services, org, admin, grant(org, "deployment-admin", DEP1))
    add_member(services, org, target)
    token = login(client, services, admin)
    ok = client.post(
        f"/api/v1/users/{target.user_id}/role_assignments",
        json=_roles(org, "deployment-viewer", deployment_ids=[DEP1]),
        headers=bearer(token),
    )
    assert ok.status_code == 200
    other = client.post(
        f"/api/v1/users/{target.user_id}/role_assignments",
        json=_roles(org, "deployment-viewer", deployment_ids=[DEP2]),
        headers=bearer(token),
    )
    assert other.status_code == 403


def test_admin_cannot_promote_themselves_to_owner(client, services):
    owner, admin = make_user(services), make_user(services)
    org = make_org(services, owner)
    add_member(services, org, admin, grant(org, "deployment-admin"))
    token = login(client, services, admin)
    response = client.post(
        f"/api/v1/users/{admin.user_id}/role_assignments",
        json=_roles(org, "organization-admin"),
        headers=bearer(token),
    )
    assert response.status_code == 403


def test_admin_cannot_demote_an_owner(client, services):
    owner, second, admin = make_user(services), make_user(services), make_user(services)
    org = make_org(services, owner)
    add_member(services, org, second, grant(org, "organization-admin"))
    add_member(services, org, admin, grant(org, "deployment-admin"))
    token = login(client, services, admin)
    response = client.request(
        "DELETE",
        f"/api/v1/users/{second.user_id}/role_assignments",
        json=_roles(org, "organization-admin"),
        headers=bearer(token),
    )
    assert response.status_code == 403


def test_granting_to_a_non_member_is_refused(client, services):
    owner, stranger = make_user(services), make_user(services)
    org = make_org(services, owner)
    key = make_api_key(services, org)
    response = client.post(
        f"/api/v1/users/{stranger.user_id}/role_assignments",
        json=_roles(org, "deployment-viewer", all=True),
        headers=key_headers(key),
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "role_assignments.invalid_target_user_id"


def test_grants_merge_and_removal_of_one_id_keeps_the_others(client, services):
    owner, target = make_user(services), make_user(services)
    org = make_org(services, owner)
    add_member(services, org, target)
    key = make_api_key(services, org)
    url = f"/api/v1/users/{target.user_id}/role_assignments"
    for dep in (DEP1, DEP2):
        body = _roles(org, "deployment-viewer", deployment_ids=[dep])
        assert client.post(url, json=body, headers=key_headers(key)).status_code == 200
    body = _roles(org, "deployment-viewer", deployment_ids=[DEP1])
    assert client.request("DELETE", url, json=body, headers=key_headers(key)).status_code == 200
    members = client.get(f"/api/v1/organizations/{org}/members", headers=key_headers(key)).json()
    [row] = [m for m in members["members"] if m["user_id"] == target.user_id]
    assert row["role_assignments"]["deployment"][0]["deployment_ids"] == [DEP2]


def test_removed_member_loses_access_on_the_next_request(client, services):
    owner, member = make_user(services), make_user(services)
    org = make_org(services, owner)
    add_member(services, org, member, grant(org, "deployment-viewer"))
    token = login(client, services, member)
    assert client.get(f"/api/v1/organizations/{org}", headers=bearer(token)).status_code == 200
    key = make_api_key(services, org)
    client.delete(f"/api/v1/organizations/{org}/members/{member.user_id}", headers=key_headers(key))
    assert client.get("/api/v1/users/auth", headers=bearer(token)).status_code == 401


def test_removing_roles_ends_the_members_sessions(client, services):
    owner, member = make_user(services), make_user(services)
    org = make_org(services, owner)
    add_member(services, org, member, grant(org, "deployment-viewer"))
    token = login(client, services, member)
    key = make_api_key(services, org)
    client.request(
        "DELETE",
        f"/api/v1/users/{member.user_id}/role_assignments",
        json=_roles(org, "deployment-viewer", all=True),
        headers=key_headers(key),
    )
    assert client.get("/api/v1/users/auth", headers=bearer(token)).status_code == 401


def test_keys_of_a_removed_owner_survive_by_default(client, services):
    owner, second = make_user(services), make_user(services)
    org = make_org(services, owner)
    add_member(services, org, second, grant(org, "organization-admin"))
    their_key = make_api_key(services, org, created_by=second.user_id)
    key = make_api_key(services, org)
    client.delete(f"/api/v1/organizations/{org}/members/{second.user_id}", headers=key_headers(key))
    assert (
        client.get(f"/api/v1/organizations/{org}", headers=key_headers(their_key)).status_code
        == 200
    )


def test_keys_of_a_removed_owner_stop_when_the_org_says_so(client, services):
    owner, second = make_user(services), make_user(services)
    org = make_org(services, owner)
    add_member(services, org, second, grant(org, "organization-admin"))
    their_key = make_api_key(services, org, created_by=second.user_id)
    key = make_api_key(services, org)
    client.put(
        f"/api/v1/organizations/{org}",
        json={"disable_api_keys_on_member_removal": True},
        headers=key_headers(key),
    )
    client.delete(f"/api/v1/organizations/{org}/members/{second.user_id}", headers=key_headers(key))
    assert (
        client.get(f"/api/v1/organizations/{org}", headers=key_headers(their_key)).status_code
        == 401
    )


def test_a_member_may_leave(client, services):
    owner, member = make_user(services), make_user(services)
    org = make_org(services, owner)
    add_member(services, org, member)
    token = login(client, services, member)
    response = client.delete(
        f"/api/v1/organizations/{org}/members/{member.user_id}", headers=bearer(token)
    )
    assert response.status_code == 200


def test_scoped_admin_sees_only_assignments_within_their_scope(client, services):
    owner, admin, viewer = make_user(services), make_user(services), make_user(services)
    org = make_org(services, owner)
    add_member(services, org, admin, grant(org, "deployment-admin", DEP1))
    add_member(services, org, viewer, grant(org, "deployment-viewer", DEP1, DEP2))
    token = login(client, services, admin)
    members = client.get(f"/api/v1/organizations/{org}/members", headers=bearer(token)).json()
    by_id = {m["user_id"]: m["role_assignments"] for m in members["members"]}
    assert by_id[owner.user_id] == {}
    assert by_id[viewer.user_id]["deployment"][0]["deployment_ids"] == [DEP1]
