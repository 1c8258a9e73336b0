"""The signing keys' rotation policy: first key, successor published before it signs, the
predecessor published until its last token has expired, then deleted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from citadel.deployment_tokens.rotation import (
    KeyTimes,
    NewKey,
    Retirement,
    RotationPlan,
    RotationPolicy,
    plan,
    signing_key,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = RotationPolicy(
    rotate_after=timedelta(days=30),
    token_lifetime=timedelta(seconds=300),
    clock_skew=timedelta(seconds=60),
    propagation=timedelta(seconds=60),
)


def key(kid: str, generation: int, active_from: datetime, **more: datetime) -> KeyTimes:
    return KeyTimes(kid, generation, active_from, more.get("until"), more.get("publish"))


def test_without_keys_the_first_is_made_signing_at_once() -> None:
    assert plan([], T0, POLICY) == RotationPlan(make=NewKey(1, T0))


def test_a_young_key_needs_nothing() -> None:
    keys = [key("a", 1, T0)]
    assert plan(keys, T0 + timedelta(days=29, hours=23), POLICY).empty


def test_a_key_as_old_as_the_period_gets_a_successor_that_signs_after_propagation() -> None:
    now = T0 + timedelta(days=30)
    starts = now + timedelta(seconds=60)
    assert plan([key("a", 1, T0)], now, POLICY) == RotationPlan(
        make=NewKey(2, starts),
        retire=Retirement("a", starts, starts + timedelta(seconds=360)),
    )


def test_the_old_key_signs_until_its_successor_starts() -> None:
    now = T0 + timedelta(days=30)
    starts = now + timedelta(seconds=60)
    keys = [
        key("a", 1, T0, until=starts, publish=starts + timedelta(seconds=360)),
        key("b", 2, starts),
    ]
    signer = signing_key(keys, now + timedelta(seconds=59))
    assert signer is not None
    assert signer.kid == "a"
    signer = signing_key(keys, starts)
    assert signer is not None
    assert signer.kid == "b"


def test_a_waiting_successor_is_not_replaced() -> None:
    now = T0 + timedelta(days=30)
    starts = now + timedelta(seconds=60)
    keys = [
        key("a", 1, T0, until=starts, publish=starts + timedelta(seconds=360)),
        key("b", 2, starts),
    ]
    forced = RotationPolicy(rotate_after=timedelta(0))
    assert plan(keys, now + timedelta(seconds=1), forced).empty


def test_the_retired_key_is_published_through_its_last_tokens_lifetime_and_skew() -> None:
    starts = T0 + timedelta(days=30)
    publish = starts + timedelta(seconds=360)
    keys = [key("a", 1, T0, until=starts, publish=publish), key("b", 2, starts)]
    assert plan(keys, publish - timedelta(microseconds=1), POLICY).empty
    assert plan(keys, publish, POLICY) == RotationPlan(delete=("a",))


def test_deleting_and_rotating_happen_in_one_plan_after_a_long_pause() -> None:
    starts = T0 + timedelta(days=30)
    keys = [
        key("a", 1, T0, until=starts, publish=starts + timedelta(seconds=360)),
        key("b", 2, starts),
    ]
    now = starts + timedelta(days=30)
    done = plan(keys, now, POLICY)
    assert done.delete == ("a",)
    assert done.make == NewKey(3, now + timedelta(seconds=60))
    assert done.retire is not None
    assert done.retire.kid == "b"


def test_a_forced_rotation_makes_a_successor_for_a_young_key() -> None:
    forced = RotationPolicy(rotate_after=timedelta(0), propagation=timedelta(seconds=60))
    done = plan([key("a", 1, T0)], T0 + timedelta(minutes=5), forced)
    assert done.make == NewKey(2, T0 + timedelta(minutes=6))


def test_no_key_signs_before_the_first_is_made() -> None:
    assert signing_key([], T0) is None
