"""Tenant rows are read through their organization, in one place.

Every table with an `organization_id` column holds one organization's data. A service selects
such rows with `scoped(Model, org, ...)`, counts them with `scoped_count`, fetches one by key
with `owned(session, Model, org, key)`, and narrows any other statement (a join, a select of
columns, an update or a delete) with `in_organization(Model, org)` — never with a hand-written
`Model.organization_id == org` — so a query cannot forget its organization, and another
organization's row answers exactly like a missing one. The rare check that must look at the
other organizations (is this name taken elsewhere?) says so with `outside_organization`.
`tests/unit/test_tenant_filters.py` fails for a hand-written comparison anywhere else.
"""

from __future__ import annotations

from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from citadel.db.base import Base

T = TypeVar("T", bound=Base)


def _organization_column(model: type[Base]) -> Any:
    column = getattr(model, "organization_id", None)
    if column is None:  # a programming error, raised at once
        raise TypeError(f"{model.__name__} has no organization_id: it is not tenant data")
    return column


def in_organization(model: type[Base], organization_id: str) -> sa.ColumnElement[bool]:
    """The criterion `model.organization_id = organization_id`."""
    criterion: sa.ColumnElement[bool] = _organization_column(model) == organization_id
    return criterion


def outside_organization(model: type[Base], organization_id: str) -> sa.ColumnElement[bool]:
    """The criterion `model.organization_id != organization_id`: only for the few checks that
    must see other organizations' rows (a login prefix or a link id taken elsewhere)."""
    criterion: sa.ColumnElement[bool] = _organization_column(model) != organization_id
    return criterion


def scoped(model: type[T], organization_id: str, *criteria: Any) -> sa.Select[T]:
    """`SELECT model` of one organization's rows, narrowed further by `criteria`."""
    return sa.select(model).where(in_organization(model, organization_id), *criteria)


def scoped_count(model: type[Base], organization_id: str, *criteria: Any) -> sa.Select[int]:
    """`SELECT count(*)` of one organization's rows of `model` matching `criteria`."""
    return (
        sa.select(sa.func.count())
        .select_from(model)
        .where(in_organization(model, organization_id), *criteria)
    )


def owned(session: Session, model: type[T], organization_id: str, key: Any) -> T | None:
    """The row with primary key `key` if it belongs to the organization, else None."""
    _organization_column(model)
    row = session.get(model, key)
    if row is None or getattr(row, "organization_id", None) != organization_id:
        return None
    return row
