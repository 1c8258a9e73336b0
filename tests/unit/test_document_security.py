"""The pure rules of field- and document-level security: which grants apply, how roles combine
(union) and how an API key meets its owner (intersection), templates, and the narrowing of
sources, mappings and field tables."""

from __future__ import annotations

import json
from typing import Any

import pytest

from citadel.node.engine.fields import FieldRef, SlotKind
from citadel.node.engine.layout import FieldTable
from citadel.node.errors import IllegalArgument
from citadel.node.security.document_security import (
    NOTHING,
    FieldAccess,
    UserModel,
    document_query,
    filter_source,
    narrow_mappings,
    narrow_table,
    restriction_for,
)
from citadel.node.security.privileges import RoleDescriptor, parse_descriptor
from citadel.node.security.realm import Identity


def descriptor(*entries: dict[str, Any], name: str = "r") -> RoleDescriptor:
    return parse_descriptor({"indices": list(entries)}, name)


def entry(names: str = "books", privileges: tuple[str, ...] = ("read",), **rest: Any) -> dict:
    return {"names": [names], "privileges": list(privileges), **rest}


def identity(
    *descriptors: RoleDescriptor,
    limited_by: tuple[RoleDescriptor, ...] | None = None,
    username: str = "bob",
    metadata: dict[str, Any] | None = None,
) -> Identity:
    return Identity(
        username=username,
        roles=tuple(d.name for d in descriptors),
        descriptors=descriptors,
        realm="native",
        limited_by=limited_by,
        metadata=metadata or {},
    )


def shows(grants: list[tuple[list[str], list[str]]]) -> FieldAccess:
    return FieldAccess(tuple((tuple(g), tuple(e)) for g, e in grants))


# -- field predicates ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grant", "excepted", "path", "shown"),
    [
        (["a"], [], "a", True),
        (["a"], [], "a.b", False),
        (["a.*"], [], "a.b.c", True),
        (["a?"], [], "ab", True),
        (["a?"], [], "abc", False),
        (["*"], ["s*"], "secret", False),
        (["*"], ["s*"], "title", True),
        ([], [], "title", False),
        ([], [], "_id", True),
        (["x"], [], "_routing", True),
        (["a.b"], [], "a.b", True),
    ],
)
def test_a_field_shows_when_granted_and_not_excepted(
    grant: list[str], excepted: list[str], path: str, shown: bool
) -> None:
    assert shows([(grant, excepted)]).allows(path) is shown


def test_several_grants_show_the_union() -> None:
    access = shows([(["a"], []), (["*"], ["a", "b"])])
    assert access.allows("a")
    assert not access.allows("b")
    assert access.allows("c")


def test_both_shows_only_what_each_shows() -> None:
    access = shows([(["a", "b"], [])]).both(shows([(["b", "c"], [])]))
    assert [p for p in ("a", "b", "c") if access.allows(p)] == ["b"]


# -- which grants apply ----------------------------------------------------------------------


def test_no_grant_on_the_index_shows_nothing() -> None:
    found = restriction_for(identity(descriptor(entry("other"))), ("books",))
    assert found == NOTHING


def test_a_grant_without_security_shows_everything() -> None:
    found = restriction_for(identity(descriptor(entry())), ("books",))
    assert found.unrestricted


def test_a_grant_of_every_field_is_not_field_level_security() -> None:
    found = restriction_for(
        identity(descriptor(entry(field_security={"grant": ["*"]}))), ("books",)
    )
    assert found.unrestricted


def test_only_grants_holding_the_privilege_apply() -> None:
    writer = descriptor(entry(privileges=("write",), query={"match_all": {}}), entry())
    assert restriction_for(identity(writer), ("books",)).unrestricted
    assert restriction_for(identity(writer), ("books",), ("index",)).query == {"match_all": {}}


def test_a_grant_on_an_alias_applies_to_its_index() -> None:
    role = descriptor(entry("library", query={"term": {"a": 1}}))
    assert restriction_for(identity(role), ("books", "library")).query == {"term": {"a": 1}}


def test_queries_of_several_grants_combine_as_an_or() -> None:
    roles = (
        descriptor(entry(query={"term": {"a": 1}}), name="one"),
        descriptor(entry("b*", query={"term": {"b": 2}}), name="two"),
    )
    found = restriction_for(identity(*roles), ("books",))
    assert found.query == {
        "bool": {"should": [{"term": {"a": 1}}, {"term": {"b": 2}}], "minimum_should_match": 1}
    }


def test_a_grant_without_a_query_lifts_the_others() -> None:
    roles = (
        descriptor(entry(query={"term": {"a": 1}}), name="one"),
        descriptor(entry(), name="two"),
    )
    assert restriction_for(identity(*roles), ("books",)).query is None


def test_an_api_key_meets_its_owner() -> None:
    own = descriptor(entry(query={"term": {"a": 1}}, field_security={"grant": ["x", "y"]}))
    owner = descriptor(entry(query={"term": {"b": 2}}, field_security={"grant": ["y", "z"]}))
    found = restriction_for(identity(own, limited_by=(owner,)), ("books",))
    assert found.query == {"bool": {"filter": [{"term": {"a": 1}}, {"term": {"b": 2}}]}}
    assert [p for p in ("x", "y", "z") if found.allows_field(p)] == ["y"]


def test_an_api_key_without_security_keeps_its_owners() -> None:
    owner = descriptor(entry(query={"term": {"b": 2}}))
    found = restriction_for(identity(descriptor(entry()), limited_by=(owner,)), ("books",))
    assert found.query == {"term": {"b": 2}}
    assert found.fields is None


# -- templates -------------------------------------------------------------------------------


def test_a_template_renders_the_users_name_roles_and_metadata() -> None:
    text = json.dumps(
        {
            "template": {
                "source": {
                    "terms": {"acl": ["{{_user.username}}", "{{_user.metadata.team}}", "{{p}}"]}
                },
                "params": {"p": "extra"},
            }
        }
    )
    user = UserModel("alice", ("r",), metadata={"team": "blue"})
    assert document_query(text, user) == {"terms": {"acl": ["alice", "blue", "extra"]}}


def test_a_template_escapes_values_into_json_strings() -> None:
    text = json.dumps({"template": {"source": '{"term": {"owner": "{{_user.username}}"}}'}})
    query = document_query(text, UserModel('a"b\\c'))
    assert query == {"term": {"owner": 'a"b\\c'}}


def test_a_plain_query_is_not_rendered() -> None:
    text = json.dumps({"term": {"owner": "{{_user.username}}"}})
    assert document_query(text, UserModel("alice")) == {"term": {"owner": "{{_user.username}}"}}


def test_a_template_that_renders_no_json_is_a_400() -> None:
    text = json.dumps({"template": {"source": "{{_user.username}}"}})
    with pytest.raises(IllegalArgument):
        document_query(text, UserModel("alice"))


# -- narrowing -------------------------------------------------------------------------------


def test_a_source_keeps_shown_leaves_of_objects_and_arrays() -> None:
    source = {
        "a": 1,
        "b": {"c": 2, "d": {"e": 3}},
        "list": [{"k": 1, "h": 2}, {"h": 3}],
        "nums": [1, 2],
        "dotted.key": 5,
        "empty": {},
    }
    access = shows([(["a", "b.d.*", "list.k", "nums", "dotted.key"], [])])
    assert filter_source(source, access) == {
        "a": 1,
        "b": {"d": {"e": 3}},
        "list": [{"k": 1}],
        "nums": [1, 2],
        "dotted.key": 5,
    }


def test_mappings_keep_shown_fields_their_objects_and_multi_fields() -> None:
    mappings = {
        "dynamic": "strict",
        "properties": {
            "title": {"type": "text", "fields": {"raw": {"type": "keyword"}}},
            "author": {"properties": {"name": {"type": "keyword"}, "born": {"type": "date"}}},
            "secret": {"type": "keyword"},
        },
    }
    narrowed = narrow_mappings(mappings, shows([(["title", "author.name"], [])]))
    assert narrowed == {
        "dynamic": "strict",
        "properties": {
            "title": {"type": "text"},
            "author": {"properties": {"name": {"type": "keyword"}}},
        },
    }


def test_a_field_table_keeps_shown_fields_and_their_objects() -> None:
    refs = {
        path: FieldRef(path, "keyword", f"kw{i}", SlotKind.KEYWORD)
        for i, path in enumerate(["a.b", "a.c", "d"])
    }
    table = narrow_table(FieldTable(refs, frozenset({"a"})), shows([(["d"], [])]))
    assert set(table.fields) == {"d"}
    assert table.objects == frozenset()
    table = narrow_table(FieldTable(refs, frozenset({"a"})), shows([(["a.b"], [])]))
    assert set(table.fields) == {"a.b"}
    assert table.objects == frozenset({"a"})
