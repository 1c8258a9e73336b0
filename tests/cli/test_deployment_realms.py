"""`citadel deployment realm list|put|delete` against the real API on loopback: settings from
a file and --set, IdP metadata from a file, the OIDC secret from standard input (never on the
command line, never printed), and errors naming the option or setting."""

from __future__ import annotations

import json
from pathlib import Path

from citadel.bootstrap import Services
from tests.api.test_deployment_realms import IDP_ENTITY_ID, idp_metadata
from tests.cli.conftest import LocalApi
from tests.fixtures.builders import make_deployment

SECRET = "cli-client-secret-42"
OIDC = {
    "op.issuer": "https://op.example.com",
    "op.authorization_endpoint": "https://op.example.com/authorize",
    "op.token_endpoint": "https://op.example.com/token",
    "op.jwkset_path": "https://op.example.com/jwks",
    "rp.client_id": "citadel",
    "rp.redirect_uri": "https://app.example.com/oidc/cb",
    "claims.principal": "sub",
}


def json_of(output: str) -> dict:
    """The JSON document the command printed (the served API's log lines share stdout here)."""
    lines = output.splitlines()
    return json.loads("\n".join(lines[lines.index("{") :]))


def run_with_input(local_api: LocalApi, text: str, *args: str):
    from typer.testing import CliRunner

    from citadel.cli.main import app

    return CliRunner().invoke(
        app,
        [*args, "--data-dir", str(local_api.data_dir), "--api-key", local_api.key],
        input=text,
    )


def test_a_saml_realm_is_put_from_files_and_listed(
    local_api: LocalApi, services: Services, tmp_path: Path
) -> None:
    deployment = make_deployment(services, local_api.org_id)
    metadata = tmp_path / "idp.xml"
    metadata.write_text(idp_metadata())

    put = local_api.run(
        "deployment", "realm", "put", deployment, "saml1", "--type", "saml", "--order", "1",
        "--idp-metadata", str(metadata),
        "--set", f"idp.entity_id={IDP_ENTITY_ID}",
        "--set", "sp.entity_id=https://app.example.com/saml",
        "--set", "sp.acs=https://app.example.com/saml/acs",
        "--set", "attributes.principal=nameid",
        "--set", "force_authn=true",
    )  # fmt: skip
    listed = local_api.run("deployment", "realm", "list", deployment, "--output", "json")

    assert put.exit_code == 0, put.output
    [realm] = json_of(listed.stdout)["realms"]
    assert (realm["name"], realm["type"], realm["order"]) == ("saml1", "saml", 1)
    assert realm["settings"]["force_authn"] is True


def test_the_oidc_secret_comes_from_stdin_and_is_never_printed(
    local_api: LocalApi, services: Services, tmp_path: Path
) -> None:
    deployment = make_deployment(services, local_api.org_id)
    settings = tmp_path / "oidc.json"
    settings.write_text(json.dumps(OIDC))

    put = run_with_input(
        local_api, SECRET + "\n",
        "deployment", "realm", "put", deployment, "oidc1", "--type", "oidc", "--order", "2",
        "--settings", str(settings), "--client-secret-stdin",
    )  # fmt: skip
    listed = local_api.run("deployment", "realm", "list", deployment, "--output", "json")

    assert put.exit_code == 0, put.output
    assert SECRET not in put.output
    assert SECRET not in listed.output
    assert json_of(listed.stdout)["realms"][0]["client_secret_set"] is True


def test_an_unknown_setting_is_named_in_the_error(local_api: LocalApi, services: Services) -> None:
    deployment = make_deployment(services, local_api.org_id)

    result = local_api.run(
        "deployment", "realm", "put", deployment, "saml1", "--type", "saml", "--order", "1",
        "--set", "idp.sso_url=https://idp.example.com",
    )  # fmt: skip

    assert result.exit_code == 1
    assert "idp.sso_url" in result.output


def test_a_deleted_realm_leaves_the_list(local_api: LocalApi, services: Services) -> None:
    deployment = make_deployment(services, local_api.org_id)
    run_with_input(
        local_api, SECRET + "\n",
        "deployment", "realm", "put", deployment, "oidc1", "--type", "oidc", "--order", "2",
        *[a for k, v in OIDC.items() for a in ("--set", f"{k}={v}")], "--client-secret-stdin",
    )  # fmt: skip

    deleted = local_api.run("deployment", "realm", "delete", deployment, "oidc1", "--yes")
    listed = local_api.run("deployment", "realm", "list", deployment, "--output", "json")

    assert deleted.exit_code == 0, deleted.output
    assert json_of(listed.stdout)["realms"] == []
