"""Who is on call: rotations hand off at local wall-clock time across DST changes; overrides win."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from incidents.paging.oncall import oncall, shifts_between
from tests.paging.helpers import override, person, schedule, utc

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def berlin_weekly():
    for name in ("alice", "bob", "carol"):
        person(name)
    # Monday 19 October 2026, 09:00 in Berlin (summer time, UTC+2).
    handoff = utc(2026, 10, 19, 9, 0).replace(tzinfo=BERLIN)
    return schedule(time_zone="Europe/Berlin", participants=["alice", "bob"], handoff=handoff)


def test_weekly_handoff_stays_at_nine_local_across_the_autumn_dst_change(berlin_weekly):
    # Summer time ends on 25 October: the next hand-off, Monday 26th 09:00 CET, is 08:00 UTC, not 07:00.
    assert oncall(berlin_weekly, at=utc(2026, 10, 19, 7, 0)).users == ["alice"]
    before = oncall(berlin_weekly, at=utc(2026, 10, 26, 7, 30))
    assert before.users == ["alice"]
    assert before.until == utc(2026, 10, 26, 8, 0)
    assert before.next_users == ["bob"]
    assert oncall(berlin_weekly, at=utc(2026, 10, 26, 8, 0)).users == ["bob"]


def test_handoff_across_the_spring_dst_change(berlin_weekly):
    # Summer time starts on 28 March 2027: Monday 29th 09:00 CEST is 07:00 UTC.
    at = utc(2027, 3, 29, 6, 59)  # Monday 29 March 2027 08:59 CEST
    now = oncall(berlin_weekly, at=at)
    assert now.until == utc(2027, 3, 29, 7, 0)  # 09:00 CEST
    assert oncall(berlin_weekly, at=now.until).users == now.next_users
    assert now.next_users != now.users


def test_an_override_covers_its_range_and_cuts_the_shift_short(berlin_weekly):
    carol = person("carol")
    start, end = utc(2026, 10, 21, 0, 0), utc(2026, 10, 22, 0, 0)
    override(berlin_weekly, carol, start, end)
    earlier = oncall(berlin_weekly, at=utc(2026, 10, 20, 12, 0))
    assert earlier.users == ["alice"]
    assert earlier.until == start
    assert earlier.next_users == ["carol"]
    during = oncall(berlin_weekly, at=start + timedelta(hours=3))
    assert during.users == ["carol"]
    assert during.until == end
    assert during.next_users == ["alice"]


def test_shifts_between_lists_each_shift_once(berlin_weekly):
    shifts = shifts_between(berlin_weekly, start=utc(2026, 10, 19, 7, 0), end=utc(2026, 11, 2, 8, 0))
    assert [(s.username, s.start, s.end) for s in shifts] == [
        ("alice", utc(2026, 10, 19, 7, 0), utc(2026, 10, 26, 8, 0)),
        ("bob", utc(2026, 10, 26, 8, 0), utc(2026, 11, 2, 8, 0)),
    ]


def test_a_rotation_before_its_first_handoff_counts_backwards(berlin_weekly):
    # A week before the first hand-off is bob's (the turn before alice's).
    assert oncall(berlin_weekly, at=utc(2026, 10, 15, 12, 0)).users == ["bob"]
