"""What changes the incident page's Diagnostics and Mitigate panels: their versions for the page's live channel.

Each is a list of query expressions on the incident's row (see ``incidents.panels``); the page sends a
panel again when its version changes. Runs and mitigations are updated with conditional updates that
set no ``updated_at``, so the versions watch the fields those updates write.
"""

from django.db.models import Count, IntegerField, Max, Q, Sum

from diagnostics.models import DiagnosticRun, Mitigation, RunStatus, Target
from incidents import panels


def _targets(incident) -> list:
    return [panels.watch(Target.objects.filter(service__incidents=incident), Count("id"), Max("updated_at"))]


def diagnostics_panel_version(incident) -> list:
    runs = DiagnosticRun.objects.filter(incident=incident)
    return [
        panels.watch(
            runs,
            Count("id"),
            Count("id", filter=Q(status=RunStatus.QUEUED)),  # a transient failure puts a run back in the queue
            Max("claimed_at"),
            Max("finished_at"),
            Sum("checks_done", output_field=IntegerField()),  # progress, between claim and finish
        ),
        *_targets(incident),
    ]


def mitigations_panel_version(incident) -> list:
    mitigations = Mitigation.objects.filter(incident=incident)
    return [
        panels.watch(mitigations, Count("id"), Max("started_at"), Max("finished_at")),
        *_targets(incident),
    ]
