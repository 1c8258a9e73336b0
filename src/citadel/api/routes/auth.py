"""Sign-in routes: login, logout, who am I, TOTP enrolment."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from citadel.api.deps import WorkDep, public, signed_in
from citadel.api.openapi import errors
from citadel.authn.principal import PrincipalKind
from citadel.kit.schema import EmptyOut
from citadel.signin import service
from citadel.signin.schemas import (
    AuthenticationInfoOut,
    LoginIn,
    PasswordChangeIn,
    SecondFactorIn,
    TokenOut,
    TotpCodeIn,
    TotpEnabledOut,
    TotpEnrollmentOut,
)
from citadel.use_cases import signin as use_cases
from citadel.users.models import User
from citadel.web.cookies import SESSION_COOKIE, clear_session_cookie, set_session_cookie
from citadel.web.passkeys import relying_party_of

router = APIRouter(tags=["authentication"])


@router.post(
    "/users/auth/_login", dependencies=[public(read_credentials=False)], responses=errors(429)
)
def login(body: LoginIn, request: Request, response: Response, work: WorkDep) -> TokenOut:
    """Email, password and TOTP code in; a bearer token (and session cookie) out."""
    issued = use_cases.sign_in(work, work.services.mailer, body, rp=relying_party_of(request))
    set_session_cookie(response, issued)
    return TokenOut(
        token=issued.token,
        session_expiration_time=issued.row.expires_at,
        mfa_enrollment_required=issued.row.mfa_enrollment_only,
        csrf_token=issued.csrf_token,
    )


@router.post("/users/auth/_logout", dependencies=[signed_in(allow_enrollment=True)])
def logout(response: Response, work: WorkDep) -> EmptyOut:
    """End this session."""
    with work.write() as ctx:
        service.sign_out(ctx)
    clear_session_cookie(response)
    return EmptyOut()


@router.get("/users/auth", dependencies=[signed_in(allow_enrollment=True)])
def who_am_i(request: Request, work: WorkDep) -> AuthenticationInfoOut:
    """Who you are signed in as, and until when."""
    principal = work.caller.principal
    assert principal is not None
    has_totp = None
    if principal.kind is PrincipalKind.USER:
        with work.read() as ctx:
            user = ctx.session.get(User, principal.user_id)
            has_totp = bool(user and user.has_totp)
    cookie = request.cookies.get(SESSION_COOKIE) if principal.via_cookie else None
    return AuthenticationInfoOut(
        has_elevated_permissions=False,
        refresh_token_url="",
        has_totp_device=has_totp,
        expires_at=principal.expires_at,
        credential_type=str(principal.kind),
        credential_id=principal.credential_id,
        user_id=principal.user_id,
        email=principal.email,
        organization_ids=sorted(principal.subject.organization_ids),
        mfa_enrollment_required=principal.mfa_enrollment_only,
        csrf_token=service.csrf_token(work.services.keyring, cookie) if cookie else None,
    )


@router.post("/users/auth/mfa/totp", dependencies=[signed_in(allow_enrollment=True)])
def start_totp(work: WorkDep) -> TotpEnrollmentOut:
    """Begin TOTP enrolment: a new seed to put in your authenticator app."""
    with work.write() as ctx:
        secret, uri = service.start_totp_enrollment(ctx)
    return TotpEnrollmentOut(secret=secret, otpauth_uri=uri)


@router.post("/users/auth/mfa/totp/_confirm", dependencies=[signed_in(allow_enrollment=True)])
def confirm_totp(body: TotpCodeIn, work: WorkDep) -> TotpEnabledOut:
    """Finish enrolment with a current code; returns recovery codes, shown this once."""
    with work.write() as ctx:
        codes = service.confirm_totp_enrollment(ctx, body.code)
    return TotpEnabledOut(recovery_codes=codes)


@router.post("/users/auth/mfa/recovery_codes/_regenerate", dependencies=[signed_in()])
def regenerate_recovery_codes(body: SecondFactorIn, work: WorkDep) -> TotpEnabledOut:
    """New recovery codes, shown this once (the old ones stop working), after a current TOTP
    code or one of the old recovery codes."""
    with work.write() as ctx:
        codes = service.regenerate_recovery_codes(ctx, body.code)
    return TotpEnabledOut(recovery_codes=codes)


@router.post("/users/auth/_password", dependencies=[signed_in()])
def set_password(body: PasswordChangeIn, work: WorkDep) -> EmptyOut:
    """Set your password (ends your other sessions). After an SSO sign-in invalidated it, an
    SSO session may set a new one without the old."""
    with work.write() as ctx:
        service.set_password(ctx, body.current_password, body.new_password)
    return EmptyOut()
