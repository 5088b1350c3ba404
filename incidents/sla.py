"""Response SLAs: how long each severity may wait for acknowledgement, and breach marking."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from incidents import events
from incidents.actors import Actor
from incidents.models import Incident, Status, TimelineKind
from incidents.timeline import timeline_entry_add

logger = logging.getLogger(__name__)


def ack_target(severity: str) -> timedelta:
    return timedelta(seconds=settings.SLA_ACK_SECONDS[severity])


def ack_due_at(*, detected_at: datetime, severity: str) -> datetime:
    return detected_at + ack_target(severity)


def format_target(severity: str) -> str:
    seconds = settings.SLA_ACK_SECONDS[severity]
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def incidents_breaching(*, now: datetime):
    """Unacknowledged incidents past their deadline and not yet marked."""
    return Incident.objects.filter(status=Status.DETECTED, sla_breached_at__isnull=True, ack_due_at__lte=now).order_by(
        "ack_due_at"
    )


def sla_breach_mark(*, incident_id: int, now: datetime) -> bool:
    """Mark one breach. True when this call marked it, False when it was not due or already marked.

    Two sweeps may overlap (two beat ticks, two workers). The conditional update
    lets exactly one of them win; the unique constraint on the timeline is the
    backstop should anything else write a breach.
    """
    try:
        with transaction.atomic():
            won = Incident.objects.filter(
                pk=incident_id,
                status=Status.DETECTED,
                sla_breached_at__isnull=True,
                ack_due_at__lte=now,
            ).update(sla_breached_at=now, updated_at=now)
            if not won:
                return False
            incident = Incident.objects.get(pk=incident_id)
            late = now - incident.ack_due_at
            timeline_entry_add(
                incident=incident,
                kind=TimelineKind.SLA_BREACHED,
                actor=Actor.system("SLA monitor"),
                text=(
                    f"{incident.severity} not acknowledged within {format_target(incident.severity)}; "
                    f"deadline passed {int(late.total_seconds())} s ago"
                ),
                data={
                    "severity": incident.severity,
                    "ack_due_at": incident.ack_due_at.isoformat(),
                    "target_seconds": settings.SLA_ACK_SECONDS[incident.severity],
                },
                at=now,
            )
            events.event_emit(incident=incident, kind="sla_breached")
    except IntegrityError:
        logger.info("SLA breach for incident %s was already recorded", incident_id)
        return False
    return True


def sla_breaches_mark(*, now: datetime | None = None, limit: int = 500) -> int:
    """Sweep: mark every due breach once. Returns how many this call marked."""
    now = now or timezone.now()
    ids = list(incidents_breaching(now=now).values_list("pk", flat=True)[:limit])
    return sum(sla_breach_mark(incident_id=pk, now=now) for pk in ids)
