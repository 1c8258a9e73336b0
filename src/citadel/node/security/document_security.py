"""Field- and document-level security: what part of an index a caller may read. Pure.

A caller's roles hold index grants (`citadel.node.security.privileges.IndexGrant`); those that
cover an index and grant the privilege of the request decide, as in Elasticsearch:

- fields: a grant without ``field_security`` shows every field; otherwise it shows the fields
  matching ``grant`` and not ``except`` (``*`` and ``?`` wildcards over dotted leaf paths). Several
  grants show the union. Metadata fields (``_id``, ``_index``, ``_routing`` ...) always show.
- documents: a grant without ``query`` shows every document; otherwise the documents matching
  its query. Several grants show the documents matching any of them (an OR).
- an API key sees the intersection of what its own descriptors and ``limited_by`` show: both
  field predicates, both document queries.

A ``{"template": {"source": ...}}`` query is rendered per request with the node's mustache
renderer (Elasticsearch's JSON escaping) and ``_user`` = username, roles, full_name, email,
metadata of the caller.

A restricted index is read through a `SecuredIndex`: the index record with the caller's
`Restriction` and the narrowed field table and mappings (`visible_table`,
`visible_mappings`); the record's own `table` and `mappings` stay whole, because the engine
replays its translog through them and the document query is compiled against every field (a
document query may use a field the caller cannot see, as in Elasticsearch).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from citadel.node.engine.layout import FieldTable
from citadel.node.errors import EsError, IllegalArgument
from citadel.node.scripts.errors import ScriptException
from citadel.node.scripts.mustache import render_source
from citadel.node.security.privileges import IndexGrant, RoleDescriptor
from citadel.node.security.vocabulary import INDEX_INCLUDES
from citadel.node.store.indices import IndexRecord

if TYPE_CHECKING:  # the realm reads descriptors; this module only reads its identities
    from citadel.node.security.realm import Identity

READ = ("read",)
METADATA_FIELDS = frozenset(
    {
        "_id",
        "_index",
        "_routing",
        "_source",
        "_seq_no",
        "_primary_term",
        "_version",
        "_ignored",
        "_field_names",
        "_doc_count",
        "_tier",
        "_data_stream_timestamp",
        "_feature",
        "_nested_path",
        "_score",
        "_doc",
        "_shard_doc",
    }
)
UPDATE_REFUSED = "Can't execute an update request if field or document level security is enabled"
BULK_UPDATE_REFUSED = (
    "Can't execute a bulk item request with update requests embedded if field or document "
    "level security is enabled"
)


class DocumentSecurityRefused(EsError):
    """A request Elasticsearch refuses on an index read under field- or document-level
    security (an update would write back what the caller cannot see)."""

    type = "security_exception"
    status = 400


# -- field predicates ------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldAccess:
    """Which fields show: the union over `grants` of (grant minus except), and, when
    `also` is set (an API key's ``limited_by``), only the fields it shows too."""

    grants: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]
    also: FieldAccess | None = None

    def allows(self, path: str) -> bool:
        """Whether the field at dotted `path` shows (metadata fields always do)."""
        if path in METADATA_FIELDS:
            return True
        return _allows(self.grants, path) and (self.also is None or self.also.allows(path))

    def both(self, other: FieldAccess) -> FieldAccess:
        """The fields both show."""
        if self.also is None:
            return FieldAccess(self.grants, other)
        return FieldAccess(self.grants, self.also.both(other))


@lru_cache(maxsize=1024)
def _allows(grants: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...], path: str) -> bool:
    return any(
        _matcher(granted).fullmatch(path) is not None
        and (not excepted or _matcher(excepted).fullmatch(path) is None)
        for granted, excepted in grants
    )


@lru_cache(maxsize=1024)
def _matcher(patterns: tuple[str, ...]) -> re.Pattern[str]:
    if not patterns:
        return re.compile("(?!)")
    return re.compile("|".join(f"(?:{_glob(p)})" for p in patterns), re.DOTALL)


def _glob(pattern: str) -> str:
    return "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)


# -- restrictions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Restriction:
    """What of one index a caller may read: `fields` (None: every field) and `query`, a query
    body documents must match (None: every document)."""

    fields: FieldAccess | None = None
    query: Mapping[str, Any] | None = None

    @property
    def unrestricted(self) -> bool:
        """Whether the caller reads the whole index."""
        return self.fields is None and self.query is None

    def allows_field(self, path: str) -> bool:
        """Whether the field at `path` shows."""
        return self.fields is None or self.fields.allows(path)

    def both(self, other: Restriction) -> Restriction:
        """What both restrictions let through (an API key and its ``limited_by``)."""
        if self.fields is None:
            shown = other.fields
        elif other.fields is None:
            shown = self.fields
        else:
            shown = self.fields.both(other.fields)
        if self.query is None:
            query = other.query
        elif other.query is None:
            query = self.query
        else:
            query = {"bool": {"filter": [self.query, other.query]}}
        return Restriction(shown, query)


UNRESTRICTED = Restriction()
NOTHING = Restriction(FieldAccess(()), {"match_none": {}})


@dataclass(frozen=True)
class UserModel:
    """The caller as a document query template sees it (``{{_user.username}}`` ...)."""

    username: str
    roles: tuple[str, ...] = ()
    full_name: str | None = None
    email: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def params(self) -> dict[str, Any]:
        """The ``_user`` object of a template's parameters."""
        return {
            "username": self.username,
            "roles": list(self.roles),
            "full_name": self.full_name,
            "email": self.email,
            "metadata": dict(self.metadata),
        }


def has_restrictions(identity: Identity) -> bool:
    """Whether any role of `identity` limits fields or documents: when
    none does, nothing here applies (the common case costs one scan of its grants)."""
    descriptors = (*identity.descriptors, *(identity.limited_by or ()))
    return any(grant.restricts for d in descriptors for grant in d.indices)


def reached_as(record: IndexRecord, streams: Mapping[str, Any]) -> tuple[str, ...]:
    """Every name a grant may cover an index by: its own, its aliases', its data stream's
    (`streams`: a catalog's data streams, each with ``indices``)."""
    names = [record.name, *record.aliases]
    names += [name for name, stream in streams.items() if record.name in stream.indices]
    return tuple(dict.fromkeys(names))


def restriction_for(
    identity: Identity, names: tuple[str, ...], privileges: tuple[str, ...] = READ
) -> Restriction:
    """What `identity` may read of an index known by `names` (its own,
    its aliases', its data stream's) through grants holding any of `privileges`: its own
    descriptors' restriction, intersected with ``limited_by``'s for an API key."""
    user = UserModel(
        identity.username,
        tuple(identity.roles),
        identity.full_name,
        identity.email,
        identity.metadata,
    )
    own = descriptors_restriction(identity.descriptors, names, privileges, user)
    if identity.limited_by is None:
        return own
    return own.both(descriptors_restriction(identity.limited_by, names, privileges, user))


def descriptors_restriction(
    descriptors: Iterable[RoleDescriptor],
    names: tuple[str, ...],
    privileges: tuple[str, ...],
    user: UserModel,
) -> Restriction:
    """The union of what the grants of `descriptors` covering one of `names` with one of
    `privileges` let through; `NOTHING` when no grant covers them."""
    grants = [
        grant
        for descriptor in descriptors
        for grant in descriptor.indices
        if _grants_any(grant, privileges) and any(grant.covers(n) for n in names)
    ]
    if not grants:
        return NOTHING
    if any(_all_fields(g) for g in grants):
        shown = None
    else:
        shown = FieldAccess(
            tuple(dict.fromkeys((g.field_grant or (), g.field_except) for g in grants))
        )
    if any(g.query is None for g in grants):
        query = None
    else:
        queries = list(dict.fromkeys(g.query for g in grants if g.query is not None))
        rendered = [document_query(q, user) for q in queries]
        query = (
            rendered[0]
            if len(rendered) == 1
            else {"bool": {"should": rendered, "minimum_should_match": 1}}
        )
    return Restriction(shown, query)


def _all_fields(grant: IndexGrant) -> bool:
    """Whether a grant shows every field (no ``field_security``, or ``grant: ["*"]`` with no
    ``except``: Elasticsearch does not count that as field-level security either)."""
    if grant.field_grant is None:
        return True
    return "*" in grant.field_grant and not grant.field_except


def _grants_any(grant: IndexGrant, privileges: tuple[str, ...]) -> bool:
    return any(
        wanted in INDEX_INCLUDES.get(held, frozenset())
        for held in grant.privileges
        for wanted in privileges
    )


def document_query(text: str, user: UserModel) -> dict[str, Any]:
    """A grant's stored query as a query body; a ``template`` rendered for `user`."""
    body = json.loads(text)
    if not (isinstance(body, Mapping) and set(body) == {"template"}):
        return dict(body)
    template = body["template"]
    source = template["source"]
    if isinstance(source, Mapping):
        source = json.dumps(source, separators=(",", ":"), ensure_ascii=False)
    params = {**(template.get("params") or {}), "_user": user.params()}
    try:
        rendered = json.loads(render_source(source, params))
    except (ValueError, ScriptException) as exc:
        raise IllegalArgument(
            f"the document level security query of a role did not render to a query: {exc}"
        ) from None
    if not isinstance(rendered, Mapping):
        raise IllegalArgument(
            "the document level security query of a role did not render to a query object"
        )
    return dict(rendered)


# -- narrowed views --------------------------------------------------------------------------


def narrow_table(table: FieldTable, shown: FieldAccess) -> FieldTable:
    """`table` with only the leaf fields `shown` allows, and the objects holding one."""
    kept = {path: ref for path, ref in table.fields.items() if shown.allows(path)}
    objects = frozenset(
        obj for obj in table.objects if any(path.startswith(obj + ".") for path in kept)
    )
    return FieldTable(kept, objects)


def narrow_mappings(mappings: Mapping[str, Any], shown: FieldAccess) -> dict[str, Any]:
    """`mappings` with only the fields `shown` allows (objects kept while they hold one; a
    multi-field goes with its parent, so it is dropped when the parent is hidden)."""
    out = dict(mappings)
    if "properties" in mappings:
        out["properties"] = _narrow_properties(mappings["properties"], "", shown)
    return out


def _narrow_properties(
    properties: Mapping[str, Any], prefix: str, shown: FieldAccess
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, definition in properties.items():
        path = prefix + name
        if not isinstance(definition, Mapping):
            continue
        if "properties" in definition:
            inner = _narrow_properties(definition["properties"], path + ".", shown)
            if inner:
                out[name] = {**definition, "properties": inner}
            continue
        if not shown.allows(path):
            continue
        kept = dict(definition)
        if "fields" in definition:
            subfields = {
                sub: spec
                for sub, spec in definition["fields"].items()
                if shown.allows(f"{path}.{sub}")
            }
            if subfields:
                kept["fields"] = subfields
            else:
                del kept["fields"]
        out[name] = kept
    return out


def filter_source(source: Any, shown: FieldAccess, prefix: str = "") -> Any:
    """The part of a document's `source` whose leaf fields `shown` allows (objects without a
    shown field disappear; arrays keep their shown elements)."""
    if not isinstance(source, Mapping):
        return source
    out: dict[str, Any] = {}
    for key, value in source.items():
        path = prefix + key
        kept = _filter_value(value, shown, path)
        if kept is not _DROP:
            out[key] = kept
    return out


_DROP = object()


def _filter_value(value: Any, shown: FieldAccess, path: str) -> Any:
    if isinstance(value, Mapping):
        inner = filter_source(value, shown, path + ".")
        return inner if inner else _DROP
    if isinstance(value, list):
        if any(isinstance(v, Mapping | list) for v in value):
            kept = [v for v in (_filter_value(v, shown, path) for v in value) if v is not _DROP]
            return kept if kept else _DROP
        return value if shown.allows(path) else _DROP
    return value if shown.allows(path) else _DROP


@dataclass
class SecuredIndex(IndexRecord):
    """An index record read under a `Restriction`: the caller's view of it. Its `table` and
    `mappings` stay whole (the engine and the document query use them); searches read
    `visible_table`/`visible_mappings`."""

    restriction: Restriction = field(default=UNRESTRICTED, compare=False)
    visible: FieldTable | None = field(default=None, repr=False, compare=False)
    visible_mappings_: dict[str, Any] | None = field(default=None, repr=False, compare=False)


def secure(record: IndexRecord, restriction: Restriction) -> IndexRecord:
    """`record` as the caller may read it (itself when unrestricted)."""
    if restriction.unrestricted:
        return record
    base = {f.name: getattr(record, f.name) for f in fields(IndexRecord)}
    secured = SecuredIndex(**base, restriction=restriction)
    if restriction.fields is not None:
        secured.visible = narrow_table(record.table, restriction.fields)
        secured.visible_mappings_ = narrow_mappings(record.mappings, restriction.fields)
    return secured


def restriction_of(record: IndexRecord) -> Restriction:
    """The restriction a record is read under (`UNRESTRICTED` for a plain record)."""
    return record.restriction if isinstance(record, SecuredIndex) else UNRESTRICTED


def visible_table(record: IndexRecord) -> FieldTable:
    """The fields of `record` its reader may see."""
    if isinstance(record, SecuredIndex) and record.visible is not None:
        return record.visible
    return record.table


def visible_mappings(record: IndexRecord) -> dict[str, Any]:
    """The mappings of `record` narrowed to the fields its reader may see."""
    if isinstance(record, SecuredIndex) and record.visible_mappings_ is not None:
        return record.visible_mappings_
    return record.mappings


def visible_source(record: IndexRecord, source: Any) -> Any:
    """A document's source as the reader of `record` may see it."""
    restriction = restriction_of(record)
    if restriction.fields is None or source is None:
        return source
    return filter_source(source, restriction.fields)


def refuse_update(restriction: Restriction, *, bulk: bool = False) -> None:
    """400 for an update of an index the caller reads under FLS or DLS, as Elasticsearch."""
    if not restriction.unrestricted:
        raise DocumentSecurityRefused(BULK_UPDATE_REFUSED if bulk else UPDATE_REFUSED)
