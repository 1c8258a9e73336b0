"""Mounting the console on the control plane's application: the pages at `/`, the static
files at `/static` and the icon at `/favicon.ico`."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from citadel.console.form_tokens import SpentFormTokens
from citadel.console.pages import (
    api_keys,
    audit,
    deployment_audit,
    deployment_realms,
    deployments,
    explorer,
    invitations,
    members,
    network,
    organizations,
    overview,
    passkeys,
    projects,
    security,
    signin,
    sso,
)
from citadel.console.web import STATIC_DIR

PAGES = (
    signin.router,
    security.router,
    passkeys.router,  # passkeys (issue 17 item 7, ADR 25)
    overview.router,
    organizations.router,
    deployments.router,
    explorer.router,  # the data explorer (issue 18 item 2)
    deployment_audit.router,  # a deployment's security audit trail (issue 18 item 6)
    deployment_realms.router,  # a deployment's own SAML and OIDC realms (issue 18 item 3)
    projects.router,  # serverless projects (issue 19 item 6)
    network.router,
    members.router,
    invitations.router,
    api_keys.router,
    sso.router,  # the SSO pages' slot (issue 9, SSO part)
    audit.router,
)
FAVICON = STATIC_DIR / "favicon.svg"


def favicon() -> FileResponse:
    """The console's icon (an SVG; browsers that ask for `/favicon.ico` accept it)."""
    return FileResponse(
        FAVICON, media_type="image/svg+xml", headers={"cache-control": "public, max-age=86400"}
    )


def install(app: FastAPI) -> None:
    """Serve the console from `app` (after the API's routes, which keep `/api/v1`)."""
    app.state.console_form_tokens = SpentFormTokens(app.state.services.db)
    for router in PAGES:
        app.include_router(router)
    app.add_api_route("/favicon.ico", favicon, methods=["GET"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=True), name="console-static")
