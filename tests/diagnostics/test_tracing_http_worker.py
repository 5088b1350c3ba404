"""End to end: an incident for a service with tracing and http targets gets their findings on its timeline."""

from datetime import UTC, datetime, timedelta

import pytest

from diagnostics.models import DiagnosticRun, Target
from incidents.models import TimelineKind
from tests.conftest import wait_for
from tests.diagnostics import tracing_scenarios as scenarios
from tests.factories import IncidentFactory, ServiceFactory, UserFactory
from tests.jaeger_api import JaegerQuery
from tests.probe_servers import HealthServer, closed_port

NOW = datetime.now(UTC).replace(microsecond=0)
DETECTED = NOW - timedelta(minutes=40)


@pytest.fixture(scope="module")
def jaeger():
    with JaegerQuery(scenarios.slow_db("task-service", NOW + timedelta(minutes=1))) as server:
        yield server


@pytest.fixture(scope="module")
def health():
    with HealthServer() as server:
        yield server


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_incident_gets_trace_and_probe_findings(celery_worker_process, jaeger, health, client):
    service = ServiceFactory(slug="task-service")
    Target.objects.create(
        service=service, kind="tracing", name="task-service-traces",
        config={"url": jaeger.url, "service": "task-service", "min_duration_ms": 1000},
    )  # fmt: skip
    refused = closed_port()
    Target.objects.create(
        service=service, kind="http", name="task-service-probes",
        config={"urls": [f"{health.url}/unhealthy", {"url": f"http://127.0.0.1:{refused}/", "name": "payments-api"}],
                "timeout_seconds": 3},
    )  # fmt: skip
    incident = IncidentFactory(title="Tasks are slow", severity="P2", services=[service], detected_at=DETECTED)
    runs = wait_for(
        lambda: (
            found
            if len(found := list(DiagnosticRun.objects.filter(incident=incident, attached_at__isnull=False))) == 2
            else None
        ),
        timeout=90,
        message="the tracing and http runs to reach the timeline",
    )
    by_kind = {run.collector: run for run in runs}
    assert {kind: run.status for kind, run in by_kind.items()} == {"tracing": "succeeded", "http": "succeeded"}

    traces = {f["check"]: f for f in by_kind["tracing"].findings}
    breakdown = traces["tracing.slow_trace_breakdown"]
    assert breakdown["status"] == "crit" and breakdown["evidence"]["data"]["dominant"] == "db"
    assert "of slow-trace time is in PostgreSQL: SELECT … FROM tasks WHERE userId = $1" in breakdown["summary"]
    assert traces["tracing.slow_traces"]["evidence"]["data"]["slow_count"] > 10

    probes = {f["evidence"]["data"]["name"]: f for f in by_kind["http"].findings if f["check"] == "http.probe"}
    assert probes["127.0.0.1"]["evidence"]["data"]["error_code"] == "HTTP_503"
    assert probes["payments-api"]["evidence"]["data"]["step"] == "connect"
    assert probes["payments-api"]["evidence"]["data"]["error_code"] == "ECONNREFUSED"

    entries = {entry.data["run_id"]: entry for entry in incident.timeline.filter(kind=TimelineKind.DIAGNOSTIC)}
    assert set(entries) == {run.pk for run in runs}
    assert {entries[run.pk].data["worst"] for run in runs} == {"crit"}

    # The page draws the P95 trace-duration series and links the traces.
    client.force_login(UserFactory(username="watcher", role="viewer"))
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert 'class="diagnostics-chart"' in page and "P95 trace duration" in page
    slowest = traces["tracing.slow_traces"]["evidence"]["data"]["trace_ids"][0]
    assert f'<a href="{jaeger.url}/trace/{slowest}" rel="noopener noreferrer">{slowest[:16]}</a>' in page
    assert "ECONNREFUSED" in page and "/runbooks/dependency-unreachable/" in page
