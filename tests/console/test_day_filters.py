"""The day filters of the console's audit pages: a date input's ``YYYY-MM-DD`` read as a UTC
day, the "until" day included; anything else is a 400 naming the field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from citadel.console.day_filters import utc_day
from citadel.errors import BadRequest


def test_a_day_starts_at_utc_midnight_and_an_until_day_ends_at_the_next() -> None:
    assert utc_day("2026-02-28", "since") == datetime(2026, 2, 28, tzinfo=UTC)
    assert utc_day("2026-02-28", "until", end=True) == datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize("empty", ["", None])
def test_no_day_is_no_bound(empty: str | None) -> None:
    assert utc_day(empty, "since") is None


@pytest.mark.parametrize("text", ["yesterday", "2026-02-30", "2026-02-28T00:00:00"])
def test_anything_but_a_date_is_refused_on_its_field(text: str) -> None:
    with pytest.raises(BadRequest) as refused:
        utc_day(text, "until", end=True)
    assert refused.value.fields == ["until"]


def test_the_audit_log_page_takes_days_and_refuses_a_non_date(client, signed_in) -> None:
    assert client.get("/audit?since=2020-01-01&until=2999-12-31").status_code == 200
    assert client.get("/audit?since=yesterday").status_code == 400
