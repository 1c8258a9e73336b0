"""Java DateTimeFormatter letters in date mappings: day and month names, 12-hour clocks."""

from __future__ import annotations

import pytest

from citadel.node.store.dates import DateFormatError, check_format, parse_date

UNIX_DATE = "EEE MMM dd HH:mm:ss Z yyyy"


def test_the_unix_date_pattern_parses_names_and_offsets():
    assert parse_date("Tue Mar 05 14:30:00 +0100 2024", UNIX_DATE) == 1709645400000


def test_full_names_and_a_twelve_hour_clock_parse():
    millis = parse_date("Tuesday, March 5 2024 02:30 PM", "EEEE, MMMM d yyyy hh:mm a")
    assert millis == 1709649000000


def test_a_day_of_week_that_disagrees_with_the_date_is_refused():
    with pytest.raises(DateFormatError):
        parse_date("Wed Mar 05 14:30:00 +0100 2024", UNIX_DATE)


def test_month_names_are_case_sensitive_as_in_elasticsearch():
    with pytest.raises(DateFormatError):
        parse_date("Tue MAR 05 14:30:00 +0100 2024", UNIX_DATE)


def test_the_pattern_is_accepted_in_a_mapping(es):
    body = {"mappings": {"properties": {"at": {"type": "date", "format": UNIX_DATE}}}}
    assert es.put("/a", json=body).status_code == 200
    es.put("/a/_doc/1?refresh=true", json={"at": "Tue Mar 05 14:30:00 +0100 2024"})
    bound = {"gte": "2024-03-05T13:30:00Z", "format": "strict_date_optional_time"}
    query = {"query": {"range": {"at": bound}}}
    assert es.post("/a/_count", json=query).json()["count"] == 1


def test_check_format_accepts_the_unix_date_pattern():
    check_format(UNIX_DATE)
