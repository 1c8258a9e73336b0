"""Which security API calls change the security configuration, and how Elasticsearch's
``security_config_change`` audit events describe them.

One table, (method, route pattern) -> a function of the request and its answer giving the
events' ``event.action`` (``put_user``, ``change_password``, ``delete_role``,
``create_apikey``, ``invalidate_apikeys``, ``put_role_mapping``...) and their description
(``{"put": {"user": {...}}}``), in Elasticsearch's shapes. A description never holds a
password or a secret: a user's is ``has_password``, an API key's its id, name and roles. The
route handlers are wrapped (`audited`) so they stay as they are: an event is recorded after a
call that succeeded (status below 300); a refused or failed call changed nothing and its
``access_denied`` (or its error) says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from citadel.node.http.messages import NodeRequest, NodeResponse
    from citadel.node.http.router import Route
    from citadel.node.security.audit import AuditTrail

Change = tuple[str, dict[str, Any]]
Describe = Callable[["NodeRequest", "NodeResponse"], list[Change]]

_USER_KEYS = ("enabled", "roles", "full_name", "email", "metadata")
_MAPPING_KEYS = ("roles", "role_templates", "rules", "enabled", "metadata")


def _body(request: NodeRequest) -> dict[str, Any]:
    try:
        body = request.json()
    except Exception:  # the handler accepted it; a body we cannot read again is described empty
        return {}
    return body if isinstance(body, dict) else {}


def _answer(response: NodeResponse) -> dict[str, Any]:
    return response.body if isinstance(response.body, dict) else {}


def put_user(request: NodeRequest, _response: NodeResponse) -> list[Change]:
    body = _body(request)
    user: dict[str, Any] = {"name": request.params["name"]}
    user.update({k: body[k] for k in _USER_KEYS if k in body})
    user.setdefault("enabled", True)
    user["has_password"] = "password" in body
    return [("put_user", {"put": {"user": user}})]


def delete_user(request: NodeRequest, _response: NodeResponse) -> list[Change]:
    return [("delete_user", {"delete": {"user": {"name": request.params["name"]}}})]


def change_password(request: NodeRequest, _response: NodeResponse) -> list[Change]:
    name = request.params.get("name") or getattr(request.identity, "username", "")
    return [("change_password", {"change": {"password": {"user": {"name": name}}}})]


def enable_user(request: NodeRequest, _response: NodeResponse) -> list[Change]:
    user = {"user": {"name": request.params["name"]}}
    return [("change_enable_user", {"change": {"enable": user}})]


def disable_user(request: NodeRequest, _response: NodeResponse) -> list[Change]:
    user = {"user": {"name": request.params["name"]}}
    return [("change_disable_user", {"change": {"disable": user}})]


def put_role(request: NodeRequest, _response: NodeResponse) -> list[Change]:
    role = {"name": request.params["name"], "role_descriptor": _body(request)}
    return [("put_role", {"put": {"role": role}})]


def put_roles(request: NodeRequest, response: NodeResponse) -> list[Change]:
    """``POST /_security/role``: one ``put_role`` per role the answer says was written."""
    roles = _body(request).get("roles") or {}
    answer = _answer(response)
    written = set(answer.get("created") or []) | set(answer.get("updated") or [])
    return [
        ("put_role", {"put": {"role": {"name": name, "role_descriptor": descriptor}}})
        for name, descriptor in roles.items()
        if name in written
    ]


def delete_role(request: NodeRequest, _response: NodeResponse) -> list[Change]:
    return [("delete_role", {"delete": {"role": {"name": request.params["name"]}}})]


def delete_roles(request: NodeRequest, response: NodeResponse) -> list[Change]:
    """``DELETE /_security/role``: one ``delete_role`` per role the answer says was deleted."""
    deleted = _answer(response).get("deleted") or []
    return [("delete_role", {"delete": {"role": {"name": name}}}) for name in deleted]


def create_api_key(request: NodeRequest, response: NodeResponse) -> list[Change]:
    body = _body(request)
    return [("create_apikey", {"create": {"apikey": _key(body, response)}})]


def grant_api_key(request: NodeRequest, response: NodeResponse) -> list[Change]:
    body = _body(request)
    key = _key(body.get("api_key") or {}, response)
    grant = {"type": body.get("grant_type"), "user": {"name": body.get("username")}}
    return [("create_apikey", {"create": {"apikey": key}, "grant": grant})]


def _key(body: Mapping[str, Any], response: NodeResponse) -> dict[str, Any]:
    key: dict[str, Any] = {"id": _answer(response).get("id"), "name": body.get("name")}
    if body.get("expiration"):
        key["expiration"] = body["expiration"]
    key["role_descriptors"] = body.get("role_descriptors") or {}
    if body.get("metadata"):
        key["metadata"] = body["metadata"]
    return key


def invalidate_api_keys(request: NodeRequest, response: NodeResponse) -> list[Change]:
    body = _body(request)
    keys: dict[str, Any] = {
        "ids": _answer(response).get("invalidated_api_keys")
        or body.get("ids")
        or ([body["id"]] if body.get("id") else [])
    }
    if body.get("name"):
        keys["name"] = body["name"]
    if body.get("owner"):
        keys["owned_by_authenticated_user"] = True
    if body.get("username") or body.get("realm_name"):
        keys["user"] = {"name": body.get("username"), "realm": body.get("realm_name")}
    return [("invalidate_apikeys", {"invalidate": {"apikeys": keys}})]


def update_api_key(request: NodeRequest, _response: NodeResponse) -> list[Change]:
    change = {"id": request.params["id"], **_key_update(_body(request))}
    return [("change_apikey", {"change": {"apikey": change}})]


def bulk_update_api_keys(request: NodeRequest, _response: NodeResponse) -> list[Change]:
    body = _body(request)
    change = {"ids": body.get("ids") or [], **_key_update(body)}
    return [("change_apikeys", {"change": {"apikeys": change}})]


def _key_update(body: Mapping[str, Any]) -> dict[str, Any]:
    return {k: body[k] for k in ("role_descriptors", "metadata", "expiration") if k in body}


def put_privileges(request: NodeRequest, _response: NodeResponse) -> list[Change]:
    return [("put_privileges", {"put": {"privileges": _body(request)}})]


def delete_privileges(request: NodeRequest, _response: NodeResponse) -> list[Change]:
    names = [n for n in request.params["name"].split(",") if n]
    privileges = {"application": request.params["application"], "privileges": names}
    return [("delete_privileges", {"delete": {"privileges": privileges}})]


def put_role_mapping(request: NodeRequest, _response: NodeResponse) -> list[Change]:
    body = _body(request)
    mapping = {"name": request.params["name"]}
    mapping.update({k: body[k] for k in _MAPPING_KEYS if k in body})
    return [("put_role_mapping", {"put": {"role_mapping": mapping}})]


def delete_role_mapping(request: NodeRequest, _response: NodeResponse) -> list[Change]:
    mapping = {"name": request.params["name"]}
    return [("delete_role_mapping", {"delete": {"role_mapping": mapping}})]


CHANGES: dict[tuple[str, str], Describe] = {
    ("DELETE", "/_security/user/{name}"): delete_user,
    ("DELETE", "/_security/role/{name}"): delete_role,
    ("DELETE", "/_security/role"): delete_roles,
    ("POST", "/_security/role"): put_roles,
    ("POST", "/_security/api_key/grant"): grant_api_key,
    ("DELETE", "/_security/api_key"): invalidate_api_keys,
    ("PUT", "/_security/api_key/{id}"): update_api_key,
    ("POST", "/_security/api_key/_bulk_update"): bulk_update_api_keys,
    ("DELETE", "/_security/privilege/{application}/{name}"): delete_privileges,
    ("DELETE", "/_security/role_mapping/{name}"): delete_role_mapping,
}
for _method in ("PUT", "POST"):
    CHANGES[(_method, "/_security/user/{name}")] = put_user
    CHANGES[(_method, "/_security/user/_password")] = change_password
    CHANGES[(_method, "/_security/user/{name}/_password")] = change_password
    CHANGES[(_method, "/_security/user/{name}/_enable")] = enable_user
    CHANGES[(_method, "/_security/user/{name}/_disable")] = disable_user
    CHANGES[(_method, "/_security/role/{name}")] = put_role
    CHANGES[(_method, "/_security/api_key")] = create_api_key
    CHANGES[(_method, "/_security/privilege")] = put_privileges
    CHANGES[(_method, "/_security/role_mapping/{name}")] = put_role_mapping


def audited(route: Route, trail: AuditTrail) -> Route:
    """`route` recording its ``security_config_change`` events in `trail` after a successful
    call; unchanged when the route changes no security configuration."""
    describe = CHANGES.get((route.method, route.pattern))
    if describe is None:
        return route
    handler = route.handler

    def changing(request: NodeRequest) -> NodeResponse:
        response = handler(request)
        if response.status < 300:
            trail.config_changed(request, response, describe)
        return response

    return replace(route, handler=changing)
