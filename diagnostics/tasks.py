"""Celery tasks of diagnostics: thin wrappers over engine.py and services.py."""

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from diagnostics import engine, hypotheses, mitigations, services
from diagnostics.models import RunStatus
from orion_ops.celery import BoundedRedeliveryTask


class DiagnosticTask(BoundedRedeliveryTask):
    def redeliveries_exhausted(self, run_id: int, *, lost: int) -> None:
        """A run whose worker died under it every time ends failed (and attached), not running for ever."""
        services.run_finish(
            run_id=run_id,
            status=RunStatus.FAILED,
            error=f"the worker running it was lost {lost} times (killed or out of memory); not tried again",
        )


@shared_task(
    bind=True,
    base=DiagnosticTask,
    name="diagnostics.tasks.run_diagnostic",
    # A worker that dies mid-run gets the message redelivered; the run is claimed again and finished.
    acks_late=True,
    reject_on_worker_lost=True,
    # Retries are bounded by the engine (DIAGNOSTICS_MAX_RETRIES), only for transient errors.
    max_retries=None,
    ignore_result=True,
)
def run_diagnostic(self, run_id: int) -> str | None:
    """Run one diagnostic. Queue and time limits (per collector) come with the message: see run_enqueue."""
    _hard, soft = self.request.timelimit or (None, None)
    outcome = engine.run_execute(
        run_id=run_id, retries=self.request.retries, interrupts=(SoftTimeLimitExceeded,), soft_time_limit=soft
    )
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status


@shared_task(name="diagnostics.tasks.reap_stale_runs", time_limit=120, soft_time_limit=100, ignore_result=True)
def reap_stale_runs() -> int:
    return services.runs_reap_stale()


@shared_task(
    bind=True,
    name="diagnostics.tasks.run_mitigation",
    # Redelivered if the worker dies before acknowledging; the conditional claim keeps it from acting twice.
    acks_late=True,
    reject_on_worker_lost=True,
    # Defaults; mitigation_enqueue sends the configured limits (DIAGNOSTICS_MITIGATION_*) with each message.
    soft_time_limit=45,
    time_limit=60,
    ignore_result=True,
)
def run_mitigation(self, mitigation_id: int) -> str | None:
    """Execute one confirmed mitigation (scale or rollout restart), once."""
    return mitigations.mitigation_execute(mitigation_id=mitigation_id, interrupts=(SoftTimeLimitExceeded,))


@shared_task(name="diagnostics.tasks.reap_stale_mitigations", time_limit=120, soft_time_limit=100, ignore_result=True)
def reap_stale_mitigations() -> int:
    return mitigations.mitigations_reap_stale()


@shared_task(
    name="diagnostics.tasks.recompute_hypotheses",
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=60,
    soft_time_limit=45,
    ignore_result=True,
)
def recompute_hypotheses(incident_id: int) -> str | None:
    """Recompute an incident's likely causes from every finished run (idempotent: the latest list wins)."""
    row = hypotheses.hypotheses_recompute(incident_id=incident_id)
    return row.top_key if row else None
