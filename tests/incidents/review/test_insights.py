"""Insights against hand-computed figures on a fixed data set."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents import insights
from incidents.models import ActionItem, Incident, Report
from tests.factories import IncidentFactory, ServiceFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)  # a Monday
PERIOD = insights.Period(start=datetime(2026, 11, 1, tzinfo=UTC), end=datetime(2026, 11, 30, tzinfo=UTC))
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def make(severity, *, detected, ack=None, resolved=None, service=None, key="", mitigated=None):
    incident = IncidentFactory(severity=severity, detected_at=detected, services=[service] if service else [])
    Incident.objects.filter(pk=incident.pk).update(
        acknowledged_at=ack, resolved_at=resolved, mitigated_at=mitigated, dedup_key=key,
        status="resolved" if resolved else ("acknowledged" if ack else "detected"),
    )  # fmt: skip
    return incident


@pytest.fixture
def dataset():
    svc = ServiceFactory(slug="task-service")
    other = ServiceFactory(slug="billing")
    m = timedelta(minutes=1)
    # P1 target 15 min. MTTA 5, 10, 30 min → mean 15, median 10. MTTR 60, 120, 90 → mean 90, median 90.
    make("P1", detected=T0, ack=T0 + 5 * m, resolved=T0 + 60 * m, service=svc, key="HighErrorRate")
    make("P1", detected=T0 + timedelta(days=1), ack=T0 + timedelta(days=1) + 10 * m,
         resolved=T0 + timedelta(days=1) + 120 * m, service=svc, key="HighErrorRate")  # fmt: skip
    d8 = T0 + timedelta(days=8)
    make("P1", detected=d8, ack=d8 + 30 * m, resolved=d8 + 90 * m, mitigated=d8 + 60 * m, service=other)
    # P0 target 5 min: acknowledged at 2 min (met); one never acknowledged, long past due (breach).
    make("P0", detected=T0 + timedelta(days=9), ack=T0 + timedelta(days=9) + 2 * m, service=svc)
    make("P0", detected=T0 + timedelta(days=10), resolved=T0 + timedelta(days=10) + 20 * m, service=svc)
    # P3 still open, deadline (24 h) not yet passed at NOW: not due, not counted either way.
    make("P3", detected=NOW - timedelta(hours=2))
    # Outside the period.
    make("P1", detected=datetime(2026, 10, 1, tzinfo=UTC), ack=datetime(2026, 10, 1, 1, tzinfo=UTC))
    return svc


def test_figures_match_hand_computed_values(dataset):
    data = insights.insights(period=PERIOD, now=NOW)
    p1 = data["by_severity"]["P1"]
    assert p1["count"] == 3 and p1["resolved"] == 3
    assert p1["mtta"] == {"mean": 900.0, "median": 600.0}
    assert p1["mttr"] == {"mean": 5400.0, "median": 5400.0}
    assert p1["sla"] == {"due": 3, "met": 2, "breached": 1, "compliance": round(2 / 3, 4)}
    p0 = data["by_severity"]["P0"]
    assert p0["count"] == 2
    assert p0["sla"] == {"due": 2, "met": 1, "breached": 1, "compliance": 0.5}
    assert p0["mtta"]["mean"] == 120.0 and p0["mttr"]["mean"] == 1200.0
    p3 = data["by_severity"]["P3"]
    assert p3["count"] == 1 and p3["sla"]["due"] == 0 and p3["sla"]["compliance"] is None
    assert data["by_severity"]["P2"]["count"] == 0
    assert data["total"] == 6
    assert data["sla_compliance"] == round(3 / 5, 4)


def test_service_filter(dataset):
    data = insights.insights(period=PERIOD, service=dataset, now=NOW)
    assert data["by_severity"]["P1"]["count"] == 2
    assert data["by_severity"]["P1"]["mtta"]["mean"] == 450.0
    assert data["total"] == 4


def test_time_in_state(dataset):
    data = insights.insights(period=PERIOD, now=NOW)
    # detected → next state: P1s 5, 10, 30 min; P0s 2 min and 20 min (straight to resolved) → mean 13.4 min.
    assert data["time_in_state"]["detected"] == round((5 + 10 + 30 + 2 + 20) * 60 / 5, 1)
    # mitigated → resolved: one incident, 30 min.
    assert data["time_in_state"]["mitigated"] == 1800.0


def test_recurring_and_weekly_trend(dataset):
    data = insights.insights(period=PERIOD, now=NOW)
    assert [(r["key"], r["count"]) for r in data["recurring"]["alert_keys"]] == [("HighErrorRate", 2)]
    weeks = {w["week"]: w for w in data["weekly"]}
    assert weeks["2026-11-02"]["incidents"]["P1"] == 2
    assert weeks["2026-11-02"]["mtta_mean"] == 450.0
    assert weeks["2026-11-09"]["incidents"] == {"P0": 2, "P1": 1, "P2": 0, "P3": 0}


def test_recurring_root_causes(dataset):
    svc = dataset
    for incident in Incident.objects.filter(services=svc, severity="P1"):
        Report.objects.create(incident=incident, title="x", root_cause="Pool of 10 too small")
    data = insights.insights(period=PERIOD, now=NOW)
    assert data["recurring"]["root_causes"] == [
        {"service": "task-service", "root_cause": "Pool of 10 too small", "count": 2}
    ]


def test_action_item_counts(dataset):
    incident = Incident.objects.first()
    ActionItem.objects.create(incident=incident, title="a", due_date=NOW.date() - timedelta(days=1))
    ActionItem.objects.create(incident=incident, title="b", due_date=NOW.date() + timedelta(days=1))
    ActionItem.objects.create(incident=incident, title="c", status="done")
    data = insights.insights(period=PERIOD, now=NOW)
    assert data["action_items"] == {"open": 2, "overdue": 1, "done": 1}


def test_query_count_does_not_grow_with_incidents(dataset):
    def queries():
        with CaptureQueriesContext(connection) as ctx:
            insights.insights(period=PERIOD, now=NOW)
        return len(ctx.captured_queries)

    before = queries()
    for i in range(60):
        make("P2", detected=T0 + timedelta(hours=i), ack=T0 + timedelta(hours=i, minutes=3))
    assert queries() == before


def test_api(dataset, viewer_api, engineer_api):
    response = viewer_api.get("/api/v1/insights/?start=2026-11-01&end=2026-11-30&service=task-service")
    assert response.status_code == 200
    body = response.json()
    assert body["service"] == "task-service" and body["by_severity"]["P1"]["count"] == 2
    assert viewer_api.get("/api/v1/insights/?start=2026-11-30&end=2026-11-01").status_code == 400
    assert viewer_api.get("/api/v1/insights/?service=ghost").status_code == 400
    assert viewer_api.get("/api/v1/insights/?days=0").status_code == 400
    assert engineer_api.get("/api/v1/insights/?days=7").status_code == 200
