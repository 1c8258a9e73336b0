"""A project's endpoint URLs and cloud_id (pure), and the cloud_id as the official client
reads it."""

from __future__ import annotations

import base64
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from citadel.projects.endpoints import cloud_id, endpoints
from citadel.projects.models import Project


def project(type: str = "elasticsearch", name: str = "Shop") -> Project:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return Project(
        id="abcdef" + "0" * 26,
        organization_id="o" * 32,
        type=type,
        name=name,
        alias="shop-abcdef",
        region_id="local",
        settings={},
        tags={},
        phase="initializing",
        phase_changed_at=now,
        created_at=now,
        updated_at=now,
    )


@pytest.mark.parametrize(
    ("type", "keys"),
    [
        ("elasticsearch", {"elasticsearch", "kibana"}),
        ("observability", {"elasticsearch", "kibana", "apm", "ingest"}),
        ("security", {"elasticsearch", "kibana", "ingest"}),
    ],
)
def test_each_type_has_the_endpoints_the_contract_requires(type: str, keys: set[str]) -> None:
    assert set(endpoints(project(type), "example.test", 9243)) == keys


def test_an_endpoint_is_the_apps_host_under_the_gateway() -> None:
    urls = endpoints(project("observability"), "example.test", 9243)
    assert urls["elasticsearch"] == "https://shop-abcdef.es.local.example.test:9243"
    assert urls["apm"] == "https://shop-abcdef.apm.local.example.test:9243"
    assert urls["ingest"] == "https://shop-abcdef.ingest.local.example.test:9243"


def test_port_443_is_left_out_of_the_urls() -> None:
    urls = endpoints(project(), "example.test", 443)
    assert urls["kibana"] == "https://shop-abcdef.kb.local.example.test"


def test_the_cloud_id_names_the_project_and_its_es_and_kb_prefixes() -> None:
    name, _, encoded = cloud_id(project(), "example.test", 443).partition(":")
    assert name == "Shop"
    assert base64.b64decode(encoded).decode() == (
        "local.example.test:443$shop-abcdef.es$shop-abcdef.kb"
    )


def test_a_colon_in_the_name_does_not_break_the_cloud_id() -> None:
    name, _, encoded = cloud_id(project(name="a:b"), "example.test", 443).partition(":")
    assert name == "a-b"
    assert base64.b64decode(encoded).decode().startswith("local.example.test:443$")


@pytest.mark.parametrize("venv", ["es8", "es9"])
def test_the_official_client_expands_the_cloud_id_to_the_es_endpoint(venv: str) -> None:
    python = Path(__file__).resolve().parents[2] / f".venv-{venv}" / "bin" / "python"
    if not python.exists():
        pytest.skip(f"no .venv-{venv}")
    given = cloud_id(project(), "example.test", 9243)
    script = (
        "import sys\n"
        "from elastic_transport.client_utils import parse_cloud_id\n"
        "info = parse_cloud_id(sys.argv[1])\n"
        "print(info.es_address[0], info.es_address[1])\n"
    )
    out = subprocess.run(
        [str(python), "-c", script, given], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["shop-abcdef.es.local.example.test", "9243"]
    assert endpoints(project(), "example.test", 9243)["elasticsearch"] == (
        f"https://{out[0]}:{out[1]}"
    )
