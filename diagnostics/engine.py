"""Running one diagnostic run: claim it, guard the target with its breaker, call the collector, record.

Kept free of Celery so it can be called and tested directly; ``tasks.py``
turns its outcome into a retry. The incident is never touched here beyond the
run's own timeline entry: a failing collector fails its run, nothing else.

The collector gets everything as arguments: its configuration
(``conf.collector_config``), the target, the window and the target's secrets
(``credentials.target_secrets``, read here for this run and never stored).
"""

import logging
from dataclasses import dataclass

import pybreaker
from celery.utils.time import get_exponential_backoff_interval

from diagnostics import conf, services
from diagnostics.breaker import breaker_for, trial_at
from diagnostics.collectors import collector_class
from diagnostics.collectors.base import CollectorError, ConfigurationError, TargetSpec, Window
from diagnostics.credentials import target_secrets
from diagnostics.models import RunStatus
from orion_ops import logs

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    status: str | None  # the run's status after this attempt; None when there was nothing to do
    retry_in: float | None = None  # seconds before the next attempt of a transient failure


def retry_delay(retries: int) -> float:
    """Exponential backoff with full jitter: up to base × 2^retries seconds, capped."""
    return float(
        get_exponential_backoff_interval(
            factor=conf.get("RETRY_BACKOFF_SECONDS"),
            retries=retries,
            maximum=conf.get("RETRY_BACKOFF_MAX_SECONDS"),
            full_jitter=True,
        )
    )


def run_execute(
    *,
    run_id: int,
    retries: int = 0,
    interrupts: tuple[type[BaseException], ...] = (),
    soft_time_limit: float | None = None,
) -> Outcome:
    """Execute one delivery of a run.

    ``interrupts`` are the runner's time-limit exceptions and ``soft_time_limit`` the limit
    they enforce (for the run's error message).
    """
    run = services.run_claim(run_id=run_id)
    if run is None:
        # Finished already (a redelivery after the result was saved), following another run, or deleted:
        # make sure a finished run is on the timeline, and stop.
        services.run_attach_if_finished(run_id=run_id)
        return Outcome(status=None)

    logs.bind(incident_id=run.incident_id)
    cls = collector_class(run.collector)
    if run.target is None or cls is None:
        reason = "its target was removed" if run.target is None else f"no collector for {run.collector} targets"
        services.run_finish(run_id=run_id, status=RunStatus.FAILED, error=f"cannot run: {reason}")
        return Outcome(status=RunStatus.FAILED)

    target = TargetSpec(kind=run.target.kind, name=run.target.name, config=dict(run.target.config))
    try:
        secrets = target_secrets(target.config)
    except ConfigurationError as exc:  # refused or unset here: nothing is sent, and the target is not to blame
        services.run_finish(run_id=run_id, status=RunStatus.FAILED, error=exc.message)
        return Outcome(status=RunStatus.FAILED)
    window = Window(start=run.window_start, now=run.window_end)
    collector = cls(config=conf.collector_config(run.collector), interrupts=interrupts)
    services.run_progress(run_id=run_id, done=0, total=len(collector.checks_for(target)), findings=[])

    def progress(done: int, total: int, findings) -> None:
        services.run_progress(run_id=run_id, done=done, total=total, findings=[f.to_dict() for f in findings])

    breaker = breaker_for(run.target.pk)
    try:
        findings = breaker.call(collector.collect, target, window, secrets=secrets, progress=progress)
    except pybreaker.CircuitBreakerError:
        when = trial_at(run.target.pk)
        error = (
            f"circuit open for {target.kind} target {target.name} after {breaker.fail_max} consecutive failures; "
            f"not tried again before {when:%H:%M:%S} UTC"
            if when
            else f"circuit open for {target.kind} target {target.name}"
        )
        services.run_finish(run_id=run_id, status=RunStatus.FAILED, error=error)
        return Outcome(status=RunStatus.FAILED)
    except CollectorError as exc:
        max_retries = conf.get("MAX_RETRIES")
        if not exc.permanent and retries < max_retries:
            delay = retry_delay(retries)
            services.run_requeue(
                run_id=run_id, error=f"attempt {retries + 1} of {max_retries + 1} failed: {exc.message}"
            )
            logger.info("diagnostic run %s: transient failure, retrying in %.1f s", run_id, delay)
            return Outcome(status=RunStatus.QUEUED, retry_in=delay)
        attempts = f" after {retries + 1} attempts" if retries else ""
        services.run_finish(run_id=run_id, status=RunStatus.FAILED, error=f"{exc.message}{attempts}")
        return Outcome(status=RunStatus.FAILED)
    except interrupts:
        limit = soft_time_limit or services.collector_limits(run.collector).soft
        services.run_finish(
            run_id=run_id, status=RunStatus.TIMED_OUT, error=f"did not finish within its {limit:g} s time limit"
        )
        return Outcome(status=RunStatus.TIMED_OUT)
    except Exception as exc:  # a bug in a collector fails its run, never the incident
        logger.exception("diagnostic run %s: collector %s crashed", run_id, run.collector)
        services.run_finish(
            run_id=run_id, status=RunStatus.FAILED, error=f"the collector crashed: {type(exc).__name__}"
        )
        return Outcome(status=RunStatus.FAILED)

    services.run_finish(run_id=run_id, status=RunStatus.SUCCEEDED, findings=[f.to_dict() for f in findings])
    return Outcome(status=RunStatus.SUCCEEDED)
