"""Celery tasks of the incidents app: thin wrappers over sla.py and friends.

Their periodic schedule is set in ``IncidentsConfig.ready()``.
"""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from incidents import sla
from incidents.models import IdempotencyRecord


@shared_task(name="incidents.tasks.mark_sla_breaches", time_limit=60, soft_time_limit=50)
def mark_sla_breaches() -> int:
    return sla.sla_breaches_mark()


@shared_task(name="incidents.tasks.purge_idempotency_keys", time_limit=300, soft_time_limit=280)
def purge_idempotency_keys() -> int:
    cutoff = timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL_SECONDS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted


@shared_task(
    name="incidents.tasks.process_alert_payload",
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=600,
    soft_time_limit=570,
)
def process_alert_payload(payload_id: int) -> int:
    """Process a large stored webhook body. Idempotent: a redelivery re-applies harmlessly."""
    from incidents import intake

    return len(intake.payload_process(payload_id))


@shared_task(name="incidents.tasks.process_pending_payloads", time_limit=900, soft_time_limit=870)
def process_pending_payloads() -> int:
    """Safety net: payloads stored but never processed (broker was down, worker died)."""
    from incidents import intake

    return intake.payloads_sweep(older_than_seconds=120, budget_seconds=600)


@shared_task(name="incidents.tasks.purge_alert_payloads", time_limit=600, soft_time_limit=570)
def purge_alert_payloads() -> int:
    from incidents import intake

    return intake.payloads_purge(retention_days=settings.INTAKE_PAYLOAD_RETENTION_DAYS)


@shared_task(name="incidents.tasks.remind_overdue_action_items", time_limit=300, soft_time_limit=280)
def remind_overdue_action_items() -> int:
    from incidents.action_items import action_items_remind_overdue

    return action_items_remind_overdue()


@shared_task(
    name="incidents.tasks.draft_report",
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=300,
    soft_time_limit=240,
)
def draft_report(incident_id: int) -> int | None:
    """Draft a resolved incident's report. Idempotent: run twice, it finds the first draft and keeps it."""
    from incidents.reports import report_draft_create

    report = report_draft_create(incident_id=incident_id)
    return report.pk if report else None


@shared_task(name="incidents.tasks.draft_missing_reports", time_limit=60, soft_time_limit=50)
def draft_missing_reports() -> int:
    """Safety net: queue again the drafts that should exist by now (the broker was down, the task was lost)."""
    from incidents.reports import incidents_awaiting_report

    waiting = incidents_awaiting_report()
    for incident_id in waiting:
        draft_report.delay(incident_id)
    return len(waiting)


@shared_task(name="incidents.tasks.beat_heartbeat", time_limit=30, soft_time_limit=20, ignore_result=True)
def beat_heartbeat() -> float:
    """Scheduled by beat, run by a worker: /metrics shows when it last ran (the "no beat" alert)."""
    from incidents.metrics import heartbeat_record

    return heartbeat_record()
