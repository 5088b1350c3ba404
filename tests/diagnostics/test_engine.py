"""The diagnostics engine through a real Celery worker process, against the scratch PostgreSQL cluster."""

import os
import signal

import pytest
from django.db import transaction

from diagnostics.models import DiagnosticRun, Target
from incidents.models import Incident, TimelineEntry, TimelineKind
from orion_ops.celery import app
from tests.conftest import wait_for
from tests.diagnostics.conftest import HANG_PASSWORD
from tests.diagnostics.test_postgres import PRISMA_TABLE
from tests.factories import IncidentFactory, ServiceFactory

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def service_with_postgres(slug: str, dsn_env: str = "ORION_TARGET_TEST_PG_DSN"):
    service = ServiceFactory(slug=slug)
    Target.objects.create(service=service, kind="postgres", name=f"{slug}-db", config={"dsn_env": dsn_env})
    return service


def diagnostic_entries(incident):
    return TimelineEntry.objects.filter(incident=incident, kind=TimelineKind.DIAGNOSTIC)


def finished_run(incident, timeout=60.0) -> DiagnosticRun:
    return wait_for(
        lambda: DiagnosticRun.objects.filter(incident=incident, attached_at__isnull=False).first(),
        timeout=timeout,
        message="the run to finish and reach the timeline",
    )


def test_new_incident_gets_real_findings_on_its_timeline(celery_worker_process, scratch_pg):
    service = service_with_postgres("task-service")
    incident = IncidentFactory(title="Checkout 5xx", severity="P1", services=[service])
    run = finished_run(incident)
    assert run.status == "succeeded" and run.trigger == "incident_created" and run.attempts == 1
    assert run.checks_done == run.checks_total == 14 == len(run.findings)
    saturation = next(f for f in run.findings if f["check"] == "postgres.connection_saturation")
    assert saturation["evidence"]["range"]["usable"] == 17
    assert "of 17 usable connections in use" in saturation["summary"]
    (entry,) = diagnostic_entries(incident)
    assert entry.text.startswith("PostgreSQL diagnostics of task-service-db: ")
    assert entry.actor_kind == "system"
    assert entry.data["run_id"] == run.pk and entry.data["target"] == {"kind": "postgres", "name": "task-service-db"}
    assert sum(entry.data["counts"].values()) == 14
    assert run.timeline_entry_id == entry.pk
    assert Incident.objects.get(pk=incident.pk).status == "detected"


def _pool_child_running(run_id: int) -> int | None:
    for tasks in (app.control.inspect(timeout=1.0).active() or {}).values():
        for task in tasks:
            if task["name"] == "diagnostics.tasks.run_diagnostic" and str(run_id) in str(task["args"]):
                return task["worker_pid"]
    return None


def test_worker_killed_mid_run_redoes_it_and_attaches_once(celery_worker_process, scratch_pg, held_sessions):
    scratch_pg.execute(f"DROP TABLE IF EXISTS _prisma_migrations; {PRISMA_TABLE}")
    # A migration holding its lock keeps the collector waiting mid-run (up to its statement timeout).
    holder = held_sessions.open(application_name="migration", autocommit=False)
    holder.execute("LOCK TABLE _prisma_migrations IN ACCESS EXCLUSIVE MODE")
    incident = IncidentFactory(services=[service_with_postgres("billing")])
    run = wait_for(
        lambda: DiagnosticRun.objects.filter(incident=incident, status="running", checks_done__gte=1).first(),
        message="the run to start",
    )
    child = wait_for(lambda: _pool_child_running(run.pk), message="the pool child running the task")
    os.kill(child, signal.SIGKILL)
    holder.rollback()

    run = finished_run(incident)
    assert run.status == "succeeded"
    assert run.attempts == 2  # claimed by the first delivery, then by the redelivery
    assert not [f for f in run.findings if f["status"] == "error"]
    prisma = next(f for f in run.findings if f["check"] == "postgres.prisma_migrations")
    assert prisma["status"] == "ok"
    assert diagnostic_entries(incident).count() == 1
    # Let the worker settle, then check again: nothing attaches the run a second time.
    wait_for(lambda: _pool_child_running(run.pk) is None, message="the task to leave the worker")
    assert diagnostic_entries(incident).count() == 1


def test_a_hanging_target_times_out_without_touching_the_incident(celery_worker_process, settings):
    settings.DIAGNOSTICS_POSTGRES_SOFT_TIME_LIMIT = 2
    settings.DIAGNOSTICS_POSTGRES_TIME_LIMIT = 8
    incident = IncidentFactory(
        severity="P0", services=[service_with_postgres("search", "ORION_TARGET_TEST_PG_HANG_DSN")]
    )
    run = finished_run(incident, timeout=30)
    assert run.status == "timed_out"
    assert run.error == "did not finish within its 2 s time limit"
    assert (run.finished_at - run.started_at).total_seconds() < 6
    (entry,) = diagnostic_entries(incident)
    assert entry.text == "PostgreSQL diagnostics of search-db timed out: did not finish within its 2 s time limit"
    assert entry.data["worst"] == "error"
    for text in (run.error, entry.text, str(entry.data)):
        assert HANG_PASSWORD not in text
    incident.refresh_from_db()
    assert incident.status == "detected"


def test_unreachable_target_is_retried_with_backoff_then_fails(celery_worker_process):
    incident = IncidentFactory(services=[service_with_postgres("mailer", "ORION_TARGET_TEST_PG_REFUSED_DSN")])
    run = finished_run(incident, timeout=40)
    assert run.status == "failed"
    assert run.attempts == 3  # DIAGNOSTICS_MAX_RETRIES=2 in the worker's environment
    assert run.error.startswith("could not connect:") and run.error.endswith("after 3 attempts")
    assert "refused" in run.error
    (entry,) = diagnostic_entries(incident)
    assert entry.text.startswith("PostgreSQL diagnostics of mailer-db failed: could not connect")
    assert Incident.objects.get(pk=incident.pk).status == "detected"


def test_rolled_back_incident_runs_nothing(celery_worker_process):
    service = service_with_postgres("ledger")
    with pytest.raises(RuntimeError), transaction.atomic():
        IncidentFactory(services=[service])
        raise RuntimeError("the request failed after filing")
    assert not Incident.objects.exists()
    assert not DiagnosticRun.objects.exists()
    with app.connection_for_read() as conn:
        assert conn.default_channel.client.llen("diagnostics") == 0
