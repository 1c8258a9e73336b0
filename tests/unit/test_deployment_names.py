"""Whether a deployment name's addresses reach the gateway (citadel.roots.names)."""

from __future__ import annotations

import pytest

from citadel.roots.names import probe_name, reaches_gateway, unreachable_regions


@pytest.mark.parametrize(
    ("resolved", "listen_host", "reaches"),
    [
        (("127.0.0.1",), "127.0.0.1", True),
        (("::1", "127.0.0.1"), "127.0.0.1", True),  # the clients try ::1, then 127.0.0.1
        (("::1",), "127.0.0.1", False),
        (("::1",), "::1", True),
        ((), "127.0.0.1", False),
        (("10.0.0.5",), "127.0.0.1", False),
        (("203.0.113.7",), "0.0.0.0", True),
        (("2001:db8::7",), "0.0.0.0", False),
        (("2001:db8::7",), "::", True),
        ((), "0.0.0.0", False),
        ((), "::", False),
        (("fe80::1%eth0",), "fe80::1", True),
    ],
)
def test_a_name_reaches_the_gateway_when_one_address_is_one_it_listens_on(
    resolved, listen_host, reaches
):
    assert reaches_gateway(resolved, listen_host) is reaches


def test_the_probe_is_a_deployment_name_of_the_region():
    assert probe_name("eu-1", "search.example.com") == "citadel-name-check.eu-1.search.example.com"


def _table(answers: dict[str, tuple[str, ...]]):
    def resolve(name: str, port: int) -> tuple[str, ...]:
        return answers.get(name, ())

    return resolve


def test_only_the_regions_whose_names_miss_the_gateway_are_reported():
    resolve = _table(
        {
            "citadel-name-check.local.citadel.localhost": ("::1", "127.0.0.1"),
            "citadel-name-check.eu-1.citadel.localhost": ("10.0.0.5",),
        }
    )
    failing = unreachable_regions(
        "citadel.localhost",
        ["local", "eu-1", "us-1"],
        listen_host="127.0.0.1",
        port=9243,
        resolve=resolve,
    )
    assert failing == ["eu-1", "us-1"]


def test_a_gateway_listening_on_a_host_name_is_reached_at_what_that_name_resolves_to():
    resolve = _table(
        {
            "gateway.internal": ("192.0.2.10",),
            "citadel-name-check.local.search.example.com": ("192.0.2.10",),
        }
    )
    failing = unreachable_regions(
        "search.example.com",
        ["local"],
        listen_host="gateway.internal",
        port=9243,
        resolve=resolve,
    )
    assert failing == []
