"""Cloud API key routes (the organization is the key's own, or the signed-in user's)."""

from __future__ import annotations

from fastapi import APIRouter, Path

from citadel.api.deps import OrgFrom, WorkDep, permitted
from citadel.api.openapi import errors
from citadel.api_keys import service
from citadel.api_keys.models import ApiKey
from citadel.api_keys.schemas import ApiKeyOut, ApiKeysOut, CreateApiKeyIn, DeleteApiKeysIn
from citadel.authz import assignments
from citadel.authz.permissions import Permission
from citadel.kit.schema import EmptyOut

router = APIRouter(tags=["api keys"])
KeyId = Path(max_length=64)
MANAGE = permitted(Permission.API_KEYS_MANAGE, org_from=OrgFrom.CALLER)


def shape(row: ApiKey, text: str | None = None) -> ApiKeyOut:
    return ApiKeyOut(
        id=row.id,
        description=row.description,
        user_id=row.created_by,
        organization_id=row.organization_id,
        creation_date=row.created_at,
        expiration_date=row.expires_at,
        role_assignments=assignments.to_response(assignments.from_stored(row.role_assignments)),
        last_used_at=row.last_used_at,
        last_used_ip=row.last_used_ip,
        disabled=row.disabled_at is not None,
        key=text,
    )


@router.post("/users/auth/keys", status_code=201, dependencies=[MANAGE])
def create_api_key(body: CreateApiKeyIn, work: WorkDep) -> ApiKeyOut:
    """Mint a key; `key` in this response is the only copy of the secret."""
    org = work.organization
    with work.write() as ctx:
        issued = service.create_api_key(ctx, org, body)
        return shape(issued.row, issued.text)


@router.get("/users/auth/keys", dependencies=[MANAGE])
def list_api_keys(work: WorkDep) -> ApiKeysOut:
    """The organization's unexpired keys (metadata only)."""
    org = work.organization
    with work.read() as ctx:
        return ApiKeysOut(keys=[shape(k) for k in service.list_api_keys(ctx, org)])


@router.delete("/users/auth/keys", dependencies=[MANAGE], responses=errors(404))
def delete_api_keys(body: DeleteApiKeysIn, work: WorkDep) -> EmptyOut:
    """Revoke several keys at once (all or none)."""
    org = work.organization
    with work.write() as ctx:
        service.delete_api_keys(ctx, org, body.keys)
    return EmptyOut()


@router.get("/users/auth/keys/{api_key_id}", dependencies=[MANAGE])
def get_api_key(work: WorkDep, api_key_id: str = KeyId) -> ApiKeyOut:
    """One key's metadata."""
    org = work.organization
    with work.read() as ctx:
        return shape(service.get_api_key(ctx, org, api_key_id))


@router.delete("/users/auth/keys/{api_key_id}", dependencies=[MANAGE])
def delete_api_key(work: WorkDep, api_key_id: str = KeyId) -> EmptyOut:
    """Revoke one key; it stops working on the next request."""
    org = work.organization
    with work.write() as ctx:
        service.delete_api_keys(ctx, org, [api_key_id])
    return EmptyOut()
