"""The pure privilege module: implication tables, wildcards, descriptor parsing."""

from __future__ import annotations

from typing import Any

import pytest

from citadel.node.security.privileges import (
    BUILTIN_ROLES,
    CLUSTER_PRIVILEGES,
    INDEX_PRIVILEGES,
    InvalidDescriptor,
    UnknownPrivilege,
    UnsupportedField,
    allows_cluster,
    allows_index,
    covers_pattern,
    granted_by_cluster,
    granted_by_index,
    normalize_descriptor,
    parse_descriptor,
    render_descriptor,
)
from citadel.node.security.vocabulary import CLUSTER_INCLUDES, ENFORCED_CLUSTER, INDEX_INCLUDES


def role(cluster: list[str] | None = None, **grants: list[str]) -> dict[str, Any]:
    """A descriptor: `grants` maps an index pattern to its privileges."""
    return {
        "cluster": cluster or [],
        "indices": [{"names": [n], "privileges": p} for n, p in grants.items()],
    }


# what a role holding the key grants among the privileges the node's APIs ask for, plus a
# few named after features it lacks (which still answer _has_privileges as in Elasticsearch)
ASKED_CLUSTER = sorted(
    ENFORCED_CLUSTER | {"manage_token", "manage_ilm", "monitor_ml", "manage_ml", "delegate_pki"}
)
CLUSTER_TABLE = {
    "all": set(ASKED_CLUSTER),
    "none": set(),
    "manage": {"manage", "monitor", "manage_ilm", "monitor_ml", "manage_ml"},
    "monitor": {"monitor", "monitor_ml"},
    "manage_security": {
        "manage_security",
        "read_security",
        "manage_api_key",
        "manage_own_api_key",
        "grant_api_key",
        "manage_token",
        "manage_oidc",
    },
    "manage_api_key": {"manage_api_key", "manage_own_api_key", "grant_api_key"},
    "manage_own_api_key": {"manage_own_api_key"},
    "read_security": {"read_security"},
    "grant_api_key": {"grant_api_key"},
    "manage_token": {"manage_token"},
    "manage_oidc": {"manage_oidc"},
    "manage_ml": {"manage_ml", "monitor_ml"},
    "monitor_ml": {"monitor_ml"},
    "manage_ilm": {"manage_ilm"},
}


@pytest.mark.parametrize("held", sorted(CLUSTER_TABLE))
@pytest.mark.parametrize("asked", ASKED_CLUSTER)
def test_cluster_privilege_implication(held: str, asked: str) -> None:
    descriptor = parse_descriptor(role([held]))
    assert descriptor.allows_cluster(asked) is (asked in CLUSTER_TABLE[held])


INDEX_TABLE = {
    "all": set(INDEX_PRIVILEGES) - {"none"},
    "none": set(),
    "read": {"read"},
    "write": {"write", "index", "create", "create_doc", "delete"},
    "index": {"index", "create", "create_doc"},
    "create_index": {"create_index"},
    "delete_index": {"delete_index"},
    "manage": {
        "manage",
        "create_index",
        "delete_index",
        "monitor",
        "maintenance",
        "view_index_metadata",
        "auto_configure",
        "manage_ilm",
        "manage_data_stream_lifecycle",
        "manage_follow_index",
        "manage_leader_index",
    },
}


@pytest.mark.parametrize("held", sorted(INDEX_TABLE))
@pytest.mark.parametrize("asked", sorted(INDEX_PRIVILEGES))
def test_index_privilege_implication(held: str, asked: str) -> None:
    descriptor = parse_descriptor(role(**{"logs-*": [held]}))
    assert descriptor.allows_index(asked, "logs-1") is (asked in INDEX_TABLE[held])


@pytest.mark.parametrize("name", sorted(CLUSTER_PRIVILEGES))
def test_every_elasticsearch_cluster_privilege_is_accepted(name: str) -> None:
    assert parse_descriptor(role([name])).cluster == {name}


@pytest.mark.parametrize("name", sorted(INDEX_PRIVILEGES))
def test_every_elasticsearch_index_privilege_is_accepted(name: str) -> None:
    assert parse_descriptor(role(**{"a": [name]})).indices[0].privileges == {name}


def test_privilege_names_are_case_insensitive() -> None:
    descriptor = parse_descriptor(role(["MONITOR"], a=["Read"]))
    assert descriptor.allows_cluster("monitor")
    assert descriptor.allows_index("read", "a")


@pytest.mark.parametrize(
    "body",
    [
        role(["manage_everything"]),
        role(["cluster:monitor/*"]),
        role(a=["indices:data/read/*"]),
        role(a=["reads"]),
    ],
)
def test_unknown_names_and_action_patterns_are_refused(body: dict[str, Any]) -> None:
    with pytest.raises(UnknownPrivilege):
        parse_descriptor(body)


def test_every_included_privilege_is_a_known_name() -> None:
    for table, names in (
        (CLUSTER_INCLUDES, CLUSTER_PRIVILEGES),
        (INDEX_INCLUDES, INDEX_PRIVILEGES),
    ):
        assert set(table) == set(names)
        for held, included in table.items():
            assert included <= names
            assert held in included or held == "none"


def test_index_is_accepted_for_indices_and_shown_as_indices() -> None:
    body = {"index": [{"names": ["a"], "privileges": ["read"]}]}
    assert parse_descriptor(body).allows_index("read", "a")
    assert normalize_descriptor(body)["indices"][0]["names"] == ["a"]


@pytest.mark.parametrize(
    ("pattern", "index", "matches"),
    [
        ("logs-*", "logs-1", True),
        ("logs-*", "logs-", True),
        ("logs-*", "books", False),
        ("logs-*", "xlogs-1", False),
        ("logs-?", "logs-1", True),
        ("logs-?", "logs-12", False),
        ("books", "books", True),
        ("books", "books2", False),
        ("*", "anything", True),
        ("logs.*", "logsx1", False),  # a dot is a dot, not a regex
        ("[ab]*", "a1", False),  # no character classes
        ("[ab]*", "[ab]1", True),
    ],
)
def test_index_patterns_use_only_star_and_question_mark(
    pattern: str, index: str, matches: bool
) -> None:
    assert parse_descriptor(role(**{pattern: ["read"]})).allows_index("read", index) is matches


def test_a_grant_covers_any_of_its_names() -> None:
    descriptor = parse_descriptor(
        {"indices": [{"names": ["logs-*", "books"], "privileges": ["read"]}]}
    )
    assert descriptor.allows_index("read", "books")
    assert descriptor.allows_index("read", "logs-7")
    assert not descriptor.allows_index("read", "movies")


def test_privileges_on_one_pattern_do_not_leak_to_another() -> None:
    descriptor = parse_descriptor(role(**{"logs-*": ["read"], "books": ["write"]}))
    assert descriptor.allows_index("read", "logs-1")
    assert not descriptor.allows_index("write", "logs-1")
    assert descriptor.allows_index("write", "books")
    assert not descriptor.allows_index("read", "books")


def test_several_descriptors_grant_the_union() -> None:
    descriptors = [
        parse_descriptor(role(**{"logs-*": ["read"]})),
        parse_descriptor(role(["monitor"])),
    ]
    assert allows_index(descriptors, "read", "logs-1")
    assert allows_cluster(descriptors, "monitor")
    assert not allows_cluster(descriptors, "manage")
    assert not allows_index([], "read", "logs-1")


@pytest.mark.parametrize(
    ("name", "cluster", "index_privilege", "index"),
    [
        ("superuser", "manage_security", "delete_index", "anything"),
        ("editor", None, "view_index_metadata", "books"),
        ("editor", None, "write", "observability-annotations"),
        ("viewer", None, "read", "books"),
        ("viewer", None, "view_index_metadata", "books"),
    ],
)
def test_builtin_roles_grant_what_they_say(
    name: str, cluster: str | None, index_privilege: str, index: str
) -> None:
    descriptor = BUILTIN_ROLES[name]
    assert cluster is None or descriptor.allows_cluster(cluster)
    assert descriptor.allows_index(index_privilege, index)


@pytest.mark.parametrize("name", ["editor", "viewer"])
def test_editor_and_viewer_read_user_data_only_as_elasticsearchs_do(name: str) -> None:
    descriptor = BUILTIN_ROLES[name]
    assert not descriptor.allows_index("write", "books")
    assert not descriptor.allows_index("manage", "books")
    assert not descriptor.allows_cluster("monitor")
    assert not descriptor.allows_cluster("manage_security")
    assert not descriptor.allows_cluster("manage")


@pytest.mark.parametrize(
    "body",
    [
        {"cluster": ["manage_everything"]},
        {"indices": [{"names": ["a"], "privileges": ["read", "own"]}]},
    ],
)
def test_unknown_privileges_are_refused(body: dict[str, Any]) -> None:
    with pytest.raises(UnknownPrivilege):
        parse_descriptor(body)


@pytest.mark.parametrize(
    "body",
    [
        [],
        "read",
        {"clusters": ["all"]},
        {"cluster": "all"},
        {"cluster": [1]},
        {"indices": {"names": ["a"], "privileges": ["read"]}},
        {"indices": ["a"]},
        {"indices": [{"names": [], "privileges": ["read"]}]},
        {"indices": [{"names": [""], "privileges": ["read"]}]},
        {"indices": [{"names": ["a"]}]},
        {"indices": [{"privileges": ["read"]}]},
        {"indices": [{"names": ["a"], "privileges": []}]},
        {"indices": [{"names": ["a"], "privileges": "read"}]},
        {"indices": [{"names": ["a"], "privileges": ["read"], "extra": 1}]},
        {"indices": [{"names": ["a"], "privileges": ["read"], "query": "{}"}]},
        {"indices": [{"names": ["a"], "privileges": ["read"], "field_security": {}}]},
        {"indices": [{"names": ["a"], "privileges": ["read"], "allow_restricted_indices": "no"}]},
        {"indices": [{"names": ["a"], "privileges": ["read"], "query": "not json"}]},
        {"indices": [{"names": ["a"], "privileges": ["read"], "query": {"nope": {}}}]},
        {"indices": [{"names": ["a"], "privileges": ["read"], "query": 5}]},
        {
            "indices": [
                {"names": ["a"], "privileges": ["read"], "field_security": {"except": ["a"]}}
            ]
        },
        {"indices": [{"names": ["a"], "privileges": ["read"], "field_security": {"grant": "a"}}]},
        {
            "indices": [
                {"names": ["a"], "privileges": ["read"], "field_security": {"grant": ["a"], "x": 1}}
            ]
        },
        {"run_as": "other"},
        {"run_as": [""]},
        {"applications": [{"application": "kibana"}]},
        {"metadata": []},
        {"metadata": {"_hidden": 1}},
        {"description": 5},
    ],
)
def test_malformed_descriptors_are_refused(body: Any) -> None:
    with pytest.raises(InvalidDescriptor):
        parse_descriptor(body)


def test_an_empty_descriptor_grants_nothing() -> None:
    descriptor = parse_descriptor({})
    assert not descriptor.allows_cluster("monitor")
    assert not descriptor.allows_index("read", "books")


def test_a_single_index_name_may_be_a_string() -> None:
    descriptor = parse_descriptor({"indices": [{"names": "books", "privileges": ["read"]}]})
    assert descriptor.allows_index("read", "books")


def test_normalize_fills_every_field_and_keeps_order() -> None:
    body = {
        "cluster": ["monitor", "manage", "monitor"],
        "indices": [{"names": ["b", "a"], "privileges": ["write", "read"]}],
        "metadata": {"team": "search"},
        "description": "readers",
    }
    assert normalize_descriptor(body) == {
        "cluster": ["monitor", "manage"],
        "indices": [
            {
                "names": ["b", "a"],
                "privileges": ["write", "read"],
                "allow_restricted_indices": False,
            }
        ],
        "applications": [],
        "run_as": [],
        "metadata": {"team": "search"},
        "transient_metadata": {"enabled": True},
        "description": "readers",
    }


@pytest.mark.parametrize("name", sorted(BUILTIN_ROLES))
def test_rendered_descriptors_parse_back_to_the_same_grants(name: str) -> None:
    descriptor = BUILTIN_ROLES[name]
    again = parse_descriptor(render_descriptor(descriptor), name)
    assert again == descriptor


@pytest.mark.parametrize(
    ("privilege", "granting"),
    [
        ("manage_security", ["manage_security", "all"]),
        ("manage_api_key", ["manage_api_key", "manage_security", "all"]),
        (
            "manage_own_api_key",
            ["manage_own_api_key", "manage_api_key", "manage_security", "all"],
        ),
        ("read_security", ["read_security", "manage_security", "all"]),
        ("monitor", ["monitor", "manage", "all"]),
    ],
)
def test_granted_by_cluster_names_narrowest_first(privilege: str, granting: list[str]) -> None:
    assert granted_by_cluster(privilege) == granting


@pytest.mark.parametrize(
    ("privilege", "granting"),
    [
        ("read", ["read", "all"]),
        ("index", ["index", "write", "all"]),
        ("create_index", ["create_index", "manage", "all"]),
    ],
)
def test_granted_by_index_names_narrowest_first(privilege: str, granting: list[str]) -> None:
    assert granted_by_index(privilege) == granting


@pytest.mark.parametrize(
    ("granted", "asked", "covered"),
    [
        (["logs-*"], "logs-1", True),
        (["logs-*"], "logs-2024-*", True),
        (["logs-*"], "*", False),
        (["logs-*"], "log*", False),
        (["logs-*", "books"], "books", True),
        (["logs-*", "books"], "book*", False),
        (["a*", "b*"], "a*", True),
        (["a?"], "a*", False),
        (["a*"], "a?", True),
        (["*"], "any-?-thing*", True),
        (["*x*"], "y*", False),
        (["logs-?"], "logs-?", True),
        ([], "logs-1", False),
    ],
)
def test_an_asked_pattern_is_covered_only_when_every_name_it_matches_is(
    granted: list[str], asked: str, covered: bool
) -> None:
    assert covers_pattern(granted, asked) is covered


@pytest.mark.parametrize(
    "body",
    [
        {"remote_indices": [{"clusters": ["c"], "names": ["a"], "privileges": ["read"]}]},
        {"remote_cluster": [{"clusters": ["c"], "privileges": ["monitor_enrich"]}]},
    ],
)
def test_fields_the_node_would_ignore_are_refused_by_name(body: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedField, match="not supported by this node"):
        parse_descriptor(body)


def test_field_security_and_query_are_kept_on_the_grant() -> None:
    body = {
        "indices": [
            {
                "names": ["logs-*"],
                "privileges": ["read"],
                "field_security": {"grant": ["a*", "b"], "except": ["a.secret"]},
                "query": {"term": {"team": "blue"}},
            }
        ]
    }
    (grant,) = parse_descriptor(body).indices
    assert grant.field_grant == ("a*", "b")
    assert grant.field_except == ("a.secret",)
    assert grant.query == '{"term":{"team":"blue"}}'
    assert grant.restricts


def test_a_query_given_as_text_is_kept_as_that_text() -> None:
    text = '{"match": {"category": "click"}}'
    body = {"indices": [{"names": ["a"], "privileges": ["read"], "query": text}]}
    assert parse_descriptor(body).indices[0].query == text
    assert normalize_descriptor(body)["indices"][0]["query"] == text


def test_a_template_query_is_accepted_without_being_rendered() -> None:
    query = {"template": {"source": {"term": {"owner": "{{_user.username}}"}}}}
    body = {"indices": [{"names": ["a"], "privileges": ["read"], "query": query}]}
    assert "{{_user.username}}" in (parse_descriptor(body).indices[0].query or "")


def test_a_stored_template_id_is_refused_by_name() -> None:
    query = {"template": {"id": "my-template"}}
    body = {"indices": [{"names": ["a"], "privileges": ["read"], "query": query}]}
    with pytest.raises(UnsupportedField, match=r"template\.id"):
        parse_descriptor(body)


@pytest.mark.parametrize(
    ("granted", "excepted"),
    [(["a"], ["b"]), (["a*"], ["*"]), (["a?"], ["a*"]), ([], ["a"])],
)
def test_except_outside_grant_is_refused_as_elasticsearch_does(
    granted: list[str], excepted: list[str]
) -> None:
    security = {"grant": granted, "except": excepted}
    body = {"indices": [{"names": ["a"], "privileges": ["read"], "field_security": security}]}
    with pytest.raises(InvalidDescriptor, match="must be a subset of the granted fields"):
        parse_descriptor(body)


@pytest.mark.parametrize(
    ("granted", "excepted"), [(["a*"], ["a.b"]), (["*"], ["x*", "y"]), (["a*", "b*"], ["b?"])]
)
def test_except_inside_grant_is_accepted(granted: list[str], excepted: list[str]) -> None:
    security = {"grant": granted, "except": excepted}
    body = {"indices": [{"names": ["a"], "privileges": ["read"], "field_security": security}]}
    assert parse_descriptor(body).indices[0].field_except == tuple(excepted)


def test_run_as_is_kept_on_the_descriptor() -> None:
    descriptor = parse_descriptor({"run_as": ["alice", "ops-*", "alice"]})
    assert descriptor.run_as == ("alice", "ops-*")


def test_normalize_shows_field_security_query_and_run_as() -> None:
    body = {
        "indices": [
            {
                "names": ["a"],
                "privileges": ["read"],
                "query": {"match_all": {}},
                "field_security": {"grant": ["x", "y*"], "except": ["y.z"]},
            }
        ],
        "run_as": ["alice"],
    }
    out = normalize_descriptor(body)
    assert out["indices"] == [
        {
            "names": ["a"],
            "privileges": ["read"],
            "field_security": {"grant": ["x", "y*"], "except": ["y.z"]},
            "query": '{"match_all":{}}',
            "allow_restricted_indices": False,
        }
    ]
    assert out["run_as"] == ["alice"]


def test_a_restricting_descriptor_renders_and_parses_back_to_the_same_grants() -> None:
    body = {
        "indices": [
            {
                "names": ["a"],
                "privileges": ["read"],
                "query": '{"term":{"x":1}}',
                "field_security": {"grant": ["x"], "except": []},
            }
        ],
        "run_as": ["bob"],
    }
    descriptor = parse_descriptor(body, "r")
    assert parse_descriptor(render_descriptor(descriptor), "r") == descriptor


def test_application_grants_are_parsed_and_kept() -> None:
    body = {
        "applications": [
            {
                "application": "kibana-.kibana",
                "privileges": ["read", "data:write/*"],
                "resources": ["*"],
            }
        ]
    }
    descriptor = parse_descriptor(body)
    assert descriptor.applications[0].application == "kibana-.kibana"
    assert normalize_descriptor(body)["applications"] == body["applications"]


@pytest.mark.parametrize(
    "entry",
    [
        {"application": "ap", "privileges": ["read"], "resources": ["*"]},
        {"application": "app", "privileges": [], "resources": ["*"]},
        {"application": "app", "privileges": ["Read"], "resources": ["*"]},
        {"application": "app", "privileges": ["read"], "resources": []},
        {"application": "app", "privileges": ["read"]},
        {"application": "app", "privileges": ["read"], "resources": ["*"], "extra": 1},
    ],
)
def test_malformed_application_grants_are_refused(entry: dict[str, Any]) -> None:
    with pytest.raises(InvalidDescriptor):
        parse_descriptor({"applications": [entry]})
