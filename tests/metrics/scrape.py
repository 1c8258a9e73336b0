"""Scraping a component's metrics endpoint as Prometheus does: HTTPS trusting the platform CA,
the bearer token from ``keys/metrics.token``."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def token_of(data_dir: Path) -> str:
    return (data_dir / "keys" / "metrics.token").read_text().strip()


def get(data_dir: Path, port: int, path: str = "/metrics", token: str | None = None):
    """One GET of the endpoint, verified against ``pki/ca.crt`` by the name ``localhost``."""
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    trust = ssl.create_default_context(cafile=str(data_dir / "pki" / "ca.crt"))
    with httpx.Client(verify=trust, timeout=30) as client:
        return client.get(f"https://localhost:{port}{path}", headers=headers)


def scrape(data_dir: Path, port: int) -> Series:
    """Every sample, keyed by name and labels."""
    answer = get(data_dir, port, token=token_of(data_dir))
    assert answer.status_code == 200, answer.text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }


def value(series: Series, name: str, **labels: str) -> float | None:
    """The sample `name` with exactly `labels`, or None."""
    return series.get((name, frozenset(labels.items())))
