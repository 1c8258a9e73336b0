"""Network security: traffic-filter rulesets (IP and private link), their associations and
version history, the lockout warning before a change that would block the visitor, and the
platform's static IPs per region."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from citadel.console.routing import console_router
from citadel.console.web import (
    Form,
    PostedForm,
    SignedIn,
    Visitor,
    deployment_labels,
    org_of,
    page,
    parse,
    redirect,
)
from citadel.deployments import service as deployments
from citadel.errors import CitadelError
from citadel.traffic_filters import service
from citadel.traffic_filters.errors import WouldBlockCaller
from citadel.traffic_filters.rules import AZURE, TYPES
from citadel.traffic_filters.schemas import AssociationIn, ClaimIn, RulesetIn
from citadel.traffic_filters.service import Guard

router = console_router()
VENDOR_LABELS = {"aws": "AWS PrivateLink", "azure": "Azure Private Link", "gcp": "GCP PSC"}
TYPE_LABELS = {
    "ip": "IP addresses",
    "vpce": "AWS PrivateLink (VPC endpoint)",
    "azure_private_endpoint": "Azure Private Link",
    "gcp_private_service_connect_endpoint": "GCP Private Service Connect",
}


def _guard(visitor: Visitor, *, validate_only: bool = False, force: bool = False) -> Guard:
    return Guard(validate_only, force, visitor.services.recent_clients.current())


def static_ips(visitor: Visitor) -> dict[str, dict[str, list[str]]]:
    """Per region, the published ingress and egress addresses (as `GET /platform/static-ips`)."""
    settings = visitor.services.settings
    out = {}
    for region in settings.regions:
        configured = settings.static_ips.get(region)
        out[region] = {
            "ingress": list(configured.ingress) if configured else [],
            "egress": list(configured.egress) if configured else [],
        }
    return out


def _overview(request: Request, visitor: Visitor, *, status: int = 200, **extra: Any) -> Response:
    org = org_of(visitor)
    with visitor.read() as ctx:
        rows = service.list_rulesets(ctx, org)
        links = service.associations_of(ctx, org, [r.id for r in rows])
        claims = service.list_claims(ctx, org)
    rulesets = [{"row": r, "seen": links[r.id][0], "total": links[r.id][1]} for r in rows]
    in_use = sum(1 for r in rulesets if r["total"])
    return page(
        request,
        visitor,
        "network.html",
        status=status,
        rulesets=rulesets,
        in_use=in_use,
        labels=TYPE_LABELS,
        static_ips=static_ips(visitor),
        claims=claims,
        vendors=VENDOR_LABELS,
        regions=visitor.services.policies.regions,
        **extra,
    )


@router.get("/network")
def overview(request: Request, visitor: SignedIn) -> Response:
    """Rulesets with their associations ("N of M in use"), the organization's claimed
    private-link ids and the static IPs."""
    return _overview(request, visitor)


def _claim_body(form: Form) -> ClaimIn:
    """`TrafficFilterClaimedLinkIdRequest` from the form (Azure: endpoint name and GUID too)."""
    return parse(
        ClaimIn,
        {
            "region": form.get("region") or "local",
            "link_id": form.text("link_id"),
            "azure_endpoint_name": form.text("azure_endpoint_name"),
            "azure_endpoint_guid": form.text("azure_endpoint_guid"),
        },
    )


@router.post("/network/link-ids/claim")
def claim_link_id(request: Request, visitor: SignedIn, form: PostedForm) -> Response:
    """Own a private-link endpoint id, as `POST …/link-ids/_claim` does: no other
    organization's filter admits it."""
    org = org_of(visitor)
    try:
        body = _claim_body(form)
        with visitor.write() as ctx:
            _, created = service.claim(ctx, org, body)
    except CitadelError as exc:
        return _overview(request, visitor, status=exc.status, error=exc, values=form.values())
    return redirect("/network", "link_claimed" if created else "link_already_claimed")


@router.post("/network/link-ids/unclaim")
def unclaim_link_id(request: Request, visitor: SignedIn, form: PostedForm) -> Response:
    """Give a claimed link id up, as `POST …/link-ids/_unclaim` does."""
    org = org_of(visitor)
    try:
        body = _claim_body(form)
        with visitor.write() as ctx:
            service.unclaim(ctx, org, body)
    except CitadelError as exc:
        return _overview(request, visitor, status=exc.status, error=exc)
    return redirect("/network", "link_unclaimed")


def _rules(kind: str, text: str) -> list[dict[str, str]]:
    """One rule per line: `source [description]`, or `name guid [description]` for Azure."""
    out: list[dict[str, str]] = []
    for line in text.splitlines():
        parts = line.strip().split(None, 2 if kind == AZURE else 1)
        if not parts:
            continue
        rule: dict[str, str] = {}
        if kind == AZURE:
            rule["azure_endpoint_name"] = parts[0]
            rule["azure_endpoint_guid"] = parts[1] if len(parts) > 1 else ""
            rest = parts[2:]
        else:
            rule["source"] = parts[0]
            rest = parts[1:]
        if rest:
            rule["description"] = rest[0]
        out.append(rule)
    return out


def _ruleset_body(form: Form, *, kind: str | None = None, region: str | None = None) -> RulesetIn:
    kind = kind or form.get("type") or "ip"
    return parse(
        RulesetIn,
        {
            "name": form.get("name").strip(),
            "description": form.text("description"),
            "type": kind,
            "region": region or form.get("region") or "local",
            "include_by_default": form.flag("include_by_default"),
            "rules": _rules(kind, form.get("rules")),
        },
    )


def _new_form(request: Request, visitor: Visitor, *, status: int = 200, **values: Any) -> Response:
    return page(
        request,
        visitor,
        "ruleset_new.html",
        status=status,
        types=TYPES,
        labels=TYPE_LABELS,
        regions=visitor.services.policies.regions,
        **values,
    )


@router.get("/network/rulesets/new")
def new_page(request: Request, visitor: SignedIn) -> Response:
    """The create form."""
    return _new_form(request, visitor, values={"type": request.query_params.get("type", "ip")})


@router.post("/network/rulesets")
def create(request: Request, visitor: SignedIn, form: PostedForm) -> Response:
    """Create a ruleset; when it would block the visitor's address, warn and ask first."""
    org = org_of(visitor)
    confirmed = form.flag("confirmed")
    try:
        body = _ruleset_body(form)
        with visitor.write() as ctx:
            if not confirmed:
                check = service.create_ruleset(ctx, org, body, _guard(visitor, validate_only=True))
                if check.report.caller_blocked:
                    return _new_form(
                        request,
                        visitor,
                        values=form.values(),
                        lockout=check.report,
                        address=visitor.caller.source_ip,
                    )
            outcome = service.create_ruleset(ctx, org, body, _guard(visitor))
            assert outcome.ruleset is not None
            ruleset_id = outcome.ruleset.id
    except CitadelError as exc:
        return _new_form(request, visitor, status=exc.status, error=exc, values=form.values())
    return redirect(f"/network/rulesets/{ruleset_id}", "ruleset_updated")


def _detail(
    request: Request, visitor: Visitor, ruleset_id: str, *, status: int = 200, **extra: Any
) -> Response:
    org = org_of(visitor)
    with visitor.read() as ctx:
        row = service.get_ruleset(ctx, org, ruleset_id)
        seen, total = service.associations_of(ctx, org, [row.id])[row.id]
        versions = list(service.history(ctx, org, row.id))
        linked = {a["id"] for a in seen}
        candidates = [
            d
            for d in deployments.list_deployments(ctx, org)
            if d.region == row.region and d.id not in linked
        ]
        names = deployment_labels(deployments.list_deployments(ctx, org))
    rules_text = "\n".join(_rule_line(row.type, r) for r in row.rules)
    return page(
        request,
        visitor,
        "ruleset.html",
        status=status,
        r=row,
        seen=seen,
        total=total,
        names=names,
        candidates=candidates,
        versions=list(reversed(versions)),
        labels=TYPE_LABELS,
        rules_text=extra.pop("rules_text", rules_text),
        **extra,
    )


def _rule_line(kind: str, rule: dict[str, Any]) -> str:
    if kind == AZURE:
        head = f"{rule.get('azure_endpoint_name', '')} {rule.get('azure_endpoint_guid', '')}"
    else:
        head = str(rule.get("source", ""))
    return f"{head} {rule['description']}" if rule.get("description") else head


@router.get("/network/rulesets/{ruleset_id}")
def detail_page(request: Request, visitor: SignedIn, ruleset_id: str) -> Response:
    """One ruleset: its rules (editable), associations and version history."""
    return _detail(request, visitor, ruleset_id[:32])


@router.post("/network/rulesets/{ruleset_id}")
def update(request: Request, visitor: SignedIn, form: PostedForm, ruleset_id: str) -> Response:
    """Replace the ruleset (at the version the form was loaded from)."""
    org = org_of(visitor)
    ruleset_id = ruleset_id[:32]
    version = int(form.get("version")) if form.get("version").isdigit() else None
    try:
        with visitor.read() as ctx:
            current = service.get_ruleset(ctx, org, ruleset_id)
        body = _ruleset_body(form, kind=current.type, region=current.region)
        with visitor.write() as ctx:
            guard = _guard(visitor, force=form.flag("force"))
            service.update_ruleset(ctx, org, ruleset_id, body, guard, expected_version=version)
    except WouldBlockCaller as exc:
        return _detail(
            request,
            visitor,
            ruleset_id,
            lockout=exc,
            lockout_action="update",
            pending=form.values(),
            rules_text=form.get("rules"),
        )
    except CitadelError as exc:
        return _detail(
            request,
            visitor,
            ruleset_id,
            status=exc.status,
            error=exc,
            rules_text=form.get("rules"),
        )
    return redirect(f"/network/rulesets/{ruleset_id}", "ruleset_updated")


@router.post("/network/rulesets/{ruleset_id}/associate")
def associate(request: Request, visitor: SignedIn, form: PostedForm, ruleset_id: str) -> Response:
    """Apply the ruleset to a deployment of its region."""
    org = org_of(visitor)
    ruleset_id = ruleset_id[:32]
    try:
        body = parse(
            AssociationIn, {"entity_type": "deployment", "id": form.get("deployment_id")[:32]}
        )
        with visitor.write() as ctx:
            service.associate(ctx, org, ruleset_id, body, _guard(visitor, force=form.flag("force")))
    except WouldBlockCaller as exc:
        return _detail(
            request,
            visitor,
            ruleset_id,
            lockout=exc,
            lockout_action="associate",
            lockout_deployment=form.get("deployment_id")[:32],
        )
    except CitadelError as exc:
        return _detail(request, visitor, ruleset_id, status=exc.status, error=exc)
    return redirect(f"/network/rulesets/{ruleset_id}", "associated")


@router.post("/network/rulesets/{ruleset_id}/disassociate")
def disassociate(
    request: Request, visitor: SignedIn, form: PostedForm, ruleset_id: str
) -> Response:
    """Remove the ruleset from a deployment (other filters may then block someone)."""
    org = org_of(visitor)
    ruleset_id, deployment_id = ruleset_id[:32], form.get("deployment_id")[:32]
    try:
        with visitor.write() as ctx:
            service.disassociate(
                ctx, org, ruleset_id, "deployment", deployment_id, force=form.flag("force")
            )
    except WouldBlockCaller as exc:
        return _detail(
            request,
            visitor,
            ruleset_id,
            lockout=exc,
            lockout_action="disassociate",
            lockout_deployment=deployment_id,
        )
    except CitadelError as exc:
        return _detail(request, visitor, ruleset_id, status=exc.status, error=exc)
    if form.get("back") == "deployment":
        return redirect(f"/deployments/{deployment_id}", "disassociated")
    return redirect(f"/network/rulesets/{ruleset_id}", "disassociated")


@router.post("/network/rulesets/{ruleset_id}/delete")
def delete(request: Request, visitor: SignedIn, form: PostedForm, ruleset_id: str) -> Response:
    """Delete the ruleset and its associations."""
    org = org_of(visitor)
    ruleset_id = ruleset_id[:32]
    try:
        with visitor.write() as ctx:
            service.delete_ruleset(
                ctx, org, ruleset_id, ignore_associations=True, force=form.flag("force")
            )
    except CitadelError as exc:
        return _detail(request, visitor, ruleset_id, status=exc.status, error=exc)
    return redirect("/network", "ruleset_deleted")
