"""The security API: ``_authenticate``, users, roles, API keys, the ``_query`` APIs and the
privilege checks, in Elasticsearch's shapes.

Handlers read and type-check the body (unknown fields and wrong types are 400s, as in
Elasticsearch), call one service function and shape the answer. Authorization is the route's
`Need`; the few decisions that depend on the target (one's own password, one's own keys) are
made by the services.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from citadel.node.errors import EsError, IllegalArgument, XContentParseError
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import AUTHENTICATED, Router, cluster
from citadel.node.security import (
    api_keys,
    application_privileges,
    privilege_checks,
    roles,
    users,
)
from citadel.node.security.errors import ParseException, ValidationFailed
from citadel.node.security.realm import Realm, describe
from citadel.node.services import NodeServices

MANAGE_SECURITY = cluster("manage_security")
READ_SECURITY = cluster("read_security")
MANAGE_OWN_API_KEY = cluster("manage_own_api_key")
GRANT_API_KEY = cluster("grant_api_key")
_COMMON_PARAMS = frozenset({"pretty", "human", "error_trace", "filter_path", "format"})

_KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "string": (lambda v: isinstance(v, str), "a string"),
    "strings": (
        lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
        "an array of strings",
    ),
    "roles": (
        lambda v: (
            isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v))
        ),
        "an array of strings",
    ),
    "object": (lambda v: isinstance(v, dict), "an object"),
    "boolean": (lambda v: isinstance(v, bool), "a boolean"),
}
_USER_FIELDS = {
    "password": "string",
    "password_hash": "string",
    "roles": "roles",
    "full_name": "string",
    "email": "string",
    "metadata": "object",
    "enabled": "boolean",
}
_PASSWORD_FIELDS = {"password": "string", "password_hash": "string"}
_CREATE_KEY_FIELDS = {
    "name": "string",
    "role_descriptors": "object",
    "expiration": "string",
    "metadata": "object",
}
_UPDATE_KEY_FIELDS = {"role_descriptors": "object", "metadata": "object", "expiration": "string"}
_BULK_UPDATE_FIELDS = {**_UPDATE_KEY_FIELDS, "ids": "strings"}
_GRANT_FIELDS = {
    "grant_type": "string",
    "username": "string",
    "password": "string",
    "access_token": "string",
    "run_as": "string",
    "api_key": "object",
}
_INVALIDATE_FIELDS = {
    "id": "string",
    "ids": "strings",
    "name": "string",
    "username": "string",
    "realm_name": "string",
    "owner": "boolean",
}


def register(router: Router, services: NodeServices) -> None:
    """Add the security API's routes to `router`."""
    api = SecurityRoutes(services.realm)  # type: ignore[arg-type]
    router.add("GET", "/_security/_authenticate", api.authenticate, AUTHENTICATED)
    for method in ("PUT", "POST"):
        router.add(method, "/_security/user/_password", api.change_own_password, AUTHENTICATED)
        router.add(method, "/_security/user/{name}/_password", api.change_password, AUTHENTICATED)
        router.add(method, "/_security/user/{name}/_enable", api.enable_user, MANAGE_SECURITY)
        router.add(method, "/_security/user/{name}/_disable", api.disable_user, MANAGE_SECURITY)
        router.add(method, "/_security/user/{name}", api.put_user, MANAGE_SECURITY)
        router.add(method, "/_security/role/{name}", api.put_role, MANAGE_SECURITY)
        router.add(method, "/_security/api_key", api.create_api_key, MANAGE_OWN_API_KEY)
    for method in ("GET", "POST"):
        router.add(method, "/_security/_query/user", api.query_users, READ_SECURITY)
        router.add(method, "/_security/_query/role", api.query_roles, READ_SECURITY)
        router.add(method, "/_security/_query/api_key", api.query_api_keys, AUTHENTICATED)
        router.add(method, "/_security/user/_has_privileges", api.has_privileges, AUTHENTICATED)
        router.add(
            method, "/_security/user/{name}/_has_privileges", api.has_privileges, AUTHENTICATED
        )
    router.add("GET", "/_security/user/_privileges", api.user_privileges, AUTHENTICATED)
    router.add("GET", "/_security/user", api.get_users, READ_SECURITY)
    router.add("GET", "/_security/user/{name}", api.get_users, READ_SECURITY)
    router.add("DELETE", "/_security/user/{name}", api.delete_user, MANAGE_SECURITY)
    router.add("GET", "/_security/role", api.get_roles, READ_SECURITY)
    router.add("POST", "/_security/role", api.bulk_put_roles, MANAGE_SECURITY)
    router.add("DELETE", "/_security/role", api.bulk_delete_roles, MANAGE_SECURITY)
    router.add("POST", "/_security/api_key/grant", api.grant_api_key, GRANT_API_KEY)
    router.add("GET", "/_security/role/{name}", api.get_roles, READ_SECURITY)
    router.add("DELETE", "/_security/role/{name}", api.delete_role, MANAGE_SECURITY)
    router.add("GET", "/_security/api_key", api.get_api_keys, AUTHENTICATED)
    router.add("DELETE", "/_security/api_key", api.invalidate_api_keys, AUTHENTICATED)
    router.add("PUT", "/_security/api_key/{id}", api.update_api_key, MANAGE_OWN_API_KEY)
    router.add(
        "POST", "/_security/api_key/_bulk_update", api.bulk_update_api_keys, MANAGE_OWN_API_KEY
    )


class SecurityRoutes:
    """The handlers, over the node's realm."""

    def __init__(self, realm: Realm) -> None:
        self.realm = realm

    def authenticate(self, request: NodeRequest) -> NodeResponse:
        """``GET /_security/_authenticate``: who the caller is."""
        return NodeResponse(body=describe(request.identity))

    # -- users -------------------------------------------------------------------------

    def put_user(self, request: NodeRequest) -> NodeResponse:
        """``PUT|POST /_security/user/{name}``: create or replace a native user."""
        body = _fields(request, _USER_FIELDS, what="add user request")
        if "password_hash" in body:
            raise _no_password_hash()
        if "roles" not in body:
            raise ValidationFailed("roles are missing")
        spec = users.UserSpec(
            roles=tuple(_roles(body["roles"])),
            full_name=body.get("full_name"),
            email=body.get("email"),
            metadata=body.get("metadata", {}),
            enabled=body.get("enabled", True),
            password=body.get("password"),
        )
        created = users.put_user(self.realm, username=request.params["name"], spec=spec)
        return NodeResponse(body={"created": created})

    def get_users(self, request: NodeRequest) -> NodeResponse:
        """``GET /_security/user[/{names}]``: users without their hashes; 404 ``{}`` if none."""
        names = _names(request)
        found = users.get_users(self.realm, names)
        if names is not None and not found:
            return NodeResponse(status=404, body={})
        return NodeResponse(body=found)

    def delete_user(self, request: NodeRequest) -> NodeResponse:
        """``DELETE /_security/user/{name}``."""
        found = users.delete_user(self.realm, username=request.params["name"])
        return NodeResponse(status=200 if found else 404, body={"found": found})

    def change_password(self, request: NodeRequest) -> NodeResponse:
        """``PUT|POST /_security/user/{name}/_password``."""
        return self._change_password(request, request.params["name"])

    def change_own_password(self, request: NodeRequest) -> NodeResponse:
        """``PUT|POST /_security/user/_password``: the caller's own password."""
        return self._change_password(request, request.identity.username)

    def _change_password(self, request: NodeRequest, username: str) -> NodeResponse:
        body = _fields(request, _PASSWORD_FIELDS, what="change password request")
        if "password_hash" in body:
            raise _no_password_hash()
        if "password" not in body:
            raise ValidationFailed("password must be specified")
        users.change_password(
            self.realm, actor=request.identity, username=username, password=body["password"]
        )
        return NodeResponse(body={})

    def enable_user(self, request: NodeRequest) -> NodeResponse:
        """``PUT|POST /_security/user/{name}/_enable``."""
        name = request.params["name"]
        users.set_enabled(self.realm, actor=request.identity, username=name, enabled=True)
        return NodeResponse(body={})

    def disable_user(self, request: NodeRequest) -> NodeResponse:
        """``PUT|POST /_security/user/{name}/_disable``."""
        name = request.params["name"]
        users.set_enabled(self.realm, actor=request.identity, username=name, enabled=False)
        return NodeResponse(body={})

    # -- roles -------------------------------------------------------------------------

    def put_role(self, request: NodeRequest) -> NodeResponse:
        """``PUT|POST /_security/role/{name}``: create or replace a native role."""
        created = roles.put_role(
            self.realm, name=request.params["name"], body=request.json(required=True)
        )
        return NodeResponse(body={"role": {"created": created}})

    def bulk_put_roles(self, request: NodeRequest) -> NodeResponse:
        """``POST /_security/role``: several roles at once, each reported on its own."""
        return NodeResponse(body=roles.put_roles(self.realm, request.json(required=True)))

    def bulk_delete_roles(self, request: NodeRequest) -> NodeResponse:
        """``DELETE /_security/role``: several roles by name at once."""
        return NodeResponse(body=roles.delete_roles(self.realm, request.json(required=True)))

    def get_roles(self, request: NodeRequest) -> NodeResponse:
        """``GET /_security/role[/{names}]``: built-in and native roles; 404 ``{}`` if none."""
        names = _names(request)
        found = roles.get_roles(self.realm, names)
        if names is not None and not found:
            return NodeResponse(status=404, body={})
        return NodeResponse(body=found)

    def delete_role(self, request: NodeRequest) -> NodeResponse:
        """``DELETE /_security/role/{name}``."""
        found = roles.delete_role(self.realm, name=request.params["name"])
        return NodeResponse(status=200 if found else 404, body={"found": found})

    # -- API keys ----------------------------------------------------------------------

    def create_api_key(self, request: NodeRequest) -> NodeResponse:
        """``POST|PUT /_security/api_key``: a key limited by the caller's roles."""
        body = _fields(
            request,
            _CREATE_KEY_FIELDS,
            what="api_key_request",
            error=XContentParseError,
            required=False,
        )
        key = api_keys.create_api_key(
            self.realm,
            owner=request.identity,
            request=api_keys.KeyRequest(
                name=body.get("name"),
                role_descriptors=body.get("role_descriptors", {}),
                expiration=body.get("expiration"),
                metadata=body.get("metadata", {}),
            ),
        )
        return NodeResponse(body=key.body())

    def grant_api_key(self, request: NodeRequest) -> NodeResponse:
        """``POST /_security/api_key/grant``: a key for a user proven by their password."""
        body = _fields(request, _GRANT_FIELDS, what="grant_api_key_request")
        grant_type = body.get("grant_type")
        if grant_type is None:
            raise ValidationFailed("[grant_type] is required")
        if grant_type not in ("password", "access_token"):
            raise ValidationFailed(f"grant_type [{grant_type}] is not supported")
        if "run_as" in body:
            raise IllegalArgument("[run_as] is not supported by this node")
        needed = ("username", "password") if grant_type == "password" else ("access_token",)
        problems = [f"[{f}] is required" for f in needed if f not in body]
        problems += [
            f"[{f}] is not applicable for grant_type [{grant_type}]"
            for f in ("username", "password", "access_token")
            if f in body and f not in needed
        ]
        if problems:
            raise ValidationFailed(*problems)
        key_body = body.get("api_key")
        if key_body is None:
            raise ValidationFailed("api key name is required")
        if grant_type == "access_token":  # a node token or a JWT, as a Bearer request would be
            owner = self.realm.authenticate(f"Bearer {body['access_token']}")
        else:
            owner = self.realm.with_password(body["username"], body["password"])
        key = api_keys.create_api_key(
            self.realm, owner=owner, request=_key_request(key_body, "grant_api_key_request")
        )
        return NodeResponse(body=key.body())

    def get_api_keys(self, request: NodeRequest) -> NodeResponse:
        """``GET /_security/api_key``: the keys the caller may see."""
        query = api_keys.KeyQuery(
            ids=(request.query["id"],) if request.query.get("id") else (),
            name=request.query.get("name") or None,
            username=request.query.get("username") or None,
            realm_name=request.query.get("realm_name") or None,
            owner=_flag(request, "owner"),
            active_only=_flag(request, "active_only"),
        )
        found = api_keys.find_api_keys(
            self.realm,
            actor=request.identity,
            query=query,
            with_limited_by=_flag(request, "with_limited_by"),
        )
        return NodeResponse(body={"api_keys": found})

    def invalidate_api_keys(self, request: NodeRequest) -> NodeResponse:
        """``DELETE /_security/api_key``: invalidate keys by id, name or owner."""
        body = _fields(request, _INVALIDATE_FIELDS, what="invalidate api key request")
        if "id" in body and "ids" in body:
            raise ValidationFailed("Must use either [id] or [ids], not both at the same time")
        ids = body.get("ids", [body["id"]] if "id" in body else [])
        if "ids" in body and not ids:
            raise ValidationFailed("Field [ids] cannot be an empty array")
        blank = [i for i, key_id in enumerate(ids) if not key_id.strip()]
        if blank:
            raise ValidationFailed(
                "Field [ids] must not contain blank id, but got blank id at index position: "
                f"[{blank[0]}]"
            )
        query = api_keys.KeyQuery(
            ids=tuple(ids),
            name=body.get("name") or None,
            username=body.get("username") or None,
            realm_name=body.get("realm_name") or None,
            owner=body.get("owner", False),
        )
        result = api_keys.invalidate_api_keys(self.realm, actor=request.identity, query=query)
        return NodeResponse(body=result)

    def update_api_key(self, request: NodeRequest) -> NodeResponse:
        """``PUT /_security/api_key/{id}``: ``{"updated": true|false}``; 404 for no own key."""
        body = _fields(
            request,
            _UPDATE_KEY_FIELDS,
            what="update_api_key_request_payload",
            error=XContentParseError,
            required=False,
        )
        key_id = request.params["id"]
        result = api_keys.update_api_keys(
            self.realm, actor=request.identity, ids=[key_id], update=_key_update(body)
        )
        if key_id in result.errors:
            raise result.errors[key_id]
        return NodeResponse(body={"updated": key_id in result.updated})

    def bulk_update_api_keys(self, request: NodeRequest) -> NodeResponse:
        """``POST /_security/api_key/_bulk_update``: ``updated``, ``noops`` and ``errors``."""
        body = _fields(
            request,
            _BULK_UPDATE_FIELDS,
            what="bulk_update_api_key_request_payload",
            error=XContentParseError,
        )
        if "ids" not in body:
            raise XContentParseError(
                "failed to parse bulk_update_api_key_request_payload. Required [ids]"
            )
        if not body["ids"]:
            raise ValidationFailed("Field [ids] cannot be empty")
        result = api_keys.update_api_keys(
            self.realm, actor=request.identity, ids=body["ids"], update=_key_update(body)
        )
        return NodeResponse(body=result.body())

    # -- the _query APIs ---------------------------------------------------------------

    def query_users(self, request: NodeRequest) -> NodeResponse:
        """``GET|POST /_security/_query/user``: native users matching a query, paginated."""
        _params(request, {"with_profile_uid"})
        _flag(request, "with_profile_uid")
        return NodeResponse(body=users.query_users(self.realm, request.json()))

    def query_roles(self, request: NodeRequest) -> NodeResponse:
        """``GET|POST /_security/_query/role``: native roles matching a query, paginated."""
        _params(request, set())
        return NodeResponse(body=roles.query_roles(self.realm, request.json()))

    def query_api_keys(self, request: NodeRequest) -> NodeResponse:
        """``GET|POST /_security/_query/api_key``: the keys the caller may read, by query."""
        _params(request, {"with_limited_by", "with_profile_uid", "typed_keys"})
        _flag(request, "typed_keys")
        found = api_keys.query_api_keys(
            self.realm,
            actor=request.identity,
            body=request.json(),
            with_limited_by=_flag(request, "with_limited_by"),
            with_profile_uid=_flag(request, "with_profile_uid"),
        )
        return NodeResponse(body=found)

    # -- privileges ----------------------------------------------------------------------

    def has_privileges(self, request: NodeRequest) -> NodeResponse:
        """``GET|POST /_security/user[/{name}]/_has_privileges``: the caller's own only."""
        identity = request.identity
        username = request.params.get("name", identity.username)
        if username != identity.username:
            raise IllegalArgument("users may only check the privileges of their own account")
        check = privilege_checks.parse_check(request.json(), username)
        definitions = application_privileges.definitions(
            self.realm, [app.application for app in check.application]
        )
        return NodeResponse(body=privilege_checks.has_privileges(identity, check, definitions))

    def user_privileges(self, request: NodeRequest) -> NodeResponse:
        """``GET /_security/user/_privileges``: the caller's effective privileges."""
        return NodeResponse(body=privilege_checks.user_privileges(request.identity))


def _key_request(body: Mapping[str, Any], what: str) -> api_keys.KeyRequest:
    """The ``api_key`` object of a grant, checked like ``POST /_security/api_key``'s body."""
    for key, value in body.items():
        if key not in _CREATE_KEY_FIELDS:
            raise XContentParseError(f"failed to parse {what}. unexpected field [api_key.{key}]")
        check, description = _KINDS[_CREATE_KEY_FIELDS[key]]
        if value is not None and not check(value):
            raise XContentParseError(
                f"failed to parse {what}. field [api_key.{key}] must be {description}, "
                f"not {_json_type(value)}"
            )
    return api_keys.KeyRequest(
        name=body.get("name"),
        role_descriptors=body.get("role_descriptors") or {},
        expiration=body.get("expiration"),
        metadata=body.get("metadata") or {},
    )


def _key_update(body: Mapping[str, Any]) -> api_keys.KeyUpdate:
    return api_keys.KeyUpdate(
        role_descriptors=body.get("role_descriptors"),
        metadata=body.get("metadata"),
        expiration=body.get("expiration"),
    )


def _params(request: NodeRequest, allowed: set[str]) -> None:
    """Elasticsearch's 400 for a query parameter the API does not know."""
    for name in request.query:
        if name not in allowed and name not in _COMMON_PARAMS:
            raise IllegalArgument(
                f"request [{request.path}] contains unrecognized parameter: [{name}]"
            )


def _fields(
    request: NodeRequest,
    schema: Mapping[str, str],
    *,
    what: str,
    error: type[EsError] = ParseException,
    required: bool = True,
) -> dict[str, Any]:
    """The body as an object holding only `schema`'s fields with the right types (nulls
    dropped); an Elasticsearch-style 400 otherwise."""
    body = request.json(required=required)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise error(f"failed to parse {what}. expected an object but found {_json_type(body)}")
    out = {}
    for key, value in body.items():
        if key not in schema:
            raise error(f"failed to parse {what}. unexpected field [{key}]")
        if value is None:
            continue
        check, description = _KINDS[schema[key]]
        if not check(value):
            raise error(
                f"failed to parse {what}. field [{key}] must be {description}, "
                f"not {_json_type(value)}"
            )
        out[key] = value
    return out


def _roles(value: str | list[str]) -> list[str]:
    if isinstance(value, str):
        return [r.strip() for r in value.split(",") if r.strip()]
    return value


def _names(request: NodeRequest) -> list[str] | None:
    """The comma-separated names in the path, or None when the path names none."""
    if "name" not in request.params:
        return None
    return [n for n in request.params["name"].split(",") if n]


def _flag(request: NodeRequest, name: str) -> bool:
    value = request.query.get(name)
    if value is None or value == "false":
        return False
    if value in ("", "true"):
        return True
    raise IllegalArgument(f"Failed to parse value [{value}] as only [true] or [false] are allowed.")


def _no_password_hash() -> EsError:
    return ValidationFailed(
        "[password_hash] is not accepted by this node; send the password as [password]"
    )


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "null"
