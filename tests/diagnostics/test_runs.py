"""Runs in-process: reuse, debounce, exactly-once attachment, the circuit breaker, stale runs, limits."""

import threading
import time
from datetime import timedelta

import pybreaker
import pytest
from django.core import checks
from django.db import connection
from django.utils import timezone

from diagnostics import engine, services
from diagnostics.apps import time_limits_check
from diagnostics.breaker import breaker_for
from diagnostics.collectors import COLLECTORS
from diagnostics.models import DiagnosticRun, RunTrigger, Target
from diagnostics.tasks import run_diagnostic
from incidents.actors import Actor
from incidents.models import TimelineEntry, TimelineKind
from incidents.services import incident_update
from tests.app_server import free_port
from tests.factories import IncidentFactory, ServiceFactory

FINDINGS = [
    {"check": "postgres.connection_saturation", "status": "crit", "summary": "16 of 17 usable connections in use",
     "subject": "appdb", "evidence": {"query": "SELECT 1", "observed": 94.1, "threshold": {}, "unit": "%"},
     "remediation": "Lower the pools.", "runbook": "db-connection-pool-exhausted"},
    {"check": "postgres.slow_queries", "status": "ok", "summary": "0 slow statements", "subject": "appdb",
     "evidence": {"query": "SELECT 2", "observed": 0, "threshold": {}, "unit": "ms"}, "remediation": "",
     "runbook": None},
]  # fmt: skip


@pytest.fixture
def target(db):
    service = ServiceFactory(slug="task-service")
    return Target.objects.create(
        service=service, kind="postgres", name="task-db", config={"dsn_env": "ORION_TARGET_TEST_PG_DSN"}
    )


def incident_for(target):
    return IncidentFactory(services=[target.service])


def entries(incident):
    return TimelineEntry.objects.filter(incident=incident, kind=TimelineKind.DIAGNOSTIC)


@pytest.mark.django_db
def test_request_reuses_the_active_run_of_the_same_target(target):
    incident = incident_for(target)
    (first,) = services.runs_request(incident_id=incident.pk, trigger=RunTrigger.ON_DEMAND)
    (again,) = services.runs_request(incident_id=incident.pk, trigger=RunTrigger.ON_DEMAND)
    assert again.pk == first.pk and first.status == "queued"
    services.run_finish(run_id=first.pk, status="succeeded", findings=FINDINGS)
    (fresh,) = services.runs_request(incident_id=incident.pk, trigger=RunTrigger.ON_DEMAND)
    assert fresh.pk != first.pk


@pytest.mark.django_db
def test_each_target_kind_gets_its_collectors_run(target):
    Target.objects.create(service=target.service, kind="prometheus", name="prom", config={"url": "http://p:9090"})
    incident = incident_for(target)
    runs = services.runs_request(incident_id=incident.pk, trigger=RunTrigger.ON_DEMAND)
    assert sorted(r.collector for r in runs) == ["postgres", "prometheus"]
    assert set(COLLECTORS) == {"postgres", "prometheus", "kubernetes", "tracing", "http"}


@pytest.mark.django_db
def test_alert_storm_runs_share_one_inspection_of_the_target(target):
    first, second, third = (incident_for(target) for _ in range(3))
    (leader,) = services.runs_request(incident_id=first.pk, trigger=RunTrigger.INCIDENT_CREATED)
    (follower,) = services.runs_request(incident_id=second.pk, trigger=RunTrigger.INCIDENT_CREATED)
    assert leader.leader_id is None and follower.leader_id == leader.pk
    services.run_claim(run_id=leader.pk)
    services.run_finish(run_id=leader.pk, status="succeeded", findings=FINDINGS)
    follower.refresh_from_db()
    assert follower.status == "succeeded" and follower.findings == FINDINGS
    assert entries(second).count() == 1 and entries(first).count() == 1
    assert entries(second).get().data["shared_from"] == leader.pk

    # Within the window, a later incident gets the finished results at once.
    fourth = incident_for(target)
    (late,) = services.runs_request(incident_id=fourth.pk, trigger=RunTrigger.INCIDENT_CREATED)
    assert late.leader_id == leader.pk
    late.refresh_from_db()
    assert late.status == "succeeded" and entries(fourth).count() == 1

    # A person asking explicitly gets a fresh run.
    (explicit,) = services.runs_request(incident_id=third.pk, trigger=RunTrigger.ON_DEMAND)
    assert explicit.leader_id is None and explicit.status == "queued"


@pytest.mark.django_db
def test_debounce_window_is_configurable(target, settings):
    settings.DIAGNOSTICS_DEBOUNCE_SECONDS = 0
    first, second = incident_for(target), incident_for(target)
    services.runs_request(incident_id=first.pk, trigger=RunTrigger.INCIDENT_CREATED)
    (run,) = services.runs_request(incident_id=second.pk, trigger=RunTrigger.INCIDENT_CREATED)
    assert run.leader_id is None


@pytest.mark.django_db
def test_adding_a_service_requests_its_runs_after_commit(target, engineer, django_capture_on_commit_callbacks):
    incident = IncidentFactory(services=[])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        incident_update(incident=incident, actor=Actor.for_user(engineer), services=[target.service])
    assert not DiagnosticRun.objects.exists()  # nothing before the commit
    callbacks[0]()  # the services-added hook
    run = DiagnosticRun.objects.get(incident=incident)
    assert run.trigger == "services_added" and run.status == "queued"


@pytest.mark.django_db
def test_finishing_twice_attaches_once(target):
    incident = incident_for(target)
    (run,) = services.runs_request(incident_id=incident.pk, trigger=RunTrigger.ON_DEMAND)
    services.run_claim(run_id=run.pk)
    services.run_finish(run_id=run.pk, status="succeeded", findings=FINDINGS)
    services.run_finish(run_id=run.pk, status="failed", error="a late duplicate delivery")
    assert services.run_attach(run=DiagnosticRun.objects.get(pk=run.pk)) is False
    assert services.run_attach_if_finished(run_id=run.pk) is False
    run.refresh_from_db()
    assert run.status == "succeeded" and run.error == ""
    (entry,) = entries(incident)
    assert entry.text == (
        "PostgreSQL diagnostics of task-db: crit — 1 crit, 1 ok. Worst: 16 of 17 usable connections in use"
    )
    assert entry.data["counts"] == {"crit": 1, "ok": 1} and entry.data["worst"] == "crit"


@pytest.mark.django_db
def test_a_finished_run_is_not_claimed_again(target):
    incident = incident_for(target)
    (run,) = services.runs_request(incident_id=incident.pk, trigger=RunTrigger.ON_DEMAND)
    assert services.run_claim(run_id=run.pk).attempts == 1
    assert services.run_claim(run_id=run.pk).attempts == 2  # a redelivery may take over a running run
    services.run_finish(run_id=run.pk, status="succeeded", findings=FINDINGS)
    assert services.run_claim(run_id=run.pk) is None
    assert engine.run_execute(run_id=run.pk).status is None
    assert entries(incident).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_attachments_write_one_entry(target):
    incident = incident_for(target)
    run = DiagnosticRun.objects.create(  # created directly: nothing is enqueued
        incident=incident, target=target, collector="postgres", target_name="task-db", trigger="on_demand",
        status="succeeded", findings=FINDINGS, finished_at=timezone.now(),
    )  # fmt: skip
    barrier = threading.Barrier(6)
    results = []

    def attach():
        try:
            barrier.wait()
            results.append(services.run_attach(run=DiagnosticRun.objects.select_related("incident").get(pk=run.pk)))
        finally:
            connection.close()

    threads = [threading.Thread(target=attach) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 5 + [True]
    assert entries(incident).count() == 1


@pytest.mark.django_db
def test_circuit_opens_after_repeated_failures_and_then_fails_fast(target, settings):
    settings.DIAGNOSTICS_BREAKER_FAIL_MAX = 2
    settings.DIAGNOSTICS_MAX_RETRIES = 0
    settings.DIAGNOSTICS_POSTGRES_CONNECT_TIMEOUT = 2
    target.config = {"dsn_env": "ORION_TARGET_TEST_PG_HANG_DSN"}
    target.save()
    outcomes, durations = [], []
    for _ in range(3):
        (run,) = services.runs_request(incident_id=incident_for(target).pk, trigger=RunTrigger.ON_DEMAND)
        started = time.monotonic()
        outcomes.append(engine.run_execute(run_id=run.pk))
        durations.append(time.monotonic() - started)
    errors = list(DiagnosticRun.objects.order_by("created_at", "id").values_list("error", flat=True))
    assert [o.status for o in outcomes] == ["failed"] * 3
    assert all(e.startswith("could not connect") for e in errors[:2])
    assert errors[2].startswith("circuit open for postgres target task-db after 2 consecutive failures")
    assert min(durations[:2]) >= 1.5 and durations[2] < 0.5  # the open circuit does not wait for the target
    # The state is shared: a breaker built elsewhere (another worker) sees it open.
    assert breaker_for(target.pk).current_state == pybreaker.STATE_OPEN


@pytest.mark.django_db
def test_breaker_state_in_the_django_cache_without_redis(target, settings):
    settings.REDIS_URL = ""
    settings.DIAGNOSTICS_BREAKER_FAIL_MAX = 2
    settings.DIAGNOSTICS_MAX_RETRIES = 0
    target.config = {"dsn_env": "ORION_TARGET_TEST_PG_REFUSED_DSN"}
    target.save()
    for _ in range(3):
        (run,) = services.runs_request(incident_id=incident_for(target).pk, trigger=RunTrigger.ON_DEMAND)
        engine.run_execute(run_id=run.pk)
    last = DiagnosticRun.objects.order_by("-created_at", "-id").first()
    assert last.error.startswith("circuit open")
    assert breaker_for(target.pk).current_state == pybreaker.STATE_OPEN


@pytest.mark.django_db
def test_unreachable_redis_leaves_the_circuit_closed_in_memory_and_the_run_finishes(
    scratch_pg, target, settings, caplog
):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    settings.DIAGNOSTICS_BREAKER_FAIL_MAX = 2
    settings.DIAGNOSTICS_MAX_RETRIES = 0
    (run,) = services.runs_request(incident_id=incident_for(target).pk, trigger=RunTrigger.ON_DEMAND)
    assert engine.run_execute(run_id=run.pk).status == "succeeded"
    # Failures still count, in this worker's memory, and trip the circuit.
    target.config = {"dsn_env": "ORION_TARGET_TEST_PG_REFUSED_DSN"}
    target.save()
    for _ in range(3):
        (run,) = services.runs_request(incident_id=incident_for(target).pk, trigger=RunTrigger.ON_DEMAND)
        assert engine.run_execute(run_id=run.pk).status == "failed"
    assert not DiagnosticRun.objects.filter(status__in=["queued", "running"]).exists()
    assert DiagnosticRun.objects.order_by("-created_at", "-id").first().error.startswith("circuit open")
    assert "kept in memory: Redis unreachable" in caplog.text


@pytest.mark.django_db
def test_configuration_errors_do_not_open_the_circuit(target, settings):
    settings.DIAGNOSTICS_BREAKER_FAIL_MAX = 2
    target.config = {"dsn_env": "ORION_TARGET_TEST_NEVER_SET_DSN"}
    target.save()
    for _ in range(3):
        (run,) = services.runs_request(incident_id=incident_for(target).pk, trigger=RunTrigger.ON_DEMAND)
        assert engine.run_execute(run_id=run.pk).status == "failed"
    errors = set(DiagnosticRun.objects.values_list("error", flat=True))
    assert errors == {"environment variable ORION_TARGET_TEST_NEVER_SET_DSN is not set on this worker"}


@pytest.mark.django_db
def test_transient_failure_asks_for_a_retry_and_requeues(target, settings):
    settings.DIAGNOSTICS_MAX_RETRIES = 1
    target.config = {"dsn_env": "ORION_TARGET_TEST_PG_REFUSED_DSN"}
    target.save()
    incident = incident_for(target)
    (run,) = services.runs_request(incident_id=incident.pk, trigger=RunTrigger.ON_DEMAND)
    outcome = engine.run_execute(run_id=run.pk, retries=0)
    run.refresh_from_db()
    assert outcome.retry_in is not None and 0 <= outcome.retry_in <= 2
    assert run.status == "queued" and run.error.startswith("attempt 1 of 2 failed: could not connect")
    assert not entries(incident).exists()
    assert engine.run_execute(run_id=run.pk, retries=1).status == "failed"
    assert entries(incident).count() == 1


def test_retry_delay_is_exponential_jittered_and_capped(settings):
    settings.DIAGNOSTICS_RETRY_BACKOFF_SECONDS = 2
    settings.DIAGNOSTICS_RETRY_BACKOFF_MAX_SECONDS = 30
    for retries, ceiling in [(0, 2), (1, 4), (2, 8), (3, 16), (6, 30)]:
        delays = {engine.retry_delay(retries) for _ in range(50)}
        assert max(delays) <= ceiling
    assert len({engine.retry_delay(3) for _ in range(50)}) > 5  # jittered, not fixed


@pytest.mark.django_db
def test_stale_runs_are_reaped_and_attached(target):
    incident = incident_for(target)
    (stuck,) = services.runs_request(incident_id=incident.pk, trigger=RunTrigger.ON_DEMAND)
    services.run_claim(run_id=stuck.pk, now=timezone.now() - timedelta(hours=1))
    other = IncidentFactory(services=[ServiceFactory(slug="other")])
    other_target = Target.objects.create(service=other.services.get(), kind="postgres", name="o", config={})
    lost = DiagnosticRun.objects.create(
        incident=other, target=other_target, collector="postgres", target_name="o", trigger="on_demand"
    )
    DiagnosticRun.objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(hours=2))
    assert services.runs_reap_stale() == 2
    stuck.refresh_from_db()
    lost.refresh_from_db()
    assert stuck.status == "timed_out" and "90 s hard time limit" in stuck.error
    assert lost.status == "failed" and "no worker picked the run up" in lost.error
    assert entries(incident).count() == 1 and entries(other).count() == 1
    assert services.runs_reap_stale() == 0


def test_hard_time_limits_end_before_the_broker_redelivers(settings):
    for kind in COLLECTORS:
        limits = services.collector_limits(kind)
        assert limits.soft < limits.hard < settings.CELERY_VISIBILITY_TIMEOUT
    assert time_limits_check() == []


def test_system_check_refuses_a_hard_limit_beyond_the_visibility_timeout(settings):
    settings.DIAGNOSTICS_POSTGRES_TIME_LIMIT = settings.CELERY_VISIBILITY_TIMEOUT
    errors = time_limits_check()
    assert [e.id for e in errors] == ["diagnostics.E001"]
    assert isinstance(errors[0], checks.Error)
    settings.DIAGNOSTICS_POSTGRES_TIME_LIMIT = 90
    settings.DIAGNOSTICS_POSTGRES_SOFT_TIME_LIMIT = 90
    assert [e.id for e in time_limits_check()] == ["diagnostics.E002"]


def test_task_is_acked_late_and_rejected_when_its_worker_is_lost():
    assert run_diagnostic.acks_late is True
    assert run_diagnostic.reject_on_worker_lost is True
    assert run_diagnostic.name == "diagnostics.tasks.run_diagnostic"
