"""Errors about user accounts."""

from citadel.errors import BadRequest, NotFound


class UserNotFound(NotFound):
    code = "user.not_found"
    default_message = "The user could not be found."


class WeakPassword(BadRequest):
    code = "user.invalid_password"


class InvalidEmailAddress(BadRequest):
    code = "user.invalid_email"
    default_message = "The email address is not valid."
