"""Errors of signing in. Every credential failure looks the same to the caller."""

from citadel.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unauthenticated,
)


class InvalidCredentials(Unauthenticated):
    code = "root.unauthenticated"
    default_message = (
        "The email, password or second factor is not valid. Once an authenticator app is set "
        "up, give its code (or a recovery code) with the password."
    )
    keeps_writes = True  # the failure is counted and audited


class SignInThrottled(TooManyRequests):
    code = "auth.too_many_attempts"
    default_message = "Too many failed sign-ins; wait before trying again."
    keeps_writes = True


class MfaEnrollmentRequired(Forbidden):
    code = "auth.mfa_enrollment_required"
    default_message = "Enrol a second factor before doing anything else."


class MfaAlreadyEnrolled(Conflict):
    code = "auth.mfa_already_enrolled"
    default_message = "A second factor is already enrolled."


class NoPendingEnrollment(Conflict):
    code = "auth.no_pending_enrollment"
    default_message = "Start the enrolment first."


class InvalidMfaCode(Unauthenticated):
    code = "auth.invalid_mfa_code"
    default_message = "The code is not valid."
    keeps_writes = True


class CsrfFailed(Forbidden):
    code = "auth.csrf_failed"
    default_message = "Cookie-authenticated changes need the X-CSRF-Token header of the session."


class SsoRequired(Forbidden):
    code = "auth.sso_required"
    default_message = (
        "Your organization requires single sign-on: sign in through its SSO login URL "
        "(password and second-factor sign-in are turned off for its members)."
    )
    keeps_writes = True


class InvalidPasskey(BadRequest):
    code = "auth.invalid_passkey"
    default_message = (
        "The passkey's answer was refused (an unknown, used or expired challenge, another "
        "site's origin or relying party, or a bad signature). Try again."
    )
    keeps_writes = True  # the spent challenge and the refusal's audit event stay


class PasskeyNotFound(NotFound):
    code = "auth.passkey_not_found"
    default_message = "You have no passkey with that id."


class LastSecondFactor(Conflict):
    code = "auth.last_second_factor"
    default_message = (
        "This is your only second factor: set up an authenticator app before removing it."
    )
