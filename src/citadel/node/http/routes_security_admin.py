"""The rest of the security API: application privileges, the built-in privilege names, role
mappings, the security index settings, stats, cache clearing, and clear refusals for what this
node does not have.

Refused with a 400 naming the feature (never a silent success): user profiles, cross-cluster
API keys (no remote clusters), enrollment (one node, its certificates come from the platform),
PKI delegation (no PKI realm), and service account credentials (no service accounts:
``GET /_security/service`` answers ``{}`` as Elasticsearch does for names it does not know).

Cache clearing answers as Elasticsearch does for its one node; what it clears here is the
realm's remembered passwords (``realm``); roles, API keys and application privileges are read
from the catalog on every request, so there is nothing else to drop.
"""

from __future__ import annotations

import base64
import hashlib

from citadel.node.errors import IllegalArgument
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import AUTHENTICATED, Handler, Router, cluster
from citadel.node.security import application_privileges, index_settings, role_mappings
from citadel.node.security.realm import Realm
from citadel.node.security.vocabulary import CLUSTER_PRIVILEGES, INDEX_PRIVILEGES
from citadel.node.services import NodeInfo, NodeServices

MANAGE_SECURITY = cluster("manage_security")
READ_SECURITY = cluster("read_security")
MANAGE_API_KEY = cluster("manage_api_key")
MONITOR = cluster("monitor")

_NOT_HERE: dict[str, str] = {
    "profiles": "user profiles are not supported by this node",
    "cross_cluster": "cross-cluster API keys are not supported by this node: it has no remote "
    "clusters",
    "enroll": "enrollment is not supported by this node: it is a single node whose "
    "certificates come from the platform",
    "pki": "PKI delegation is not supported by this node: it has no PKI realm",
    "service_tokens": "service account credentials are not supported by this node: it has no "
    "service accounts",
}
_REFUSED: list[tuple[tuple[str, ...], str, str]] = [
    (("POST",), "/_security/profile/_activate", "profiles"),
    (("GET",), "/_security/profile/{uid}", "profiles"),
    (("PUT", "POST"), "/_security/profile/{uid}/_enable", "profiles"),
    (("PUT", "POST"), "/_security/profile/{uid}/_disable", "profiles"),
    (("PUT", "POST"), "/_security/profile/{uid}/_data", "profiles"),
    (("GET", "POST"), "/_security/profile/_suggest", "profiles"),
    (("GET", "POST"), "/_security/profile/_has_privileges", "profiles"),
    (("POST",), "/_security/cross_cluster/api_key", "cross_cluster"),
    (("PUT",), "/_security/cross_cluster/api_key/{id}", "cross_cluster"),
    (("GET",), "/_security/enroll/node", "enroll"),
    (("GET",), "/_security/enroll/kibana", "enroll"),
    (("POST",), "/_security/delegate_pki", "pki"),
    (
        ("PUT", "POST"),
        "/_security/service/{namespace}/{service}/credential/token",
        "service_tokens",
    ),
    (
        ("PUT", "POST", "DELETE"),
        "/_security/service/{namespace}/{service}/credential/token/{name}",
        "service_tokens",
    ),
    (("GET",), "/_security/service/{namespace}/{service}/credential", "service_tokens"),
    (
        ("POST",),
        "/_security/service/{namespace}/{service}/credential/token/{name}/_clear_cache",
        "service_tokens",
    ),
]


def register(router: Router, services: NodeServices) -> None:
    """Add these routes to `router`."""
    api = SecurityAdminRoutes(services.realm, services.info)  # type: ignore[arg-type]
    for method in ("PUT", "POST"):
        router.add(method, "/_security/privilege", api.put_privileges, MANAGE_SECURITY)
        router.add(method, "/_security/role_mapping/{name}", api.put_role_mapping, MANAGE_SECURITY)
    router.add("GET", "/_security/privilege/_builtin", api.builtin_privileges, READ_SECURITY)
    router.add("GET", "/_security/privilege", api.get_privileges, READ_SECURITY)
    router.add("GET", "/_security/privilege/{application}", api.get_privileges, READ_SECURITY)
    router.add(
        "GET", "/_security/privilege/{application}/{name}", api.get_privileges, READ_SECURITY
    )
    router.add(
        "DELETE",
        "/_security/privilege/{application}/{name}",
        api.delete_privileges,
        MANAGE_SECURITY,
    )
    router.add("GET", "/_security/role_mapping", api.get_role_mappings, READ_SECURITY)
    router.add("GET", "/_security/role_mapping/{name}", api.get_role_mappings, READ_SECURITY)
    router.add("DELETE", "/_security/role_mapping/{name}", api.delete_role_mapping, MANAGE_SECURITY)
    router.add("GET", "/_security/settings", api.get_settings, READ_SECURITY)
    router.add("PUT", "/_security/settings", api.update_settings, MANAGE_SECURITY)
    router.add("GET", "/_security/stats", api.stats, MONITOR)
    router.add("GET", "/_security/service", api.service_accounts, READ_SECURITY)
    router.add("GET", "/_security/service/{namespace}", api.service_accounts, READ_SECURITY)
    router.add(
        "GET", "/_security/service/{namespace}/{service}", api.service_accounts, READ_SECURITY
    )
    router.add("POST", "/_security/role/{name}/_clear_cache", api.cleared, MANAGE_SECURITY)
    router.add("POST", "/_security/api_key/{ids}/_clear_cache", api.cleared, MANAGE_API_KEY)
    router.add(
        "POST", "/_security/privilege/{application}/_clear_cache", api.cleared, MANAGE_SECURITY
    )
    router.add("POST", "/_security/realm/{realms}/_clear_cache", api.clear_realms, MANAGE_SECURITY)
    for methods, pattern, feature in _REFUSED:
        for method in methods:
            router.add(method, pattern, _refusal(feature), AUTHENTICATED)


class SecurityAdminRoutes:
    """The handlers, over the node's realm."""

    def __init__(self, realm: Realm, info: NodeInfo) -> None:
        self.realm = realm
        self.info = info

    # -- application privileges ----------------------------------------------------------

    def put_privileges(self, request: NodeRequest) -> NodeResponse:
        """``PUT|POST /_security/privilege``: ``{app: {name: {"created": bool}}}``."""
        _params(request, {"refresh"})
        body = request.json(required=True)
        return NodeResponse(body=application_privileges.put_privileges(self.realm, body))

    def get_privileges(self, request: NodeRequest) -> NodeResponse:
        """``GET /_security/privilege[/{application}[/{names}]]``; 404 ``{}`` when a named
        application or privilege has none."""
        application = request.params.get("application")
        names = _names(request.params.get("name"))
        if application in (None, "*") and names is None:
            found = application_privileges.get_privileges(self.realm)
        else:
            found = application_privileges.get_privileges(
                self.realm, None if application == "*" else application, names
            )
        if application is not None and not found:
            return NodeResponse(status=404, body={})
        return NodeResponse(body=found)

    def delete_privileges(self, request: NodeRequest) -> NodeResponse:
        """``DELETE /_security/privilege/{application}/{names}``; 404 when none existed."""
        _params(request, {"refresh"})
        names = _names(request.params["name"]) or []
        found = application_privileges.delete_privileges(
            self.realm, request.params["application"], names
        )
        any_found = any(v["found"] for per_app in found.values() for v in per_app.values())
        return NodeResponse(status=200 if any_found else 404, body=found)

    def builtin_privileges(self, request: NodeRequest) -> NodeResponse:
        """``GET /_security/privilege/_builtin``: every cluster and index privilege name."""
        return NodeResponse(
            body={"cluster": sorted(CLUSTER_PRIVILEGES), "index": sorted(INDEX_PRIVILEGES)}
        )

    # -- role mappings -----------------------------------------------------------------

    def put_role_mapping(self, request: NodeRequest) -> NodeResponse:
        """``PUT|POST /_security/role_mapping/{name}``: stored (see `role_mappings`)."""
        _params(request, {"refresh"})
        created = role_mappings.put_role_mapping(
            self.realm, name=request.params["name"], body=request.json(required=True)
        )
        return NodeResponse(body={"role_mapping": {"created": created}})

    def get_role_mappings(self, request: NodeRequest) -> NodeResponse:
        """``GET /_security/role_mapping[/{names}]``; 404 ``{}`` when none of the names exist."""
        names = _names(request.params.get("name"))
        found = role_mappings.get_role_mappings(self.realm, names)
        if names is not None and not found:
            return NodeResponse(status=404, body={})
        return NodeResponse(body=found)

    def delete_role_mapping(self, request: NodeRequest) -> NodeResponse:
        """``DELETE /_security/role_mapping/{name}``: ``{"found": bool}``."""
        _params(request, {"refresh"})
        found = role_mappings.delete_role_mapping(self.realm, name=request.params["name"])
        return NodeResponse(status=200 if found else 404, body={"found": found})

    # -- settings, stats, service accounts ---------------------------------------------

    def get_settings(self, request: NodeRequest) -> NodeResponse:
        """``GET /_security/settings``."""
        _params(request, {"master_timeout"})
        return NodeResponse(body=index_settings.get_settings(self.realm))

    def update_settings(self, request: NodeRequest) -> NodeResponse:
        """``PUT /_security/settings``: ``{"acknowledged": true}``."""
        _params(request, {"master_timeout", "timeout"})
        index_settings.update_settings(self.realm, request.json(required=True))
        return NodeResponse(body={"acknowledged": True})

    def stats(self, request: NodeRequest) -> NodeResponse:
        """``GET /_security/stats``: the node's document-level-security cache, always empty
        here (no document-level security)."""
        cache = {
            "count": 0,
            "memory": "0b",
            "memory_in_bytes": 0,
            "hits": 0,
            "misses": 0,
            "evictions": 0,
            "hits_time_in_millis": 0,
            "misses_time_in_millis": 0,
        }
        return NodeResponse(
            body={"nodes": {node_id(self.info): {"roles": {"dls": {"bit_set_cache": cache}}}}}
        )

    def service_accounts(self, request: NodeRequest) -> NodeResponse:
        """``GET /_security/service[/{namespace}[/{service}]]``: ``{}``, none exist here."""
        return NodeResponse(body={})

    # -- caches ------------------------------------------------------------------------

    def cleared(self, request: NodeRequest) -> NodeResponse:
        """``_clear_cache`` on roles, API keys, application privileges: read from the catalog
        on every request, so nothing is cached."""
        return NodeResponse(body=self._nodes_answer())

    def clear_realms(self, request: NodeRequest) -> NodeResponse:
        """``POST /_security/realm/{realms}/_clear_cache[?usernames=...]``: forget remembered
        passwords (of `usernames`, or all)."""
        _params(request, {"usernames"})
        usernames = _names(request.query.get("usernames"))
        if usernames:
            for username in usernames:
                self.realm.forget(username)
        else:
            self.realm.forget_all()
        return NodeResponse(body=self._nodes_answer())

    def _nodes_answer(self) -> dict[str, object]:
        return {
            "_nodes": {"total": 1, "successful": 1, "failed": 0},
            "cluster_name": self.info.cluster_name,
            "nodes": {node_id(self.info): {"name": self.info.node_name}},
        }


def node_id(info: NodeInfo) -> str:
    """A stable 22-character id for this node, from its cluster and name."""
    digest = hashlib.sha256(f"{info.cluster_uuid}/{info.node_name}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()[:22]


def _refusal(feature: str) -> Handler:
    message = _NOT_HERE[feature]

    def refuse(request: NodeRequest) -> NodeResponse:
        raise IllegalArgument(message)

    return refuse


def _names(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [n for n in value.split(",") if n]


def _params(request: NodeRequest, allowed: set[str]) -> None:
    common = {"pretty", "human", "error_trace", "filter_path", "format"}
    for name in request.query:
        if name not in allowed and name not in common:
            raise IllegalArgument(
                f"request [{request.path}] contains unrecognized parameter: [{name}]"
            )
