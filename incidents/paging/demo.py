"""Paging for the demo data: a weekly schedule, a default escalation policy, a stakeholder. Idempotent."""

from datetime import datetime, time, timedelta

from django.utils import timezone

from incidents.paging.models import ContactMethod, EscalationPolicy, EscalationStep, Rotation, Schedule, Stakeholder


def demo_paging_seed(*, people: dict, services: dict) -> None:
    """``people`` and ``services`` by username and slug, as seed_demo made them."""
    for name in ("alice", "bob", "morgan", "vera"):
        if name in people and not ContactMethod.objects.filter(user=people[name]).exists():
            ContactMethod.objects.create(user=people[name], position=0, kind="email", address=f"{name}@example.com")
    schedule, created = Schedule.objects.get_or_create(
        slug="primary", defaults={"name": "Primary on-call", "time_zone": "Europe/Berlin"}
    )
    if created:
        today = timezone.localdate()
        monday = today - timedelta(days=today.weekday())
        handoff = timezone.make_aware(datetime.combine(monday, time(9, 0)), timezone.get_fixed_timezone(0))
        Rotation.objects.create(
            schedule=schedule, participants=["alice", "bob"], shift_seconds=7 * 86400, handoff=handoff
        )
    policy, created = EscalationPolicy.objects.get_or_create(
        slug="default", defaults={"name": "Page the on-call, then the manager", "is_default": True}
    )
    if created:
        EscalationStep.objects.create(policy=policy, position=0, schedule=schedule)
        manager = EscalationStep.objects.create(policy=policy, position=1)
        manager.users.set([people["morgan"]] if "morgan" in people else [])
    if "vera" in people and "task-service" in services:
        Stakeholder.objects.get_or_create(service=services["task-service"], user=people["vera"])
