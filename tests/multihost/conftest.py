"""Fixtures of the multi-host tests: a `Network` of namespace hosts (tests/multihost/harness.py)
removed after the test whatever happens, and PostgreSQL on its bridge. The tests skip, saying
why, where hosts cannot be made (not root, no `ip`, no network namespaces). None of them reaches
the `postgres_url` fixture: they run once, in the SQLCipher pass of `make test`, with a
PostgreSQL of their own. A failing test's report carries the end of every host process's log."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.multihost.harness import Network, Postgres, Unavailable, start_postgres


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "multihost: builds namespace hosts (root only)")


def _network() -> Network:
    try:
        return Network.create()
    except Unavailable as exc:
        pytest.skip(f"namespace hosts cannot be made here: {exc}")


@pytest.fixture
def net(request: pytest.FixtureRequest) -> Iterator[Network]:
    """A fresh network (bridge, no hosts yet), removed after the test."""
    made = _network()
    request.node.multihost_network = made
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def postgres(net: Network) -> Postgres:
    """PostgreSQL on the network's bridge address (stopped with the network)."""
    try:
        return start_postgres(net)
    except Unavailable as exc:
        pytest.skip(str(exc))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    made = getattr(item, "multihost_network", None)
    for value in getattr(item, "funcargs", {}).values():
        made = made or (value if isinstance(value, Network) else getattr(value, "net", None))
    if not isinstance(made, Network):
        return
    for host in made.hosts.values():
        for process in host.processes:
            report.sections.append((f"{host.name} {host.address}: {process.name}", process.log()))
