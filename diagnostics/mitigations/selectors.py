"""Reads of mitigations: an incident's, the active one of a target, the targets an incident may act on."""

from django.db.models import QuerySet

from diagnostics.models import ACTIVE_MITIGATION_STATUSES, Mitigation, Target, TargetKind
from incidents.models import Incident


def mitigations_for_incident(*, incident: Incident) -> QuerySet[Mitigation]:
    return Mitigation.objects.filter(incident=incident).order_by("-created_at", "-id")


def mitigation_active(*, target: Target) -> Mitigation | None:
    """The mitigation of this target still queued or running, if any (at most one: a partial unique constraint)."""
    return Mitigation.objects.filter(target=target, status__in=ACTIVE_MITIGATION_STATUSES).first()


def mitigation_targets_for_incident(*, incident: Incident) -> QuerySet[Target]:
    """The Kubernetes targets of the incident's services, whether they allow actions or not."""
    return (
        Target.objects.filter(service__incidents=incident, kind=TargetKind.KUBERNETES)
        .select_related("service")
        .order_by("service__slug")
    )
