"""`citadel gateway`'s PROXY listener options: refused unless they name whom to trust."""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from citadel.cli.gateway import proxy_listener_config
from citadel.cli.main import app
from citadel.gateway.proxy_protocol import Vendor
from tests.node.process import CITADEL


def _invoke(tmp_path: Path, *args: str) -> tuple[int, str]:
    """Exit code and the message, unwrapped from its box."""
    result = CliRunner().invoke(app, ["gateway", "--data-dir", str(tmp_path), "--wait", "0", *args])
    return result.exit_code, " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split())


def test_a_proxy_port_without_trusted_networks_is_a_usage_error(tmp_path: Path) -> None:
    code, message = _invoke(tmp_path, "--proxy-port", "9443")
    assert code == 2
    assert "--proxy-trusted-cidr" in message
    assert "needs the load balancers' networks" in message


@pytest.mark.parametrize("cidr", ["10.0.0.0/33", "not-a-network", "10.0.0.1/8", "10.0.0.0/8,x"])
def test_an_invalid_trusted_network_is_a_usage_error(tmp_path: Path, cidr: str) -> None:
    code, message = _invoke(tmp_path, "--proxy-port", "9443", "--proxy-trusted-cidr", cidr)
    assert code == 2
    assert "is not a network in CIDR form" in message


def test_an_unknown_vendor_is_a_usage_error(tmp_path: Path) -> None:
    code, _ = _invoke(
        tmp_path,
        "--proxy-port",
        "9443",
        "--proxy-trusted-cidr",
        "10.0.0.0/8",
        "--proxy-vendor",
        "x",
    )
    assert code == 2


def test_valid_options_from_the_environment_pass_validation(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CITADEL_GATEWAY_PROXY_PORT": "9443",
        "CITADEL_GATEWAY_PROXY_TRUSTED_CIDRS": "10.0.0.0/8,192.168.0.0/16",
        "CITADEL_GATEWAY_PROXY_VENDOR": "aws",
        "CITADEL_GATEWAY_PROXY_V1": "true",
    }
    done = subprocess.run(
        [CITADEL, "gateway", "--data-dir", str(tmp_path), "--wait", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1  # past the options, stopped by the empty data directory
    assert "no platform key" in done.stderr


def test_no_proxy_port_means_no_proxy_listener() -> None:
    assert proxy_listener_config(0, "127.0.0.1", ["10.0.0.0/8"], None, allow_v1=False) is None


def test_trusted_networks_may_be_repeated_or_comma_separated() -> None:
    config = proxy_listener_config(
        9443, "0.0.0.0", ["10.0.0.0/8, 192.168.0.0/16", "fd00::/8"], Vendor.GCP, allow_v1=True
    )
    assert config is not None
    assert config.trusted_cidrs == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.168.0.0/16"),
        ipaddress.ip_network("fd00::/8"),
    )
    assert config.vendor is Vendor.GCP
    assert config.allow_v1 is True
    assert config.header_timeout_s == 3.0


def test_a_comma_only_value_trusts_nobody_and_is_refused() -> None:
    with pytest.raises(typer.BadParameter):
        proxy_listener_config(9443, "0.0.0.0", [" , "], None, allow_v1=False)
