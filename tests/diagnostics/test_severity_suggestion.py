"""Severity suggestions: met criteria suggest a higher severity, never a lower one; a person raises it."""

import pytest

from diagnostics import hypotheses
from diagnostics.analysis.facts import Facts, FindingRef
from diagnostics.analysis.severity import severity_suggestion
from diagnostics.collectors import logs
from incidents.models import Incident, TimelineKind
from tests.diagnostics.analysis.builders import error_rate, finding, latency, log_pattern
from tests.diagnostics.test_hypotheses import _f
from tests.diagnostics.test_likely_causes import run
from tests.factories import IncidentFactory, ServiceFactory


def suggest(findings, current):
    return severity_suggestion(Facts(findings), current)


def test_error_ratio_above_five_percent_suggests_p1():
    suggestion = suggest([error_rate(0.083, "crit")], "P2")
    assert suggestion.severity == "P1"
    assert suggestion.text == "Evidence suggests P1: error ratio 8.3 % (> 5 %)"


def test_below_five_percent_suggests_nothing():
    assert suggest([error_rate(0.049, "warn")], "P3") is None


def test_never_suggests_lowering_or_the_same():
    assert suggest([error_rate(0.083, "crit")], "P1") is None
    assert suggest([error_rate(0.083, "crit")], "P0") is None


def test_user_facing_latency_suggests_p1():
    assert (
        suggest([latency(11.7, "crit")], "P3").text
        == "Evidence suggests P1: user-facing latency: P95 11.7× its baseline"
    )
    assert suggest([latency(2.0, "warn")], "P3") is None


@pytest.mark.parametrize(
    "down",
    [
        finding("kubernetes.deployment", "crit", "task-service: 0 of 3 replicas available", "task-service"),
        finding("prometheus.request_rate", "crit", "Traffic dropped to 0.00 req/s (from 40.0 req/s before)"),
        finding("kubernetes.pods", "crit", "No pods match app=task-service in prod", "app=task-service"),
        error_rate(0.99, "crit"),
    ],
)
def test_a_service_fully_down_suggests_p0(down):
    suggestion = suggest([down, error_rate(0.2, "crit")], "P1")
    assert suggestion.severity == "P0" and suggestion.text.startswith("Evidence suggests P0: ")


def test_data_loss_in_the_logs_suggests_p0_with_the_line():
    line = 'PANIC:  could not write to file "pg_wal/xlogtemp.61": No space left on device'
    suggestion = suggest([log_pattern("data_corruption", subject="appdb-0/postgres", sample=line)], "P2")
    assert suggestion.severity == "P0"
    assert suggestion.text == f"Evidence suggests P0: data at risk in appdb-0/postgres: {line}"
    # Other log patterns, however loud, are not data loss.
    assert suggest([log_pattern("errno", sample="OSError: [Errno 28] No space left on device: '/tmp/x'")], "P2") is None


def test_data_loss_is_found_in_real_log_lines_and_not_in_a_clean_scan():
    lines = ["2026-11-27 14:00:00.120 UTC [61] ERROR:  invalid page in block 8213 of relation base/16384/16402"]
    findings = logs.findings_from_logs(logs.analyze(lines), source="appdb-0/postgres")
    refs = [FindingRef.of(f.to_dict(), run=1, collector="kubernetes") for f in findings]
    assert suggest(refs, "P1").severity == "P0"
    clean = logs.analyze(["2026-11-27 14:00:00 INFO checksum scan: 0 corrupted pages, no data corruption found"])
    assert clean.patterns == []


@pytest.fixture
def incident(db):
    service = ServiceFactory(slug="task-service")
    incident = IncidentFactory(services=[service], severity="P2")
    run(incident, service, "prometheus", [_f("prometheus.error_rate", "crit", "5xx ratio peaked at 8.3%",
                                             'service="task-service"', observed=0.083)])  # fmt: skip
    return incident


@pytest.mark.django_db
def test_api_suggests_and_an_engineer_raises_once(incident, engineer_api, engineer):
    url = f"/api/v1/incidents/{incident.pk}/severity-suggestion/"
    body = engineer_api.get(url).json()
    assert body["current"] == "P2" and body["suggested"] == "P1"
    assert body["text"] == "Evidence suggests P1: error ratio 8.3 % (> 5 %)"
    hypotheses.hypotheses_recompute(incident_id=incident.pk)
    assert Incident.objects.get(pk=incident.pk).severity == "P2"  # never raised automatically

    response = engineer_api.post(url, {"severity": "P1"}, format="json")
    assert response.status_code == 200 and response.json()["current"] == "P1" and response.json()["suggested"] is None
    incident.refresh_from_db()
    assert incident.severity == "P1"
    (entry,) = incident.timeline.filter(kind=TimelineKind.SEVERITY_CHANGED)
    assert entry.actor_user == engineer
    assert entry.text == "Severity changed from P2 to P1: Evidence suggests P1: error ratio 8.3 % (> 5 %)"
    assert entry.data["evidence"][0]["check"] == "prometheus.error_rate"

    again = engineer_api.post(url, {"severity": "P1"}, format="json")
    assert again.status_code == 409
    assert incident.timeline.filter(kind=TimelineKind.SEVERITY_CHANGED).count() == 1


@pytest.mark.django_db
def test_raising_past_the_evidence_or_bad_input_is_refused(incident, engineer_api):
    url = f"/api/v1/incidents/{incident.pk}/severity-suggestion/"
    assert engineer_api.post(url, {"severity": "P0"}, format="json").status_code == 409
    assert engineer_api.post(url, {"severity": "P7"}, format="json").status_code == 400
    assert engineer_api.post(url, {}, format="json").status_code == 400
    assert Incident.objects.get(pk=incident.pk).severity == "P2"


@pytest.mark.django_db
def test_page_shows_the_suggestion_and_the_button_to_engineers_only(incident, client, engineer, viewer):
    client.force_login(engineer)
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "Evidence suggests P1: error ratio 8.3 % (&gt; 5 %)" in page
    assert "Raise to P1" in page
    client.force_login(viewer)
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "Evidence suggests P1" in page and "Raise to P1" not in page
