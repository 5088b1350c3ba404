"""Storing likely causes: recomputed from finished runs, a timeline entry only when the top one changes,
served by GET /api/v1/incidents/{id}/hypotheses/."""

import threading

import pytest
from django.db import connection
from django.utils import timezone

from diagnostics import hypotheses, services
from diagnostics.models import DiagnosticRun, IncidentHypotheses, Target
from incidents.models import TimelineEntry, TimelineKind
from tests.factories import IncidentFactory, ServiceFactory


def _f(check, status, summary, subject="", **evidence):
    return {"check": check, "status": status, "summary": summary, "subject": subject,
            "evidence": {"query": "", **evidence}, "remediation": "", "runbook": None}  # fmt: skip


SATURATED = [
    _f(
        "postgres.connection_saturation",
        "crit",
        "16 of 17 usable connections in use (94%)",
        "appdb",
        observed=94.1,
        range={"in_use": 16, "usable": 17},
    ),  # fmt: skip
    _f("postgres.slow_queries", "ok", "0 slow statements", "appdb", observed=0),
]
CALM = [
    _f("postgres.connection_saturation", "ok", "3 of 17 usable connections in use (18%)", "appdb", observed=17.6),
]
CRASHING = [
    _f(
        "kubernetes.pods",
        "crit",
        "web-1/app in CrashLoopBackOff after 6 restarts; last exit Error (code 1)",
        "web-1",
        observed=6,
    ),  # fmt: skip
    _f(
        "kubernetes.logs.error_groups",
        "warn",
        "3 error lines",
        "web-1/app",
        query="kubectl logs web-1 -c app",
        table={"columns": ["count", "message"], "rows": [[3, "KeyError: 'DATABASE_URL'"]]},
    ),  # fmt: skip
]


@pytest.fixture
def target(db):
    service = ServiceFactory(slug="task-service")
    return Target.objects.create(service=service, kind="postgres", name="task-db", config={"dsn_env": "X"})


def finished_run(incident, target, findings, collector="postgres"):
    return DiagnosticRun.objects.create(  # created directly: nothing is enqueued
        incident=incident, target=target, collector=collector, target_name=target.name, trigger="on_demand",
        status="succeeded", findings=findings, finished_at=timezone.now(),
    )  # fmt: skip


def announced(incident):
    return TimelineEntry.objects.filter(incident=incident, kind=TimelineKind.HYPOTHESIS).order_by("id")


@pytest.mark.django_db
def test_recompute_stores_ranked_hypotheses_and_announces_the_top_once(target):
    incident = IncidentFactory(services=[target.service])
    finished_run(incident, target, SATURATED)
    row = hypotheses.hypotheses_recompute(incident_id=incident.pk)
    assert row.top_key == "pool_exhausted"
    assert row.hypotheses[0]["rank"] == 1 and "94 %" in row.hypotheses[0]["title"]
    (entry,) = announced(incident)
    assert "Connection pool exhausted" in entry.text and entry.data["new"] == "pool_exhausted"

    hypotheses.hypotheses_recompute(incident_id=incident.pk)  # same findings, same top: no entry
    hypotheses.hypotheses_recompute(incident_id=incident.pk)
    assert announced(incident).count() == 1


@pytest.mark.django_db
def test_a_new_top_is_announced_and_a_withdrawn_one_too(target):
    incident = IncidentFactory(services=[target.service])
    finished_run(incident, target, SATURATED)
    hypotheses.hypotheses_recompute(incident_id=incident.pk)
    k8s = Target.objects.create(service=target.service, kind="kubernetes", name="web", config={})
    finished_run(incident, k8s, CRASHING, collector="kubernetes")
    finished_run(incident, target, CALM)  # the newer reading of the database replaces the saturated one
    row = hypotheses.hypotheses_recompute(incident_id=incident.pk)
    assert row.top_key == "crash_at_startup"
    assert [e.data["new"] for e in announced(incident)] == ["pool_exhausted", "crash_at_startup"]
    assert "KeyError: 'DATABASE_URL'" in announced(incident).last().text


@pytest.mark.django_db
def test_a_healthy_incident_gets_no_entry_and_an_empty_list(target):
    incident = IncidentFactory(services=[target.service])
    finished_run(incident, target, CALM)
    row = hypotheses.hypotheses_recompute(incident_id=incident.pk)
    assert row.top_key == "" and all(h["confidence"] <= 0.3 for h in row.hypotheses)
    assert not announced(incident).exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_recomputes_announce_once(target):
    incident = IncidentFactory(services=[target.service])
    finished_run(incident, target, SATURATED)
    barrier = threading.Barrier(4)

    def recompute():
        try:
            barrier.wait()
            hypotheses.hypotheses_recompute(incident_id=incident.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=recompute) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert announced(incident).count() == 1
    assert IncidentHypotheses.objects.filter(incident=incident).count() == 1


@pytest.mark.django_db
def test_attaching_a_run_queues_a_recompute_after_commit(target, django_capture_on_commit_callbacks):
    incident = IncidentFactory(services=[target.service])
    run = DiagnosticRun.objects.create(
        incident=incident, target=target, collector="postgres", target_name="task-db", trigger="on_demand",
        status="running",
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.run_finish(run_id=run.pk, status="succeeded", findings=SATURATED)
    assert not IncidentHypotheses.objects.filter(incident=incident).exists()  # never in the request or the run
    assert len(callbacks) == 1


@pytest.mark.django_db
def test_api_lists_hypotheses_for_a_viewer(target, viewer_api):
    incident = IncidentFactory(services=[target.service])
    response = viewer_api.get(f"/api/v1/incidents/{incident.pk}/hypotheses/")
    assert response.status_code == 200
    assert response.json() == {"computed_at": None, "hypotheses": []}
    finished_run(incident, target, SATURATED)
    hypotheses.hypotheses_recompute(incident_id=incident.pk)
    body = viewer_api.get(f"/api/v1/incidents/{incident.pk}/hypotheses/").json()
    assert body["computed_at"].endswith("Z")
    first = body["hypotheses"][0]
    assert set(first) == {"rank", "key", "title", "confidence", "summary", "evidence", "confirm", "refute", "runbook"}
    assert first["key"] == "pool_exhausted" and first["runbook"] == "db-connection-pool-exhausted"
    run_id = DiagnosticRun.objects.get(incident=incident).pk
    assert {"run": run_id, "check": "postgres.connection_saturation", "subject": "appdb"} in first["evidence"]


@pytest.mark.django_db
def test_api_unknown_incident_is_404(viewer_api):
    assert viewer_api.get("/api/v1/incidents/999999/hypotheses/").status_code == 404


@pytest.mark.django_db
def test_api_schema_documents_hypotheses(viewer_api):
    schema = viewer_api.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    assert "/api/v1/incidents/{incident_id}/hypotheses/" in schema["paths"]
    assert "Hypothesis" in schema["components"]["schemas"]


@pytest.mark.django_db
def test_management_command_recomputes_recorded_runs(target):
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    incident = IncidentFactory(services=[target.service])
    finished_run(incident, target, SATURATED)
    out = StringIO()
    call_command("recompute_hypotheses", stdout=out)
    assert f"{incident.reference}: Connection pool exhausted" in out.getvalue()
    assert IncidentHypotheses.objects.get(incident=incident).top_key == "pool_exhausted"
    with pytest.raises(CommandError, match="No incident with id 999999"):
        call_command("recompute_hypotheses", "999999", stdout=StringIO())
