"""The incident page's "Runbook checklist" panel, registered in DiagnosticsConfig.ready().

Shows the runbook suggested by the top likely cause (one click attaches it), every attached runbook
as a checklist (ticking a box posts to the API: a ``runbook_step`` entry with who and when), and a
picker to attach any other runbook. Sent again by the live channel when a step or the list changes.
"""

from django.db.models import Count, Max

from diagnostics import checklists
from diagnostics.models import ChecklistStep, IncidentHypotheses, RunbookChecklist
from diagnostics.runbooks import runbook_url, runbooks_all
from incidents import panels, roles
from incidents.models import Incident, Status


def panel_context(request, incident: Incident) -> dict:
    attached = checklists.checklists_for(incident)
    attached_slugs = {c.slug for c in attached}
    user = getattr(request, "user", None)
    return {
        "checklist": {
            "suggested": checklists.suggested_runbook(incident),
            "checklists": [
                {
                    "checklist": c,
                    "url": runbook_url(c.slug),
                    "steps": list(c.steps.all()),
                    "done": sum(1 for s in c.steps.all() if s.done),
                }
                for c in attached
            ],
            "others": [r for r in runbooks_all() if r.steps and r.slug not in attached_slugs],
            "can_tick": roles.has_role(user, roles.ENGINEER) and incident.status != Status.REVIEWED,
            "api_url": f"/api/v1/incidents/{incident.pk}/runbooks/",
        }
    }


def panel_version(incident) -> list:
    return [
        panels.watch(RunbookChecklist.objects.filter(incident=incident), Count("id")),
        panels.watch(ChecklistStep.objects.filter(checklist__incident=incident), Max("changed_at")),
        panels.watch(IncidentHypotheses.objects.filter(incident=incident), Max("computed_at")),
    ]
