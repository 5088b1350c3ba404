"""/metrics for operators: diagnostic runs and durations, SLA breaches, beat heartbeat, queue depth, registration."""

import re
import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from diagnostics.models import DiagnosticRun, Target
from incidents import metrics
from incidents.models import Incident
from incidents.tasks import beat_heartbeat
from orion_ops.celery import app
from tests.factories import IncidentFactory, ServiceFactory

pytestmark = pytest.mark.django_db


def scrape() -> str:
    response = Client().get("/metrics")
    assert response.status_code == 200
    return response.content.decode()


def sample(text: str, name: str, **labels) -> float | None:
    """The value of one sample, or None when /metrics does not have it."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)", line)
        if not match or match[1] != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match[2] or ""))
        if found == {k: str(v) for k, v in labels.items()}:
            return float(match[3])
    return None


def finished_run(incident, target, *, status: str, seconds: float):
    now = timezone.now()
    return DiagnosticRun.objects.create(
        incident=incident, target=target, collector=target.kind, target_name=target.name, trigger="on_demand",
        status=status, started_at=now - timedelta(seconds=seconds), finished_at=now,
    )  # fmt: skip


def test_diagnostic_runs_by_collector_and_outcome_with_durations():
    incident = IncidentFactory()
    target = Target.objects.create(service=ServiceFactory(slug="metrics-db"), kind="postgres", name="metrics-db")
    before = scrape()
    assert sample(before, "orion_diagnostic_runs_total", collector="postgres", outcome="failed") == 0

    finished_run(incident, target, status="succeeded", seconds=0.2)
    finished_run(incident, target, status="succeeded", seconds=7)
    finished_run(incident, target, status="failed", seconds=40)
    DiagnosticRun.objects.create(
        incident=incident, target=target, collector="postgres", target_name="metrics-db", trigger="on_demand"
    )
    text = scrape()

    labels = {"collector": "postgres", "outcome": "succeeded"}
    assert sample(text, "orion_diagnostic_runs_total", **labels) == 2
    assert sample(text, "orion_diagnostic_runs_total", collector="postgres", outcome="failed") == 1
    assert sample(text, "orion_diagnostic_runs_total", collector="kubernetes", outcome="timed_out") == 0
    assert sample(text, "orion_diagnostic_run_duration_seconds_bucket", le="0.5", **labels) == 1
    assert sample(text, "orion_diagnostic_run_duration_seconds_bucket", le="5.0", **labels) == 1
    assert sample(text, "orion_diagnostic_run_duration_seconds_bucket", le="10.0", **labels) == 2
    assert sample(text, "orion_diagnostic_run_duration_seconds_bucket", le="+Inf", **labels) == 2
    assert sample(text, "orion_diagnostic_run_duration_seconds_count", **labels) == 2
    assert sample(text, "orion_diagnostic_run_duration_seconds_sum", **labels) == pytest.approx(7.2, abs=0.01)
    assert sample(text, "orion_diagnostic_runs_active", collector="postgres", status="queued") == 1


def test_sla_breaches_are_counted_from_the_database():
    incident = IncidentFactory(severity="P1")
    assert sample(scrape(), "orion_sla_breaches_marked_total", severity="P1") == 0

    Incident.objects.filter(pk=incident.pk).update(sla_breached_at=timezone.now())

    text = scrape()
    assert sample(text, "orion_sla_breaches_marked_total", severity="P1") == 1
    assert sample(text, "orion_sla_breaches_marked_total", severity="P0") == 0


def test_beat_heartbeat_is_the_time_the_task_last_ran():
    cache.delete(metrics.HEARTBEAT_CACHE_KEY)
    assert sample(scrape(), "orion_beat_heartbeat_timestamp_seconds") == 0

    started = time.time()
    beat_heartbeat()

    assert started <= sample(scrape(), "orion_beat_heartbeat_timestamp_seconds") <= time.time()


def test_beat_schedules_the_heartbeat():
    schedule = {entry["task"]: entry["schedule"] for entry in app.conf.beat_schedule.values()}
    assert schedule["incidents.tasks.beat_heartbeat"] == metrics.HEARTBEAT_INTERVAL_SECONDS


def test_celery_queue_depth_is_read_from_the_broker():
    queue = f"metrics-probe-{time.monotonic_ns()}"
    assert sample(scrape(), "orion_celery_queue_length", queue=queue) is None
    assert sample(scrape(), "orion_celery_queue_length", queue="diagnostics") is not None

    for _ in range(3):
        app.send_task("incidents.tests.never_consumed", queue=queue)
    try:
        text = scrape()
        assert sample(text, "orion_celery_broker_up") == 1
        assert sample(text, "orion_celery_queue_length", queue=queue) == 3
    finally:
        with app.connection_for_write() as connection:
            connection.default_channel.queue_delete(queue)


def test_registered_collectors_are_served_and_a_failing_one_is_left_out(monkeypatch):
    class Deliveries:
        def collect(self):
            family = GaugeMetricFamily("orion_test_deliveries_pending", "Registered by another module.")
            family.add_metric([], 4)
            yield family

    class Broken:
        def collect(self):
            raise RuntimeError("database gone")
            yield

    monkeypatch.setattr(metrics, "_registered", [*metrics.registered()])
    metrics.register(Broken())
    metrics.register(Deliveries())

    text = scrape()
    assert sample(text, "orion_test_deliveries_pending") == 4
    assert sample(text, "orion_incidents_open", severity="P0", status="detected") == 0
