"""`citadel sso mapping add --role`: each role goes where the role-assignments API wants it."""

from __future__ import annotations

from citadel.cli.sso import _assignments, _roles

ORG = "o" * 32


def test_organization_deployment_and_project_roles_each_go_under_their_kind() -> None:
    roles = _roles(
        ORG,
        [
            "organization-admin",
            "deployment-viewer",
            "deployment-editor:d1,d2",
            "elasticsearch-viewer:p1",
            "security-t1-analyst",
        ],
    )
    assert roles == {
        "organization": [{"role_id": "organization-admin", "organization_id": ORG}],
        "deployment": [
            {"role_id": "deployment-viewer", "organization_id": ORG, "all": True},
            {
                "role_id": "deployment-editor",
                "organization_id": ORG,
                "deployment_ids": ["d1", "d2"],
            },
        ],
        "project": {
            "elasticsearch": [
                {"role_id": "elasticsearch-viewer", "organization_id": ORG, "project_ids": ["p1"]}
            ],
            "security": [{"role_id": "security-t1-analyst", "organization_id": ORG, "all": True}],
        },
    }
    assert [a["role_id"] for a in _assignments(roles)] == [
        "organization-admin",
        "deployment-viewer",
        "deployment-editor",
        "elasticsearch-viewer",
        "security-t1-analyst",
    ]
