"""An organization's key managers (our addition to the Cloud API): where its customer-managed
keys live and how to reach them. The credential is write-only."""

from __future__ import annotations

from fastapi import APIRouter, Path

from citadel.api.deps import OrgId, WorkDep, permitted
from citadel.authz.permissions import Permission
from citadel.key_managers import service
from citadel.key_managers.schemas import (
    KeyManagerIn,
    KeyManagerOut,
    KeyManagersOut,
    KeyManagerUpdateIn,
    manager_info,
)
from citadel.kit.schema import EmptyOut

router = APIRouter(prefix="/organizations/{organization_id}/key-managers", tags=["key managers"])
MANAGE = permitted(Permission.KEY_MANAGERS_MANAGE)
ManagerId = Path(max_length=32, description="The key manager's id.")


@router.get("", dependencies=[MANAGE])
def list_key_managers(work: WorkDep, organization_id: str = OrgId) -> KeyManagersOut:
    with work.read() as ctx:
        rows = service.list_managers(ctx, organization_id)
        return KeyManagersOut(key_managers=[manager_info(r) for r in rows])


@router.post("", status_code=201, dependencies=[MANAGE])
def create_key_manager(
    body: KeyManagerIn, work: WorkDep, organization_id: str = OrgId
) -> KeyManagerOut:
    """Configure a key manager; `secret` (PIN, token, client key, secret access key) is sealed
    and never shown again."""
    with work.write() as ctx:
        return manager_info(service.create_manager(ctx, organization_id, body))


@router.get("/{key_manager_id}", dependencies=[MANAGE])
def get_key_manager(
    work: WorkDep, organization_id: str = OrgId, key_manager_id: str = ManagerId
) -> KeyManagerOut:
    with work.read() as ctx:
        return manager_info(service.get_manager(ctx, organization_id, key_manager_id))


@router.put("/{key_manager_id}", dependencies=[MANAGE])
def update_key_manager(
    body: KeyManagerUpdateIn,
    work: WorkDep,
    organization_id: str = OrgId,
    key_manager_id: str = ManagerId,
) -> KeyManagerOut:
    """Change the name, settings or credential (the fields given replace the stored ones)."""
    with work.write() as ctx:
        row = service.update_manager(ctx, organization_id, key_manager_id, body)
        return manager_info(row)


@router.delete("/{key_manager_id}", dependencies=[MANAGE])
def delete_key_manager(
    work: WorkDep, organization_id: str = OrgId, key_manager_id: str = ManagerId
) -> EmptyOut:
    """Remove a key manager no deployment's key lives in (409 otherwise)."""
    with work.write() as ctx:
        service.delete_manager(ctx, organization_id, key_manager_id)
    return EmptyOut()
