"""Writes on mitigations: request, enqueue, claim, finish, expire, reap.

Every state change is a conditional update on the row's status, so a
redelivered task never acts twice, and a mitigation reaches its incident's
timeline exactly once (the outcome and its entry are written in one
transaction).
"""

import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from diagnostics import conf
from diagnostics.mitigations.plan import Plan
from diagnostics.mitigations.selectors import mitigation_active
from diagnostics.models import Mitigation, MitigationAction, MitigationStatus, TargetKind
from incidents.actors import Actor
from incidents.models import TimelineKind
from incidents.timeline import timeline_entry_add

logger = logging.getLogger(__name__)


class MitigationBusyError(Exception):
    """Another mitigation of the same deployment is queued or running, answered as a 409."""

    def __init__(self, detail: str, mitigation_id: int | None):
        super().__init__(detail)
        self.detail = detail
        self.mitigation_id = mitigation_id


def mitigation_request(*, plan: Plan, actor: Actor) -> Mitigation:
    """Record a confirmed plan and enqueue it after commit. ``MitigationBusyError`` if one is under way."""
    try:
        with transaction.atomic():
            mitigation = Mitigation.objects.create(
                incident=plan.incident,
                service=plan.service,
                target=plan.target,
                service_slug=plan.service.slug,
                target_name=plan.target.name,
                deployment=plan.target.config["deployment"],
                namespace=plan.target.config["namespace"],
                action=plan.action,
                replicas=plan.replicas,
                command=plan.command,
                warnings=plan.warnings,
                safety=plan.safety,
                requested_by=actor.user,
                actor_kind=actor.kind,
                actor_name=actor.name,
            )
            transaction.on_commit(lambda: mitigation_enqueue(mitigation_id=mitigation.pk))
    except IntegrityError:
        active = mitigation_active(target=plan.target)
        raise MitigationBusyError(
            f"Mitigation #{active.pk} of {plan.target.config.get('deployment')} is still {active.status} "
            f"({active.command}); wait for its outcome on the timeline."
            if active
            else "Another mitigation of this deployment was just requested; wait for its outcome.",
            active.pk if active else None,
        ) from None
    logger.info("mitigation %s queued for %s: %s", mitigation.pk, plan.incident.reference, plan.command)
    return mitigation


def mitigation_enqueue(*, mitigation_id: int) -> None:
    from diagnostics.tasks import run_mitigation

    limits = conf.time_limits("mitigation")
    try:
        run_mitigation.apply_async(
            args=[mitigation_id],
            queue="diagnostics",
            soft_time_limit=limits.soft,
            time_limit=limits.hard,
            expires=conf.get("MITIGATION_EXPIRES_SECONDS"),
        )
    except Exception as exc:  # the broker is down: the mitigation fails visibly, nothing runs
        logger.exception("could not enqueue mitigation %s", mitigation_id)
        mitigation_finish(
            mitigation_id=mitigation_id,
            status=MitigationStatus.FAILED,
            error=f"not run: could not queue it ({type(exc).__name__})",
            from_status=MitigationStatus.QUEUED,
        )


def mitigation_claim(*, mitigation_id: int, now: datetime | None = None) -> Mitigation | None:
    """Take a queued mitigation for this delivery; None if another delivery took it, or it is over or too old."""
    now = now or timezone.now()
    expires = timedelta(seconds=conf.get("MITIGATION_EXPIRES_SECONDS"))
    claimed = Mitigation.objects.filter(
        pk=mitigation_id, status=MitigationStatus.QUEUED, created_at__gte=now - expires
    ).update(status=MitigationStatus.RUNNING, started_at=now, attempts=F("attempts") + 1)
    if not claimed:
        return None
    return Mitigation.objects.select_related("target", "incident").get(pk=mitigation_id)


def mitigation_finish(
    *,
    mitigation_id: int,
    status: str,
    before: int | None = None,
    after: int | None = None,
    detail: str = "",
    error: str = "",
    now: datetime | None = None,
    from_status: str = MitigationStatus.RUNNING,
) -> bool:
    """Record the outcome of a mitigation in ``from_status`` and put it on the timeline, once. True if this call did.

    A queued mitigation is only ever finished unrun (``from_status`` queued: not enqueued, or expired).
    """
    now = now or timezone.now()
    with transaction.atomic():
        finished = Mitigation.objects.filter(pk=mitigation_id, status=from_status).update(
            status=status,
            finished_at=now,
            replicas_before=before,
            replicas_after=after,
            detail=detail[:2000],
            error=error[:2000],
        )
        if not finished:
            return False
        mitigation = Mitigation.objects.select_related("incident", "requested_by").get(pk=mitigation_id)
        text, data = timeline_summary(mitigation)
        actor = Actor(kind=mitigation.actor_kind, name=mitigation.actor_name, user=mitigation.requested_by)
        entry = timeline_entry_add(
            incident=mitigation.incident, kind=TimelineKind.MITIGATION, actor=actor, text=text, data=data, at=now
        )
        Mitigation.objects.filter(pk=mitigation_id).update(timeline_entry=entry)
    logger.info("mitigation %s %s: %s", mitigation_id, status, error or detail)
    return True


def mitigation_expire_if_stale(*, mitigation_id: int, now: datetime) -> bool:
    """A queued mitigation past its expiry is failed (and reported), never run late. True if this call did."""
    expires = conf.get("MITIGATION_EXPIRES_SECONDS")
    if not Mitigation.objects.filter(
        pk=mitigation_id, status=MitigationStatus.QUEUED, created_at__lt=now - timedelta(seconds=expires)
    ).exists():
        return False
    return mitigation_finish(
        mitigation_id=mitigation_id,
        status=MitigationStatus.FAILED,
        error=f"not run: no worker started it within {expires} s, and the situation may have changed; ask again",
        now=now,
        from_status=MitigationStatus.QUEUED,
    )


def timeline_summary(mitigation: Mitigation) -> tuple[str, dict]:
    deployment = mitigation.deployment
    if mitigation.status == MitigationStatus.SUCCEEDED:
        if mitigation.action == MitigationAction.SCALE:
            text = (
                f"Scaled deployment {deployment} from {mitigation.replicas_before} to "
                f"{mitigation.replicas_after} replicas"
            )
        else:
            text = f"Started a rollout restart of deployment {deployment} ({mitigation.replicas_after} replicas)"
    else:
        what = (
            f"Scaling deployment {deployment} to {mitigation.replicas} replicas"
            if mitigation.action == MitigationAction.SCALE
            else f"Rollout restart of deployment {deployment}"
        )
        text = f"{what} failed: {mitigation.error}"
    text += f"\n$ {mitigation.command}"
    if mitigation.warnings:
        text += "\nWarned before confirming: " + " ".join(mitigation.warnings)
    data = {
        "mitigation_id": mitigation.pk,
        "action": mitigation.action,
        "service": mitigation.service_slug,
        "target": {"kind": TargetKind.KUBERNETES.value, "name": mitigation.target_name},
        "deployment": mitigation.deployment,
        "namespace": mitigation.namespace,
        "command": mitigation.command,
        "status": mitigation.status,
        "replicas": mitigation.replicas,
        "old": {"replicas": mitigation.replicas_before},
        "new": {"replicas": mitigation.replicas_after},
        "error": mitigation.error,
        "warnings": mitigation.warnings,
        "safety": mitigation.safety,
    }
    return text, data


def mitigations_reap_stale(*, now: datetime | None = None) -> int:
    """End mitigations no worker will finish: running past the hard limit (worker killed), or queued too long."""
    now = now or timezone.now()
    reaped = 0
    hard = conf.time_limits("mitigation").hard + conf.get("MITIGATION_STALE_GRACE_SECONDS")
    for pk in Mitigation.objects.filter(
        status=MitigationStatus.RUNNING, started_at__lt=now - timedelta(seconds=hard)
    ).values_list("pk", flat=True):
        mitigation = Mitigation.objects.get(pk=pk)
        reaped += mitigation_finish(
            mitigation_id=pk,
            status=MitigationStatus.FAILED,
            error="the worker running it stopped; the outcome is unknown: check with kubectl get deployment "
            f"{mitigation.deployment} -n {mitigation.namespace}",
            now=now,
        )
    expires = conf.get("MITIGATION_EXPIRES_SECONDS")
    for pk in Mitigation.objects.filter(
        status=MitigationStatus.QUEUED, created_at__lt=now - timedelta(seconds=expires)
    ).values_list("pk", flat=True):
        reaped += mitigation_expire_if_stale(mitigation_id=pk, now=now)
    return reaped
