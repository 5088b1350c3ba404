"""Reads of diagnostics: runs for the API and the incident page, targets of services."""

from django.db.models import QuerySet

from diagnostics.collectors import COLLECTORS
from diagnostics.collectors.base import STATUS_ORDER, FindingStatus
from diagnostics.models import DiagnosticRun, Target
from incidents.models import Incident


def runs_for_incident(*, incident: Incident) -> QuerySet[DiagnosticRun]:
    return DiagnosticRun.objects.filter(incident=incident).select_related("target").order_by("-created_at", "-id")


def runnable_targets_for_incident(*, incident: Incident) -> QuerySet[Target]:
    return (
        Target.objects.filter(service__incidents=incident, kind__in=list(COLLECTORS))
        .select_related("service")
        .order_by("service__slug", "kind")
    )


def findings_by_status(findings: list[dict]) -> list[tuple[str, list[dict]]]:
    """Findings grouped by status, worst first; groups without findings left out."""
    groups: dict[str, list[dict]] = {status: [] for status in STATUS_ORDER}
    for finding in findings:
        groups.setdefault(finding.get("status", FindingStatus.ERROR), []).append(finding)
    return [(status, items) for status, items in groups.items() if items]
