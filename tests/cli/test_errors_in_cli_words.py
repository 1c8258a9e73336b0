"""An error answer that names a request field or query parameter names the CLI option that
sets it: a CLI user is told `--force`, not `force=true`."""

from __future__ import annotations

import sqlalchemy as sa

from citadel.bootstrap import Services
from citadel.cli.render import error_message
from citadel.deployments.models import Deployment
from citadel.traffic_filters.models import Ruleset
from tests.cli.conftest import LocalApi

NAMES = {
    "force": "--force",
    "ignore_associations": "--ignore-associations",
    "rules": "--source",
    "settings.byok.key_resource_path": "--key",
    "settings": "--settings-file",
}


def _said(message: str, fields: list[str] | None = None) -> str:
    error = {"code": "x.y", "message": message}
    if fields is not None:
        error["fields"] = fields
    return error_message(409, [error], NAMES)


def test_a_query_parameter_in_the_message_is_said_as_its_option() -> None:
    said = _said("It would block you; repeat it with force=true if that is intended.")

    assert said == "HTTP 409: x.y: It would block you; repeat it with --force if that is intended."


def test_a_bracketed_field_is_said_as_its_option() -> None:
    assert _said("[rules] is empty.") == "HTTP 409: x.y: --source is empty."


def test_a_field_the_message_does_not_name_is_pointed_to() -> None:
    said = _said("The source is not an address.", ["body.rules[2].source"])

    assert said == "HTTP 409: x.y: The source is not an address. (see --source)"


def test_the_most_precise_declared_name_wins() -> None:
    said = _said("No such key.", ["body.settings.byok.key_resource_path"])

    assert said.endswith("(see --key)")


def test_undeclared_names_and_other_words_stay() -> None:
    said = _said("The enforcement=true of [other] stays; force majeure too.", ["body.other"])

    assert said == "HTTP 409: x.y: The enforcement=true of [other] stays; force majeure too."


def test_deleting_an_associated_ruleset_says_the_option_that_allows_it(
    local_api: LocalApi, services: Services
) -> None:
    local_api.run("traffic-filter", "create", "--name", "all", "--source", "0.0.0.0/0")
    local_api.run("deployment", "create", "--name", "shop")
    with services.db.read() as session:
        [ruleset_id] = session.scalars(sa.select(Ruleset.id)).all()
        [deployment_id] = session.scalars(sa.select(Deployment.id)).all()
    associated = local_api.run("traffic-filter", "associate", ruleset_id, deployment_id)
    assert associated.exit_code == 0, associated.output

    refused = local_api.run("traffic-filter", "delete", ruleset_id, "--yes")

    assert refused.exit_code == 1
    assert "traffic_filter.ruleset_in_use" in refused.output
    assert "--ignore-associations" in refused.output
    assert "ignore_associations=true" not in refused.output
