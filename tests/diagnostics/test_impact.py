"""A drafted report's Impact, measured by diagnostics in a real Prometheus (a report contributor)."""

from datetime import timedelta

import pytest

from diagnostics.models import Target
from incidents import lifecycle
from incidents.actors import Actor
from incidents.models import Incident, Report
from incidents.reports import report_draft_create
from incidents.tasks import draft_report
from tests.factories import IncidentFactory, ServiceFactory
from tests.prometheus_server import PrometheusServer, openmetrics, utc

START = utc("2026-11-20T09:00:00+00:00")
DETECTED = utc("2026-11-20T11:10:00+00:00")
RESOLVED = utc("2026-11-20T11:50:00+00:00")


def counter(before: float, during: float):
    switch = (DETECTED - START).total_seconds()
    end = (RESOLVED - START).total_seconds()

    def value(t: float) -> float:
        return before * min(t, switch) + during * max(0.0, min(t, end) - switch) + before * max(0.0, t - end)

    return value


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    series = [
        ("http_requests_total", {"service": "checkout", "status": "200"}, counter(100, 100)),
        ("http_requests_total", {"service": "checkout", "status": "500"}, counter(0.0, 8.7)),
        # Mean response time 150 ms before, 3000 ms during: sum grows by rate × mean.
        ("http_request_duration_seconds_sum", {"service": "checkout"}, counter(100 * 0.15, 108.7 * 3.0)),
        ("http_request_duration_seconds_count", {"service": "checkout"}, counter(100, 108.7)),
    ]
    document = openmetrics(series, start=START, end=RESOLVED + timedelta(minutes=10), step=15)
    with PrometheusServer(tmp_path_factory.mktemp("prometheus-impact"), document) as server:
        yield server


@pytest.mark.django_db
def test_impact_is_measured_when_the_report_is_drafted(prometheus, engineer):
    service = ServiceFactory(slug="checkout")
    Target.objects.create(
        service=service, kind="prometheus", name="checkout-metrics",
        config={"url": prometheus.url, "labels": {"service": "checkout"}},
    )  # fmt: skip
    incident = IncidentFactory(title="Checkout 5xx", severity="P1", services=[service], detected_at=DETECTED)
    Incident.objects.filter(pk=incident.pk).update(acknowledged_at=DETECTED + timedelta(minutes=5))
    lifecycle.transition(incident, "resolved", actor=Actor.for_user(engineer), note="rolled back")
    # The fixture's resolution time: the move above stamped the wall clock.
    Incident.objects.filter(pk=incident.pk).update(resolved_at=RESOLVED)
    report = report_draft_create(incident_id=incident.pk)
    lines = report.impact.splitlines()
    failed = round(8.7 * 40 * 60)
    total = round(108.7 * 40 * 60)
    first = lines[0]
    assert first.startswith("- ") and "requests failed of" in first and "on checkout" in first
    numbers = [int(part.replace(",", "")) for part in first.split() if part.replace(",", "").isdigit()]
    assert abs(numbers[0] - failed) / failed < 0.03 and abs(numbers[1] - total) / total < 0.03
    assert "(8.0% error rate)" in first
    assert lines[1] == "- Peak error rate 8.0%"
    assert lines[2] == "- Average response time increased from 150 ms to 3,000 ms"
    assert "- Data loss: _to fill_" in lines
    assert abs(report.impact_data["error_rate_peak"] - 0.08) < 0.002


@pytest.mark.django_db
def test_unreachable_prometheus_leaves_fields_to_fill(engineer):
    service = ServiceFactory(slug="checkout")
    Target.objects.create(service=service, kind="prometheus", name="m",
                          config={"url": "http://127.0.0.1:1", "labels": {"service": "checkout"}})  # fmt: skip
    incident = IncidentFactory(severity="P1", services=[service])
    lifecycle.transition(incident, "resolved", actor=Actor.for_user(engineer), note="rolled back")
    draft_report.apply(args=[incident.pk])  # the task, run here
    report = Report.objects.get(incident=incident)
    assert "Prometheus could not be queried" in report.impact
    assert "- Requests failed: _to fill_" in report.impact
    assert Incident.objects.get(pk=incident.pk).status == "resolved"


@pytest.mark.django_db
def test_an_auth_header_env_naming_a_setting_is_not_sent(prometheus, engineer):
    service = ServiceFactory(slug="checkout")
    Target.objects.create(
        service=service, kind="prometheus", name="checkout-metrics",
        config={"url": prometheus.url, "labels": {"service": "checkout"}, "auth_header_env": "SECRET_KEY"},
    )  # fmt: skip
    incident = IncidentFactory(severity="P1", services=[service])
    lifecycle.transition(incident, "resolved", actor=Actor.for_user(engineer), note="rolled back")
    report = report_draft_create(incident_id=incident.pk)
    assert (
        "- (Prometheus was not queried: auth_header_env: SECRET_KEY is not an allowed secret variable "
        "(allowed: ORION_TARGET_* and TARGET_SECRET_ENV))"
    ) in report.impact.splitlines()
    assert "- Requests failed: _to fill_" in report.impact
