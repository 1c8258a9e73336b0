"""Errors about serverless projects (`projects.*`)."""

from citadel.errors import BadRequest, CitadelError, Conflict, NotFound


class ProjectNotFound(NotFound):
    """Unknown, of another type, of another organization, or not readable by the caller: all
    answer the same."""

    code = "projects.not_found"
    default_message = "The project could not be found."


class InvalidProject(BadRequest):
    code = "projects.invalid"
    default_message = "The project request is invalid."


class AliasTaken(Conflict):
    code = "projects.alias_taken"
    default_message = "Another project in this region already uses this alias."


class EtagMismatch(CitadelError):
    """`If-Match` names a revision the project no longer has (412)."""

    code = "projects.etag_mismatch"
    status = 412
    default_message = "The project has changed since this ETag was read; read it again."


class WrongPhase(Conflict):
    code = "projects.wrong_phase"
    default_message = "The project cannot do this in its current phase."


class RegionNotFound(NotFound):
    code = "projects.region_not_found"
    default_message = "The region could not be found."
