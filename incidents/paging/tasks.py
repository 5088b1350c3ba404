"""Celery tasks of paging: thin wrappers over outbox.py and escalation.py (schedules set in PagingConfig.ready())."""

from celery import shared_task


@shared_task(
    name="incidents.paging.tasks.deliver",
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=120,
    soft_time_limit=100,
)
def deliver(delivery_id: int) -> str:
    """Send one outbox row once. Idempotent: a redelivered task finds the row claimed or done and stops."""
    from incidents.paging.outbox import delivery_attempt

    return delivery_attempt(delivery_id)


@shared_task(name="incidents.paging.tasks.escalate", time_limit=60, soft_time_limit=50)
def escalate() -> int:
    from incidents.paging.escalation import escalations_tick

    return escalations_tick()


@shared_task(name="incidents.paging.tasks.sweep_deliveries", time_limit=60, soft_time_limit=50)
def sweep_deliveries() -> int:
    from django.conf import settings

    from incidents.paging.outbox import deliveries_sweep

    return deliveries_sweep(grace_seconds=settings.PAGING_SWEEP_GRACE_SECONDS)
