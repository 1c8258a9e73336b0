"""Domain claims of an organization (inventory 8.2; the routes are our addition): add a
domain, publish its code as a TXT record, verify. Organization owners only."""

from __future__ import annotations

from fastapi import APIRouter, Path

from citadel.api.deps import OrgId, WorkDep, permitted
from citadel.api.openapi import errors
from citadel.authz.permissions import Permission
from citadel.domains import service
from citadel.domains.schemas import DomainIn, DomainOut, DomainsOut, domain_info
from citadel.kit.schema import EmptyOut
from citadel.use_cases import domains as use_cases

router = APIRouter(prefix="/organizations/{organization_id}/domains", tags=["domains"])
MANAGE = permitted(Permission.DOMAINS_MANAGE)
Domain = Path(max_length=300, description="The claimed domain (example.com).")


@router.get("", dependencies=[MANAGE])
def list_domains(work: WorkDep, organization_id: str = OrgId) -> DomainsOut:
    with work.read() as ctx:
        return DomainsOut(
            domains=[domain_info(r) for r in service.list_domains(ctx, organization_id)]
        )


@router.post("", status_code=201, dependencies=[MANAGE])
def add_domain(body: DomainIn, work: WorkDep, organization_id: str = OrgId) -> DomainOut:
    """Claim a domain: pending, with the TXT record to publish at
    `_citadel_domain_challenge.<domain>`."""
    with work.write() as ctx:
        return domain_info(service.add_domain(ctx, organization_id, body))


@router.get("/{domain}", dependencies=[MANAGE])
def get_domain(work: WorkDep, organization_id: str = OrgId, domain: str = Domain) -> DomainOut:
    with work.read() as ctx:
        return domain_info(service.get_domain(ctx, organization_id, domain))


@router.post("/{domain}/_verify", dependencies=[MANAGE], responses=errors(503))
def verify_domain(work: WorkDep, organization_id: str = OrgId, domain: str = Domain) -> DomainOut:
    """Look for the code in DNS; 400 says why it was not found, 503 that DNS did not answer."""
    return domain_info(use_cases.verify_domain(work, organization_id, domain))


@router.delete("/{domain}", dependencies=[MANAGE])
def remove_domain(work: WorkDep, organization_id: str = OrgId, domain: str = Domain) -> EmptyOut:
    """Drop the claim, pending or verified."""
    with work.write() as ctx:
        service.remove_domain(ctx, organization_id, domain)
    return EmptyOut()
