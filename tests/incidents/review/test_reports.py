import ast
import json
import threading
from collections import Counter

import pytest
import requests
from django.db import connection

from incidents import lifecycle, reports
from incidents.action_items import action_item_create
from incidents.actors import Actor
from incidents.models import Incident, Report, TimelineEntry, TimelineKind
from incidents.services import note_add
from incidents.tasks import draft_report
from incidents.tokens import api_token_create
from tests.factories import IncidentFactory, ServiceFactory, UserFactory

pytestmark = pytest.mark.django_db


def resolved_incident(engineer, *, severity="P1", resolution="fixed"):
    service = ServiceFactory(slug="task-service")
    incident = IncidentFactory(severity=severity, services=[service], title="Database connection pool exhausted")
    actor = Actor.for_user(engineer)
    lifecycle.transition(incident, "acknowledged", actor=actor)
    lifecycle.transition(incident, "mitigated", actor=actor, note="Scaled task-service to 5 replicas")
    note_add(incident=incident, actor=actor, text="pool at 96/100")
    if resolution == "auto_resolved":  # only alert intake resolves so
        actor = Actor.integration("alertmanager")
    lifecycle.transition(incident, "resolved", actor=actor, resolution=resolution, note="Pool size 10 → 20")
    return Incident.objects.get(pk=incident.pk)


@pytest.fixture
def report(engineer):
    incident = resolved_incident(engineer)
    draft_report.apply(args=[incident.pk])  # what the worker runs after the move commits
    return Report.objects.get(incident=incident)


def test_resolving_fixed_drafts_the_report(report, engineer):
    incident = report.incident
    assert report.status == "draft" and report.version == 1
    assert report.title == "Database connection pool exhausted"
    assert report.summary.startswith("P1 incident on task-service: Database connection pool exhausted.")
    assert "erin acknowledged it after" in report.summary
    assert "1. Scaled task-service to 5 replicas" in report.resolution
    assert "2. Pool size 10 → 20" in report.resolution
    assert "- Requests failed: _to fill_" in report.impact
    # Spans, named as spans (not "Time detected", which reads as a moment).
    assert "- Time spent detected, until acknowledged:" in report.impact and "- Time detected" not in report.impact
    assert "- Time spent acknowledged, until mitigated:" in report.impact
    assert "- Time spent mitigated, until resolved:" in report.impact
    assert incident.timeline.filter(kind=TimelineKind.REPORT).count() == 1


def test_resolving_fixed_queues_the_draft_after_commit(engineer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as follow_ups:
        incident = resolved_incident(engineer)
    assert not Report.objects.filter(incident=incident).exists()  # nothing drafted inside the move
    before = queued_drafts()
    for follow_up in follow_ups:
        follow_up()
    assert queued_drafts() - before == Counter({(incident.pk,): 1})
    assert not Report.objects.filter(incident=incident).exists()  # the worker drafts it, not the request


def queued_drafts() -> Counter:
    """Draft tasks waiting in the broker's default queue, by arguments."""
    from django.conf import settings

    from orion_ops.celery import app

    with app.connection_for_read() as conn:  # kombu prefixes LLEN but not LRANGE: name the key whole
        key = f"{settings.REDIS_KEY_PREFIX}:celery"
        messages = [json.loads(raw) for raw in conn.default_channel.client.lrange(key, 0, -1)]
    return Counter(
        tuple(ast.literal_eval(m["headers"]["argsrepr"]))
        for m in messages
        if m["headers"]["task"] == "incidents.tasks.draft_report"
    )


@pytest.mark.parametrize(("severity", "resolution"), [("P3", "fixed"), ("P1", "false_alarm"), ("P1", "auto_resolved")])
def test_no_report_for_p3_false_alarms_and_auto_resolved(engineer, severity, resolution):
    incident = resolved_incident(engineer, severity=severity, resolution=resolution)
    assert draft_report.apply(args=[incident.pk]).get() is None
    assert not Report.objects.filter(incident=incident).exists()


def test_drafting_is_idempotent(report):
    assert draft_report.apply(args=[report.incident_id]).get() == report.pk
    assert reports.report_draft_create(incident_id=report.incident_id).pk == report.pk
    assert Report.objects.count() == 1
    assert report.incident.timeline.filter(kind=TimelineKind.REPORT).count() == 1


def test_lost_drafts_are_queued_again(engineer, report):
    from datetime import timedelta

    from django.utils import timezone

    from incidents.tasks import draft_missing_reports

    def resolved(minutes_ago, **kwargs):
        incident = resolved_incident(engineer, **kwargs)
        Incident.objects.filter(pk=incident.pk).update(resolved_at=timezone.now() - timedelta(minutes=minutes_ago))
        return incident

    lost = resolved(5)
    resolved(0.5)  # its task may still be on its way
    resolved(3 * 24 * 60)  # too old to draft on its own now
    resolved(5, severity="P3")
    Incident.objects.filter(pk=report.incident_id).update(resolved_at=timezone.now() - timedelta(minutes=5))

    assert reports.incidents_awaiting_report() == [lost.pk]
    before = queued_drafts()
    assert draft_missing_reports.apply().get() == 1
    assert queued_drafts() - before == Counter({(lost.pk,): 1})


def test_a_reopened_incident_gets_no_draft(engineer):
    incident = resolved_incident(engineer)
    lifecycle.transition(incident, "acknowledged", actor=Actor.for_user(engineer), note="error rate is back")
    assert draft_report.apply(args=[incident.pk]).get() is None
    assert not Report.objects.filter(incident=incident).exists()


def test_a_draft_for_a_deleted_incident_is_dropped():
    assert draft_report.apply(args=[987654321]).get() is None


def test_root_cause_prefilled_from_strongest_findings(engineer):
    from diagnostics.models import DiagnosticRun

    service = ServiceFactory(slug="task-service")
    incident = IncidentFactory(severity="P1", services=[service])
    fields = {f.name for f in DiagnosticRun._meta.fields}
    run = DiagnosticRun(incident=incident, collector="postgres", status="succeeded")
    if "target_name" in fields:
        run.target_name = "task-db"
    run.findings = [
        {"check": "postgres.cache_hit_rate", "status": "ok", "summary": "Cache hit rate 99.8%"},
        {"check": "postgres.idle_in_transaction", "status": "warn", "summary": "12 sessions idle in transaction"},
        {
            "check": "postgres.connection_saturation",
            "status": "crit",
            "summary": "96 of 97 usable connections in use (99%)",
        },
    ]
    DiagnosticRun.objects.bulk_create([run])
    lifecycle.transition(incident, "resolved", actor=Actor.for_user(engineer), note="pool raised")
    root_cause = reports.report_draft_create(incident_id=incident.pk).root_cause
    lines = [line for line in root_cause.splitlines() if line.startswith("- ")]
    assert lines[0] == "- **CRIT** `postgres.connection_saturation`: 96 of 97 usable connections in use (99%)"
    assert lines[1].startswith("- **WARN** `postgres.idle_in_transaction`")
    assert "cache_hit_rate" not in root_cause


def test_edit_with_version_and_stale_save_is_409(report, engineer_api):
    url = f"/api/v1/incidents/{report.incident_id}/report/"
    first = engineer_api.put(url, {"version": 1, "root_cause": "Pool of 10 too small"}, format="json")
    assert first.status_code == 200 and first.json()["version"] == 2
    stale = engineer_api.put(url, {"version": 1, "root_cause": "Something else"}, format="json")
    assert stale.status_code == 409
    assert stale.json()["version"] == 2 and "since you opened it" in stale.json()["detail"]
    assert Report.objects.get(pk=report.pk).root_cause == "Pool of 10 too small"


@pytest.mark.django_db(transaction=True)
def test_concurrent_saves_of_one_version_keep_exactly_one(live_server, engineer):
    assert connection.vendor == "postgresql"
    incident = resolved_incident(engineer)
    report = reports.report_draft_create(incident_id=incident.pk)
    tokens = [api_token_create(user=UserFactory(username=f"w{i}", role="engineer"), name="t")[1] for i in range(8)]
    barrier = threading.Barrier(len(tokens))
    results = []

    def save(i, token):
        barrier.wait()
        response = requests.put(
            f"{live_server.url}/api/v1/incidents/{incident.pk}/report/",
            json={"version": 1, "summary": f"writer {i}"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        results.append((response.status_code, i))

    threads = [threading.Thread(target=save, args=(i, t)) for i, t in enumerate(tokens)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(code for code, _ in results) == [200] + [409] * 7
    winner = next(i for code, i in results if code == 200)
    stored = Report.objects.get(pk=report.pk)
    assert stored.summary == f"writer {winner}" and stored.version == 2


def test_review_workflow_and_approval_moves_incident_to_reviewed(report, engineer_api, manager_api):
    base = f"/api/v1/incidents/{report.incident_id}/report"
    assert manager_api.post(f"{base}/approve/").status_code == 409  # not submitted yet
    assert engineer_api.post(f"{base}/submit/").json()["status"] == "in_review"
    assert engineer_api.put(f"{base}/", {"version": 2, "summary": "x"}, format="json").status_code == 409
    sent_back = manager_api.post(f"{base}/request-changes/", {"comment": "Add the customer impact"}, format="json")
    assert sent_back.status_code == 200 and sent_back.json()["status"] == "changes_requested"
    assert sent_back.json()["review_comment"] == "Add the customer impact"
    version = sent_back.json()["version"]
    assert (
        engineer_api.put(
            f"{base}/", {"version": version, "impact": "- 2,500 requests failed"}, format="json"
        ).status_code
        == 200
    )
    assert engineer_api.post(f"{base}/submit/").status_code == 200
    approved = manager_api.post(f"{base}/approve/")
    assert approved.status_code == 200 and approved.json()["approved_by"] == "mona"
    incident = Incident.objects.get(pk=report.incident_id)
    assert incident.status == "reviewed" and incident.reviewed_at is not None
    texts = list(incident.timeline.filter(kind=TimelineKind.REPORT).values_list("text", flat=True))
    assert texts == [
        "Post-incident report drafted",
        "Report submitted for review",
        "Changes requested on the report: Add the customer impact",
        "Report submitted for review",
        "Report approved",
    ]
    assert engineer_api.post(f"{base}/submit/").status_code == 409


@pytest.mark.parametrize(
    ("role", "step", "expected"),
    [
        ("viewer", "submit", 403),
        ("engineer", "approve", 403),
        ("engineer", "request-changes", 403),
        ("viewer", "approve", 403),
        ("manager", "approve", 200),
        ("manager", "request-changes", 200),
    ],
)
def test_review_permission_matrix(report, api_for, role, step, expected, engineer_api):
    engineer_api.post(f"/api/v1/incidents/{report.incident_id}/report/submit/")
    client = api_for(UserFactory(username=f"r-{role}", role=role))
    response = client.post(f"/api/v1/incidents/{report.incident_id}/report/{step}/", {"comment": "why"}, format="json")
    assert response.status_code == expected
    if expected == 403:
        assert Report.objects.get(pk=report.pk).status == "in_review"


def test_viewer_cannot_edit(report, viewer_api):
    url = f"/api/v1/incidents/{report.incident_id}/report/"
    assert viewer_api.get(url).status_code == 200
    assert viewer_api.put(url, {"version": 1, "summary": "x"}, format="json").status_code == 403


def test_request_changes_needs_a_comment(report, engineer_api, manager_api):
    engineer_api.post(f"/api/v1/incidents/{report.incident_id}/report/submit/")
    response = manager_api.post(f"/api/v1/incidents/{report.incident_id}/report/request-changes/", {}, format="json")
    assert response.status_code == 400 and "comment" in response.json()


def test_markdown_export_follows_the_template(report, engineer, engineer_api):
    from datetime import date

    action_item_create(
        incident=report.incident,
        actor=Actor.for_user(engineer),
        title="Add connection pool metrics to dashboard",
        owner=engineer,
        due_date=date(2026, 12, 15),
    )
    done = action_item_create(incident=report.incident, actor=Actor.for_user(engineer), title="Raise pool to 20")
    from incidents.action_items import action_item_update

    action_item_update(item=done, actor=Actor.for_user(engineer), status="done")
    response = engineer_api.get(f"/api/v1/incidents/{report.incident_id}/report.md")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/markdown")
    text = response.content.decode()
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings == [
        "# Incident Report: Database connection pool exhausted",
        "## Summary",
        "## Timeline",
        "## Root Cause",
        "## Impact",
        "## Resolution",
        "## Action Items",
        "## Lessons Learned",
    ]
    for field in ("**Date**: ", "**Duration**: ", "**Severity**: P1 (High)", "**Services Affected**: task-service"):
        assert field in text
    assert "- [ ] Add connection pool metrics to dashboard (@erin, due 2026-12-15)" in text
    assert "- [x] Raise pool to 20" in text
    timeline = text.split("## Timeline\n")[1].split("\n\n")[0].splitlines()
    assert timeline[0].endswith("Detected: Database connection pool exhausted")
    assert any(line.endswith("erin acknowledged") for line in timeline)
    assert not any("pool at 96/100" in line for line in timeline)  # notes only when pinned


def test_pin_and_hide_timeline_entries(report, engineer_api):
    note = TimelineEntry.objects.get(incident=report.incident, kind=TimelineKind.NOTE)
    created = TimelineEntry.objects.get(incident=report.incident, kind=TimelineKind.CREATED)
    url = f"/api/v1/incidents/{report.incident_id}/report/"
    response = engineer_api.put(
        url, {"version": 1, "pinned_entries": [note.pk], "hidden_entries": [created.pk]}, format="json"
    )
    assert response.status_code == 200
    text = engineer_api.get(f"/api/v1/incidents/{report.incident_id}/report.md").content.decode()
    assert "pool at 96/100" in text and "Detected:" not in text
    # The timeline itself is untouched.
    assert TimelineEntry.objects.filter(pk__in=[note.pk, created.pk]).count() == 2
    other = IncidentFactory().timeline.get()
    bad = engineer_api.put(url, {"version": 2, "pinned_entries": [other.pk]}, format="json")
    assert bad.status_code == 400


def test_manual_report_for_other_resolved_incidents(engineer, engineer_api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        incident = resolved_incident(engineer, severity="P3")
    url = f"/api/v1/incidents/{incident.pk}/report/"
    assert engineer_api.get(url).status_code == 404
    assert engineer_api.post(url).status_code == 201
    assert engineer_api.post(url).status_code == 409
    open_incident = IncidentFactory()
    assert engineer_api.post(f"/api/v1/incidents/{open_incident.pk}/report/").status_code == 409
