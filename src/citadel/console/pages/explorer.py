"""The data explorer ("Log in with Citadel", issue 18 item 2): a member works with a
deployment's data as themselves, with the stack roles their Cloud role maps to there.

Every page first applies the deployment's traffic filters to the visitor's own address (the
gateway sees the control plane's address, not theirs, and a member must not step around a
filter through the console), then mints a deployment token for the visitor
(`mint_deployment_token`: 404 for a deployment they cannot see, 403 when no stack role or the
SSO rule forbids it) and calls the deployment through the gateway with it
(`citadel.console.deployment_client`), like any client: the node decides what the token's
roles may do, the console only shows it. The token is never in a page, a URL or a log line,
and each page gets a fresh one (a role change applies at once).

Pages: indices (``_cat/indices``), one index's documents (paged ``_search``), the query runner
(``POST /<index>/_search`` only, aggregations as tables and bars), and, for a visitor whose
stack roles hold ``manage_security`` (asked with ``_has_privileges``), the deployment's own
users, roles, role mappings and API keys (users and role mappings can be added and deleted).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import Request, Response

from citadel.console.deployment_client import (
    DeploymentRefused,
    DeploymentSession,
    Endpoint,
    path_of,
)
from citadel.console.explorer_results import (
    PAGE_SIZE,
    AttachedRuleset,
    Query,
    aggregation_tables,
    check_query,
    documents_window,
    filters_admit,
    number,
    pretty,
    size_in_bytes,
    total_hits,
)
from citadel.console.routing import console_router
from citadel.console.web import Form, PostedForm, SignedIn, Visitor, org_of, page
from citadel.deployments import service
from citadel.deployments.models import Deployment
from citadel.deployments.schemas import Endpoints
from citadel.errors import BadRequest, CitadelError, Forbidden, NotFound
from citadel.traffic_filters import service as traffic_filters
from citadel.use_cases.deployment_tokens import mint_deployment_token

router = console_router()

BASE = "/deployments/{deployment_id}/explorer"
EXAMPLE_QUERY = '{\n  "query": {"match_all": {}},\n  "size": 10\n}'
MAPPING_FIELDS = ("username", "groups", "realm.name", "dn")
"""The user properties a role mapping made here matches on (with wildcards in the value)."""
SECURITY_LISTS = {
    "users": "Users",
    "roles": "Roles",
    "role-mappings": "Role mappings",
    "api-keys": "API keys",
}


class BrowserFiltered(Forbidden):
    """The deployment's traffic filters do not admit the visitor's own address."""

    code = "explorer.traffic_filtered"


class SecurityNotAllowed(Forbidden):
    """The visitor's stack roles on the deployment do not hold ``manage_security``."""

    code = "explorer.manage_security_required"
    default_message = (
        "Your roles on this deployment do not allow managing its security (the "
        "manage_security cluster privilege)."
    )


@dataclass(frozen=True)
class Opened:
    """A deployment opened for one page: its row, the visitor's stack roles there, the calls
    made as them, and whether they may manage its security."""

    row: Deployment
    roles: tuple[str, ...]
    calls: DeploymentSession
    manages_security: bool


@contextmanager
def opened(visitor: Visitor, deployment_id: str) -> Iterator[Opened]:
    """Mint the visitor's token for the deployment and connect to it through the gateway."""
    org = org_of(visitor)
    with visitor.read() as ctx:
        row = service.get_deployment(ctx, org, deployment_id)
        ids = set(traffic_filters.rulesets_of_deployment(ctx, org, "deployment", row.id))
        attached = [
            AttachedRuleset(r.id, r.type, r.rules)
            for r in traffic_filters.list_rulesets(ctx, org, region=row.region)
            if r.id in ids
        ]
    address = visitor.caller.source_ip
    if not filters_admit(attached, address):
        raise BrowserFiltered(
            f"The deployment's traffic filters do not admit your address ({address}): the "
            "explorer applies them to your browser, as the gateway does to every client."
        )
    minted = mint_deployment_token(visitor, row.id)
    settings = visitor.services.settings
    where = Endpoints(settings.deployment_domain, settings.gateway_port)
    endpoint = Endpoint(where.host(row), where.port, settings.data_dir / "pki" / "ca.crt")
    with DeploymentSession(endpoint, minted.token) as calls:
        allowed = calls.post("/_security/user/_has_privileges", {"cluster": ["manage_security"]})
        manages = bool(isinstance(allowed, dict) and allowed.get("has_all_requested") is True)
        yield Opened(row, tuple(minted.roles), calls, manages)


def _page(
    request: Request,
    visitor: Visitor,
    template: str,
    it: Opened,
    *,
    tab: str,
    error: CitadelError | None = None,
    **values: Any,
) -> Response:
    return page(
        request,
        visitor,
        f"explorer/{template}",
        status=error.status if error else 200,
        error=error,
        dep=it.row,
        roles=it.roles,
        manages_security=it.manages_security,
        tab=tab,
        security_lists=SECURITY_LISTS,
        **values,
    )


# --- indices and documents ---------------------------------------------------------------------


@router.get(BASE)
def indices_page(request: Request, visitor: SignedIn, deployment_id: str) -> Response:
    """The deployment's indices: name, health, document count and size."""
    with opened(visitor, deployment_id[:32]) as it:
        listed = it.calls.get("/_cat/indices", {"format": "json", "bytes": "b", "s": "index"})
        rows = [
            {
                "name": str(i.get("index", "")),
                "health": str(i.get("health") or "—"),
                "status": str(i.get("status") or ""),
                "docs": number(_int(i.get("docs.count"))),
                "size": size_in_bytes(i.get("store.size")),
            }
            for i in listed
            if isinstance(i, dict)
        ]
        return _page(request, visitor, "indices.html", it, tab="indices", indices=rows)


@router.get(BASE + "/indices/{index}")
def documents_page(request: Request, visitor: SignedIn, deployment_id: str, index: str) -> Response:
    """One index's documents, `PAGE_SIZE` at a time, each as indented JSON."""
    start = documents_window(request.query_params.get("from"))
    index = check_query(index[:255], "").index  # a name or pattern, as the query runner takes
    with opened(visitor, deployment_id[:32]) as it:
        body = {"from": start, "size": PAGE_SIZE, "track_total_hits": True}
        found = it.calls.post(path_of(index, "_search"), body)
        hits = found.get("hits", {}) if isinstance(found, dict) else {}
        total = total_hits(hits)
        documents = [
            {"id": str(h.get("_id", "")), "json": pretty(h.get("_source", {}))}
            for h in hits.get("hits", [])
            if isinstance(h, dict)
        ]
        return _page(
            request,
            visitor,
            "documents.html",
            it,
            tab="indices",
            index=index,
            documents=documents,
            total=total,
            first=start + 1 if documents else 0,
            last=start + len(documents),
            previous=max(start - PAGE_SIZE, 0) if start > 0 else None,
            next=start + PAGE_SIZE if start + PAGE_SIZE < min(total, 10_000) else None,
        )


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


# --- the query runner --------------------------------------------------------------------------


@router.get(BASE + "/query")
def query_page(request: Request, visitor: SignedIn, deployment_id: str) -> Response:
    """The query runner's form (an index from the indices page may be filled in)."""
    index = request.query_params.get("index", "")[:255]
    with opened(visitor, deployment_id[:32]) as it:
        return _page(
            request,
            visitor,
            "query.html",
            it,
            tab="query",
            values={"index": index, "body": EXAMPLE_QUERY},
        )


@router.post(BASE + "/query")
def run_query(
    request: Request, visitor: SignedIn, form: PostedForm, deployment_id: str
) -> Response:
    """Run one search as the visitor: hits as a table, aggregations as tables and bars."""
    values = {"index": form.get("index")[:255], "body": form.get("body")}
    with opened(visitor, deployment_id[:32]) as it:
        try:
            query: Query = check_query(values["index"], values["body"])
            found = it.calls.post(path_of(query.index, "_search"), query.body)
        except CitadelError as exc:
            return _page(request, visitor, "query.html", it, tab="query", error=exc, values=values)
        hits = found.get("hits", {}) if isinstance(found, dict) else {}
        rows = [
            {
                "index": str(h.get("_index", "")),
                "id": str(h.get("_id", "")),
                "score": number(h.get("_score")),
                "json": pretty(h.get("_source", {})),
            }
            for h in hits.get("hits", [])
            if isinstance(h, dict)
        ]
        aggregations = found.get("aggregations") if isinstance(found, dict) else None
        return _page(
            request,
            visitor,
            "query.html",
            it,
            tab="query",
            values=values,
            ran=True,
            took=number(found.get("took")) if isinstance(found, dict) else "—",
            total=total_hits(hits),
            hits=rows,
            tables=aggregation_tables(aggregations) if isinstance(aggregations, dict) else [],
        )


# --- the deployment's own security -------------------------------------------------------------


@router.get(BASE + "/security/{kind}")
def security_page(request: Request, visitor: SignedIn, deployment_id: str, kind: str) -> Response:
    """The deployment's users, roles, role mappings or API keys, for a visitor whose stack
    roles may manage its security (users and role mappings can be added and deleted)."""
    if kind not in SECURITY_LISTS:
        raise NotFound("No such list.")
    with _managing(visitor, deployment_id) as it:
        return _security_list(request, visitor, it, kind)


@router.post(BASE + "/security/users")
def add_user(request: Request, visitor: SignedIn, form: PostedForm, deployment_id: str) -> Response:
    """Add (or replace) a native user of the deployment: ``PUT _security/user/<name>``."""
    with _managing(visitor, deployment_id) as it:
        try:
            name = _required(form, "username", "Username")
            body: dict[str, Any] = {"password": form.get("password"), "roles": _roles(form)}
            body |= {k: v for k in ("full_name", "email") if (v := form.text(k))}
            it.calls.put(path_of("_security", "user", name), body)
        except CitadelError as exc:
            return _security_list(request, visitor, it, "users", error=exc, values=form.values())
        return _security_list(request, visitor, it, "users", done=f"The user {name} was saved.")


@router.post(BASE + "/security/role-mappings")
def add_role_mapping(
    request: Request, visitor: SignedIn, form: PostedForm, deployment_id: str
) -> Response:
    """Add (or replace) a role mapping with one ``field`` rule: ``PUT
    _security/role_mapping/<name>``."""
    with _managing(visitor, deployment_id) as it:
        try:
            name = _required(form, "name", "Name")
            rule_field = form.get("field")
            if rule_field not in MAPPING_FIELDS:
                raise BadRequest("field: choose a user property.", fields=["field"])
            value = _required(form, "value", "Value")
            body = {
                "enabled": True,
                "roles": _roles(form),
                "rules": {"field": {rule_field: value}},
            }
            it.calls.put(path_of("_security", "role_mapping", name), body)
        except CitadelError as exc:
            return _security_list(
                request, visitor, it, "role-mappings", error=exc, values=form.values()
            )
        done = f"The role mapping {name} was saved."
        return _security_list(request, visitor, it, "role-mappings", done=done)


@router.post(BASE + "/security/{kind}/{name}/delete")
def delete_entry(
    request: Request, visitor: SignedIn, form: PostedForm, deployment_id: str, kind: str, name: str
) -> Response:
    """Delete a native user or a role mapping of the deployment."""
    api = {"users": "user", "role-mappings": "role_mapping"}.get(kind)
    if api is None:
        raise NotFound("No such list.")
    with _managing(visitor, deployment_id) as it:
        try:
            it.calls.delete(path_of("_security", api, name))
        except CitadelError as exc:
            return _security_list(request, visitor, it, kind, error=exc)
        done = f"{'The user' if kind == 'users' else 'The role mapping'} {name} was deleted."
        return _security_list(request, visitor, it, kind, done=done)


@contextmanager
def _managing(visitor: Visitor, deployment_id: str) -> Iterator[Opened]:
    with opened(visitor, deployment_id[:32]) as it:
        if not it.manages_security:
            raise SecurityNotAllowed()
        yield it


def _required(form: Form, name: str, label: str) -> str:
    value = form.text(name)
    if value is None:
        raise BadRequest(f"{name}: give the {label.lower()}.", fields=[name])
    return value


def _roles(form: Form) -> list[str]:
    """The roles field: names separated by commas or spaces."""
    return [r for r in re.split(r"[,\s]+", form.get("roles")) if r]


def _security_list(
    request: Request,
    visitor: Visitor,
    it: Opened,
    kind: str,
    *,
    error: CitadelError | None = None,
    done: str | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    columns, rows = _security_rows(it.calls, kind)
    return _page(
        request,
        visitor,
        "security.html",
        it,
        tab=kind,
        error=error,
        kind=kind,
        title=SECURITY_LISTS[kind],
        columns=columns,
        rows=rows,
        done=done,
        values=values or {},
        mapping_fields=MAPPING_FIELDS,
    )


@dataclass(frozen=True)
class Entry:
    """One row of a security list: its cells, its name, and whether it can be deleted here."""

    cells: tuple[str, ...]
    name: str = ""
    deletable: bool = False


def _security_rows(calls: DeploymentSession, kind: str) -> tuple[tuple[str, ...], list[Entry]]:
    if kind == "users":
        users = _named(calls, "/_security/user")
        return ("Username", "Full name", "Email", "Roles", "Enabled"), [
            Entry(
                (
                    name,
                    str(u.get("full_name") or ""),
                    str(u.get("email") or ""),
                    ", ".join(map(str, u.get("roles") or [])),
                    "yes" if u.get("enabled", True) else "no",
                ),
                name,
                deletable=not _reserved(u),
            )
            for name, u in sorted(users.items())
        ]
    if kind == "roles":
        roles = _named(calls, "/_security/role")
        return ("Role", "Cluster privileges", "Indices", "Run as", "Reserved"), [
            Entry(
                (
                    name,
                    ", ".join(map(str, r.get("cluster") or [])),
                    "; ".join(
                        _index_grant(g) for g in r.get("indices") or [] if isinstance(g, dict)
                    ),
                    ", ".join(map(str, r.get("run_as") or [])),
                    "yes" if _reserved(r) else "no",
                )
            )
            for name, r in sorted(roles.items())
        ]
    if kind == "role-mappings":
        mappings = _named(calls, "/_security/role_mapping")
        return ("Mapping", "Enabled", "Roles", "Rules"), [
            Entry(
                (
                    name,
                    "yes" if m.get("enabled", True) else "no",
                    ", ".join(map(str, m.get("roles") or []))
                    or "templates: " + pretty(m.get("role_templates") or []),
                    pretty(m.get("rules") or {}),
                ),
                name,
                deletable=True,
            )
            for name, m in sorted(mappings.items())
        ]
    keys = calls.get("/_security/api_key")
    listed = keys.get("api_keys", []) if isinstance(keys, dict) else []
    return ("Name", "Id", "Owner", "Realm", "Expires", "Invalidated"), [
        Entry(
            (
                str(k.get("name") or ""),
                str(k.get("id") or ""),
                str(k.get("username") or ""),
                str(k.get("realm") or ""),
                _millis(k.get("expiration")),
                "yes" if k.get("invalidated") else "no",
            )
        )
        for k in listed
        if isinstance(k, dict)
    ]


def _reserved(definition: dict[str, Any]) -> bool:
    metadata = definition.get("metadata")
    return bool(isinstance(metadata, dict) and metadata.get("_reserved"))


def _named(calls: DeploymentSession, path: str) -> dict[str, dict[str, Any]]:
    """A ``{name: definition}`` listing (Elasticsearch answers 404 ``{}`` when it is empty)."""
    try:
        listed = calls.get(path)
    except DeploymentRefused as exc:
        if exc.deployment_status == 404 and exc.error_type.startswith("http_"):
            return {}
        raise
    if not isinstance(listed, dict):
        return {}
    return {str(k): v for k, v in listed.items() if isinstance(v, dict)}


def _index_grant(grant: dict[str, Any]) -> str:
    names = ",".join(map(str, grant.get("names") or []))
    privileges = ",".join(map(str, grant.get("privileges") or []))
    extras = []
    if grant.get("field_security"):
        extras.append("field security")
    if grant.get("query"):
        extras.append("document query")
    shown = f"{names}: {privileges}"
    return f"{shown} ({', '.join(extras)})" if extras else shown


def _millis(value: Any) -> str:
    if not isinstance(value, int | float):
        return "never"
    return datetime.fromtimestamp(value / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
