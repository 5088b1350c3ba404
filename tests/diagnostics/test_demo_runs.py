"""The demo's recorded diagnostic runs: three collectors on the pool P0, a CrashLoopBackOff story, all labelled."""

from io import StringIO

import pytest
from django.core.management import call_command

from diagnostics.hypotheses import hypotheses_get
from diagnostics.models import DiagnosticRun, RunTrigger
from diagnostics.runbooks import runbook_get
from incidents.models import Incident, Source, TimelineKind

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("seed_demo", stdout=StringIO())
    return {
        "pool": Incident.objects.get(severity="P0", status="diagnosing"),
        "crashloop": Incident.objects.get(source=Source.EVENTS),
    }


def _findings(incident):
    return [f for run in DiagnosticRun.objects.filter(incident=incident) for f in run.findings]


def test_the_pool_incident_has_findings_from_all_three_collectors(seeded):
    pool = seeded["pool"]
    assert "connection pool exhausted" in pool.title.lower()
    runs = DiagnosticRun.objects.filter(incident=pool)
    assert sorted(runs.values_list("collector", flat=True)) == ["kubernetes", "postgres", "prometheus"]
    assert {run.trigger for run in runs} == {RunTrigger.RECORDED_DEMO}
    for run in runs:
        assert run.status == "succeeded" and run.checks_done == run.checks_total > 0
        assert pool.detected_at < run.started_at < run.finished_at
    findings = {f["check"]: f for f in _findings(pool)}
    assert findings["postgres.connection_saturation"]["status"] == "crit"
    charted = [f for f in findings.values() if f["evidence"].get("series")]
    assert len(charted) >= 3
    for finding in charted:
        points = finding["evidence"]["series"][0]["points"]
        assert len(points) > 100 and points[0][0] < pool.detected_at.timestamp() < points[-1][0]
    # The log lines went through the real analyzer, which recognised Prisma's pool timeout.
    pattern = [f for f in findings.values() if f["check"].startswith("kubernetes.logs.pattern.")]
    assert pattern and pattern[0]["runbook"] == "db-connection-pool-exhausted" and "P2024" in str(pattern[0])
    for finding in findings.values():
        if finding["runbook"]:
            assert runbook_get(finding["runbook"]) is not None, finding["runbook"]


def test_the_crashloop_story_and_its_timeline(seeded):
    crash = seeded["crashloop"]
    findings = _findings(crash)
    crashing = [f for f in findings if f["check"] == "kubernetes.pods" and "CrashLoopBackOff" in f["summary"]]
    assert crashing and all(f["status"] == "crit" and f["runbook"] == "service-not-starting" for f in crashing)
    assert any(f["check"].startswith("kubernetes.logs.") and "SMTP_PASSWORD" in str(f["evidence"]) for f in findings)
    entries = crash.timeline.filter(kind=TimelineKind.DIAGNOSTIC)
    assert entries.count() == 1 and entries.get().text.startswith("Recorded demo data")
    run = DiagnosticRun.objects.get(incident=crash)
    assert run.attached_at == run.finished_at and run.timeline_entry_id == entries.get().pk


def test_the_recorded_incidents_show_their_likely_cause(seeded):
    pool = hypotheses_get(seeded["pool"])["hypotheses"]
    assert pool[0]["key"] == "pool_exhausted" and pool[0]["runbook"] == "db-connection-pool-exhausted"
    assert pool[0]["confidence"] >= 0.7
    crash = hypotheses_get(seeded["crashloop"])["hypotheses"]
    assert crash[0]["key"] in ("crash_at_startup", "missing_config") and "SMTP_PASSWORD" in crash[0]["title"]
    for incident in seeded.values():
        (entry,) = incident.timeline.filter(kind=TimelineKind.HYPOTHESIS)
        assert entry.text.startswith("Likely cause")


def test_seeding_again_records_nothing_twice(seeded, settings):
    before = DiagnosticRun.objects.count()
    call_command("seed_demo", stdout=StringIO())
    assert DiagnosticRun.objects.count() == before == 4
