"""The unit of work of one request: the caller, the organization the access check decided
on, and transactions that carry both."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from citadel.authn.context import Context
from citadel.authn.principal import Caller
from citadel.bootstrap import Services
from citadel.errors import NotFound


def services_of(request: HTTPConnection) -> Services:
    """The process's services (`citadel.bootstrap.build`), kept on the application."""
    services: Services = request.app.state.services
    return services


@dataclass(frozen=True)
class Work:
    """Opens units of work for a request's caller; the block's end commits.

    `organization_id` is the organization the access check decided on (the path's, a key's
    own, or the signed-in user's choice), so an edge never works it out a second time.
    """

    services: Services
    caller: Caller
    organization_id: str | None = None

    @property
    def organization(self) -> str:
        """The organization the request acts in; a caller in none has nothing to act on."""
        if self.organization_id is None:
            raise NotFound("You are not a member of any organization.")
        return self.organization_id

    @contextmanager
    def write(self) -> Iterator[Context]:
        """A write transaction for this caller; it commits when the block ends."""
        with self.services.db.write() as session:
            yield self.services.context(session, self.caller)

    @contextmanager
    def read(self) -> Iterator[Context]:
        """A read-only transaction for this caller."""
        with self.services.db.read() as session:
            yield self.services.context(session, self.caller)
