"""Errors of signing in. Every credential failure looks the same to the caller."""

from citadel.errors import Conflict, Forbidden, TooManyRequests, Unauthenticated


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
