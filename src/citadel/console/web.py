"""The console's edge: who is visiting, their forms and CSRF token, and rendering pages.

The session is the API's own (`citadel.web`: same cookie, same session check, same CSRF token
derived from it). A form post without that token, or from another origin, is refused with 403
before any service runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import BaseModel, ValidationError

from citadel.authn.principal import Caller, Principal, PrincipalKind
from citadel.authz.decide import Coverage, Target, decide
from citadel.authz.permissions import Permission
from citadel.authz.roles import ScopeKind
from citadel.console.form_tokens import FIELD as ONCE_FIELD
from citadel.console.form_tokens import SpentFormTokens, new_token, well_formed
from citadel.deployments.models import Deployment
from citadel.errors import BadRequest, CitadelError, TooManyRequests
from citadel.members.service import default_organization
from citadel.orgs.models import Organization
from citadel.orgs.service import list_organizations
from citadel.signin.errors import CsrfFailed
from citadel.web.cookies import (
    SAML_REQUEST_COOKIE,
    SESSION_COOKIE,
    remember_login_request,
)
from citadel.web.session import (
    cross_origin,
    csrf_matches,
    session_csrf_token,
    session_principal,
)
from citadel.web.work import Work, services_of

__all__ = [  # re-exported for the pages
    "SAML_REQUEST_COOKIE",
    "SESSION_COOKIE",
    "remember_login_request",
    "services_of",
]

ORG_COOKIE = "__Host-citadel_org"  # the organization picked in the header (a preference only)
CSRF_FIELD = "csrf_token"
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)
PAGE_HEADERS = {"content-security-policy": CSP}
"""What every console page adds; `no-store` and the other security headers come from the
request middleware, on every response of the control plane."""
STATIC_DIR = Path(__file__).parent / "static"

# Messages shown after a redirect; the URL carries only the key, never user text.
NOTICES = {
    "signed_out": "You are signed out.",
    "expired": "Your session has ended. Sign in again.",
    "joined": "You joined the organization. Sign in to continue.",
    "deployment_shutdown": "The deployment is shutting down.",
    "deployment_deleted": "The deployment was deleted.",
    "deployment_rekeyed": "The deployment's data key is now wrapped by the key shown below.",
    "ruleset_updated": "The traffic filter was saved.",
    "ruleset_deleted": "The traffic filter was deleted.",
    "associated": "The traffic filter now applies to the deployment.",
    "disassociated": "The traffic filter no longer applies to the deployment.",
    "link_claimed": "The link id is claimed: no other organization's filter admits it.",
    "link_already_claimed": "The organization had already claimed that link id.",
    "link_unclaimed": "The link id is no longer claimed.",
    "invitation_revoked": "The invitation was revoked.",
    "member_removed": "The member was removed.",
    "roles_changed": "The roles were changed.",
    "second_factor_reset": "Their second factor was reset: they enrol again at their next "
    "sign-in, and their sessions have ended.",
    "key_revoked": "The API key was revoked.",
    "key_already_created": "That form was already sent: the key was created then, and its "
    "secret shown only that once. If it was not copied, revoke the key and create another.",
    "invitations_already_sent": "That form was already sent: the invitations were made then, "
    "and their links shown only that once. Use Resend for a new link.",
    "sso_refused": "Single sign-on did not complete: the identity provider's answer was refused. "
    "Try again, or ask an Organization owner to check the SSO settings.",
    "sso_unknown_prefix": "No organization signs in with that SSO login prefix.",
    "domain_added": "The domain was added. Publish its TXT record, then verify it.",
    "domain_verified": "The domain is verified.",
    "domain_removed": "The domain claim was removed.",
    "sso_configured": "The identity provider was saved.",
    "sso_removed": "The SSO configuration was removed.",
    "mapping_created": "The role mapping was added.",
    "mapping_deleted": "The role mapping was deleted.",
    "sso_enforced": "SSO is enforced: members sign in through the identity provider.",
    "sso_not_enforced": "SSO is no longer enforced.",
    "organization_switched": "The console now shows this organization.",
    "passkey_added": "The passkey was added: use it in place of a code when you sign in.",
    "passkey_renamed": "The passkey was renamed.",
    "passkey_removed": "The passkey was removed.",
    "project_deleted": "The project is being deleted.",
    "project_resumed": "The project is starting.",
    "project_already_created": "That form was already sent: the project was created then, and "
    "its password shown only that once. Reset the credentials on its page for a new one.",
    "credentials_already_reset": "That form was already sent: the password was reset then and "
    "shown only that once. Reset it again for a new one.",
    "project_filter_attached": "The traffic filter now applies to the project.",
    "project_filter_detached": "The traffic filter no longer applies to the project.",
}


class Redirect(Exception):
    """Leave the page for another (sign-in when the session ended, enrolment first)."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


@dataclass(frozen=True)
class Visitor(Work):
    """Who is looking at the console: their session, organization and CSRF token; like an API
    route's `Work`, it opens the units of work (`read()`, `write()`) for them."""

    csrf: str | None = None
    organization_name: str | None = field(default=None, compare=False)
    organizations: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    @property
    def principal(self) -> Principal | None:
        return self.caller.principal

    @property
    def email(self) -> str | None:
        return self.principal.email if self.principal else None

    @property
    def user_id(self) -> str | None:
        return self.principal.user_id if self.principal else None

    def may(
        self,
        permission: str,
        kind: str | None = None,
        resource_id: str | None = None,
        coverage: str = "one",
    ) -> bool:
        """Whether the visitor's roles allow `permission` (templates use it to hide controls;
        the services decide again, the same way)."""
        if self.organization_id is None:
            return False
        scope = ScopeKind(kind) if kind else ScopeKind.ORGANIZATION
        target = Target(self.organization_id, scope, resource_id, Coverage(coverage))
        return bool(decide(self.caller.subject, Permission(permission), target))


def org_of(visitor: Visitor) -> str:
    """The visitor's organization (a user in none sees nothing)."""
    return visitor.organization


def anonymous(request: Request) -> Visitor:
    """A visitor without a session (sign-in, invitation pages)."""
    state = request.state
    return Visitor(services_of(request), Caller(None, state.source_ip, state.request_id))


def _visitor(request: Request, *, allow_enrollment: bool) -> Visitor:
    services = services_of(request)
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise Redirect(sign_in_url(request, None))
    state = request.state
    principal = session_principal(services, token, via_cookie=True)
    if principal is None or principal.kind is not PrincipalKind.USER:
        raise Redirect(sign_in_url(request, "expired"))
    caller = Caller(principal, state.source_ip, state.request_id)
    with services.db.read() as session:
        listed = list_organizations(services.context(session, caller))
        organizations = tuple((o.id, o.name) for o in listed)
        org = chosen_organization(
            request.cookies.get(ORG_COOKIE),
            principal.subject.organization_ids,
            default_organization(session, principal.user_id or ""),
        )
        row = session.get(Organization, org) if org is not None else None
        org_name = row.name if row else None
    if principal.mfa_enrollment_only and not allow_enrollment:
        raise Redirect("/enrol")
    state.caller = caller
    state.visitor = Visitor(
        services, caller, org, session_csrf_token(services, token), org_name, organizations
    )
    return state.visitor


def chosen_organization(
    cookie: str | None, memberships: frozenset[str], first: str | None
) -> str | None:
    """The organization the console shows: the one the visitor picked (the `ORG_COOKIE`) if
    they are a member of it now, else the one they joined first. The cookie is never trusted:
    a stale or foreign id falls back."""
    if cookie and cookie in memberships:
        return cookie
    return first


def sign_in_url(request: Request, notice: str | None) -> str:
    """The sign-in page, coming back here afterwards (a local path only)."""
    params = {}
    if notice:
        params["notice"] = notice
    if request.method == "GET" and request.url.path not in ("/", "/sign-in"):
        params["next"] = request.url.path
    return "/sign-in" + (f"?{urlencode(params)}" if params else "")


def signed_in_visitor(request: Request) -> Visitor:
    """The signed-in visitor with a full session, else a redirect to sign in (or enrol)."""
    return _visitor(request, allow_enrollment=False)


def enrolling_visitor(request: Request) -> Visitor:
    """A signed-in visitor whose session may be one that can only enrol a second factor."""
    return _visitor(request, allow_enrollment=True)


SignedIn = Annotated[Visitor, Depends(signed_in_visitor)]
Enrolling = Annotated[Visitor, Depends(enrolling_visitor)]


class Form:
    """A posted urlencoded form: single values and repeated ones."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def get(self, name: str, default: str = "") -> str:
        for key, value in self.pairs:
            if key == name:
                return value
        return default

    def text(self, name: str) -> str | None:
        """The trimmed value, or None when empty."""
        value = self.get(name).strip()
        return value or None

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.pairs if k == name and v]

    def flag(self, name: str) -> bool:
        return self.get(name) in ("on", "true", "1")

    def values(self) -> dict[str, str]:
        """Single values, to fill a form again after an error (never passwords or codes)."""
        hidden = {"password", "totp_code", "code", CSRF_FIELD, ONCE_FIELD}
        return {k: v for k, v in self.pairs if k not in hidden}


async def read_form(request: Request) -> Form:
    """The body of a form post (application/x-www-form-urlencoded)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise BadRequest("Send the form as application/x-www-form-urlencoded.")
    body = (await request.body()).decode("utf-8", errors="replace")
    pairs = parse_qsl(body, keep_blank_values=True, max_num_fields=2000)
    if any("\x00" in k or "\x00" in v for k, v in pairs):
        raise BadRequest("The form must not contain NUL characters.")
    return Form(pairs)


def _checked(request: Request, form: Form, expected: str | None) -> None:
    if not csrf_matches(expected, form.get(CSRF_FIELD)):
        raise CsrfFailed("The form is missing its security token; reload the page and retry.")
    if cross_origin(request):
        raise CsrfFailed("Cross-origin form posts are refused.")


def check_session_form(request: Request, form: Form) -> None:
    """Refuse a form that does not carry the session's CSRF token (or comes from elsewhere)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise Redirect(sign_in_url(request, "expired"))
    _checked(request, form, session_csrf_token(services_of(request), token))


async def posted_form(request: Request) -> Form:
    """A form posted by the signed-in visitor, with the session's CSRF token checked."""
    form = await read_form(request)
    check_session_form(request, form)
    return form


PostedForm = Annotated[Form, Depends(posted_form)]
AnyForm = Annotated[Form, Depends(read_form)]


def spent_form_tokens(request: Request) -> SpentFormTokens:
    """The one-time form tokens this process has seen (`console.app.install` makes the set)."""
    return request.app.state.console_form_tokens


@contextmanager
def once(request: Request, visitor: Visitor, form: Form) -> Iterator[None]:
    """Act on a form that mints a secret only the first time its one-time token is posted;
    a repeat raises `form_tokens.AlreadySubmitted` (see `citadel.console.form_tokens`)."""
    token = form.get(ONCE_FIELD)
    if not well_formed(token):  # not sent by our form (a script): nothing to repeat
        token = new_token()
    spent = spent_form_tokens(request)
    with spent.spend(visitor.user_id or "", token, visitor.services.clock.now()):
        yield


def parse(model: type[BaseModel], data: dict[str, Any]) -> Any:
    """Build a service input model; invalid input is a 400 naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        if not errors:
            raise BadRequest("form: invalid") from None
        where = ".".join(str(p) for p in errors[0]["loc"])
        raise BadRequest(
            f"{where or 'form'}: {errors[0]['msg']}", fields=[where] if where else []
        ) from None


# --- rendering ---------------------------------------------------------------------------

SHORT_ID_LENGTH = 6


def short_id(resource_id: str) -> str:
    """The first characters of an id: enough to tell apart deployments that share a name."""
    return resource_id[:SHORT_ID_LENGTH]


def deployment_labels(rows: Iterable[Deployment]) -> dict[str, str]:
    """Each deployment's name with its short id, `logs (3f9a1c)`, for pickers and scopes."""
    return {d.id: f"{d.name} ({short_id(d.id)})" for d in rows}


def _when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.strftime("%Y-%m-%d %H:%M UTC")


_env = Environment(
    loader=PackageLoader("citadel.console", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["when"] = _when
_env.filters["short_id"] = short_id
_env.globals["once_token"] = new_token  # each form that mints a secret gets its own


def page(
    request: Request,
    visitor: Visitor | None,
    template: str,
    *,
    status: int = 200,
    **values: Any,
) -> HTMLResponse:
    """Render a template as a page, with the security headers."""
    failed = values.get("error") or values.get("lockout")
    if isinstance(failed, CitadelError):
        request.state.console_error = failed  # audited by the route (`routing.ConsoleRoute`)
    notice = NOTICES.get(request.query_params.get("notice", ""))
    body = _env.get_template(template).render(
        me=visitor if visitor and visitor.principal else None,
        csrf=visitor.csrf if visitor else None,
        notice=notice,
        path=request.url.path,
        **values,
    )
    headers = dict(PAGE_HEADERS)
    if isinstance(failed, TooManyRequests):  # a throttled sign-in says when to come back
        headers["Retry-After"] = str(failed.retry_after)
    return HTMLResponse(body, status_code=status, headers=headers)


def redirect(location: str, notice: str | None = None) -> RedirectResponse:
    """See-other to a local page, with a notice key."""
    if notice:
        sep = "&" if "?" in location else "?"
        location = f"{location}{sep}notice={notice}"
    return RedirectResponse(location, status_code=303, headers=PAGE_HEADERS)


def failure_page(request: Request, visitor: Visitor | None, exc: CitadelError) -> Response:
    """A service error as a page with its status (never a 500)."""
    return page(request, visitor, "error.html", status=exc.status, error=exc)
