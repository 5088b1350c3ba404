"""The demo's recorded diagnostic runs: five collectors on the pool P0, a CrashLoopBackOff story, all labelled."""

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


def test_the_pool_incident_has_findings_from_all_five_collectors(seeded):
    pool = seeded["pool"]
    assert "connection pool exhausted" in pool.title.lower()
    runs = DiagnosticRun.objects.filter(incident=pool)
    assert sorted(runs.values_list("collector", flat=True)) == [
        "http",
        "kubernetes",
        "postgres",
        "prometheus",
        "tracing",
    ]
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
        assert points[0][0] < pool.detected_at.timestamp() < points[-1][0]
        # Prometheus samples every 15 s; the tracing collector buckets trace durations per minute.
        assert len(points) > (100 if finding["check"].startswith("prometheus.") else 60)
    # The log lines went through the real analyzer, which recognised Prisma's pool timeout.
    pattern = [f for f in findings.values() if f["check"].startswith("kubernetes.logs.pattern.")]
    assert pattern and pattern[0]["runbook"] == "db-connection-pool-exhausted" and "P2024" in str(pattern[0])
    for finding in findings.values():
        if finding["runbook"]:
            assert runbook_get(finding["runbook"]) is not None, finding["runbook"]


def test_the_recorded_traces_put_the_slow_requests_in_postgresql(seeded):
    run = DiagnosticRun.objects.get(incident=seeded["pool"], collector="tracing")
    assert run.checks_done == run.checks_total == 4
    findings = {f["check"]: f for f in run.findings}
    assert set(findings) == {
        "tracing.slow_traces",
        "tracing.slow_trace_breakdown",
        "tracing.cache_misses",
        "tracing.error_spans",
    }
    breakdown = findings["tracing.slow_trace_breakdown"]
    assert breakdown["status"] == "crit"
    assert "slow-trace time is in PostgreSQL: SELECT * FROM tasks WHERE user_id = $1" in breakdown["summary"]
    data = breakdown["evidence"]["data"]
    assert data["dominant"] == "db" and data["shares"]["db"] > 0.9 and data["db_system"] == "postgresql"
    assert len(data["trace_urls"]) == len(data["trace_ids"]) == 5
    for trace_id, url in zip(data["trace_ids"], data["trace_urls"], strict=True):
        assert url == f"http://jaeger-query.observability:16686/trace/{trace_id}"
    assert findings["tracing.slow_traces"]["status"] == "crit"
    assert findings["tracing.slow_traces"]["evidence"]["series"][0]["points"]
    errors = findings["tracing.error_spans"]
    assert "timeout acquiring connection from pool" in errors["summary"] and errors["evidence"]["data"]["timeouts"]
    assert findings["tracing.cache_misses"]["status"] == "ok"


def test_the_recorded_probe_shows_the_failing_database_health_check(seeded):
    run = DiagnosticRun.objects.get(incident=seeded["pool"], collector="http")
    probes = [f for f in run.findings if f["check"] == "http.probe"]
    (failing,) = [f for f in probes if f["status"] == "crit"]
    assert "answered 503 Service Unavailable" in failing["summary"]
    assert "reports database unhealthy" in failing["summary"]
    data = failing["evidence"]["data"]
    assert data["url"] == "http://task-service.orion-prod.svc/health" and data["error_code"] == "HTTP_503"
    assert data["unhealthy_components"] == ["database"] and "12/12 in use" in data["body_excerpt"]
    assert data["dns_ms"] and data["connect_ms"] and data["response_ms"] > 100
    # The process itself answers: only its database check fails.
    assert any(f["status"] == "ok" and "/livez answered 200" in f["summary"] for f in probes)


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
    assert DiagnosticRun.objects.count() == before == 6
