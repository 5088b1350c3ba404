"""Writes on diagnostic runs: request, claim, progress, finish, attach, reap.

Every state change of a run is a conditional update, so concurrent or
repeated task deliveries cannot finish a run twice, and a run reaches its
incident's timeline exactly once (``attached_at`` is set by a conditional
update in the same transaction as the timeline entry).
"""

import logging
from collections import Counter
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from diagnostics import conf
from diagnostics.collectors import COLLECTORS, collector_class
from diagnostics.collectors.base import NOTABLE_STATUSES, STATUS_ORDER, FindingStatus, worst_status
from diagnostics.hypotheses import hypotheses_enqueue
from diagnostics.models import (
    ACTIVE_RUN_STATUSES,
    FINISHED_RUN_STATUSES,
    DiagnosticRun,
    RunStatus,
    RunTrigger,
    Target,
    TargetKind,
)
from incidents.actors import Actor
from incidents.models import Incident, TimelineKind
from incidents.timeline import timeline_entry_add

logger = logging.getLogger(__name__)

COLLECTOR_TITLES = {
    TargetKind.POSTGRES: "PostgreSQL",
    TargetKind.KUBERNETES: "Kubernetes",
    TargetKind.PROMETHEUS: "Prometheus",
    TargetKind.TRACING: "Traces",
    TargetKind.HTTP: "HTTP probe",
}
DIAGNOSTICS_ACTOR = Actor.system("Diagnostics")


def collector_limits(collector: str) -> conf.TimeLimits:
    cls = collector_class(collector)
    if cls is None:
        return conf.time_limits(collector)
    return conf.time_limits(collector, soft_default=cls.soft_time_limit, hard_default=cls.time_limit)


# -- requesting runs -------------------------------------------------------------------


def runs_request(
    *,
    incident_id: int,
    trigger: str,
    service_ids: list[int] | None = None,
    collectors: list[str] | None = None,
    requested_by=None,
) -> list[DiagnosticRun]:
    """Runs for the incident's targets (or those of ``service_ids``), one per target.

    A target with a queued or running run for this incident reuses it. Automatic
    runs (incident filed, service added) are debounced: if another incident's run
    of the same target started within ``DEBOUNCE_SECONDS``, the new run follows
    it and gets its results instead of querying the target again. New runs are
    enqueued after commit.
    """
    targets = Target.objects.filter(kind__in=collectors or list(COLLECTORS)).select_related("service")
    if service_ids is None:
        targets = targets.filter(service__incidents=incident_id)
    else:
        targets = targets.filter(service_id__in=service_ids)
    targets = list(targets.order_by("service__slug", "kind"))
    if not targets:
        return []  # most services have none: no need to load the incident
    incident = Incident.objects.get(pk=incident_id)
    runs = []
    for target in targets:
        if collector_class(target.kind) is None:
            continue
        runs.append(_run_for_target(incident=incident, target=target, trigger=trigger, requested_by=requested_by))
    return runs


def _active_run(incident: Incident, target: Target) -> DiagnosticRun | None:
    return DiagnosticRun.objects.filter(incident=incident, target=target, status__in=ACTIVE_RUN_STATUSES).first()


def _run_for_target(*, incident: Incident, target: Target, trigger: str, requested_by) -> DiagnosticRun:
    with transaction.atomic():
        existing = _active_run(incident, target)
        if existing is not None:
            return existing
        leader = _debounce_leader(incident=incident, target=target) if trigger != RunTrigger.ON_DEMAND else None
        try:
            with transaction.atomic():
                run = DiagnosticRun.objects.create(
                    incident=incident,
                    target=target,
                    collector=target.kind,
                    target_name=target.name,
                    trigger=trigger,
                    requested_by=requested_by,
                    leader=leader,
                )
        except IntegrityError:
            # A concurrent request created the active run first: reuse it.
            return _active_run(incident, target)
        if leader is None:
            transaction.on_commit(lambda: run_enqueue(run_id=run.pk, collector=run.collector))
        elif leader.status in FINISHED_RUN_STATUSES:
            _follower_finish(run, leader)
        logger.info("diagnostic run %s queued for %s (%s)", run.pk, incident.reference, target)
    return run


def _debounce_leader(*, incident: Incident, target: Target) -> DiagnosticRun | None:
    """A recent, unfailed run of the same target for another incident, locked against finishing meanwhile."""
    since = timezone.now() - timedelta(seconds=conf.get("DEBOUNCE_SECONDS"))
    return (
        DiagnosticRun.objects.select_for_update()
        .filter(
            target=target,
            leader__isnull=True,
            created_at__gte=since,
            status__in=[RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.SUCCEEDED],
        )
        .exclude(incident=incident)
        .order_by("-created_at")
        .first()
    )


def run_enqueue(*, run_id: int, collector: str) -> None:
    """Send the run to the diagnostics queue with its collector's time limits."""
    from diagnostics.tasks import run_diagnostic

    limits = collector_limits(collector)
    try:
        run_diagnostic.apply_async(
            args=[run_id], queue="diagnostics", soft_time_limit=limits.soft, time_limit=limits.hard
        )
    except Exception:  # the broker is down: the run stays queued and the reaper sends it again
        logger.exception("could not enqueue diagnostic run %s; the reaper will send it again", run_id)


# -- executing runs -----------------------------------------------------------------


def runs_resend_unclaimed(*, now: datetime | None = None) -> int:
    """Send again the runs no worker has claimed for ``DIAGNOSTICS_REQUEUE_SECONDS``.

    Their message never reached the broker (it was down when the incident was filed) or was lost
    with it (Redis restarted without its data). A message that was only slow is harmless to send
    twice: the claim, the finish and the attach are conditional, so the run is attached once.
    """
    now = now or timezone.now()
    since = now - timedelta(seconds=conf.get("REQUEUE_SECONDS"))
    unclaimed = list(
        DiagnosticRun.objects.filter(
            status=RunStatus.QUEUED, claimed_at__isnull=True, leader__isnull=True, created_at__lt=since
        ).values_list("pk", "collector")
    )
    for run_id, collector in unclaimed:
        logger.info("diagnostic run %s was never claimed; sending it again", run_id)
        run_enqueue(run_id=run_id, collector=collector)
    return len(unclaimed)


def run_claim(*, run_id: int, now: datetime | None = None) -> DiagnosticRun | None:
    """Mark the run running for this delivery. None if it is finished, follows another run, or is gone.

    A run left ``running`` by a worker that died is claimed again by the redelivered task.
    """
    now = now or timezone.now()
    claimed = DiagnosticRun.objects.filter(pk=run_id, status__in=ACTIVE_RUN_STATUSES, leader__isnull=True).update(
        status=RunStatus.RUNNING,
        claimed_at=now,
        started_at=Coalesce(F("started_at"), now),
        attempts=F("attempts") + 1,
    )
    if not claimed:
        return None
    run = DiagnosticRun.objects.select_related("target", "incident").get(pk=run_id)
    if run.window_end is None:
        # The window is fixed at the first claim, so a retried run inspects the same period.
        run.window_start = run.incident.detected_at - timedelta(seconds=conf.get("LOOKBACK_SECONDS"))
        # A resolved incident is looked at up to its resolution, not up to today.
        resolved = run.incident.resolved_at
        run.window_end = min(now, resolved) if resolved and resolved > run.window_start else now
        run.save(update_fields=["window_start", "window_end"])
    return run


def run_progress(*, run_id: int, done: int, total: int, findings: list[dict] | None = None) -> None:
    fields = {"checks_done": done, "checks_total": total}
    if findings is not None:
        fields["findings"] = findings
    DiagnosticRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(**fields)


def run_requeue(*, run_id: int, error: str) -> None:
    """A transient failure: back to queued until the retry is delivered."""
    DiagnosticRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(status=RunStatus.QUEUED, error=error)


def run_finish(
    *, run_id: int, status: str, findings: list[dict] | None = None, error: str = "", now: datetime | None = None
) -> DiagnosticRun:
    """End the run (if it is still active), attach it, and hand its results to its followers."""
    now = now or timezone.now()
    fields = {"status": status, "finished_at": now, "error": error[:2000]}
    if findings is not None:
        fields["findings"] = findings
    with transaction.atomic():
        DiagnosticRun.objects.filter(pk=run_id, status__in=ACTIVE_RUN_STATUSES).update(**fields)
        run = DiagnosticRun.objects.select_related("incident").get(pk=run_id)
        if run.status in FINISHED_RUN_STATUSES:
            run_attach(run=run)
            for follower in run.followers.select_for_update().filter(status__in=ACTIVE_RUN_STATUSES):
                _follower_finish(follower, run)
    return run


def _follower_finish(follower: DiagnosticRun, leader: DiagnosticRun) -> None:
    updated = DiagnosticRun.objects.filter(pk=follower.pk, status__in=ACTIVE_RUN_STATUSES).update(
        status=leader.status,
        started_at=leader.started_at,
        finished_at=leader.finished_at,
        window_start=leader.window_start,
        window_end=leader.window_end,
        checks_total=leader.checks_total,
        checks_done=leader.checks_done,
        findings=leader.findings,
        error=leader.error,
    )
    if updated:
        run_attach(run=DiagnosticRun.objects.select_related("incident").get(pk=follower.pk))


def run_attach(*, run: DiagnosticRun) -> bool:
    """Put a finished run on its incident's timeline, once. True if this call attached it."""
    now = timezone.now()
    with transaction.atomic():
        claimed = DiagnosticRun.objects.filter(
            pk=run.pk, attached_at__isnull=True, status__in=FINISHED_RUN_STATUSES
        ).update(attached_at=now)
        if not claimed:
            return False
        run.refresh_from_db()
        text, data = timeline_summary(run)
        entry = timeline_entry_add(
            incident=run.incident, kind=TimelineKind.DIAGNOSTIC, actor=DIAGNOSTICS_ACTOR, text=text, data=data, at=now
        )
        DiagnosticRun.objects.filter(pk=run.pk).update(timeline_entry=entry)
        incident_id = run.incident_id
        # The likely causes change with every run that reaches the timeline: recomputed by the worker.
        transaction.on_commit(lambda: hypotheses_enqueue(incident_id=incident_id))
    return True


def run_attach_if_finished(*, run_id: int) -> bool:
    run = DiagnosticRun.objects.select_related("incident").filter(pk=run_id).first()
    if run is None or not run.is_finished:
        return False
    attached = run_attach(run=run)
    for follower in run.followers.filter(status__in=ACTIVE_RUN_STATUSES):
        with transaction.atomic():
            _follower_finish(follower, run)
    return attached


def timeline_summary(run: DiagnosticRun) -> tuple[str, dict]:
    """The timeline text and data of a finished run: worst status and counts, never a secret."""
    title = f"{COLLECTOR_TITLES.get(run.collector, run.collector)} diagnostics of {run.target_name}"
    counts = Counter(f.get("status") for f in run.findings)
    ordered_counts = {status: counts[status] for status in STATUS_ORDER if counts[status]}
    worst = worst_status(counts) if run.status == RunStatus.SUCCEEDED else FindingStatus.ERROR
    notable = sorted(
        (f for f in run.findings if f.get("status") in NOTABLE_STATUSES),
        key=lambda f: STATUS_ORDER.index(f["status"]),
    )
    if run.status == RunStatus.SUCCEEDED:
        tally = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in ordered_counts.items()) or "no findings"
        text = f"{title}: {worst or FindingStatus.OK} — {tally}"
        if notable:
            text += f". Worst: {notable[0]['summary']}"
    elif run.status == RunStatus.TIMED_OUT:
        text = f"{title} timed out: {run.error}"
    else:
        text = f"{title} failed: {run.error}"
    data = {
        "run_id": run.pk,
        "collector": run.collector,
        "target": {"kind": run.collector, "name": run.target_name},
        "status": run.status,
        "worst": worst,
        "counts": ordered_counts,
        "checks_total": run.checks_total,
        "checks_done": run.checks_done,
        "error": run.error,
        "top": [{"check": f["check"], "status": f["status"], "summary": f["summary"]} for f in notable[:5]],
    }
    if run.leader_id:
        data["shared_from"] = run.leader_id
    return text, data


# -- housekeeping ------------------------------------------------------------------


def runs_reap_stale(*, now: datetime | None = None) -> int:
    """End runs no worker will finish: running past their hard limit, or never picked up."""
    now = now or timezone.now()
    reaped = 0
    grace = conf.get("STALE_GRACE_SECONDS")
    for run in DiagnosticRun.objects.filter(status=RunStatus.RUNNING, leader__isnull=True).only(
        "pk", "collector", "claimed_at"
    ):
        hard = collector_limits(run.collector).hard
        if run.claimed_at and run.claimed_at < now - timedelta(seconds=hard + grace):
            run_finish(
                run_id=run.pk,
                status=RunStatus.TIMED_OUT,
                error=f"no result within its {hard} s hard time limit: the worker stopped or was killed",
                now=now,
            )
            reaped += 1
    queued_max = conf.get("QUEUED_MAX_SECONDS")
    for run in DiagnosticRun.objects.filter(
        Q(claimed_at__lt=now - timedelta(seconds=queued_max))
        | Q(claimed_at__isnull=True, created_at__lt=now - timedelta(seconds=queued_max)),
        status=RunStatus.QUEUED,
        leader__isnull=True,
    ).only("pk"):
        run_finish(
            run_id=run.pk,
            status=RunStatus.FAILED,
            error=f"no worker picked the run up within {queued_max} s",
            now=now,
        )
        reaped += 1
    runs_resend_unclaimed(now=now)
    # Followers of a leader that ended without handing over (or was deleted).
    for follower in DiagnosticRun.objects.filter(status__in=ACTIVE_RUN_STATUSES, leader__isnull=False).filter(
        leader__status__in=FINISHED_RUN_STATUSES
    ):
        with transaction.atomic():
            _follower_finish(follower, follower.leader)
        reaped += 1
    return reaped
