"""Passkey routes: the sign-in challenge, and adding, listing, renaming and removing the
caller's passkeys (ADR 25)."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request, Response

from citadel.api.deps import WorkDep, public, signed_in
from citadel.api.openapi import errors
from citadel.kit.schema import EmptyOut
from citadel.signin import passkeys
from citadel.signin.passkey_schemas import (
    PasskeyIn,
    PasskeyLoginIn,
    PasskeyOptionsOut,
    PasskeyOut,
    PasskeyRenameIn,
    PasskeysOut,
)
from citadel.signin.passkeys import PasskeyInfo
from citadel.signin.schemas import TokenOut
from citadel.web.cookies import set_session_cookie
from citadel.web.passkeys import relying_party_of

router = APIRouter(tags=["authentication"])
PasskeyId = Path(max_length=32)


def shape(info: PasskeyInfo) -> PasskeyOut:
    return PasskeyOut(
        id=info.id, name=info.name, created_at=info.created_at, last_used_at=info.last_used_at
    )


@router.post("/users/auth/passkeys/_challenge", dependencies=[public(read_credentials=False)])
def sign_in_challenge(request: Request, work: WorkDep) -> PasskeyOptionsOut:
    """Options for `navigator.credentials.get()` before signing in: the same for everyone;
    send the assertion as `passkey_assertion` with the password to `_login`."""
    with work.write() as ctx:
        options = passkeys.sign_in_options(ctx, relying_party_of(request), binding=None)
    return PasskeyOptionsOut(public_key=options)


@router.post(
    "/users/auth/passkeys/_login",
    dependencies=[public(read_credentials=False)],
    responses=errors(429),
)
def passkey_login(
    body: PasskeyLoginIn, request: Request, response: Response, work: WorkDep
) -> TokenOut:
    """Passwordless: a passkey's assertion (with user verification) for a `_challenge`
    challenge signs its owner in; any refusal is the 401 of a wrong password."""
    with work.write() as ctx:
        issued = passkeys.sign_in_with_passkey(
            ctx, relying_party_of(request), body.passkey_assertion, binding=None
        )
    set_session_cookie(response, issued)
    return TokenOut(
        token=issued.token,
        session_expiration_time=issued.row.expires_at,
        mfa_enrollment_required=False,
        csrf_token=issued.csrf_token,
    )


@router.post("/users/auth/passkeys/_options", dependencies=[signed_in()])
def registration_options(request: Request, work: WorkDep) -> PasskeyOptionsOut:
    """Options for `navigator.credentials.create()`: a challenge bound to this session."""
    with work.write() as ctx:
        options = passkeys.registration_options(ctx, relying_party_of(request))
    return PasskeyOptionsOut(public_key=options)


@router.post("/users/auth/passkeys", status_code=201, dependencies=[signed_in()])
def add_passkey(body: PasskeyIn, request: Request, work: WorkDep) -> PasskeyOut:
    """Store the passkey the browser created for the challenge of `_options`."""
    with work.write() as ctx:
        info = passkeys.add_passkey(ctx, relying_party_of(request), body.credential, body.name)
    return shape(info)


@router.get("/users/auth/passkeys", dependencies=[signed_in()])
def list_passkeys(work: WorkDep) -> PasskeysOut:
    """Your passkeys."""
    with work.read() as ctx:
        return PasskeysOut(passkeys=[shape(i) for i in passkeys.list_passkeys(ctx)])


@router.patch("/users/auth/passkeys/{passkey_id}", dependencies=[signed_in()])
def rename_passkey(body: PasskeyRenameIn, work: WorkDep, passkey_id: str = PasskeyId) -> PasskeyOut:
    """Rename one of your passkeys."""
    with work.write() as ctx:
        return shape(passkeys.rename_passkey(ctx, passkey_id, body.name))


@router.delete("/users/auth/passkeys/{passkey_id}", dependencies=[signed_in()])
def remove_passkey(work: WorkDep, passkey_id: str = PasskeyId) -> EmptyOut:
    """Remove one of your passkeys (refused for your last second factor)."""
    with work.write() as ctx:
        passkeys.remove_passkey(ctx, passkey_id)
    return EmptyOut()
