"""Reads for paging's pages: who is on call for a service, the on-call summary, recent deliveries."""

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfoNotFoundError

from django.utils import timezone

from incidents.models import Service
from incidents.paging import oncall
from incidents.paging.models import Delivery, EscalationPolicy, Schedule


@dataclass(frozen=True)
class OnCallLine:
    schedule: str
    users: list[str]
    until: datetime | None


def _line(schedule: Schedule, now: datetime) -> OnCallLine:
    try:
        current = oncall.oncall(schedule, at=now)
    except (ZoneInfoNotFoundError, ValueError):  # a time zone mistyped in the admin
        return OnCallLine(schedule.slug, [], None)
    return OnCallLine(schedule.slug, current.users, current.until)


def oncall_now(*, now: datetime | None = None) -> list[OnCallLine]:
    """Every schedule with who is on call now: three queries however many schedules there are."""
    now = now or timezone.now()
    schedules = Schedule.objects.prefetch_related("rotations", "overrides__user").order_by("slug")
    return [_line(s, now) for s in schedules]


def service_schedules(service: Service) -> list[Schedule]:
    """The schedules the service's escalation pages (its policy, else the default policy)."""
    policy = (
        EscalationPolicy.objects.filter(services=service).first()
        or EscalationPolicy.objects.filter(is_default=True).first()
    )
    if policy is None:
        return []
    ids = policy.steps.filter(schedule__isnull=False).values_list("schedule_id", flat=True)
    return list(Schedule.objects.filter(pk__in=ids).prefetch_related("rotations", "overrides__user").order_by("slug"))


def oncall_for_service(service: Service, *, now: datetime | None = None) -> list[OnCallLine]:
    now = now or timezone.now()
    return [_line(s, now) for s in service_schedules(service)]


def oncall_by_service(services: list[Service], *, now: datetime | None = None) -> dict[int, list[OnCallLine]]:
    """``oncall_for_service`` for many services at once: a fixed number of queries however many there are."""
    now = now or timezone.now()
    own: dict[int, EscalationPolicy] = {}
    for policy in EscalationPolicy.objects.filter(services__in=services).prefetch_related("services", "steps"):
        for service in policy.services.all():
            own.setdefault(service.pk, policy)  # the first by slug, as service_schedules takes it
    default = EscalationPolicy.objects.filter(is_default=True).prefetch_related("steps").first()
    policies = {*own.values(), *([default] if default else [])}
    wanted = {step.schedule_id for policy in policies for step in policy.steps.all() if step.schedule_id}
    schedules = Schedule.objects.filter(pk__in=wanted).prefetch_related("rotations", "overrides__user").order_by("slug")
    lines = {schedule.pk: _line(schedule, now) for schedule in schedules}
    result = {}
    for service in services:
        policy = own.get(service.pk, default)
        ids = {step.schedule_id for step in policy.steps.all()} if policy else set()
        result[service.pk] = [line for pk, line in lines.items() if pk in ids]
    return result


def deliveries_recent(*, status: str = "", limit: int = 200):
    queryset = Delivery.objects.select_related("incident").order_by("-created_at", "-id")
    if status:
        queryset = queryset.filter(status=status)
    return queryset[:limit]
