"""Building paging configuration for tests: schedules, policies, contact methods."""

from datetime import UTC, datetime

from incidents.paging.models import (
    Channel,
    ContactMethod,
    EscalationPolicy,
    EscalationStep,
    Rotation,
    Schedule,
    ScheduleOverride,
)
from tests.factories import UserFactory


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def person(username: str, *contacts: tuple[str, str], role: str | None = "engineer"):
    user = UserFactory(username=username, role=role)
    for position, (kind, address) in enumerate(contacts):
        ContactMethod.objects.create(user=user, position=position, kind=kind, address=address)
    return user


def schedule(slug="primary", *, time_zone="UTC", participants=("alice", "bob"), shift_seconds=7 * 86400, handoff=None):
    s = Schedule.objects.create(slug=slug, time_zone=time_zone)
    Rotation.objects.create(
        schedule=s,
        participants=list(participants),
        shift_seconds=shift_seconds,
        handoff=handoff or utc(2026, 1, 5, 9, 0),
    )
    return s


def override(s: Schedule, user, start: datetime, end: datetime) -> ScheduleOverride:
    return ScheduleOverride.objects.create(schedule=s, user=user, start=start, end=end)


def policy(slug="default", *steps: dict, repeat=0, is_default=True, services=()) -> EscalationPolicy:
    """``steps``: dicts with schedule / users / channel / wait_minutes."""
    p = EscalationPolicy.objects.create(slug=slug, repeat=repeat, is_default=is_default)
    if services:
        p.services.set(services)
    for position, spec in enumerate(steps):
        step = EscalationStep.objects.create(
            policy=p,
            position=position,
            schedule=spec.get("schedule"),
            channel=spec.get("channel"),
            wait_minutes=spec.get("wait_minutes"),
        )
        if spec.get("users"):
            step.users.set(spec["users"])
    return p


def channel(slug="ops-room", kind="webhook", url_env="ORION_TARGET_OPS_HOOK") -> Channel:
    return Channel.objects.create(slug=slug, kind=kind, url_env=url_env)
