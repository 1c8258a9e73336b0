"""The pure rules of the node's snapshots: SLM schedules (the cron subset), the schedule of the
platform's interval, retention decisions, date-math snapshot names, restore renames."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from citadel.contract.snapshot_jobs import SnapshotEntry
from citadel.node.errors import IllegalArgument
from citadel.node.snapshots import cron, names
from citadel.node.snapshots.importing import renamed
from citadel.node.snapshots.retention import Retention, to_delete

AT = datetime(2026, 12, 7, 8, 30, 0, tzinfo=UTC)
DAY = 86400.0


def entry(name: str, age_days: float, *, state: str = "SUCCESS", policy: str | None = "p"):
    start = AT.timestamp() - age_days * DAY
    return SnapshotEntry(
        name=name, uuid=name, state=state, start_time=start, end_time=start + 1, policy=policy
    )


# -- cron ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "next_run"),
    [
        ("0 */30 * * * ?", datetime(2026, 12, 7, 9, 0, tzinfo=UTC)),
        ("0 0 1,13 * * ?", datetime(2026, 12, 7, 13, 0, tzinfo=UTC)),
        ("0 30 1 * * ?", datetime(2026, 12, 8, 1, 30, tzinfo=UTC)),
        ("*/5 * * * * ?", datetime(2026, 12, 7, 8, 30, 5, tzinfo=UTC)),
        ("0 15-45/15 8 * * *", datetime(2026, 12, 7, 8, 45, tzinfo=UTC)),
        ("0 0 0 * * ? *", datetime(2026, 12, 8, 0, 0, tzinfo=UTC)),
        ("30m", datetime(2026, 12, 7, 9, 0, tzinfo=UTC)),
    ],
)
def test_a_schedule_fires_next_at_its_next_matching_second(schedule, next_run):
    assert cron.parse(schedule).next_after(AT) == next_run


@pytest.mark.parametrize(
    ("schedule", "named"),
    [
        ("0 0 1 ? * MON", "day-of-week"),
        ("0 0 1 1 * ?", "day-of-month"),
        ("0 0 1 * JAN ?", "month"),
        ("0 0 1 * * ? 2027", "year"),
        ("0 0 25 * * ?", "hours"),
        ("0 L * * * ?", "minutes"),
        ("0 0 1 * *", "6 or 7 fields"),
    ],
)
def test_a_schedule_outside_the_subset_is_a_400_naming_the_field(schedule, named):
    with pytest.raises(IllegalArgument, match=named):
        cron.parse(schedule)


@pytest.mark.parametrize(
    ("seconds", "schedule"),
    [
        (1800, "0 */30 * * * ?"),
        (300, "0 */5 * * * ?"),
        (3600, "0 0 * * * ?"),
        (7200, "0 0 */2 * * ?"),
        (86400, "0 0 0 * * ?"),
        (5, "*/5 * * * * ?"),
        (7, "7s"),
        (5400, "5400s"),
    ],
)
def test_the_platform_interval_becomes_a_cron_schedule_where_one_divides_evenly(seconds, schedule):
    assert cron.for_interval(seconds) == schedule
    cron.parse(schedule)  # every derived schedule is one the node runs


# -- retention -------------------------------------------------------------------------------


def test_max_count_deletes_the_oldest_beyond_it():
    snapshots = [entry("a", 3), entry("b", 2), entry("c", 1)]
    assert to_delete(snapshots, "p", Retention(max_count=2), AT.timestamp()) == ["a"]


def test_expire_after_deletes_old_ones_but_keeps_min_count():
    snapshots = [entry("a", 40), entry("b", 35), entry("c", 31), entry("d", 1)]
    retention = Retention(expire_after_s=30 * DAY, min_count=2)
    assert to_delete(snapshots, "p", retention, AT.timestamp()) == ["a", "b"]


def test_expire_after_alone_deletes_every_expired_one():
    snapshots = [entry("a", 40), entry("b", 1)]
    retention = Retention(expire_after_s=30 * DAY)
    assert to_delete(snapshots, "p", retention, AT.timestamp()) == ["a"]


def test_retention_counts_only_the_policys_own_snapshots():
    snapshots = [entry("mine", 5), entry("manual", 9, policy=None), entry("other", 8, policy="q")]
    assert to_delete(snapshots, "p", Retention(max_count=1), AT.timestamp()) == []
    assert to_delete(snapshots, "q", Retention(max_count=0), AT.timestamp()) == ["other"]


def test_a_failed_snapshot_older_than_a_successful_one_goes():
    snapshots = [
        entry("failed-old", 3, state="FAILED"),
        entry("ok", 2),
        entry("failed-new", 1, state="FAILED"),
    ]
    assert to_delete(snapshots, "p", Retention(max_count=10), AT.timestamp()) == ["failed-old"]


# -- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "name"),
    [
        ("<cloud-snapshot-{now/d}>", "cloud-snapshot-2026.12.07"),
        ("<snap-{now/M{yyyy.MM}}>", "snap-2026.12"),
        ("<snap-{now{yyyy.MM.dd.HH|+01:00}}>", "snap-2026.12.07.09"),
        ("<snap-{now-1d/d}>", "snap-2026.12.06"),
        ("plain-name", "plain-name"),
    ],
)
def test_a_date_math_name_resolves_as_elasticsearch_resolves_it(expression, name):
    assert names.resolve(expression, AT) == name


@pytest.mark.parametrize("name", ["Upper", "_leading", "with space", "a,b", "star*", "q?"])
def test_an_invalid_snapshot_name_is_refused(name):
    with pytest.raises(names.InvalidSnapshotName, match="Invalid snapshot name"):
        names.validate(name, "found-snapshots")


def test_a_rename_replaces_with_java_style_groups():
    assert renamed("logs-1", "logs-(.+)", "restored-logs-$1") == "restored-logs-1"
    assert renamed("books", "(.+)", "$1-copy") == "books-copy"
    assert renamed("books", "nomatch", "x") == "books"
    assert renamed("books", None, None) == "books"
