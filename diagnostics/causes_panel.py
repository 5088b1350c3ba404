"""The incident page's "Likely causes" panel: the top three hypotheses, registered in DiagnosticsConfig.ready().

Each shows its confidence in words, as a number and as a bar (colour is never the only signal), and
expands to its evidence (links to the findings in the Diagnostics panel, where their charts are),
what would confirm or refute it, and its runbook. The panel's version watches the stored list, so the
page's live channel sends it again when the worker recomputes.
"""

from django.db.models import Count, Max

from diagnostics.analysis.facts import Facts, FindingRef
from diagnostics.analysis.severity import severity_suggestion
from diagnostics.hypotheses import ANNOUNCE, confidence_words, hypotheses_get, incident_findings
from diagnostics.models import DiagnosticRun, IncidentHypotheses
from diagnostics.runbooks import runbook_get, runbook_url
from incidents import panels, roles
from incidents.models import Incident, Status

SHOWN = 3


def hypothesis_views(hypotheses: list[dict], findings: list[FindingRef], *, shown: int = SHOWN) -> list[dict]:
    """The top hypotheses as the panel shows them, each evidence link with its finding's summary."""
    summaries = {}
    for f in findings:
        summaries.setdefault((f.run, f.check, f.subject), f.summary)
    top = hypotheses[:shown]
    views = []
    for h in top:
        runbook = runbook_get(h["runbook"]) if h.get("runbook") else None
        evidence = [
            {
                **link,
                "summary": summaries.get((link["run"], link["check"], link["subject"]), ""),
                "anchor": f"#run-{link['run']}",
            }
            for link in h.get("evidence", [])
        ]
        views.append(
            {
                **h,
                "evidence": evidence,
                "percent": round(h["confidence"] * 100),
                "words": confidence_words(h["confidence"]),
                "weak": h["confidence"] < ANNOUNCE,
                "runbook_title": runbook.title if runbook else h.get("runbook"),
                "runbook_url": runbook_url(h["runbook"]) if runbook else "",
            }
        )
    return views


def panel_context(request, incident: Incident) -> dict:
    stored = hypotheses_get(incident)
    has_runs = DiagnosticRun.objects.filter(incident=incident).exists()
    # One read of the findings serves the severity suggestion and the evidence summaries.
    findings = incident_findings(incident.pk) if has_runs else []
    suggestion = severity_suggestion(Facts(findings), incident.severity) if has_runs else None
    user = getattr(request, "user", None)
    return {
        "severity_suggestion": {
            "suggestion": suggestion,
            "can_raise": roles.has_role(user, roles.ENGINEER) and incident.status != Status.REVIEWED,
            "url": f"/api/v1/incidents/{incident.pk}/severity-suggestion/",
        },
        "causes": {
            "computed_at": stored["computed_at"],
            "hypotheses": hypothesis_views(stored["hypotheses"], findings),
            "more": max(len(stored["hypotheses"]) - SHOWN, 0),
            "has_runs": has_runs,
            "api_url": f"/api/v1/incidents/{incident.pk}/hypotheses/",
        },
    }


def panel_version(incident) -> list:
    return [
        panels.watch(IncidentHypotheses.objects.filter(incident=incident), Max("computed_at")),
        panels.watch(DiagnosticRun.objects.filter(incident=incident), Count("id")),
    ]
