"""What diagnostics plugs into the incidents app, registered in ``DiagnosticsConfig.ready()``.

- Follow-ups of ``incidents.services``: run diagnostics for new incidents and
  newly added services. They run after the incident's transaction commits (a
  rolled-back incident runs nothing). A failure here is logged and swallowed:
  diagnostics must never break filing or editing an incident.
- Report contributors of ``incidents.reports``: the strongest findings for
  the Root Cause (here) and the impact measured in Prometheus (``impact.py``).
"""

import logging
import threading
import time

from diagnostics import services
from diagnostics.analysis import hypotheses_for
from diagnostics.analysis.facts import distinct
from diagnostics.hypotheses import ANNOUNCE, confidence_words, incident_findings
from diagnostics.models import DiagnosticRun, RunTrigger, Target
from incidents.models import Incident
from incidents.reports import DraftContribution

# Findings offered as the root cause, strongest first.
ROOT_CAUSE_FINDINGS = 3

logger = logging.getLogger(__name__)

# Most services have no target, and in an alert storm every new incident would ask.
# A process remembers which services have targets for this long; a target created in
# another process (``sync_services``) is used for incidents filed after at most this
# time, one saved or deleted in this process at once.
TARGET_CACHE_SECONDS = 5.0

_targeted: tuple[float, frozenset[int]] | None = None
_targeted_lock = threading.Lock()


def targeted_services_forget(**_signal) -> None:
    """Forget which services have targets (connected to Target's save and delete)."""
    global _targeted
    with _targeted_lock:
        _targeted = None


def targeted_service_ids() -> frozenset[int]:
    global _targeted
    cached = _targeted
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    ids = frozenset(Target.objects.order_by().values_list("service_id", flat=True).distinct())
    with _targeted_lock:
        _targeted = (time.monotonic() + TARGET_CACHE_SECONDS, ids)
    return ids


def incident_created(incident_id: int, service_ids: list[int]) -> None:
    _request(incident_id, service_ids, RunTrigger.INCIDENT_CREATED)


def services_added(incident_id: int, service_ids: list[int]) -> None:
    _request(incident_id, service_ids, RunTrigger.SERVICES_ADDED)


def _request(incident_id: int, service_ids: list[int], trigger: str) -> None:
    if not service_ids:
        return
    try:
        if targeted_service_ids().isdisjoint(service_ids):
            return
        services.runs_request(incident_id=incident_id, service_ids=service_ids, trigger=trigger)
    except Exception:
        logger.exception("could not request diagnostics for incident %s", incident_id)


def report_findings(incident: Incident) -> DraftContribution | None:
    """The report's Root Cause, to confirm or replace: the likeliest cause with its evidence when one
    stands out, else the incident's strongest crit and warn findings."""
    likely = report_likely_cause(incident)
    if likely:
        return DraftContribution(root_cause=likely)
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


def report_likely_cause(incident: Incident) -> str:
    """The top hypothesis in Markdown (title, confidence, why, its evidence, how to confirm), or "".

    Computed afresh from the findings (the draft is written by a worker), so it never lags the stored list.
    """
    findings = incident_findings(incident.pk)
    ranked = hypotheses_for(findings)
    if not ranked or ranked[0].confidence < ANNOUNCE:
        return ""
    top = ranked[0]
    lines = [
        f"**Likely cause ({confidence_words(top.confidence)}, {top.confidence:.0%}):** {top.title}",
        "",
        top.summary,
        "",
        "Evidence:",
    ]
    for finding in distinct(top.evidence):
        lines.append(f"- **{finding.status.upper()}** `{finding.check}` (run {finding.run}): {finding.summary}")
    lines += ["", f"Confirmed by: {top.confirm}"]
    if top.runbook:
        lines.append(f"Runbook: {top.runbook}")
    others = [h for h in ranked[1:3] if h.confidence >= ANNOUNCE]
    if others:
        lines += ["", "Other candidates: " + "; ".join(f"{h.title} ({h.confidence:.0%})" for h in others)]
    return "\n".join(lines)
