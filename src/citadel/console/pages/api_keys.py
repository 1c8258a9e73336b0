"""Cloud API keys: create with roles and expiry (the secret is shown once, with a copy button),
the list with expiry and last use, revoke.

The role picker is the members page's: organization, deployment and project roles, a project
role scoped to all projects of its type or to chosen ones, offered as `may_grant` allows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import Request, Response

from citadel.api_keys import service
from citadel.api_keys.schemas import CreateApiKeyIn
from citadel.authz import assignments
from citadel.console.form_tokens import AlreadySubmitted
from citadel.console.pages.members import (
    describe,
    readable_projects,
    role_assignments,
    role_picker,
)
from citadel.console.routing import console_router
from citadel.console.web import (
    PostedForm,
    SignedIn,
    Visitor,
    deployment_labels,
    once,
    org_of,
    page,
    parse,
    redirect,
)
from citadel.deployments import service as deployments
from citadel.errors import CitadelError
from citadel.orgs.service import load as load_org

router = console_router()
EXPIRATIONS = (
    ("90d", "90 days"),
    ("30d", "30 days"),
    ("7d", "7 days"),
    ("1d", "1 day"),
    ("365d", "1 year"),
)
NEAR_EXPIRY = timedelta(days=14)


def _page(request: Request, visitor: Visitor, *, status: int = 200, **extra: Any) -> Response:
    org = org_of(visitor)
    with visitor.read() as ctx:
        rows = service.list_api_keys(ctx, org)
        names = deployment_labels(deployments.list_deployments(ctx, org))
        readable = readable_projects(ctx, org)
        allow_never = load_org(ctx.session, org).allow_never_expiring_api_keys
        now = ctx.clock.now()
    picker = role_picker(visitor, names, readable)
    keys = [
        {
            "row": k,
            "roles": describe(assignments.from_stored(k.role_assignments), picker.labels),
            "near_expiry": k.expires_at is not None and k.expires_at - now < NEAR_EXPIRY,
        }
        for k in rows
    ]
    choices = list(EXPIRATIONS) + ([("never", "Never")] if allow_never else [])
    return page(
        request,
        visitor,
        "api_keys.html",
        status=status,
        keys=keys,
        expirations=choices,
        grantable=picker.offered,
        names=names,
        project_scopes=picker.project_scopes,
        **extra,
    )


@router.get("/api-keys")
def keys_page(request: Request, visitor: SignedIn) -> Response:
    """The organization's keys (metadata only) and the create form."""
    return _page(request, visitor)


@router.post("/api-keys")
def create(request: Request, visitor: SignedIn, form: PostedForm) -> Response:
    """Mint a key; this response is the only place its secret appears (the form's one-time
    token makes a reload of this page a notice, not a second key)."""
    org = org_of(visitor)
    try:
        roles = role_assignments(org, form)
        body = parse(
            CreateApiKeyIn,
            {
                "description": form.get("description").strip(),
                "expiration": form.text("expiration"),
                "role_assignments": roles,
            },
        )
        with once(request, visitor, form), visitor.write() as ctx:
            issued = service.create_api_key(ctx, org, body)
            created = {"id": issued.row.id, "description": issued.row.description}
            secret = issued.text
    except AlreadySubmitted:
        return redirect("/api-keys", "key_already_created")
    except CitadelError as exc:
        return _page(request, visitor, status=exc.status, error=exc, values=form.values())
    return _page(request, visitor, status=201, created=created, secret=secret)


@router.post("/api-keys/{key_id}/revoke")
def revoke(request: Request, visitor: SignedIn, form: PostedForm, key_id: str) -> Response:
    """Revoke a key; it stops working on its next request."""
    org = org_of(visitor)
    try:
        with visitor.write() as ctx:
            service.delete_api_keys(ctx, org, [key_id[:64]])
    except CitadelError as exc:
        return _page(request, visitor, status=exc.status, error=exc)
    return redirect("/api-keys", "key_revoked")
