"""The pure parts of traffic filters: checking rulesets and claims, compiling rules into the
gateway's sources, and judging what a change would block (the lockout guard)."""

from __future__ import annotations

from typing import Any

import pytest

from citadel.traffic_filters import lockout, rules
from citadel.traffic_filters.clients import RecentClients, SeenClient
from citadel.traffic_filters.errors import InvalidClaim, InvalidRuleset
from citadel.traffic_filters.matching import RulesetRules
from citadel.traffic_filters.schemas import ClaimIn, RulesetIn

REGIONS = ("local", "elsewhere")
GUID = "7c0f05e4-e32b-4b10-a246-7b77f7dcc63c"
NO_CLAIMS = rules.ClaimView({}, frozenset())


def ruleset(kind: str = "ip", *rule_list: dict[str, Any], **changes: Any) -> RulesetIn:
    body = {
        "name": "n",
        "type": kind,
        "region": "local",
        "include_by_default": False,
        "rules": list(rule_list),
    }
    return RulesetIn.model_validate(body | changes)


def src(value: str) -> dict[str, str]:
    return {"source": value}


def azure(name: str = "azure-demo", guid: str = GUID) -> dict[str, str]:
    return {"azure_endpoint_name": name, "azure_endpoint_guid": guid}


# --- check_ruleset ---------------------------------------------------------------------------

VALID = [
    ("ipv4", ruleset("ip", src("192.0.2.1")), [{"source": "192.0.2.1"}]),
    ("ipv4 cidr", ruleset("ip", src("10.0.0.0/8")), [{"source": "10.0.0.0/8"}]),
    ("host bits kept", ruleset("ip", src("192.168.132.6/22")), [{"source": "192.168.132.6/22"}]),
    ("ipv6", ruleset("ip", src("2001:db8::/32")), [{"source": "2001:db8::/32"}]),
    ("ipv6 all", ruleset("ip", src("::/0")), [{"source": "::/0"}]),
    (
        "description kept",
        ruleset("ip", {"source": "10.0.0.1", "description": "d"}),
        [{"source": "10.0.0.1", "description": "d"}],
    ),
    ("vpce", ruleset("vpce", src("vpce-0a1B2c")), [{"source": "vpce-0a1B2c"}]),
    ("vpce record", ruleset("vpce"), []),
    (
        "psc max",
        ruleset("gcp_private_service_connect_endpoint", src(str(2**64 - 1))),
        [{"source": str(2**64 - 1)}],
    ),
    (
        "psc leading zeros canonical",
        ruleset("gcp_private_service_connect_endpoint", src("007")),
        [{"source": "7"}],
    ),
    (
        "azure guid lowercased",
        ruleset("azure_private_endpoint", azure(guid=GUID.upper())),
        [azure()],
    ),
    ("azure name chars", ruleset("azure_private_endpoint", azure("a.b_c-1")), [azure("a.b_c-1")]),
]


@pytest.mark.parametrize(("body", "expected"), [pytest.param(b, e, id=n) for n, b, e in VALID])
def test_valid_rulesets_are_normalised_with_fresh_ids(body, expected):
    checked = rules.check_ruleset(body, REGIONS)

    assert [{k: v for k, v in r.items() if k != "id"} for r in checked] == expected
    assert all(len(r["id"]) == 32 for r in checked)
    assert len({r["id"] for r in checked}) == len(checked)


def test_client_rule_ids_are_replaced():
    checked = rules.check_ruleset(ruleset("ip", {"id": "x" * 32, "source": "10.0.0.1"}), REGIONS)

    assert checked[0]["id"] != "x" * 32


INVALID = [
    ("unknown type", ruleset("pigeon", src("10.0.0.1")), "body.type"),
    ("egress firewall", ruleset("egress_firewall"), "body.type"),
    ("remote cluster", ruleset("remote_cluster"), "body.type"),
    ("unknown region", ruleset("ip", src("10.0.0.1"), region="mars"), "body.region"),
    ("empty ip", ruleset("ip"), "body.rules"),
    ("dns", ruleset("ip", src("example.com")), "body.rules[0].source"),
    ("dns with cidr", ruleset("ip", src("example.com/24")), "body.rules[0].source"),
    ("prefix 33", ruleset("ip", src("10.0.0.0/33")), "body.rules[0].source"),
    ("prefix 129", ruleset("ip", src("::/129")), "body.rules[0].source"),
    ("prefix sign", ruleset("ip", src("10.0.0.0/+8")), "body.rules[0].source"),
    ("empty source", ruleset("ip", src("")), "body.rules[0].source"),
    ("octet 256", ruleset("ip", src("10.0.0.256")), "body.rules[0].source"),
    ("leading zero", ruleset("ip", src("10.0.0.01")), "body.rules[0].source"),
    ("third rule", ruleset("ip", src("10.0.0.1"), src("::1"), src("x")), "body.rules[2].source"),
    ("ip without source", ruleset("ip", {"description": "d"}), "body.rules[0].source"),
    (
        "ip with azure",
        ruleset("ip", src("10.0.0.1") | azure()),
        "body.rules[0].azure_endpoint_guid",
    ),
    ("vpce shape", ruleset("vpce", src("vpc-1")), "body.rules[0].source"),
    ("vpce empty id", ruleset("vpce", src("vpce-")), "body.rules[0].source"),
    ("vpce long", ruleset("vpce", src("vpce-" + "a" * 61)), "body.rules[0].source"),
    (
        "psc too big",
        ruleset("gcp_private_service_connect_endpoint", src(str(2**64))),
        "body.rules[0].source",
    ),
    (
        "psc not decimal",
        ruleset("gcp_private_service_connect_endpoint", src("0x10")),
        "body.rules[0].source",
    ),
    (
        "psc unicode digits",
        ruleset("gcp_private_service_connect_endpoint", src("١٢٣")),
        "body.rules[0].source",
    ),
    (
        "azure bad name",
        ruleset("azure_private_endpoint", azure("-starts-with-dash")),
        "body.rules[0].azure_endpoint_name",
    ),
    (
        "azure name too long",
        ruleset("azure_private_endpoint", azure("a" * 81)),
        "body.rules[0].azure_endpoint_name",
    ),
    (
        "azure bad guid",
        ruleset("azure_private_endpoint", azure(guid="1234")),
        "body.rules[0].azure_endpoint_guid",
    ),
    (
        "azure braced guid",
        ruleset("azure_private_endpoint", azure(guid="{" + GUID + "}")),
        "body.rules[0].azure_endpoint_guid",
    ),
    (
        "azure missing name",
        ruleset("azure_private_endpoint", {"azure_endpoint_guid": GUID}),
        "body.rules[0].azure_endpoint_name",
    ),
    (
        "azure with source",
        ruleset("azure_private_endpoint", azure() | src("vpce-1")),
        "body.rules[0].source",
    ),
    (
        "gcp with egress",
        ruleset(
            "gcp_private_service_connect_endpoint",
            src("1") | {"egress_rule": {"target": "1.2.3.4", "protocol": "all"}},
        ),
        "body.rules[0].egress_rule",
    ),
    (
        "vpce with remote cluster org",
        ruleset("vpce", src("vpce-1") | {"remote_cluster_org_id": "o"}),
        "body.rules[0].remote_cluster_org_id",
    ),
]


@pytest.mark.parametrize(("body", "field"), [pytest.param(b, f, id=n) for n, b, f in INVALID])
def test_invalid_rulesets_name_the_field(body, field):
    with pytest.raises(InvalidRuleset) as raised:
        rules.check_ruleset(body, REGIONS)

    assert raised.value.fields[0] == field
    assert raised.value.code == "traffic_filter.invalid_request"


def test_every_extra_field_is_named():
    body = ruleset("ip", src("10.0.0.1") | azure())

    with pytest.raises(InvalidRuleset) as raised:
        rules.check_ruleset(body, REGIONS)

    assert raised.value.fields == [
        "body.rules[0].azure_endpoint_guid",
        "body.rules[0].azure_endpoint_name",
    ]


# --- check_claim -----------------------------------------------------------------------------


def claim_in(**body: Any) -> ClaimIn:
    return ClaimIn.model_validate({"region": "local"} | body)


CLAIMS = [
    ("aws", claim_in(link_id="vpce-0abc"), rules.Claim("local", "aws", "vpce-0abc")),
    (
        "gcp",
        claim_in(link_id="18446744072646845332"),
        rules.Claim("local", "gcp", "18446744072646845332"),
    ),
    ("gcp canonical", claim_in(link_id="0042"), rules.Claim("local", "gcp", "42")),
    (
        "azure",
        claim_in(link_id="16909060", **azure()),
        rules.Claim("local", "azure", "16909060", "azure-demo", GUID),
    ),
    (
        "azure max linkid",
        claim_in(link_id=str(2**32 - 1), **azure(guid=GUID.upper())),
        rules.Claim("local", "azure", str(2**32 - 1), "azure-demo", GUID),
    ),
    (
        "other region",
        claim_in(region="elsewhere", link_id="vpce-1"),
        rules.Claim("elsewhere", "aws", "vpce-1"),
    ),
]


@pytest.mark.parametrize(("body", "expected"), [pytest.param(b, e, id=n) for n, b, e in CLAIMS])
def test_valid_claims(body, expected):
    checked = rules.check_claim(body, REGIONS)

    assert checked == expected
    assert checked.key == f"{expected.vendor}:{expected.link_id}"


BAD_CLAIMS = [
    ("nothing", claim_in(), "body.link_id"),
    ("unknown region", claim_in(region="mars", link_id="vpce-1"), "body.region"),
    ("bad vpce", claim_in(link_id="vpce-!"), "body.link_id"),
    ("not decimal", claim_in(link_id="abc"), "body.link_id"),
    ("gcp too big", claim_in(link_id=str(2**64)), "body.link_id"),
    ("azure without linkid", claim_in(**azure()), "body.link_id"),
    ("azure linkid too big", claim_in(link_id=str(2**32), **azure()), "body.link_id"),
    ("azure linkid vpce", claim_in(link_id="vpce-1", **azure()), "body.link_id"),
    ("azure name only", claim_in(link_id="1", azure_endpoint_name="a"), "body.azure_endpoint_guid"),
    (
        "azure guid only",
        claim_in(link_id="1", azure_endpoint_guid=GUID),
        "body.azure_endpoint_name",
    ),
    ("azure bad guid", claim_in(link_id="1", **azure(guid="g")), "body.azure_endpoint_guid"),
]


@pytest.mark.parametrize(("body", "field"), [pytest.param(b, f, id=n) for n, b, f in BAD_CLAIMS])
def test_invalid_claims_name_the_field(body, field):
    with pytest.raises(InvalidClaim) as raised:
        rules.check_claim(body, REGIONS)

    assert raised.value.fields == [field]
    assert raised.value.code == "traffic_filter_claimed_link_id.invalid_input"


# --- sources ---------------------------------------------------------------------------------

MINE = rules.ClaimView({("azure-demo", GUID): "16909060"}, frozenset({"aws:vpce-theirs"}))

SOURCES = [
    ("ip as given", "ip", [src("10.0.0.0/8"), src("::1")], NO_CLAIMS, ("10.0.0.0/8", "::1")),
    ("vpce", "vpce", [src("vpce-1")], NO_CLAIMS, ("aws:vpce-1",)),
    ("gcp", "gcp_private_service_connect_endpoint", [src("42")], NO_CLAIMS, ("gcp:42",)),
    (
        "azure claimed",
        "azure_private_endpoint",
        [azure()],
        MINE,
        ("azure:16909060",),
    ),
    (
        "azure unclaimed",
        "azure_private_endpoint",
        [azure()],
        NO_CLAIMS,
        (f"azure:unresolved:{GUID}",),
    ),
    (
        "azure same guid other name",
        "azure_private_endpoint",
        [azure("other")],
        MINE,
        (f"azure:unresolved:{GUID}",),
    ),
    (
        "vpce claimed elsewhere",
        "vpce",
        [src("vpce-theirs"), src("vpce-mine")],
        MINE,
        ("aws:vpce-theirs:claimed-elsewhere", "aws:vpce-mine"),
    ),
    (
        "gcp not affected by an aws claim",
        "gcp_private_service_connect_endpoint",
        [src("7")],
        rules.ClaimView({}, frozenset({"aws:7"})),
        ("gcp:7",),
    ),
    ("ip not affected by claims", "ip", [src("10.0.0.1")], MINE, ("10.0.0.1",)),
    ("no rules", "vpce", [], MINE, ()),
]


@pytest.mark.parametrize(
    ("kind", "rule_list", "claims", "expected"),
    [pytest.param(k, r, c, e, id=n) for n, k, r, c, e in SOURCES],
)
def test_sources(kind, rule_list, claims, expected):
    assert rules.sources(kind, rule_list, claims) == expected
    compiled = rules.compiled("r1", kind, rule_list, claims)
    assert compiled == RulesetRules("r1", kind, expected)


def test_unresolvable_keys_match_no_endpoint_the_gateway_can_see():
    keys = rules.sources("azure_private_endpoint", [azure()], NO_CLAIMS)
    elsewhere = rules.sources("vpce", [src("vpce-theirs")], MINE)

    for key in (*keys, *elsewhere):
        _, _, rest = key.partition(":")
        assert ":" in rest  # a real key is "<vendor>:<id>" with no further colon


# --- judge -----------------------------------------------------------------------------------


def ip_ruleset(rid: str, *cidrs: str) -> RulesetRules:
    return RulesetRules(rid, "ip", cidrs)


def seen(deployment: str, ip: str, endpoint: str | None = None) -> SeenClient:
    return SeenClient(deployment, ip, endpoint, 0.0, True)


OFFICE = ip_ruleset("office", "203.0.113.0/24")
LAB = ip_ruleset("lab", "192.0.2.0/24")
LINK = RulesetRules("link", "vpce", ("aws:vpce-1",))
RECORD = RulesetRules("record", "vpce", ())

JUDGED = [
    # (name, before, after, caller, recent, blocked addresses, caller blocked)
    ("open to lab blocks caller", [], [LAB], "203.0.113.7", [], ["203.0.113.7"], True),
    ("open to office admits caller", [], [OFFICE], "203.0.113.7", [], [], False),
    ("adding admits more", [LAB], [LAB, OFFICE], "203.0.113.7", [], [], False),
    ("already blocked", [LAB], [LAB, LINK], "203.0.113.7", [], [], False),
    ("removing the admitting one", [LAB, OFFICE], [LAB], "203.0.113.7", [], ["203.0.113.7"], True),
    ("removing the last opens", [LAB], [], "203.0.113.7", [], [], False),
    ("record does not filter", [], [RECORD], "203.0.113.7", [], [], False),
    ("private link filters ip", [], [LINK], "203.0.113.7", [], ["203.0.113.7"], True),
    (
        "recent address only",
        [],
        [OFFICE],
        "203.0.113.7",
        ["198.51.100.1"],
        ["198.51.100.1"],
        False,
    ),
    ("caller not an ip", [], [LAB], "testclient", ["not-an-ip"], [], False),
    ("no caller", [], [LAB], None, ["198.51.100.1"], ["198.51.100.1"], False),
    ("ipv6 caller", [], [LAB], "2001:db8::1", [], ["2001:db8::1"], True),
    ("mapped ipv6 caller admitted", [], [OFFICE], "::ffff:203.0.113.7", [], [], False),
    (
        "caller repeated in recent",
        [],
        [LAB],
        "203.0.113.7",
        ["203.0.113.7"],
        ["203.0.113.7"],
        True,
    ),
]


@pytest.mark.parametrize(
    ("before", "after", "caller", "recent", "blocked", "caller_blocked"),
    [pytest.param(b, a, c, r, x, y, id=n) for n, b, a, c, r, x, y in JUDGED],
)
def test_judge(before, after, caller, recent, blocked, caller_blocked):
    report = lockout.judge(
        [lockout.Change("d1", before, after)], caller_ip=caller, recent_ips=recent, clients=[]
    )

    assert sorted(report.your_addresses) == sorted(blocked)
    assert all(deployments == ["d1"] for deployments in report.your_addresses.values())
    assert report.caller_blocked is caller_blocked


def test_judge_reports_connected_clients_of_the_changed_deployments_only():
    clients = [
        seen("d1", "100.64.0.1"),
        seen("d1", "192.0.2.9"),
        seen("d1", "100.64.0.2", "aws:vpce-1"),
        seen("d2", "100.64.0.3"),
        seen("d3", "100.64.0.4"),
    ]
    changes = [
        lockout.Change("d1", [], [LAB, LINK]),
        lockout.Change("d2", [OFFICE], [OFFICE]),
    ]

    report = lockout.judge(changes, caller_ip=None, recent_ips=[], clients=clients)

    assert [c.client_ip for c in report.connected_clients] == ["100.64.0.1"]


def test_judge_collects_every_deployment_an_address_loses():
    changes = [lockout.Change("d1", [], [LAB]), lockout.Change("d2", [], [LAB])]

    report = lockout.judge(changes, caller_ip="203.0.113.7", recent_ips=[], clients=[])

    assert report.your_addresses == {"203.0.113.7": ["d1", "d2"]}
    assert report.as_json()["your_addresses"] == [
        {"address": "203.0.113.7", "deployments": ["d1", "d2"]}
    ]


def test_report_json_leaves_out_the_unassociated_create_and_sorts():
    changes = [lockout.Change("", [], [LAB])]

    report = lockout.judge(
        changes, caller_ip="203.0.113.7", recent_ips=["198.51.100.1"], clients=[]
    )

    assert report.as_json() == {
        "your_addresses": [
            {"address": "198.51.100.1", "deployments": []},
            {"address": "203.0.113.7", "deployments": []},
        ],
        "connected_clients": [],
    }


# --- recent clients --------------------------------------------------------------------------


def test_recent_clients_keep_the_latest_sighting_and_forget_old_ones(services):
    now = [1000.0]
    recent = RecentClients(services.db, ttl_s=60, clock=lambda: now[0])
    recent.report(
        [
            SeenClient("d1", "10.0.0.1", None, 990.0, True),
            SeenClient("d1", "10.0.0.1", None, 980.0, False),
            SeenClient("d1", "10.0.0.2", "aws:vpce-1", 930.0, False),
        ]
    )

    current = recent.current()

    assert [(c.client_ip, c.last_seen, c.connected) for c in current] == [("10.0.0.1", 990.0, True)]
    now[0] = 1100.0
    assert recent.current() == []


def test_recent_clients_reported_to_one_replica_are_seen_by_another(services):
    now = [1000.0]
    one = RecentClients(services.db, ttl_s=60, clock=lambda: now[0])
    other = RecentClients(services.db, ttl_s=60, clock=lambda: now[0])
    one.report([SeenClient("d1", "10.0.0.1", "aws:vpce-1", 990.0, True)])
    other.report([SeenClient("d1", "10.0.0.1", "aws:vpce-1", 995.0, False)])

    seen = [(c.client_ip, c.endpoint_id, c.last_seen, c.connected) for c in one.current()]

    assert seen == [("10.0.0.1", "aws:vpce-1", 995.0, False)]
    now[0] = 1100.0
    other.forget_expired()
    assert one.current() == []
