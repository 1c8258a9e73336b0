"""Deployments: list, create (with live progress until healthy), detail with its Security
section (traffic filters, encryption key, `elastic` password reset), shutdown and delete."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from fastapi import Request, Response
from fastapi.responses import FileResponse, JSONResponse

from citadel.console.routing import console_router
from citadel.console.web import (
    PAGE_HEADERS,
    Form,
    PostedForm,
    SignedIn,
    Visitor,
    org_of,
    page,
    parse,
    redirect,
)
from citadel.deployments import schemas, service
from citadel.deployments.lifecycle import Desired, Observed
from citadel.deployments.models import Deployment
from citadel.deployments.schemas import CreateDeploymentIn, Endpoints
from citadel.deployments.snapshots import describe_restored
from citadel.errors import BadRequest, CitadelError, NotFound
from citadel.key_managers.schemas import RekeyIn
from citadel.traffic_filters import service as traffic_filters
from citadel.traffic_filters.errors import WouldBlockCaller
from citadel.traffic_filters.schemas import AssociationIn
from citadel.traffic_filters.service import Guard
from citadel.use_cases import deployments as use_cases

router = console_router()
SIZES_MB = (1024, 2048, 4096, 8192)


def endpoints(visitor: Visitor) -> Endpoints:
    s = visitor.services.settings
    return Endpoints(s.deployment_domain, s.gateway_port)


def describe(row: Deployment, where: Endpoints, rulesets: list[str] | None = None) -> dict:
    """What the pages show of a deployment, read off the API's own `DeploymentGetResponse`."""
    body = schemas.detail(row, where, rulesets or []).model_dump()
    info = body["resources"]["elasticsearch"][0]["info"]
    desired, observed = Desired(row.desired_state), Observed(row.observed_state)
    healthy = bool(body["healthy"])
    final = (
        (desired is Desired.RUNNING and healthy)
        or (desired is Desired.STOPPED and observed is Observed.STOPPED)
        or observed is Observed.LOCKED
    )
    return {
        "row": row,
        "status": "healthy" if healthy and desired is Desired.RUNNING else info["status"],
        "healthy": healthy and desired is Desired.RUNNING,
        "locked": observed is Observed.LOCKED,
        "stopped": desired is Desired.STOPPED,
        "final": final,
        "endpoint": info["metadata"]["service_url"],
        "cloud_id": info["metadata"]["cloud_id"],
        "detail": (info.get("locked") or {}).get("reason") or row.observed_detail or "",
        "byok": row.key_manager_id is not None,
        "snapshots": info["snapshots"],
        "restored": describe_restored(row),
    }


@router.get("/deployments")
def list_page(request: Request, visitor: SignedIn) -> Response:
    """The deployments the visitor may read."""
    org = org_of(visitor)
    with visitor.read() as ctx:
        rows = [describe(r, endpoints(visitor)) for r in service.list_deployments(ctx, org)]
    return page(request, visitor, "deployments.html", deployments=rows)


def _create_form(
    request: Request,
    visitor: Visitor,
    *,
    error: CitadelError | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    choices = use_cases.create_choices(visitor, org_of(visitor))
    return page(
        request,
        visitor,
        "deployment_new.html",
        status=error.status if error else 200,
        error=error,
        values=values or {},
        regions=visitor.services.policies.regions,
        sizes=SIZES_MB,
        rulesets=choices.rulesets,
        key_managers=choices.key_managers,
        request_token=(values or {}).get("request_id") or secrets.token_hex(16),
    )


def _byok(form: Form, path_field: str) -> dict[str, str | None] | None:
    """A customer key from the form: its path and, optionally, the key manager chosen."""
    path, manager_id = form.text("key_resource_path"), form.text("key_manager_id")
    if path is None:
        if manager_id is not None:
            raise BadRequest("Give the key's path at that key manager.", fields=[path_field])
        return None
    return {"key_resource_path": path, "key_manager_id": manager_id}


@router.get("/deployments/new")
def new_page(request: Request, visitor: SignedIn) -> Response:
    """The create form."""
    return _create_form(request, visitor)


def _create_body(form: PostedForm) -> CreateDeploymentIn:
    region = form.get("region") or "local"
    try:
        size = int(form.get("size") or "1024")
    except ValueError:
        raise BadRequest("The size is a number of MiB.", fields=["size"]) from None
    settings: dict[str, Any] = {
        "traffic_filter_settings": {"rulesets": form.all("ruleset")},
    }
    byok = _byok(form, "key_resource_path")
    if byok is not None:
        settings["byok"] = byok
    return parse(
        CreateDeploymentIn,
        {
            "name": form.text("name"),
            "region": region,
            "resources": {
                "elasticsearch": [
                    {
                        "region": region,
                        "plan": {"cluster_topology": [{"size": {"value": size}}]},
                    }
                ]
            },
            "settings": settings,
        },
    )


@router.post("/deployments")
def create(request: Request, visitor: SignedIn, form: PostedForm) -> Response:
    """Create a deployment the way `POST /api/v1/deployments` does; the password is shown once."""
    org = org_of(visitor)
    request_id = form.get("request_id")
    if len(request_id) != 32:
        request_id = secrets.token_hex(16)
    try:
        body = _create_body(form)
        made = use_cases.create_deployment(
            visitor, visitor.services.platform_keys, org, body, request_id=request_id
        )
    except CitadelError as exc:
        return _create_form(request, visitor, error=exc, values=form.values())
    if not made.fresh:  # the same form posted twice: no second deployment, no password again
        return redirect(f"/deployments/{made.row.id}")
    shown = describe(made.row, endpoints(visitor))
    return page(request, visitor, "deployment_created.html", d=shown, password=made.password)


def _detail(
    request: Request,
    visitor: Visitor,
    deployment_id: str,
    *,
    error: CitadelError | None = None,
    **extra: Any,
) -> Response:
    view = use_cases.security_view(visitor, org_of(visitor), deployment_id)
    return page(
        request,
        visitor,
        "deployment.html",
        status=error.status if error else 200,
        error=error,
        d=describe(view.shown.row, endpoints(visitor), view.shown.rulesets),
        attached=view.attached,
        available=view.available,
        key_managers=view.key_managers,
        **extra,
    )


@router.get("/deployments/{deployment_id}")
def detail_page(request: Request, visitor: SignedIn, deployment_id: str) -> Response:
    """One deployment: endpoint, Cloud ID, status and its Security section."""
    return _detail(request, visitor, deployment_id[:32])


@router.get("/deployments/{deployment_id}/status")
def status(request: Request, visitor: SignedIn, deployment_id: str) -> Response:
    """The live status the detail page polls (JSON, no secrets)."""
    org = org_of(visitor)
    with visitor.read() as ctx:
        shown = describe(service.get_deployment(ctx, org, deployment_id[:32]), endpoints(visitor))
    body = {k: shown[k] for k in ("status", "healthy", "locked", "final", "detail")}
    return JSONResponse(body, headers=PAGE_HEADERS)


@router.post("/deployments/{deployment_id}/reset-password")
def reset_password(
    request: Request, visitor: SignedIn, form: PostedForm, deployment_id: str
) -> Response:
    """A new `elastic` password, shown in this response only."""
    org = org_of(visitor)
    try:
        with visitor.write() as ctx:
            _, password = service.reset_elastic_password(ctx, org, deployment_id[:32])
    except CitadelError as exc:
        return _detail(request, visitor, deployment_id[:32], error=exc)
    return _detail(request, visitor, deployment_id[:32], new_password=password)


@router.post("/deployments/{deployment_id}/encryption/rotate")
def rotate_key(
    request: Request, visitor: SignedIn, form: PostedForm, deployment_id: str
) -> Response:
    """Re-wrap the data key under the newest version of its key, as
    `POST …/encryption/_rotate` does (the node keeps running)."""
    org = org_of(visitor)
    try:
        rotated = use_cases.rotate_key(
            visitor, org, deployment_id[:32], visitor.services.platform_keys
        )
    except CitadelError as exc:
        return _detail(request, visitor, deployment_id[:32], error=exc)
    return _detail(request, visitor, deployment_id[:32], rotated=rotated)


@router.post("/deployments/{deployment_id}/encryption/rekey")
def rekey(request: Request, visitor: SignedIn, form: PostedForm, deployment_id: str) -> Response:
    """Wrap the data key under another customer key, or back under the platform key, as
    `POST …/encryption/_rekey` does (the node keeps running)."""
    org = org_of(visitor)
    try:
        if form.get("target") == "platform":
            key_path, manager_id = None, None
        else:
            byok = _byok(form, "key_resource_path")
            if byok is None:
                raise BadRequest("Give the new key's path.", fields=["key_resource_path"])
            body = parse(RekeyIn, byok)
            key_path, manager_id = body.key_resource_path, body.key_manager_id
        use_cases.rekey_deployment(
            visitor,
            org,
            deployment_id[:32],
            visitor.services.platform_keys,
            key_path=key_path,
            manager_id=manager_id,
        )
    except CitadelError as exc:
        return _detail(request, visitor, deployment_id[:32], error=exc, values=form.values())
    return redirect(f"/deployments/{deployment_id[:32]}", "deployment_rekeyed")


@router.post("/deployments/{deployment_id}/shutdown")
def shutdown(request: Request, visitor: SignedIn, form: PostedForm, deployment_id: str) -> Response:
    """Stop the deployment (its data stays until it is deleted)."""
    org = org_of(visitor)
    try:
        with visitor.write() as ctx:
            service.shutdown_deployment(ctx, org, deployment_id[:32])
    except CitadelError as exc:
        return _detail(request, visitor, deployment_id[:32], error=exc)
    return redirect(f"/deployments/{deployment_id[:32]}", "deployment_shutdown")


@router.post("/deployments/{deployment_id}/delete")
def delete(request: Request, visitor: SignedIn, form: PostedForm, deployment_id: str) -> Response:
    """Delete a shut-down deployment (its data key is destroyed)."""
    org = org_of(visitor)
    try:
        use_cases.delete_deployment(visitor, org, deployment_id[:32])
    except CitadelError as exc:
        return _detail(request, visitor, deployment_id[:32], error=exc)
    return redirect("/deployments", "deployment_deleted")


@router.post("/deployments/{deployment_id}/filters")
def associate(
    request: Request, visitor: SignedIn, form: PostedForm, deployment_id: str
) -> Response:
    """Apply a traffic filter to this deployment (the lockout guard asks before blocking you)."""
    org = org_of(visitor)
    ruleset_id = form.get("ruleset_id")[:32]
    guard = Guard(False, form.flag("force"), visitor.services.recent_clients.current())
    try:
        body = parse(AssociationIn, {"entity_type": "deployment", "id": deployment_id[:32]})
        with visitor.write() as ctx:
            traffic_filters.associate(ctx, org, ruleset_id, body, guard)
    except WouldBlockCaller as exc:
        return _detail(
            request, visitor, deployment_id[:32], lockout=exc, lockout_ruleset=ruleset_id
        )
    except CitadelError as exc:
        return _detail(request, visitor, deployment_id[:32], error=exc)
    return redirect(f"/deployments/{deployment_id[:32]}", "associated")


@router.get("/ca.crt")
def ca_certificate(visitor: SignedIn) -> Response:
    """The platform CA certificate clients trust (public, but only for members)."""
    path: Path = visitor.services.settings.data_dir / "pki" / "ca.crt"
    if not path.exists():
        raise NotFound("The platform has no CA certificate yet.")
    return FileResponse(
        path,
        media_type="application/x-pem-file",
        filename="citadel-ca.crt",
        headers=PAGE_HEADERS,
    )
