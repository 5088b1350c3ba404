"""What diagnostics plugs into the incidents app, registered in ``DiagnosticsConfig.ready()``.

- Follow-ups of ``incidents.services``: run diagnostics for new incidents and
  newly added services. They run after the incident's transaction commits (a
  rolled-back incident runs nothing). A failure here is logged and swallowed:
  diagnostics must never break filing or editing an incident.
- Report contributors of ``incidents.reports``: the strongest findings for
  the Root Cause (here) and the impact measured in Prometheus (``impact.py``).
"""

import logging

from diagnostics import services
from diagnostics.models import DiagnosticRun, RunTrigger
from incidents.models import Incident
from incidents.reports import DraftContribution

# Findings offered as the root cause, strongest first.
ROOT_CAUSE_FINDINGS = 3

logger = logging.getLogger(__name__)


def incident_created(incident_id: int, service_ids: list[int]) -> None:
    _request(incident_id, service_ids, RunTrigger.INCIDENT_CREATED)


def services_added(incident_id: int, service_ids: list[int]) -> None:
    _request(incident_id, service_ids, RunTrigger.SERVICES_ADDED)


def _request(incident_id: int, service_ids: list[int], trigger: str) -> None:
    if not service_ids:
        return
    try:
        services.runs_request(incident_id=incident_id, service_ids=service_ids, trigger=trigger)
    except Exception:
        logger.exception("could not request diagnostics for incident %s", incident_id)


def report_findings(incident: Incident) -> DraftContribution | None:
    """The incident's strongest crit and warn findings, offered as the report's root cause."""
    rank = {"crit": 0, "warn": 1}
    findings = [
        finding
        for run in DiagnosticRun.objects.filter(incident=incident).only("findings")
        for finding in run.findings or []
        if finding.get("status") in rank
    ]
    if not findings:
        return None
    findings.sort(key=lambda f: rank[f["status"]])
    return DraftContribution(
        root_cause="Strongest diagnostic findings (confirm or replace):\n\n"
        + "\n".join(
            f"- **{f['status'].upper()}** `{f['check']}`: {f['summary']}" for f in findings[:ROOT_CAUSE_FINDINGS]
        )
    )
