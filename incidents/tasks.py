"""Celery tasks of the incidents app: thin wrappers over sla.py and friends."""

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
