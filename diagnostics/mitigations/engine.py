"""Executing one confirmed mitigation, once: claim it, call the Kubernetes action, record the outcome.

Kept free of Celery (``tasks.run_mitigation`` is a thin wrapper). A refusal or
an unreachable API is the outcome, reported on the timeline; it never touches
the incident's status.
"""

import logging

from django.utils import timezone

from diagnostics import conf
from diagnostics.actions import kubernetes
from diagnostics.mitigations.services import (
    mitigation_claim,
    mitigation_expire_if_stale,
    mitigation_finish,
)
from diagnostics.models import MitigationAction, MitigationStatus, TargetKind

logger = logging.getLogger(__name__)


def mitigation_execute(*, mitigation_id: int, interrupts: tuple[type[BaseException], ...] = ()) -> str | None:
    """Run one confirmed mitigation, once. Returns its final status, or None when this delivery had nothing to do."""
    now = timezone.now()
    mitigation = mitigation_claim(mitigation_id=mitigation_id, now=now)
    if mitigation is None:
        mitigation_expire_if_stale(mitigation_id=mitigation_id, now=now)
        return None
    target = mitigation.target
    if target is None or target.kind != TargetKind.KUBERNETES:
        return _fail(mitigation_id, "not run: its kubernetes target was removed")
    config = dict(target.config)
    if not config.get("actions"):
        return _fail(mitigation_id, "not run: actions were disabled for this target after it was confirmed")
    timeout = conf.kubernetes_timeout(config)
    try:
        if mitigation.action == MitigationAction.SCALE:
            result = kubernetes.deployment_scale(config, replicas=mitigation.replicas, timeout=timeout)
        else:
            result = kubernetes.deployment_restart(config, now=timezone.now(), timeout=timeout)
    except interrupts:
        return _fail(
            mitigation_id,
            f"did not finish within {conf.time_limits('mitigation').soft} s; the outcome is unknown: check with "
            f"kubectl get deployment {config.get('deployment')} -n {config.get('namespace')}",
        )
    except Exception as exc:  # a refusal or an unreachable API is the outcome, reported on the timeline
        if not isinstance(exc, kubernetes.EXPECTED_FAILURES):
            logger.exception("mitigation %s crashed", mitigation_id)
        return _fail(mitigation_id, kubernetes.describe_failure(exc, config))
    mitigation_finish(
        mitigation_id=mitigation_id,
        status=MitigationStatus.SUCCEEDED,
        before=result.before,
        after=result.after,
        detail=result.detail,
    )
    return MitigationStatus.SUCCEEDED


def _fail(mitigation_id: int, error: str) -> str:
    mitigation_finish(mitigation_id=mitigation_id, status=MitigationStatus.FAILED, error=error)
    return MitigationStatus.FAILED
