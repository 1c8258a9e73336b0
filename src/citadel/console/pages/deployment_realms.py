"""A deployment's own SAML and OpenID Connect realms in the console (issue 18 item 3): the list
by order, a form to add or replace each kind, and delete.

Every handler calls the service functions the API routes call (`citadel.deployment_realms.
service`), which authorize inside their transaction with ``deployments:manage_security`` (a
deployment admin on it, or an organization owner): others get the API's 403, and a visitor who
cannot read the deployment its 404. Validation is the service's: its coded errors name a field
(``body.settings["idp.entity_id"]``, ``body.order``, ``path.realm_name``), which the form shows
beside the input holding it.

The form has an input for each common Elasticsearch key; any other key the realm has (set
through the API or the CLI) is kept in an "other settings" JSON box, so replacing a realm here
never drops a setting silently. The OIDC client secret is never shown; left empty on a
replacement, the stored one is kept, as the API keeps it when the key is absent. A SAML realm's
metadata given by URL (``idp.metadata.path``) is fetched as the API fetches it: checked and
authorized first, fetched outside any transaction, then stored.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import Request, Response

from citadel.console.routing import console_router
from citadel.console.web import (
    Form,
    PostedForm,
    SignedIn,
    Visitor,
    org_of,
    page,
    parse,
    redirect,
)
from citadel.deployment_realms import service
from citadel.deployment_realms.errors import InvalidRealm, RealmNotFound
from citadel.deployment_realms.models import DeploymentRealm
from citadel.deployment_realms.schemas import RealmIn, RealmOut, shown
from citadel.deployment_realms.settings import (
    CLIENT_SECRET,
    METADATA_CAS,
    METADATA_PATH,
    METADATA_XML,
)
from citadel.deployments import service as deployments
from citadel.errors import CitadelError

router = console_router()
BASE = "/deployments/{deployment_id}/security/realms"
KINDS = ("saml", "oidc")
OTHER = "other_settings"

# The keys each form has an input for, in the form's order; `LISTS` are typed one per line
# (or space-separated scopes), `FLAGS` are checkboxes, the rest are text.
SAML_FIELDS = (
    "idp.entity_id",
    METADATA_XML,
    METADATA_PATH,
    METADATA_CAS,
    "sp.entity_id",
    "sp.acs",
    "sp.logout",
    "attributes.principal",
    "attributes.groups",
    "attributes.name",
    "attributes.mail",
    "attribute_patterns.principal",
    "force_authn",
    "req_authn_context_class_ref",
)
OIDC_FIELDS = (
    "op.issuer",
    "op.authorization_endpoint",
    "op.token_endpoint",
    "op.jwkset_path",
    "op.userinfo_endpoint",
    "rp.client_id",
    CLIENT_SECRET,
    "rp.redirect_uri",
    "rp.requested_scopes",
    "claims.principal",
    "claims.groups",
    "claims.name",
    "claims.mail",
    METADATA_CAS,
)
FIELDS = {"saml": SAML_FIELDS, "oidc": OIDC_FIELDS}
FLAGS = frozenset({"force_authn"})
LINES = frozenset({"req_authn_context_class_ref"})
SCOPES = "rp.requested_scopes"
KEEP_AS_TYPED = frozenset({METADATA_XML, METADATA_CAS})  # documents

# What the list shows of each kind (never the secret: "secret set" instead).
KEY_SETTINGS = {
    "saml": ("idp.entity_id", METADATA_PATH, "sp.entity_id", "sp.acs", "attributes.principal"),
    "oidc": ("op.issuer", "rp.client_id", "rp.redirect_uri", "claims.principal"),
}
DONE = {
    "created": "The realm was added. The deployment's node picks it up within a minute.",
    "updated": "The realm was saved. The deployment's node picks it up within a minute.",
    "deleted": "The realm was deleted: its users can no longer sign in to the deployment.",
}
_SETTING = re.compile(r'^body\.settings\["(.+)"\]$')


def base(deployment_id: str) -> str:
    """The realms page of a deployment."""
    return BASE.format(deployment_id=deployment_id)


def input_id(key: str) -> str:
    """The form input of a settings key (`idp.entity_id` -> `idp-entity_id`)."""
    return key.replace(".", "-")


def field_of(exc: CitadelError, kind: str) -> str | None:
    """The form input a service error names: a settings key the form has an input for, the
    other-settings box for any other key, `order` or `name`."""
    for name in exc.fields:
        found = _SETTING.match(name)
        if found:
            key = found.group(1)
            return key if key in FIELDS.get(kind, ()) else OTHER
        if name == OTHER:
            return OTHER
        if name in ("body.order", "order"):
            return "order"
        if name == "path.realm_name":
            return "name"
    return None


def form_values(row: RealmOut) -> dict[str, str]:
    """A stored realm as its form shows it (no secret; keys without an input as JSON)."""
    settings = dict(row.settings)
    values: dict[str, str] = {
        "name": row.name,
        "order": str(row.order),
        "enabled": "on" if row.enabled else "",
    }
    if row.type == "saml" and METADATA_PATH not in settings:  # else fetched, not typed
        settings[METADATA_XML] = row.idp_metadata_xml or ""
    for key in FIELDS[row.type]:
        value = settings.pop(key, None)
        if value is None:
            continue
        if key in FLAGS:
            values[key] = "on" if value else ""
        elif isinstance(value, list):
            values[key] = (" " if key == SCOPES else "\n").join(str(v) for v in value)
        else:
            values[key] = str(value)
    values[OTHER] = json.dumps(settings, indent=2, sort_keys=True) if settings else ""
    return values


def settings_of(form: Form, kind: str) -> dict[str, Any]:
    """The posted settings with Elasticsearch's keys: empty inputs left out, flags as
    booleans, lists split, then the other-settings JSON (its keys may not repeat an input's)."""
    settings: dict[str, Any] = {}
    for key in FIELDS[kind]:
        if key in FLAGS:
            if form.flag(key):
                settings[key] = True
            continue
        text = form.get(key)
        if not text.strip():
            continue
        if key in KEEP_AS_TYPED:
            settings[key] = text
        elif key in LINES:
            settings[key] = [line.strip() for line in text.splitlines() if line.strip()]
        elif key == SCOPES:
            settings[key] = text.split()
        else:
            settings[key] = text.strip()
    other = form.get(OTHER).strip()
    if other:
        try:
            extra = json.loads(other)
        except ValueError:
            raise InvalidRealm("Other settings are not JSON.", fields=[OTHER]) from None
        if not isinstance(extra, dict):
            raise InvalidRealm(
                "Other settings are a JSON object of Elasticsearch keys and values.",
                fields=[OTHER],
            )
        repeated = sorted(k for k in extra if k in FIELDS[kind])
        if repeated:
            raise InvalidRealm(
                "Other settings repeat keys the form has inputs for: " + ", ".join(repeated) + ".",
                fields=[OTHER],
            )
        settings.update(extra)
    return settings


def realm_of(form: Form, kind: str) -> RealmIn:
    """The posted form as the API's request body."""
    text = form.get("order").strip()
    if not text.isdigit() or len(text) > 7:
        raise InvalidRealm("The order is a whole number from 0 to 1000000.", fields=["body.order"])
    settings = settings_of(form, kind)
    if len(settings) > 64:
        raise InvalidRealm("A realm has at most 64 settings.", fields=[OTHER])
    data = {"type": kind, "order": int(text), "enabled": form.flag("enabled"), "settings": settings}
    return parse(RealmIn, data)


def _listed(row: DeploymentRealm) -> dict[str, Any]:
    out = shown(row)
    return {
        "realm": out,
        "facts": [(k, out.settings[k]) for k in KEY_SETTINGS[out.type] if k in out.settings],
    }


@router.get(BASE)
def realms_page(request: Request, visitor: SignedIn, deployment_id: str) -> Response:
    """The deployment's realms by order, with their key settings."""
    deployment_id = deployment_id[:32]
    org = org_of(visitor)
    with visitor.read() as ctx:
        rows = service.list_realms(ctx, org, deployment_id)  # authorizes: 404, then 403
        dep = deployments.get_deployment(ctx, org, deployment_id)
        realms = [_listed(r) for r in rows]
    return page(
        request,
        visitor,
        "deployment_realms.html",
        dep=dep,
        realms=realms,
        base=base(dep.id),
        done=DONE.get(request.query_params.get("done", "")),
    )


def _form_page(
    request: Request,
    visitor: Visitor,
    deployment_id: str,
    kind: str,
    *,
    values: dict[str, str],
    name: str | None = None,
    error: CitadelError | None = None,
) -> Response:
    """The form of a new realm, or of the realm `name` to replace (with no name input)."""
    org = org_of(visitor)
    with visitor.read() as ctx:
        rows = service.list_realms(ctx, org, deployment_id)  # authorizes: 404, then 403
        dep = deployments.get_deployment(ctx, org, deployment_id)
        row = next((r for r in rows if r.name == name), None) if name else None
        replacing = shown(row) if row is not None else None
    return page(
        request,
        visitor,
        "deployment_realms_form.html",
        status=error.status if error else 200,
        error=error,
        error_field=field_of(error, kind) if error else None,
        dep=dep,
        base=base(dep.id),
        kind=kind,
        values=values,
        replacing=replacing,
        secret_set=bool(replacing and replacing.client_secret_set),
        input_id=input_id,
    )


@router.get(BASE + "/{realm_name}/edit")
def edit_page(request: Request, visitor: SignedIn, deployment_id: str, realm_name: str) -> Response:
    """The form of one realm, filled with its settings (not its secret), to replace it."""
    deployment_id = deployment_id[:32]
    with visitor.read() as ctx:
        rows = service.list_realms(ctx, org_of(visitor), deployment_id)
        row = next((r for r in rows if r.name == realm_name), None)
        if row is None:
            raise RealmNotFound()
        out = shown(row)
    return _form_page(
        request, visitor, deployment_id, out.type, values=form_values(out), name=out.name
    )


@router.get(BASE + "/new/{kind}")
def new_page(request: Request, visitor: SignedIn, deployment_id: str, kind: str) -> Response:
    """An empty form for a new SAML or OIDC realm."""
    if kind not in KINDS:
        raise RealmNotFound("There is no such kind of realm: saml or oidc.")
    defaults = {"enabled": "on", SCOPES: "openid"} if kind == "oidc" else {"enabled": "on"}
    return _form_page(request, visitor, deployment_id[:32], kind, values=defaults)


@router.post(BASE)
def save_realm(
    request: Request, visitor: SignedIn, form: PostedForm, deployment_id: str
) -> Response:
    """Create or replace the realm the form names, as ``PUT …/security/realms/{name}`` does."""
    deployment_id = deployment_id[:32]
    kind = form.get("type")
    if kind not in KINDS:
        raise InvalidRealm("The realm type is saml or oidc.", fields=["body.type"])
    name = form.get("name").strip()[:64]
    org = org_of(visitor)
    try:
        body = realm_of(form, kind)
        fetched = service.fetch_metadata(visitor, org, deployment_id, name, body)  # no lock held
        with visitor.write() as ctx:
            _, created = service.put_realm(ctx, org, deployment_id, name, body, fetched)
    except CitadelError as exc:
        values = {k: v for k, v in form.values().items() if k != CLIENT_SECRET}
        values["name"] = name
        replacing = name if form.flag("replacing") else None
        return _form_page(
            request, visitor, deployment_id, kind, values=values, name=replacing, error=exc
        )
    return redirect(f"{base(deployment_id)}?done={'created' if created else 'updated'}")


@router.post(BASE + "/{realm_name}/delete")
def delete_realm(
    request: Request, visitor: SignedIn, form: PostedForm, deployment_id: str, realm_name: str
) -> Response:
    """Remove one realm, as ``DELETE …/security/realms/{name}`` does."""
    deployment_id = deployment_id[:32]
    with visitor.write() as ctx:
        service.delete_realm(ctx, org_of(visitor), deployment_id, realm_name[:64])
    return redirect(f"{base(deployment_id)}?done=deleted")
