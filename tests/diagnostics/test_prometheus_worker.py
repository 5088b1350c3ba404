"""End to end: an incident for a service with a Prometheus target gets metric findings, with charts."""

from datetime import UTC, datetime, timedelta

import pytest

from diagnostics.charts import finding_chart
from diagnostics.models import DiagnosticRun, Target
from incidents.models import TimelineKind
from tests.conftest import wait_for
from tests.factories import IncidentFactory, ServiceFactory, UserFactory
from tests.prometheus_server import PrometheusServer, openmetrics

NOW = datetime.now(UTC).replace(microsecond=0)
DETECTED = NOW - timedelta(minutes=40)


def _counter(before: float, after: float, switch: float):
    return lambda t: before * min(t, switch) + after * max(0.0, t - switch)


@pytest.fixture(scope="module")
def live_prometheus(tmp_path_factory):
    """Scenario data ending a minute ago: checkout's 5xx ratio jumps to 8 % when the incident starts."""
    start = NOW - timedelta(hours=3)
    switch = (DETECTED - start).total_seconds()
    series = [
        ("http_requests_total", {"service": "checkout", "status": "200"}, _counter(100, 100, switch)),
        ("http_requests_total", {"service": "checkout", "status": "500"}, _counter(0.2, 8.7, switch)),
    ]
    document = openmetrics(series, start=start, end=NOW - timedelta(minutes=1), step=15)
    with PrometheusServer(tmp_path_factory.mktemp("prometheus-live"), document) as server:
        yield server


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_incident_gets_metric_findings_with_charts(celery_worker_process, live_prometheus, client):
    service = ServiceFactory(slug="checkout")
    Target.objects.create(
        service=service,
        kind="prometheus",
        name="checkout-metrics",
        config={"url": live_prometheus.url, "labels": {"service": "checkout"}},
    )
    incident = IncidentFactory(title="Checkout errors", severity="P2", services=[service], detected_at=DETECTED)
    run = wait_for(
        lambda: DiagnosticRun.objects.filter(incident=incident, attached_at__isnull=False).first(),
        timeout=90,
        message="the Prometheus run to reach the timeline",
    )
    assert run.status == "succeeded", run.error
    findings = {f["check"]: f for f in run.findings}
    error_rate = findings["prometheus.error_rate"]
    assert error_rate["status"] == "crit"
    assert abs(error_rate["evidence"]["observed"] - 0.08) < 0.003
    assert error_rate["evidence"]["range"]["suggested_severity"] == "P1"
    assert len(error_rate["evidence"]["series"][0]["points"]) > 10
    entry = incident.timeline.get(kind=TimelineKind.DIAGNOSTIC)
    assert entry.data["worst"] == "crit"

    # The incident page draws the stored series.
    viewer = UserFactory(username="watcher", role="viewer")
    client.force_login(viewer)
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert 'class="diagnostics-chart"' in page
    assert "incident start" in page and "threshold 5.0%" in page


def test_chart_marks_threshold_incident_start_and_legend():
    finding = {
        "check": "prometheus.latency",
        "summary": "P95 latency peaked at 3.00 s",
        "evidence": {
            "unit": "seconds",
            "threshold": 0.45,
            "series": [
                {"name": "P95", "points": [[1000.0, 0.15], [1060.0, 0.16], [1120.0, 3.0]]},
                {"name": "P99", "points": [[1000.0, 0.2], [1060.0, 0.21], [1120.0, 4.2]]},
            ],
            "range": {
                "baseline_start": "1970-01-01T00:16:00+00:00",
                "incident_start": "1970-01-01T00:17:30+00:00",
                "end": "1970-01-01T00:18:40+00:00",
            },  # fmt: skip
        },
    }
    svg = str(finding_chart(finding))
    assert svg.startswith('<figure class="diagnostics-chart" data-series="2" data-points="6">')
    assert svg.count('class="chart-series"') == 2 and 'stroke-dasharray="6 3"' in svg
    assert "threshold 450 ms" in svg and "incident start" in svg
    assert "P95</span>" in svg and "P99</span>" in svg


def test_no_series_no_chart():
    assert finding_chart({"check": "postgres.cache_hit_rate", "evidence": {"query": "SELECT 1"}}) is None


def test_chart_escapes_text():
    finding = {
        "check": "prometheus.error_rate",
        "summary": "<script>alert(1)</script>",
        "evidence": {"unit": "ratio", "series": [{"name": "<b>x</b>", "points": [[0, 0.1], [60, 0.2]]}]},
    }
    svg = str(finding_chart(finding))
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "<b>x</b>" not in svg
