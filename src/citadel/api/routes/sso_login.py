"""The browser's side of organization SSO, outside /api/v1: the login URL, the ACS and the
SP metadata. SP-initiated only: the login URL sets a cookie with the AuthnRequest ID, and the
ACS accepts only a response to that request (SameSite=None: the IdP's form posts it
cross-site)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from citadel.api.deps import WorkDep, public
from citadel.api.openapi import errors
from citadel.errors import BadRequest
from citadel.sso import configuration, login
from citadel.sso.errors import SsoNotConfigured, UnknownLoginPrefix
from citadel.sso.metadata import sp_metadata
from citadel.sso.saml import SamlRefused
from citadel.web.cookies import (
    SAML_REQUEST_COOKIE,
    forget_login_request,
    remember_login_request,
    set_session_cookie,
)

router = APIRouter(prefix="/sso/saml", tags=["sso"])
REQUEST_COOKIE = SAML_REQUEST_COOKIE
METADATA_TYPE = "application/samlmetadata+xml"
ANYONE = public(read_credentials=False)
LoginPrefix = Path(min_length=1, max_length=63, description="The organization's login prefix.")
OrganizationPath = Path(min_length=1, max_length=32, description="The organization id.")


class InvalidSamlPost(BadRequest):
    code = "sso.invalid_post"
    default_message = "Post the IdP's form (application/x-www-form-urlencoded with SAMLResponse)."


def _wants_page(request: Request) -> bool:
    """A browser (it asks for HTML) gets the console's sign-in page with a notice, not JSON."""
    return "text/html" in request.headers.get("accept", "")


@router.get(
    "/{login_prefix}/login",
    dependencies=[ANYONE],
    status_code=303,
    response_class=RedirectResponse,
    responses={303: {"description": "To the IdP (a browser: to the sign-in page)."}, **errors(429)},
)
def start_login(
    request: Request,
    work: WorkDep,
    login_prefix: str = LoginPrefix,
    return_to: str | None = Query(default=None, max_length=512),
) -> Response:
    """Send the browser to the organization's IdP with a signed AuthnRequest."""
    try:
        with work.write() as ctx:
            started = login.start(ctx, login_prefix, return_to)
    except UnknownLoginPrefix:
        if _wants_page(request):
            return RedirectResponse("/sign-in?notice=sso_unknown_prefix", status_code=303)
        raise
    response = RedirectResponse(started.redirect_url, status_code=303)
    remember_login_request(
        response, started.request_id, int(login.REQUEST_LIFETIME.total_seconds())
    )
    return response


@router.post(
    "/{organization_id}/acs",
    dependencies=[ANYONE],
    status_code=303,
    response_class=RedirectResponse,
    responses={303: {"description": "Signed in: to where the sign-in started."}},
)
async def assertion_consumer(
    request: Request, work: WorkDep, organization_id: str = OrganizationPath
) -> Response:
    """Check the IdP's response; on success the same session cookie as a password sign-in."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise InvalidSamlPost(fields=["body"])
    try:
        form = dict(parse_qsl((await request.body()).decode("latin-1"), max_num_fields=16))
    except ValueError:
        raise InvalidSamlPost(fields=["body"]) from None
    request_id = request.cookies.get(REQUEST_COOKIE)
    try:
        return await run_in_threadpool(_finish, work, organization_id, form, request_id)
    except SamlRefused:  # audited with its reason by the service; the client learns no more
        if _wants_page(request):
            return RedirectResponse("/sign-in?notice=sso_refused", status_code=303)
        raise


def _finish(
    work: WorkDep, organization_id: str, form: dict[str, str], request_id: str | None
) -> Response:
    with work.write() as ctx:
        done = login.finish(ctx, organization_id, form, request_id)
    response = RedirectResponse(done.return_to, status_code=303)
    set_session_cookie(response, done.issued)
    forget_login_request(response)
    return response


@router.get(
    "/{organization_id}/metadata",
    dependencies=[ANYONE],
    response_class=Response,
    responses={200: {"content": {METADATA_TYPE: {"schema": {"type": "string"}}}}},
)
def metadata(work: WorkDep, organization_id: str = OrganizationPath) -> Response:
    """The SP metadata to give the IdP (entity id, ACS, signing certificate)."""
    with work.read() as ctx:
        row = configuration.find(ctx, organization_id)
        if row is None:
            raise SsoNotConfigured()
        xml = sp_metadata(configuration.service_provider(ctx, row))
    return Response(xml, media_type=METADATA_TYPE)
