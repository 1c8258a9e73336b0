"""The project service against a real database: what the checks before a write cannot see."""

from __future__ import annotations

import pytest

from citadel.deployments import service as deployments
from citadel.deployments.service import DataKey
from citadel.kit.ids import new_id
from citadel.projects import service as projects
from citadel.projects.errors import AliasTaken
from citadel.projects.schemas import CreateElasticsearchProjectIn
from citadel.projects.types import ProjectType
from citadel.use_cases import projects as use_cases
from citadel.web.work import Work
from tests.fixtures.builders import make_org, make_user


def test_an_alias_taken_between_the_check_and_the_write_is_a_409(services) -> None:
    org = make_org(services, make_user(services))
    units = Work(services, services.system_caller(), org)
    body = CreateElasticsearchProjectIn(name="shop", region_id="local")
    first = use_cases.create_project(
        units, services.platform_keys, org, ProjectType.ELASTICSEARCH, body, created_by=None
    ).row
    second_id = new_id()
    key = DataKey(deployments.new_data_key(services.platform_keys, second_id), "platform")
    plan = projects.Plan(alias=first.alias, region_id="local", size_mb=512)
    with units.write() as ctx:
        deployments.create_instance(
            ctx, org, key, instance_id=second_id, name="shop", region="local", size=512
        )
        with pytest.raises(AliasTaken):
            projects.create_project(
                ctx,
                org,
                ProjectType.ELASTICSEARCH,
                body,
                plan,
                project_id=second_id,
                created_by=None,
            )
