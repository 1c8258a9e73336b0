"""`citadel project` against the served API (tests/cli/conftest.py): the `admin` password
printed whole once, the type found without `--type`, JSON as the API sent it, errors in the
CLI's words, and a delete that asks first."""

from __future__ import annotations

import json
import re

import sqlalchemy as sa

from citadel.bootstrap import Services
from citadel.deployments.internal import pending_password
from citadel.deployments.models import Deployment
from citadel.projects.models import Project
from tests.cli.conftest import LocalApi

NARROW = {"COLUMNS": "40"}
# The API serving the CLI runs in this process: its log lines land in the captured output.
_SERVER_LOG = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[")


def printed(stdout: str) -> list[str]:
    """What the command printed, without the served API's log lines."""
    return [line for line in stdout.splitlines() if not _SERVER_LOG.match(line)]


def answer(stdout: str) -> dict:
    """The JSON a command printed with `-o json`."""
    return json.loads("\n".join(printed(stdout)))


def _shown_once(stdout: str, label: str) -> str:
    [line] = [line for line in stdout.splitlines() if line.startswith(f"{label} (shown once): ")]
    return line.removeprefix(f"{label} (shown once): ")


def _password_of(services: Services, project_id: str) -> str | None:
    """The password the runtime instance will apply (sealed on the instance row)."""
    with services.db.read() as session:
        ctx = services.context(session, services.system_caller())
        return pending_password(ctx, session.get(Deployment, project_id))


def create(local_api: LocalApi, project_type: str, name: str, *extra: str) -> dict:
    result = local_api.run(
        "project", "create", "--type", project_type, "--name", name, *extra, "-o", "json"
    )
    assert result.exit_code == 0, result.output
    return answer(result.stdout)


def test_create_prints_the_admin_password_whole_and_once(
    local_api: LocalApi, services: Services
) -> None:
    result = local_api.run(
        "project", "create", "--type", "elasticsearch", "--name", "shop", env=NARROW
    )

    assert result.exit_code == 0, result.output
    with services.db.read() as session:
        [project_id] = session.scalars(sa.select(Project.id)).all()
    assert _shown_once(result.stdout, "admin password") == _password_of(services, project_id)
    assert result.stdout.count(_shown_once(result.stdout, "admin password")) == 1


def test_create_as_json_is_the_api_s_answer(local_api: LocalApi) -> None:
    made = create(local_api, "observability", "logs", "--alias", "weblogs")

    assert made["type"] == "observability"
    assert made["alias"] == f"weblogs-{made['id'][:6]}"
    assert set(made["endpoints"]) == {"elasticsearch", "kibana", "apm", "ingest"}
    assert made["cloud_id"].startswith("logs:")
    assert made["credentials"]["username"] == "admin"


def test_create_sends_search_power_and_optimized_for(local_api: LocalApi) -> None:
    made = create(
        local_api,
        "elasticsearch",
        "vectors",
        "--search-power",
        "100",
        "--optimized-for",
        "vector",
    )

    assert made["optimized_for"] == "vector"
    assert made["search_lake"]["search_power"] == 100


def test_list_shows_every_type_or_only_the_one_asked_for(local_api: LocalApi) -> None:
    es = create(local_api, "elasticsearch", "search")
    sec = create(local_api, "security", "siem")

    every = local_api.run("project", "list", "-o", "json")
    only = local_api.run("project", "list", "--type", "security", "-o", "json")

    assert every.exit_code == 0, every.output
    assert {p["id"] for p in answer(every.stdout)["items"]} == {es["id"], sec["id"]}
    assert [p["id"] for p in answer(only.stdout)["items"]] == [sec["id"]]


def test_show_finds_the_type_and_says_the_phase(local_api: LocalApi) -> None:
    made = create(local_api, "security", "siem")

    result = local_api.run("project", "show", made["id"], "-o", "json")

    assert result.exit_code == 0, result.output
    shown = answer(result.stdout)
    assert shown["type"] == "security"
    assert shown["status"]["phase"] == "initializing"
    assert "credentials" not in shown


def test_show_of_an_unknown_project_is_the_api_s_not_found(local_api: LocalApi) -> None:
    result = local_api.run("project", "show", "0" * 32)

    assert result.exit_code == 1
    assert "projects.not_found" in result.output


def test_update_renames_and_a_stale_etag_is_refused(local_api: LocalApi) -> None:
    made = create(local_api, "elasticsearch", "shop")

    renamed = local_api.run("project", "update", made["id"], "--name", "store", "-o", "json")
    stale = local_api.run("project", "update", made["id"], "--name", "x", "--if-match", '"1"')

    assert renamed.exit_code == 0, renamed.output
    assert answer(renamed.stdout)["name"] == "store"
    assert stale.exit_code == 1
    assert "HTTP 412" in stale.output


def test_update_with_nothing_to_change_is_refused_before_any_call(local_api: LocalApi) -> None:
    result = local_api.run("project", "update", "0" * 32)

    assert result.exit_code == 2
    assert "--name" in result.output


def test_an_invalid_search_power_is_named_by_its_option(local_api: LocalApi) -> None:
    result = local_api.run(
        "project", "create", "--type", "elasticsearch", "--name", "x", "--search-power", "1"
    )

    assert result.exit_code == 1
    assert "--search-power" in result.output


def test_reset_credentials_prints_the_new_password_once(
    local_api: LocalApi, services: Services
) -> None:
    made = create(local_api, "elasticsearch", "shop")

    result = local_api.run("project", "reset-credentials", made["id"], env=NARROW)

    assert result.exit_code == 0, result.output
    password = _shown_once(result.stdout, "admin password")
    assert password == _password_of(services, made["id"])
    assert password != made["credentials"]["password"]


def test_delete_asks_first_and_then_the_project_is_deleting(local_api: LocalApi) -> None:
    made = create(local_api, "elasticsearch", "shop")

    unasked = local_api.run("project", "delete", made["id"])
    deleted = local_api.run("project", "delete", made["id"], "--yes")
    shown = local_api.run("project", "show", made["id"], "--type", "elasticsearch", "-o", "json")

    assert unasked.exit_code == 2
    assert "pass --yes" in unasked.output
    assert deleted.exit_code == 0, deleted.output
    assert f"Project {made['id']}: deleting." in deleted.stdout
    assert answer(shown.stdout)["status"]["phase"] == "deleting"


def test_resume_of_a_project_says_its_phase(local_api: LocalApi) -> None:
    made = create(local_api, "observability", "logs")

    result = local_api.run("project", "resume", made["id"], "--type", "observability")

    assert result.exit_code == 0, result.output
    assert f"Project {made['id']}: initializing." in result.stdout


def test_token_prints_the_token_alone(local_api: LocalApi) -> None:
    made = create(local_api, "elasticsearch", "shop")

    result = local_api.run("project", "token", made["id"], env=NARROW)
    whole = local_api.run("project", "token", made["id"], "--json")

    assert result.exit_code == 0, result.output
    (line,) = printed(result.stdout)
    assert line.count(".") == 2  # a JWT: header.claims.signature
    assert whole.exit_code == 0, whole.output
    assert answer(whole.stdout)["audience"] == f"citadel:project:{made['id']}"


def test_a_narrow_terminal_wraps_the_cloud_id_never_cuts_it(local_api: LocalApi) -> None:
    made = create(local_api, "elasticsearch", "shop")

    result = local_api.run("project", "show", made["id"], env={"COLUMNS": "60"})

    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout
    cells = "".join(
        line.split("│")[2].strip() for line in printed(result.stdout) if line.count("│") == 3
    )
    assert made["cloud_id"] in cells
