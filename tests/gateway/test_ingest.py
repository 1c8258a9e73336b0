"""A project's `ingest` host takes bulk and index requests only (a pure table)."""

from __future__ import annotations

import pytest

from citadel.gateway.ingest import ingest_verdict


@pytest.mark.parametrize(
    ("method", "target"),
    [
        (b"POST", b"/_bulk"),
        (b"PUT", b"/_bulk"),
        (b"POST", b"/_bulk?refresh=wait_for&pipeline=x"),
        (b"POST", b"/_bulk/"),
        (b"POST", b"/logs-app-default/_bulk"),
        (b"PUT", b"/logs-app-default/_bulk"),
        (b"POST", b"/logs-app-default/_doc"),
        (b"POST", b"/logs-app-default/_doc?refresh=true"),
        (b"PUT", b"/my-index/_doc/1"),
        (b"POST", b"/my-index/_doc/1"),
        (b"PUT", b"/my-index/_doc/a%2Fb"),
        (b"PUT", b"/my-index/_create/1"),
        (b"POST", b"/my-index/_create/1"),
        (b"GET", b"/"),  # the version a shipper checks before it sends
        (b"HEAD", b"/"),
    ],
)
def test_bulk_and_index_requests_are_accepted(method: bytes, target: bytes) -> None:
    assert ingest_verdict(method, target).allowed


@pytest.mark.parametrize(
    "target",
    [
        b"/_search",
        b"/logs/_search",
        b"/logs/_doc/1/_update",
        b"/logs/_update/1",
        b"/logs",
        b"/_cat/indices",
        b"/_security/api_key",
        b"/_all/_bulk",  # an API name where an index must be
        b"/_data_stream/_bulk",
        b"//_bulk",
        b"/logs/_mapping",
        b"/_doc",
    ],
)
def test_other_paths_are_no_ingest_requests(target: bytes) -> None:
    verdict = ingest_verdict(b"POST", target)
    assert not verdict.allowed
    assert verdict.methods == ()  # answered 400


@pytest.mark.parametrize(
    ("method", "target", "methods"),
    [
        (b"GET", b"/_bulk", ("POST", "PUT")),
        (b"DELETE", b"/logs/_bulk", ("POST", "PUT")),
        (b"PUT", b"/logs/_doc", ("POST",)),
        (b"GET", b"/logs/_doc/1", ("POST", "PUT")),
        (b"DELETE", b"/logs/_doc/1", ("POST", "PUT")),
        (b"HEAD", b"/logs/_create/1", ("POST", "PUT")),
        (b"POST", b"/", ("GET", "HEAD")),
    ],
)
def test_an_ingest_path_with_another_method_names_the_methods_it_takes(
    method: bytes, target: bytes, methods: tuple[str, ...]
) -> None:
    verdict = ingest_verdict(method, target)
    assert not verdict.allowed
    assert verdict.methods == methods  # answered 405 with Allow
