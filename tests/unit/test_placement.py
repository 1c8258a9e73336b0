"""Placement and recovery decisions (ADR 31): capacity, zones, health, no room."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from citadel.allocators.placement import (
    Host,
    Lost,
    Placement,
    Request,
    RestoreChoice,
    choose,
    is_healthy,
    place_all,
    recover,
)

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def host(id: str, zone: str = "z1", capacity: int = 4096, used: int = 0, healthy: bool = True):
    return Host(id=id, zone=zone, capacity_mb=capacity, used_mb=used, healthy=healthy)


def chosen(request: Request, hosts: list[Host], spread=None) -> tuple[str, str] | None:
    """The (id, zone) `choose` picks, or None."""
    found = choose(request, hosts, spread or {})
    return (found.id, found.zone) if found is not None else None


def req(dep: str, size: int = 1024, org: str = "org", avoid: str | None = None) -> Request:
    return Request(dep, org, size, avoid)


def test_an_allocator_is_healthy_until_its_heartbeat_is_older_than_the_interval():
    assert is_healthy(NOW - timedelta(seconds=30), NOW, 30)
    assert not is_healthy(NOW - timedelta(seconds=30.001), NOW, 30)


def test_a_deployment_goes_only_where_its_size_fits():
    hosts = [host("small", capacity=4096, used=3072), host("big")]

    assert chosen(req("d", 2048), hosts) == ("big", "z1")


def test_a_deployment_that_fits_exactly_is_placed():
    assert choose(req("d", 1024), [host("a", capacity=2048, used=1024)], {}) is not None


def test_an_unhealthy_allocator_is_never_chosen_however_empty():
    hosts = [host("dead", capacity=65536, healthy=False), host("alive")]

    assert chosen(req("d"), hosts) == ("alive", "z1")


def test_no_room_anywhere_leaves_the_deployment_unplaced():
    hosts = [host("a", capacity=1024, used=512), host("b", healthy=False)]

    assert place_all([req("d", 1024)], hosts) == [Placement("d", None)]


def test_an_organizations_deployments_spread_across_zones():
    hosts = [host("a1", "z1", capacity=8192), host("a2", "z1", capacity=8192), host("b1", "z2")]

    placed = place_all([req("d1"), req("d2"), req("d3"), req("d4")], hosts)

    zones = [p.zone for p in placed]
    assert sorted(zones) == ["z1", "z1", "z2", "z2"]


def test_the_zone_spread_is_per_organization():
    hosts = [host("a", "z1"), host("b", "z2")]
    spread = {("other", "z1"): 5, ("mine", "z2"): 1}

    # the other organization's count is not ours
    assert chosen(req("d", org="mine"), hosts, spread) == ("a", "z1")


def test_within_a_zone_the_allocator_with_most_free_memory_wins_then_the_id():
    hosts = [host("b", used=1024), host("c"), host("a")]

    assert chosen(req("d"), hosts) == ("a", "z1")  # a and c are equally free: the id decides


def test_a_batch_takes_each_placements_memory_before_the_next():
    placed = place_all([req("d1", 3072), req("d2", 3072)], [host("a"), host("b")])

    assert {p.allocator_id for p in placed} == {"a", "b"}


def test_a_batch_never_over_commits_an_allocator():
    placed = place_all([req("d1", 3072), req("d2", 3072)], [host("a")])

    assert [p.allocator_id for p in placed] == ["a", None]


def test_an_over_committed_allocator_has_no_free_memory():
    assert host("a", capacity=1024, used=2048).free_mb == 0


def test_recovery_prefers_another_zone_than_the_lost_allocators():
    hosts = [
        host("lost", "z1", healthy=False),
        host("same-zone", "z1", capacity=65536),
        host("other-zone", "z2", capacity=2048),
    ]

    (decision,) = recover([Lost(req("d", avoid="z1"), "lost", has_snapshot=True)], hosts)

    assert decision.allocator_id == "other-zone"
    assert decision.restore is RestoreChoice.OWN_LATEST
    assert decision.detail == "allocator lost lost; restoring from the latest snapshot"


def test_recovery_falls_back_to_the_same_zone_when_no_other_has_room():
    hosts = [host("lost", "z1", healthy=False), host("same", "z1"), host("full", "z2", used=4096)]

    (decision,) = recover([Lost(req("d", avoid="z1"), "lost", has_snapshot=True)], hosts)

    assert decision.allocator_id == "same"


def test_a_deployment_without_a_snapshot_comes_back_empty_and_says_its_data_is_lost():
    (decision,) = recover([Lost(req("d", avoid="z1"), "a1", has_snapshot=False)], [host("b", "z2")])

    assert decision.restore is RestoreChoice.NONE
    assert decision.detail == "allocator a1 lost; no snapshot: data lost, starting empty"


def test_a_restore_never_made_is_kept_when_there_is_no_snapshot_of_its_own():
    lost = Lost(req("d"), "a1", has_snapshot=False, restore_pending=True)

    (decision,) = recover([lost], [host("b")])

    assert decision.restore is RestoreChoice.PENDING


def test_recovery_without_room_waits_and_says_so():
    (decision,) = recover([Lost(req("d", 2048), "a1", has_snapshot=True)], [host("b", used=3072)])

    assert decision.allocator_id is None
    assert "waiting for an allocator with room" in decision.detail
