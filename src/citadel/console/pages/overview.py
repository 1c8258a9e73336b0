"""The organization overview: deployments with status, member count, SSO state, and open
warnings (API keys near expiry, locked deployments, unverified domains)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import Request, Response

from citadel.api_keys import service as api_keys
from citadel.console.pages.deployments import describe, endpoints
from citadel.console.routing import console_router
from citadel.console.web import SignedIn, org_of, page
from citadel.deployments import service as deployments
from citadel.domains import service as domains
from citadel.members import service as members
from citadel.orgs.service import load as load_org
from citadel.sso import configuration as sso_configuration
from citadel.sso.errors import SsoNotConfigured

router = console_router()
NEAR_EXPIRY = timedelta(days=14)


@router.get("/")
def overview(request: Request, visitor: SignedIn) -> Response:
    """What needs attention in the organization."""
    org = org_of(visitor)
    warnings: list[str] = []
    with visitor.read() as ctx:
        organization = load_org(ctx.session, org)
        rows = [describe(r, endpoints(visitor)) for r in deployments.list_deployments(ctx, org)]
        member_count = len(members.list_members(ctx, org))
        now = ctx.clock.now()
        if visitor.may("api_keys:manage"):
            for key in api_keys.list_api_keys(ctx, org):
                if key.expires_at is not None and key.expires_at - now < NEAR_EXPIRY:
                    warnings.append(
                        f"API key “{key.description}” expires on {key.expires_at:%Y-%m-%d}."
                    )
        sso = None  # configured and turned on: shown to those who manage SSO
        if visitor.may("sso:manage"):
            try:
                row = sso_configuration.get_configuration(ctx, org)
                sso = {"configured": True, "enabled": row.enabled}
            except SsoNotConfigured:
                sso = {"configured": False, "enabled": False}
        unverified = []
        if visitor.may("domains:manage"):
            unverified = [
                d.domain for d in domains.list_domains(ctx, org) if d.status != domains.VERIFIED
            ]
    for d in rows:
        if d["locked"]:
            warnings.append(
                f"Deployment “{d['row'].name}” is locked: its encryption key is unavailable."
            )
    if unverified:
        warnings.append(f"Unverified domains: {', '.join(unverified)}.")
    return page(
        request,
        visitor,
        "overview.html",
        organization=organization,
        deployments=rows,
        member_count=member_count,
        warnings=warnings,
        sso=sso,
    )
