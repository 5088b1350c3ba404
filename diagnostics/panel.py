"""The incident page's Diagnostics panel: its context, registered in DiagnosticsConfig.ready()."""

from dataclasses import dataclass, field

from diagnostics import selectors
from diagnostics.charts import finding_chart
from diagnostics.collectors.base import worst_status
from diagnostics.models import ACTIVE_RUN_STATUSES, DiagnosticRun, RunTrigger
from diagnostics.runbooks import runbook_get, runbook_url
from diagnostics.services import COLLECTOR_TITLES
from incidents import roles
from incidents.models import Incident, Status

RUNS_SHOWN = 50


@dataclass
class RunView:
    run: DiagnosticRun
    finding_groups: list[tuple[str, list[dict]]]
    worst: str | None

    @property
    def is_active(self) -> bool:
        return self.run.status in ACTIVE_RUN_STATUSES


@dataclass
class TargetGroup:
    collector: str
    title: str
    target_name: str
    latest: RunView
    earlier: list[RunView] = field(default_factory=list)


def _finding_view(finding: dict) -> dict:
    view = dict(finding)
    slug = finding.get("runbook")
    if slug:
        runbook = runbook_get(slug)
        view["runbook_title"] = runbook.title if runbook else slug
        view["runbook_url"] = runbook_url(slug)
    evidence = finding.get("evidence") or {}
    threshold = evidence.get("threshold")
    view["threshold_text"] = (
        ", ".join(f"{k} {v}" for k, v in threshold.items()) if isinstance(threshold, dict) else threshold
    )
    view["chart"] = finding_chart(finding)
    view["trace_links"] = _trace_links(evidence)
    return view


def _trace_links(evidence: dict) -> list[dict]:
    """The traces a finding names, as links to the trace UI (http and https only)."""
    data = evidence.get("data") if isinstance(evidence.get("data"), dict) else {}
    urls, ids = data.get("trace_urls") or [], data.get("trace_ids") or []
    return [
        {"url": url, "label": str(trace_id)[:16]}
        for url, trace_id in zip(urls, ids, strict=False)
        if isinstance(url, str) and url.startswith(("http://", "https://"))
    ]


def _run_view(run: DiagnosticRun) -> RunView:
    findings = [_finding_view(f) for f in run.findings]
    return RunView(
        run=run,
        finding_groups=selectors.findings_by_status(findings),
        worst=worst_status(f.get("status") for f in findings),
    )


def panel_context(request, incident: Incident) -> dict:
    runs = list(selectors.runs_for_incident(incident=incident)[:RUNS_SHOWN])
    groups: dict[tuple[str, str], TargetGroup] = {}
    for run in runs:  # newest first
        key = (run.collector, run.target_name)
        if key not in groups:
            groups[key] = TargetGroup(
                collector=run.collector,
                title=COLLECTOR_TITLES.get(run.collector, run.collector),
                target_name=run.target_name,
                latest=_run_view(run),
            )
        else:
            groups[key].earlier.append(_run_view(run))
    user = getattr(request, "user", None)
    return {
        "diagnostics": {
            "groups": list(groups.values()),
            "url": f"/api/v1/incidents/{incident.pk}/diagnostics/",
            "can_run": roles.has_role(user, roles.ENGINEER) and incident.status != Status.REVIEWED,
            "has_targets": selectors.runnable_targets_for_incident(incident=incident).exists(),
            "active": any(run.status in ACTIVE_RUN_STATUSES for run in runs),
            "recorded": any(run.trigger == RunTrigger.RECORDED_DEMO for run in runs),
        }
    }
