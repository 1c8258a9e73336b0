"""Organization SSO on a running `citadel up` (TLS, the real command line): claim a domain
against a real DNS server, register SimpleSAMLphp by its metadata file, map a group, sign in
through the IdP with a headless browser, enforce, and break the glass with the owner's key."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx

from tests.e2e.conftest import CITADEL, admin_key, citadel_up, trust
from tests.fixtures.dns_server import DnsServer, dnsmasq_binary
from tests.sso.conftest import idp as _idp  # noqa: F401 (the real IdP fixture)
from tests.sso.idp import Idp, log_in_at_idp


def cli(endpoints: dict, key: str, env: dict, *args: str, json_out: bool = True) -> dict:
    """Run `citadel <args>` against the running API with the owner's key; its JSON answer."""
    result = subprocess.run(
        [CITADEL, *args, "--api-key", key, "--api-url", endpoints["api_url"]]
        + ["--ca-file", endpoints["ca_file"]]
        + (["--output", "json"] if json_out else []),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(result.stdout) if json_out else {}


def test_sso_end_to_end_on_citadel_up(services, data_dir, postgres_url, tmp_path: Path, idp: Idp):
    services.close()
    dns = DnsServer(dnsmasq_binary(), ("acme.example",))
    dns.publish({})
    resolver = f"{dns.address[0]}:{dns.address[1]}"
    try:
        with citadel_up(data_dir, postgres_url, tmp_path, CITADEL_DNS_RESOLVER=resolver) as (
            endpoints,
            port,
            env,
        ):
            run_scenario(endpoints, port, env, data_dir, tmp_path, idp, dns)
    finally:
        dns.stop()


def run_scenario(endpoints, port, env, data_dir, tmp_path, idp: Idp, dns: DnsServer) -> None:
    key = admin_key(data_dir, endpoints, env)
    org = endpoints["organization_id"]

    claim = cli(endpoints, key, env, "sso", "domain", "add", "acme.example")
    dns.publish({claim["verification"]["record_name"]: [claim["verification"]["value"]]})
    assert cli(endpoints, key, env, "sso", "domain", "verify", "acme.example")["status"] == (
        "verified"
    )

    metadata = tmp_path / "idp-metadata.xml"
    metadata.write_text(httpx.get(idp.metadata_url).text)
    sso = cli(
        endpoints, key, env, "sso", "configure", "--login-prefix", "acme", "--idp-metadata",
        str(metadata),
    )  # fmt: skip
    sp = sso["service_provider"]
    assert sp["login_url"] == f"https://127.0.0.1:{port}/sso/saml/acme/login"
    idp.register_sp(sp["entity_id"], sp["acs_url"], sp["certificate"])
    cli(
        endpoints, key, env, "sso", "mapping", "add", "admins", "--group", "admins", "--role",
        "organization-admin",
    )  # fmt: skip

    with httpx.Client(verify=trust(endpoints), timeout=30) as browser:
        started = browser.get(sp["login_url"])
        assert started.status_code == 303, started.text
        form = log_in_at_idp(started.headers["location"], "alice")
        assert form.action == sp["acs_url"]
        finished = browser.post(form.action, data=form.form)
        assert finished.status_code == 303, finished.text

        me = browser.get(f"https://127.0.0.1:{port}/api/v1/users/auth").json()
        assert me["email"] == "alice@acme.example"
        assert me["organization_ids"] == [org]
        csrf = {"X-CSRF-Token": me["csrf_token"]}
        enforced = browser.put(
            f"https://127.0.0.1:{port}/api/v1/organizations/{org}",
            json={"enforce_authentication_method": "saml"},
            headers=csrf,
        )
        assert enforced.status_code == 200, enforced.text

    owner = {"username": "owner@example.com", "password": "e2e owner password 123"}
    login_url = f"https://127.0.0.1:{port}/api/v1/users/auth/_login"
    refused = httpx.post(login_url, json=owner, verify=trust(endpoints))
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["code"] == "auth.sso_required"

    cli(endpoints, key, env, "sso", "enforce", "off", json_out=False)  # the break-glass
    assert httpx.post(login_url, json=owner, verify=trust(endpoints)).status_code == 200
    assert cli(endpoints, key, env, "sso", "show")["enforced"] is False
