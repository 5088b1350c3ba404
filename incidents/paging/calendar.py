"""iCal export of a person's shifts, behind a per-user secret URL (only the secret's SHA-256 is stored)."""

import hashlib
import secrets
from datetime import UTC, datetime

from django.conf import settings
from django.utils import timezone

from incidents.paging.models import CalendarFeed, Schedule
from incidents.paging.oncall import shifts_between


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def feed_token_create(*, user) -> str:
    """A new secret for ``user``'s calendar URLs (the old one stops working). Returned once."""
    token = secrets.token_urlsafe(24)
    CalendarFeed.objects.update_or_create(user=user, defaults={"digest": _digest(token)})
    return token


def feed_user(token: str):
    if not token or len(token) > 100:
        return None
    feed = CalendarFeed.objects.filter(digest=_digest(token)).select_related("user").first()
    return feed.user if feed and feed.user.is_active else None


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def ical(schedule: Schedule, *, user, start: datetime, end: datetime) -> str:
    name = user.get_username()
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Orion Ops//Paging//EN",
        f"X-WR-CALNAME:On call: {schedule.slug}",
    ]
    now = _stamp(timezone.now())
    for shift in shifts_between(schedule, start=start, end=end):
        if shift.username != name:
            continue
        lines += [
            "BEGIN:VEVENT",
            f"UID:{schedule.slug}-{name}-{_stamp(shift.start)}@orion-ops",
            f"DTSTAMP:{now}",
            f"DTSTART:{_stamp(shift.start)}",
            f"DTEND:{_stamp(shift.end)}",
            f"SUMMARY:On call: {schedule.slug}" + (" (override)" if shift.override else ""),
        ]
        if settings.ORION_BASE_URL:
            lines.append(f"URL:{settings.ORION_BASE_URL.rstrip('/')}/")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"
