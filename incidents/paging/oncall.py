"""Who is on call: computed from a schedule's rotations and overrides, never stored.

Shift boundaries are counted in the schedule's local wall-clock time, then
turned into instants: a weekly rotation handing off on Monday 09:00 in
Europe/Berlin does so at 08:00 UTC in winter and 07:00 UTC in summer.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model

from incidents.paging.models import Rotation, Schedule


@dataclass(frozen=True)
class Shift:
    username: str
    start: datetime
    end: datetime
    override: bool = False


def _instant(wall: datetime, tz: ZoneInfo) -> datetime:
    return wall.replace(tzinfo=tz).astimezone(UTC)


def rotation_shift_at(rotation: Rotation, *, at: datetime, tz: ZoneInfo) -> Shift | None:
    """The rotation's shift that contains ``at``."""
    if not rotation.participants:
        return None
    length = timedelta(seconds=rotation.shift_seconds)
    origin = rotation.handoff.astimezone(tz).replace(tzinfo=None)
    wall = at.astimezone(tz).replace(tzinfo=None)
    k = (wall - origin) // length
    # Wall time is ambiguous or missing for an hour a year: settle k against the real instants.
    while _instant(origin + k * length, tz) > at:
        k -= 1
    while _instant(origin + (k + 1) * length, tz) <= at:
        k += 1
    username = rotation.participants[k % len(rotation.participants)]
    return Shift(username, _instant(origin + k * length, tz), _instant(origin + (k + 1) * length, tz))


def shifts_at(schedule: Schedule, *, at: datetime) -> list[Shift]:
    """Everyone on call at ``at``: the covering override, or each rotation's participant."""
    tz = ZoneInfo(schedule.time_zone)
    overrides = [o for o in schedule.overrides.all() if o.start <= at < o.end]
    if overrides:
        o = overrides[0]
        return [Shift(o.user.get_username(), o.start, o.end, override=True)]
    shifts = [s for r in schedule.rotations.all() if (s := rotation_shift_at(r, at=at, tz=tz))]
    # An override that starts during a shift cuts it short.
    upcoming = [o.start for o in schedule.overrides.all() if o.start > at]
    if upcoming:
        cut = min(upcoming)
        shifts = [Shift(s.username, s.start, min(s.end, cut), s.override) for s in shifts]
    seen, unique = set(), []
    for shift in shifts:
        if shift.username not in seen:
            seen.add(shift.username)
            unique.append(shift)
    return unique


@dataclass(frozen=True)
class OnCall:
    users: list[str]
    until: datetime | None
    next_users: list[str]


def oncall(schedule: Schedule, *, at: datetime) -> OnCall:
    now = shifts_at(schedule, at=at)
    if not now:
        return OnCall([], None, [])
    until = min(s.end for s in now)
    after = shifts_at(schedule, at=until)
    return OnCall([s.username for s in now], until, [s.username for s in after])


def oncall_users(schedule: Schedule, *, at: datetime) -> list:
    """The active users on call at ``at``, in rotation order."""
    names = oncall(schedule, at=at).users
    users = {u.get_username(): u for u in get_user_model().objects.filter(username__in=names, is_active=True)}
    return [users[name] for name in names if name in users]


def shifts_between(schedule: Schedule, *, start: datetime, end: datetime, limit: int = 1000) -> list[Shift]:
    """The shifts (per person, merged when contiguous) from ``start`` to ``end``: for the iCal feed."""
    found: list[Shift] = []
    at = start
    while at < end and len(found) < limit:
        now = shifts_at(schedule, at=at)
        if not now:
            break
        until = min(s.end for s in now)
        for s in now:
            found.append(Shift(s.username, max(s.start, at), until, s.override))
        at = until
    merged: list[Shift] = []
    for shift in found:
        previous = next((m for m in reversed(merged) if m.username == shift.username), None)
        if previous and previous.end == shift.start and previous.override == shift.override:
            merged[merged.index(previous)] = Shift(shift.username, previous.start, shift.end, shift.override)
        else:
            merged.append(shift)
    return merged
