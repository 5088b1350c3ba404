"""The insights' daily rollup on PostgreSQL.

Days settled for three days are read from the rollup; a change to one of their incidents
(a timestamp, the severity, a service, a deletion) makes the day stale and the next read
rolls it up again. Whatever mix of rolled-up and live days a period covers, the figures
equal the live read of the same rows (the live read is what a non-UTC time zone gets;
Etc/GMT is UTC under another name, so its weeks are the same).
"""

import random
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from incidents import insights
from incidents.models import Incident
from tests.factories import IncidentFactory, ServiceFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the rollup is PostgreSQL's"),
]
FIGURES = ("total", "sla_compliance", "by_severity", "time_in_state", "weekly")


def midnight(days_ago: int) -> datetime:
    """Midnight UTC, ``days_ago`` days before the day the database's transaction started on
    (the day its triggers count from)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT (now() AT TIME ZONE 'UTC')::date")
        (today,) = cursor.fetchone()
    day = today - timedelta(days=days_ago)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def make(severity="P2", *, detected, ack=None, resolved=None, services=(), **fields):
    incident = IncidentFactory(severity=severity, detected_at=detected, services=list(services))
    Incident.objects.filter(pk=incident.pk).update(acknowledged_at=ack, resolved_at=resolved, **fields)
    return incident


def figures(period, *, service=None, now=None, live=False) -> dict:
    with timezone.override("Etc/GMT" if live else "UTC"):
        data = insights.insights(period=period, service=service, now=now)
    return {name: data[name] for name in FIGURES}


def days() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT day, stale FROM incidents_insight_day ORDER BY day")
        return dict(cursor.fetchall())


def seconds(rng, most: float) -> timedelta:
    return timedelta(seconds=rng.uniform(1, most))


def test_rolled_up_and_live_days_together_equal_the_live_read():
    rng = random.Random(13)
    services = [ServiceFactory(slug=f"svc-{n}") for n in range(3)]
    start = midnight(40) + timedelta(hours=7, minutes=13)
    for _ in range(300):
        detected = start + timedelta(seconds=rng.uniform(0, 39.5 * 86400))
        ack = detected + timedelta(seconds=rng.uniform(1, 9000)) if rng.random() < 0.8 else None
        diagnosing = (ack or detected) + seconds(rng, 600) if ack and rng.random() < 0.5 else None
        mitigated = (diagnosing or ack or detected) + seconds(rng, 900) if rng.random() < 0.4 else None
        resolved = (mitigated or ack or detected) + seconds(rng, 20000) if rng.random() < 0.7 else None
        make(
            rng.choice(["P0", "P1", "P2", "P3"]), detected=detected, ack=ack, resolved=resolved,
            diagnosing_at=diagnosing, mitigated_at=mitigated, services=rng.sample(services, rng.randint(0, 2)),
        )  # fmt: skip
    period = insights.Period(start=start, end=timezone.now())
    rolled = figures(period)
    rolled_up = [day for day, stale in days().items() if not stale]
    assert len(rolled_up) == 36  # the whole days more than three days old (the first one is partial)
    assert rolled == figures(period, live=True)
    assert rolled["total"] == 300
    for service in services:
        assert figures(period, service=service) == figures(period, service=service, live=True)
    # A period starting and ending inside days: the partial days are read live.
    inner = insights.Period(start=midnight(30) + timedelta(hours=5), end=midnight(10) + timedelta(hours=20))
    assert figures(inner) == figures(inner, live=True)


def test_a_change_to_a_settled_day_rolls_it_up_again():
    day = midnight(10) + timedelta(hours=9)
    service = ServiceFactory(slug="checkout")
    first = make("P1", detected=day, ack=day + timedelta(minutes=4), services=[service])
    make("P1", detected=day + timedelta(hours=1), ack=day + timedelta(hours=1, minutes=10))
    period = insights.Period(start=midnight(20), end=midnight(5))
    assert figures(period)["by_severity"]["P1"]["mtta"] == {"mean": 420.0, "median": 420.0}
    assert days()[day.date()] is False

    Incident.objects.filter(pk=first.pk).update(acknowledged_at=day + timedelta(minutes=2))
    assert days()[day.date()] is True
    assert figures(period)["by_severity"]["P1"]["mtta"] == {"mean": 360.0, "median": 360.0}

    first.refresh_from_db()
    first.severity = "P0"
    first.save()
    assert figures(period)["by_severity"]["P0"]["count"] == 1
    assert figures(period, service=service)["by_severity"]["P0"]["count"] == 1

    first.services.remove(service)
    assert figures(period, service=service)["total"] == 0
    first.services.add(service)
    assert figures(period, service=service)["total"] == 1

    first.delete()
    data = figures(period)
    assert data["total"] == 1 and data["by_severity"]["P0"]["count"] == 0
    assert data == figures(period, live=True)


def test_writes_to_the_last_two_days_leave_the_rollup_alone():
    for days_ago in (0, 1, 2):
        incident = make(detected=midnight(days_ago) + timedelta(hours=1))
        Incident.objects.filter(pk=incident.pk).update(acknowledged_at=incident.detected_at + timedelta(minutes=1))
        incident.services.add(ServiceFactory(slug=f"svc-{days_ago}"))
    assert days() == {}
    make(detected=midnight(3) + timedelta(hours=1))
    assert list(days()) == [midnight(3).date()]


def test_an_unacknowledged_incident_before_its_deadline_keeps_its_day_live():
    detected = midnight(12) + timedelta(hours=3)
    make("P3", detected=detected, ack_due_at=detected + timedelta(days=5))
    make("P3", detected=detected, ack=detected + timedelta(minutes=30))
    period = insights.Period(start=midnight(15), end=midnight(4))
    before = detected + timedelta(days=4)
    after = detected + timedelta(days=6)
    assert figures(period, now=before)["by_severity"]["P3"]["sla"]["due"] == 1
    assert figures(period, now=after)["by_severity"]["P3"]["sla"]["due"] == 2
    assert days()[detected.date()] is False  # rolled up, and still read live before the deadline
    assert figures(period, now=before)["by_severity"]["P3"]["sla"]["due"] == 1


@pytest.mark.django_db(transaction=True)
def test_truncating_the_incidents_empties_the_rollup():
    """As the test database's flush does between transactional tests."""
    make(detected=midnight(9), ack=midnight(9) + timedelta(minutes=1))
    figures(insights.Period(start=midnight(20), end=midnight(5)))
    assert days()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE incidents_incident CASCADE")
        cursor.execute("SELECT count(*) FROM incidents_insight_cell")
        assert cursor.fetchone() == (0,)
    assert days() == {}


def test_the_figures_of_settled_days_come_from_the_rollup():
    detected = midnight(9) + timedelta(hours=4)
    make("P2", detected=detected, ack=detected + timedelta(minutes=3))
    period = insights.Period(start=midnight(20), end=midnight(5))
    assert figures(period)["total"] == 1
    with connection.cursor() as cursor:
        cursor.execute("UPDATE incidents_insight_cell SET incidents = incidents + 40 WHERE service_id = 0")
    assert figures(period)["total"] == 41
    assert figures(period, live=True)["total"] == 1


@pytest.mark.django_db(transaction=True)
def test_a_stale_day_a_writer_holds_is_read_live_without_waiting_and_rolled_up_after():
    day = midnight(8) + timedelta(hours=2)
    incident = make("P1", detected=day, ack=day + timedelta(minutes=10))
    period = insights.Period(start=midnight(15), end=midnight(4))
    assert figures(period)["by_severity"]["P1"]["mtta"]["median"] == 600.0
    Incident.objects.filter(pk=incident.pk).update(acknowledged_at=day + timedelta(minutes=5))
    assert days()[day.date()] is True
    changed, finish = threading.Event(), threading.Event()

    def writer():
        try:
            with transaction.atomic():
                Incident.objects.filter(pk=incident.pk).update(acknowledged_at=day + timedelta(minutes=1))
                changed.set()
                finish.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert changed.wait(10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")  # a wait on the writer's lock fails the test
        try:
            assert figures(period)["by_severity"]["P1"]["mtta"]["median"] == 300.0  # the committed state, live
            assert days()[day.date()] is True  # skipped, not rolled up
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")
    finally:
        finish.set()
        thread.join()
    assert figures(period)["by_severity"]["P1"]["mtta"]["median"] == 60.0
    assert days()[day.date()] is False


def test_a_long_period_is_rolled_up_a_bounded_number_of_days_per_read(monkeypatch):
    monkeypatch.setattr(insights, "ROLL_UP_AT_MOST", 5)
    for days_ago in range(4, 24):
        detected = midnight(days_ago) + timedelta(hours=days_ago)
        make("P1", detected=detected, ack=detected + timedelta(minutes=days_ago))
    period = insights.Period(start=midnight(30), end=timezone.now())
    live = figures(period, live=True)

    def rolled_up() -> list:
        return sorted(day for day, stale in days().items() if not stale)

    assert figures(period) == live
    first = rolled_up()
    assert len(first) == 5 and first[-1] == midnight(4).date()  # the latest first
    assert figures(period) == live
    assert len(rolled_up()) == 10 and set(first) < set(rolled_up())
