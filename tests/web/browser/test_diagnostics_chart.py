"""The incident page draws a Prometheus finding's stored series as a chart."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import expect

from diagnostics.models import DiagnosticRun
from tests.factories import IncidentFactory, UserFactory

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC).timestamp()
FINDING = {
    "check": "prometheus.error_rate",
    "status": "crit",
    "summary": "5xx ratio peaked at 8.0% at 11:12 (baseline 0.2%)",
    "subject": 'service="checkout"',
    "evidence": {
        "query": 'sum(rate(http_requests_total{service="checkout",status=~"5.."}[5m]))',
        "observed": 0.08,
        "threshold": 0.05,
        "unit": "ratio",
        "series": [{"name": "5xx ratio", "points": [[T0 + 60 * i, 0.002 if i < 60 else 0.08] for i in range(100)]}],
        "range": {
            "baseline_start": "2026-11-20T10:00:00+00:00",
            "incident_start": "2026-11-20T11:00:00+00:00",
            "end": "2026-11-20T11:40:00+00:00",
        },
    },
    "remediation": "Group the errors in the logs.",
    "runbook": "high-error-rate",
}


@pytest.mark.django_db(transaction=True)
def test_chart_is_drawn_with_its_data(page, live_server, sign_in):
    UserFactory(username="vic", role="viewer")
    incident = IncidentFactory(title="Checkout errors", severity="P1")
    DiagnosticRun.objects.create(
        incident=incident, collector="prometheus", target_name="checkout-metrics", status="succeeded",
        trigger="manual", findings=[FINDING], checks_total=1, checks_done=1,
    )  # fmt: skip
    sign_in(page, "vic")
    page.goto(f"{live_server.url}/incidents/{incident.pk}/")
    chart = page.locator("figure.diagnostics-chart").first
    expect(chart).to_be_visible()
    expect(chart).to_have_attribute("data-points", "100")
    expect(chart.locator("polyline.chart-series")).to_have_count(1)
    expect(chart.locator("line.chart-threshold")).to_have_count(1)
    expect(chart).to_contain_text("threshold 5.0%")
    expect(chart).to_contain_text("incident start")
    box = chart.locator("svg.diagnostics-chart-svg").bounding_box()
    assert box["width"] > 200 and box["height"] > 50
    artifacts = Path(__file__).resolve().parents[3] / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    chart.scroll_into_view_if_needed()
    chart.screenshot(path=str(artifacts / "diagnostics-chart.png"))
