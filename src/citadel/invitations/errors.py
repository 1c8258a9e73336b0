"""Errors about invitations."""

from citadel.errors import BadRequest, CitadelError, Forbidden, NotFound, TooManyRequests


class InvitationNotFound(NotFound):
    code = "organization.invitation_not_found"
    default_message = "The invitation could not be found."


class InvitationExpired(CitadelError):
    code = "organization.invitation_expired"
    status = 410
    default_message = "The invitation has expired; ask for a new one."


class InvalidInvitationEmail(BadRequest):
    code = "organization.invitation_invalid_email"
    default_message = "The email address is not valid."


class InvalidInvitationInput(BadRequest):
    code = "organization.invitation_invalid_input"


class AlreadyMember(BadRequest):
    code = "organization.user_organization_already_belongs"
    default_message = "This person already belongs to the organization."


class SignInToAccept(Forbidden):
    code = "root.invalid_authentication"
    default_message = "Sign in as the invited person to accept this invitation."


class InvitationsRateLimited(TooManyRequests):
    code = "organization.invitations_rate_limit_exceeded"
    default_message = "Too many invitations sent recently; try again later."


class EmailNotProven(Forbidden):
    code = "organization.invitation_email_not_proven"
    default_message = (
        "Accepting as a new account needs the code from the invitation email: open the link "
        "that was sent to the invited address."
    )
    keeps_writes = True  # the refusal is audited in the organization's chain
