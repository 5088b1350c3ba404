"""Insights read the period once: weeks, medians and recurring keys still match a row-by-row count."""

import random
import statistics
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from incidents import insights
from incidents.models import Incident, Integration
from tests.factories import IncidentFactory

pytestmark = pytest.mark.django_db
PERIOD = insights.Period(start=datetime(2026, 11, 1, tzinfo=UTC), end=datetime(2026, 12, 1, tzinfo=UTC))
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def make(severity="P2", *, detected, ack=None, resolved=None, key="", integration=None, title=None):
    """An incident with its timestamps set afterwards (incident_create stamps "now")."""
    incident = IncidentFactory(severity=severity, detected_at=detected, **({"title": title} if title else {}))
    Incident.objects.filter(pk=incident.pk).update(
        acknowledged_at=ack, resolved_at=resolved, dedup_key=key, integration=integration,
        status="resolved" if resolved else ("acknowledged" if ack else "detected"),
    )  # fmt: skip
    return incident


def resolved(*, detected, **fields):
    """Resolved five minutes later: an alert key has at most one open incident."""
    return make(detected=detected, resolved=detected + timedelta(minutes=5), **fields)


def integration(name: str) -> Integration:
    return Integration.objects.create(name=name, kind="alertmanager", prefix=name[:12], digest=f"digest-{name}")


def test_weeks_start_on_monday_at_midnight_utc():
    make(detected=datetime(2026, 11, 8, 23, 59, 59, 999999, tzinfo=UTC))  # a Sunday
    make(detected=datetime(2026, 11, 9, tzinfo=UTC))  # the Monday after
    make(detected=datetime(2026, 11, 15, 12, tzinfo=UTC))
    weeks = {w["week"]: w["incidents"]["P2"] for w in insights.insights(period=PERIOD, now=NOW)["weekly"]}
    assert weeks == {"2026-11-02": 1, "2026-11-09": 2}


def test_medians_interpolate_between_the_two_middle_values_across_weeks():
    m = timedelta(minutes=1)
    for day, minutes in ((2, 1), (3, 10), (10, 2), (17, 3)):
        detected = datetime(2026, 11, day, 9, tzinfo=UTC)
        make(detected=detected, ack=detected + minutes * m, resolved=detected + 100 * m)
    p2 = insights.insights(period=PERIOD, now=NOW)["by_severity"]["P2"]
    assert p2["mtta"] == {"mean": 240.0, "median": 150.0}
    assert p2["mttr"] == {"mean": 6000.0, "median": 6000.0}
    assert insights.insights(period=PERIOD, now=NOW)["by_severity"]["P0"]["mtta"] == {"mean": None, "median": None}


def test_recurring_keys_are_counted_per_integration_and_labelled_with_their_greatest_title():
    alertmanager, events = integration("alertmanager"), integration("events")
    day = datetime(2026, 11, 3, tzinfo=UTC)
    for n, title in enumerate(["Disk full on db-1", "Disk full on db-2", "Disk full on db-3"]):
        resolved(detected=day + timedelta(hours=n), key="DiskFull", integration=alertmanager, title=title)
    for n in range(2):
        resolved(detected=day + timedelta(hours=n), key="DiskFull", integration=events, title="Disk full")
    for n in range(2):
        resolved(detected=day + timedelta(hours=n), key="manual-key", title=f"Filed by hand {n}")
    resolved(detected=day, key="Once", integration=alertmanager)
    resolved(
        detected=datetime(2026, 10, 30, tzinfo=UTC), key="DiskFull", integration=events, title="Z before the period"
    )
    keys = insights.insights(period=PERIOD, now=NOW)["recurring"]["alert_keys"]
    assert keys == [
        {"integration": "alertmanager", "key": "DiskFull", "count": 3, "title": "Disk full on db-3"},
        {"integration": "events", "key": "DiskFull", "count": 2, "title": "Disk full"},
        {"integration": None, "key": "manual-key", "count": 2, "title": "Filed by hand 1"},
    ]


def test_figures_equal_a_row_by_row_computation():
    """Microsecond timestamps, every state combination: sums, counts, means and medians as Python computes them."""
    rng = random.Random(17)
    rows = []
    for _ in range(120):
        detected = PERIOD.start + timedelta(seconds=rng.uniform(0, 29 * 86400))
        ack = detected + timedelta(seconds=rng.uniform(1, 7200)) if rng.random() < 0.8 else None
        resolved = (ack or detected) + timedelta(seconds=rng.uniform(1, 20000)) if rng.random() < 0.7 else None
        severity = rng.choice(["P0", "P1", "P2", "P3"])
        make(severity, detected=detected, ack=ack, resolved=resolved)
        rows.append((severity, detected, ack, resolved))
    data = insights.insights(period=PERIOD, now=NOW)
    for severity in ("P0", "P1", "P2", "P3"):
        mine = [r for r in rows if r[0] == severity]
        mtta = [(a - d).total_seconds() for _, d, a, _ in mine if a]
        mttr = [(r - d).total_seconds() for _, d, _, r in mine if r]
        figures = data["by_severity"][severity]
        assert figures["count"] == len(mine)
        assert figures["resolved"] == len(mttr)
        assert figures["mtta"] == {
            "mean": round(sum(mtta) / len(mtta), 1) if mtta else None,
            "median": round(statistics.median(mtta), 1) if mtta else None,
        }
        assert figures["mttr"] == {
            "mean": round(sum(mttr) / len(mttr), 1) if mttr else None,
            "median": round(statistics.median(mttr), 1) if mttr else None,
        }
    detected_spans = [((a or r) - d).total_seconds() for _, d, a, r in rows if a or r]
    assert data["time_in_state"]["detected"] == round(sum(detected_spans) / len(detected_spans), 1)
    assert sum(sum(w["incidents"].values()) for w in data["weekly"]) == len(rows)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="planner statistics are PostgreSQL's")
def test_the_planner_knows_how_many_weeks_the_incidents_span():
    with connection.cursor() as cursor:
        cursor.execute("SELECT stxkind FROM pg_statistic_ext WHERE stxname = 'incident_week_severity'")
        (kinds,) = cursor.fetchone()
    assert "d" in kinds  # ndistinct
