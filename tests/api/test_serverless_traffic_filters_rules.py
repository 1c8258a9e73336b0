"""The pure checks of serverless traffic filters (serverless-notes §8): region forms, types,
rule fields per type, IPv4 sources, VPC endpoint ids, Azure endpoints, the stored form the
gateway's matcher compiles, page tokens and the metadata per region. No database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from citadel.errors import CitadelError
from citadel.kit.pages import PageToken
from citadel.traffic_filters import rules
from citadel.traffic_filters.matching import Client, Filter
from citadel.traffic_filters.serverless import (
    STORED_TYPE,
    RuleIn,
    check_region,
    check_rule,
    check_rules,
    check_type,
    metadata,
    page_token,
    platform_region,
)

REGIONS = ("local", "eu-west-1")
GUID = "7c0f05e4-e32b-4b10-a246-7b77f7dcc63c"


def refused(call, *args) -> CitadelError:
    with pytest.raises(CitadelError) as caught:
        call(*args)
    assert caught.value.code == "traffic_filter.invalid_request"
    assert caught.value.status == 400
    return caught.value


# --- regions and types -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "region"),
    [
        ("local", "local"),
        ("aws-local", "local"),
        ("eu-west-1", "eu-west-1"),
        ("aws-eu-west-1", "eu-west-1"),
        ("azure-local", None),
        ("aws-", None),
        ("aws", None),
        ("us-east-1", None),
        ("LOCAL", None),
    ],
)
def test_a_region_is_the_platforms_bare_or_with_the_providers_prefix(given, region):
    assert platform_region(given, REGIONS, "aws") == region


def test_a_platform_region_that_looks_prefixed_is_taken_as_it_is():
    assert platform_region("aws-east", ("aws-east", "east"), "aws") == "aws-east"


def test_an_unknown_region_is_refused_naming_the_offered_ones():
    error = refused(check_region, "mars", REGIONS, "aws")

    assert error.fields == ["body.region"]
    assert "local (or aws-local)" in error.message


def test_the_three_types_are_stored_as_the_matchers_types():
    assert {kind: check_type(kind) for kind in STORED_TYPE} == {
        "ip": "ip",
        "vpce": "vpce",
        "private_endpoint": "private_endpoint",
    }
    assert STORED_TYPE == {"ip": "ip", "vpce": "vpce", "private_endpoint": rules.AZURE}


@pytest.mark.parametrize(
    "kind", ["psc_endpoint", "azure_private_endpoint", "IP", "egress_firewall"]
)
def test_other_types_are_refused(kind):
    assert refused(check_type, kind).fields == ["body.type"]


# --- rules -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source", ["192.0.2.1", "192.0.2.0/24", "0.0.0.0/0", "10.0.0.0/8", "203.0.113.7/32"]
)
def test_an_ip_rule_takes_an_ipv4_address_or_cidr(source):
    assert check_rule("ip", RuleIn(source=source), "body.rules[0]") == {"source": source}


@pytest.mark.parametrize(
    "source",
    [
        "example.com",
        "2001:db8::/32",
        "::ffff:192.0.2.1",
        "10.0.0.0/33",
        "01.2.3.4",
        "1.2.3",
        " 192.0.2.1",
        "192.0.2.0/255.255.255.0",
        "",
    ],
)
def test_an_ip_rule_refuses_anything_else(source):
    error = refused(check_rule, "ip", RuleIn(source=source), "body.rules[2]")

    assert error.fields == ["body.rules[2].source"]


def test_an_ip_filter_needs_a_rule():
    assert refused(check_rules, "ip", []).fields == ["body.rules"]


def test_private_link_filters_may_have_no_rules():
    assert check_rules("vpce", []) == []
    assert check_rules("private_endpoint", []) == []


@pytest.mark.parametrize(
    "source",
    [
        "vpce-0123456789ABCDEF0",
        "vpce-0123456789abcdef",
        "vpce-0123456789abcdef01",
        "vpce-0123456789abcdefg",
        "VPCE-0123456789abcdef0",
        "0123456789abcdef0",
        "192.0.2.1",
        "vpce-0123456789abcdef0\n",
    ],
)
def test_a_vpce_id_is_vpce_and_17_lowercase_hex_digits(source):
    ok = check_rule("vpce", RuleIn(source="vpce-0123456789abcdef0"), "body.rules[0]")

    assert ok == {"source": "vpce-0123456789abcdef0"}
    assert refused(check_rule, "vpce", RuleIn(source=source), "r").fields == ["r.source"]


def test_an_azure_rule_keeps_its_name_and_lowercase_guid():
    rule = RuleIn(azure_endpoint_name="pe-1", azure_endpoint_guid=GUID, description="hq")

    assert check_rule("private_endpoint", rule, "r") == {
        "description": "hq",
        "azure_endpoint_name": "pe-1",
        "azure_endpoint_guid": GUID,
    }


@pytest.mark.parametrize(
    ("name", "guid", "field"),
    [
        ("a", GUID, "r.azure_endpoint_name"),
        ("x" * 81, GUID, "r.azure_endpoint_name"),
        ("-leading", GUID, "r.azure_endpoint_name"),
        ("has space", GUID, "r.azure_endpoint_name"),
        ("pe-1", GUID.upper(), "r.azure_endpoint_guid"),
        ("pe-1", GUID.replace("-", ""), "r.azure_endpoint_guid"),
        ("pe-1", "{" + GUID + "}", "r.azure_endpoint_guid"),
        ("pe-1", "not-a-guid", "r.azure_endpoint_guid"),
        ("pe-1", GUID + "\n", "r.azure_endpoint_guid"),
    ],
)
def test_an_azure_rule_refuses_a_bad_name_or_guid(name, guid, field):
    rule = RuleIn(azure_endpoint_name=name, azure_endpoint_guid=guid)

    assert refused(check_rule, "private_endpoint", rule, "r").fields == [field]


def test_an_azure_name_of_80_characters_is_accepted():
    rule = RuleIn(azure_endpoint_name="x" * 80, azure_endpoint_guid=GUID)

    assert check_rule("private_endpoint", rule, "r")["azure_endpoint_name"] == "x" * 80


@pytest.mark.parametrize(
    ("kind", "rule", "fields"),
    [
        ("ip", RuleIn(source="192.0.2.1", azure_endpoint_guid=GUID), ["r.azure_endpoint_guid"]),
        ("vpce", RuleIn(azure_endpoint_name="pe-1"), ["r.azure_endpoint_name"]),
        (
            "private_endpoint",
            RuleIn(source="vpce-0123456789abcdef0", azure_endpoint_name="pe-1"),
            ["r.source"],
        ),
        ("private_endpoint", RuleIn(azure_endpoint_name="pe-1"), ["r.azure_endpoint_guid"]),
        ("ip", RuleIn(description="no source"), ["r.source"]),
    ],
)
def test_a_rule_carries_exactly_its_types_fields(kind, rule, fields):
    assert refused(check_rule, kind, rule, "r").fields == fields


def test_the_stored_rules_compile_into_a_filter_the_gateway_decides_with():
    ip = check_rules("ip", [RuleIn(source="192.0.2.0/24")])
    vpce = check_rules("vpce", [RuleIn(source="vpce-0123456789abcdef0")])
    azure = check_rules(
        "private_endpoint", [RuleIn(azure_endpoint_name="pe-1", azure_endpoint_guid=GUID)]
    )
    claims = rules.ClaimView({("pe-1", GUID): "4026531841"}, frozenset())

    compiled = Filter.compile(
        [
            rules.compiled("f1", STORED_TYPE["ip"], ip, claims),
            rules.compiled("f2", STORED_TYPE["vpce"], vpce, claims),
            rules.compiled("f3", STORED_TYPE["private_endpoint"], azure, claims),
        ]
    )

    assert compiled.decide(Client.of("192.0.2.9")).allowed
    assert not compiled.decide(Client.of("198.51.100.1")).allowed
    assert compiled.decide(Client.of("198.51.100.1", "aws:vpce-0123456789abcdef0")).allowed
    assert compiled.decide(Client.of("198.51.100.1", "azure:4026531841")).allowed
    assert not compiled.decide(Client.of("198.51.100.1", "azure:1")).allowed


# --- paging and metadata -------------------------------------------------------------------------


def test_a_page_token_round_trips():
    token = PageToken(datetime(2026, 12, 7, 4, 50, 1, 123456, tzinfo=UTC), "a" * 32)

    assert page_token(token.text()) == token


@pytest.mark.parametrize("text", ["", "!!!", "bm9wZQ", "MjAyNnxub3QtYW4taWQ"])
def test_a_page_token_that_is_not_ours_is_refused(text):
    error = refused(page_token, text)

    assert error.fields == ["header.x-elastic-next-page"]


def test_the_metadata_has_one_entry_per_region():
    answer = metadata(REGIONS, "aws", "citadel.example").model_dump()

    assert answer["regions"][1] == {
        "region": "eu-west-1",
        "csp": "aws",
        "private_service_name": "eu-west-1.citadel.example",
        "vpc_service_name": "eu-west-1.citadel.example",
        "private_hosted_zone_domain_name": "eu-west-1.citadel.example",
        "availability_zones": [],
    }
    assert [r["region"] for r in answer["regions"]] == list(REGIONS)


@pytest.mark.parametrize(
    ("region", "provider", "expected"),
    [
        ("aws-eu-west-1", None, ["eu-west-1"]),
        ("local", "aws", ["local"]),
        (None, "aws", ["local", "eu-west-1"]),
        (None, "gcp", []),
        ("mars", None, []),
    ],
)
def test_the_metadata_filters_by_region_and_provider(region, provider, expected):
    answer = metadata(REGIONS, "aws", "d", region=region, provider=provider)

    assert [r.region for r in answer.regions] == expected
