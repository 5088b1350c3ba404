"""The demo seed: people who can sign in with the printed password, and data that agrees with itself."""

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from incidents import insights
from incidents.models import Incident, Report, Source, Status, TimelineKind
from incidents.reports import human_duration

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def _password(output: str) -> str:
    match = re.search(r"Demo login: demo / (\S+)", output)
    assert match, output
    return match.group(1)


def test_one_printed_password_signs_in_every_demo_person(seeded):
    password = _password(seeded)
    for username, role in [("demo", "manager"), ("morgan", "manager"), ("alice", "engineer"), ("bob", "engineer"),
                           ("vera", "viewer")]:  # fmt: skip
        client = Client()
        assert client.login(username=username, password=password), username
        page = client.get("/")
        assert page.status_code == 200
        assert f'role-{role}"' in page.content.decode()


def test_the_demo_managers_reach_the_integration_settings_in_the_admin(seeded):
    password = _password(seeded)
    for username in ("demo", "morgan"):
        client = Client()
        client.login(username=username, password=password)
        page = client.get("/admin/incidents/integration/")
        assert page.status_code == 200, username
        assert "prod-alertmanager" in page.content.decode()
    client = Client()
    client.login(username="alice", password=password)
    assert client.get("/admin/incidents/integration/").status_code == 302  # not staff: sent to the admin sign-in


def test_seeding_again_adds_no_incidents_and_keeps_the_password(seeded, settings):
    count = Incident.objects.count()
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert Incident.objects.count() == count
    assert _password(out.getvalue()) == _password(seeded)


def test_alert_incidents_carry_their_alerts_and_source(seeded):
    from_alertmanager = Incident.objects.filter(source=Source.ALERTMANAGER)
    assert from_alertmanager.count() >= 3
    for incident in from_alertmanager:
        assert incident.integration is not None and incident.dedup_key
        assert incident.alerts.count() >= 1
        assert incident.alerts.first().payload_id is not None
        created = incident.timeline.get(kind=TimelineKind.CREATED)
        assert created.data["source"] == Source.ALERTMANAGER
        assert created.created_at >= incident.detected_at
    crash = Incident.objects.get(source=Source.EVENTS)
    assert "CrashLoopBackOff" in crash.title and crash.dedup_key == "notification-service-crashloop"


def test_timelines_and_timestamps_agree(seeded):
    now = timezone.now()
    for incident in Incident.objects.all():
        entries = list(incident.timeline.order_by("created_at", "id"))
        assert entries[0].kind == TimelineKind.CREATED
        assert all(incident.detected_at - timedelta(minutes=1) <= e.created_at <= now for e in entries)
        moves = {e.data.get("new"): e.created_at for e in entries if e.kind == TimelineKind.STATUS_CHANGED}
        for status, stamp in [(Status.ACKNOWLEDGED, incident.acknowledged_at), (Status.RESOLVED, incident.resolved_at)]:
            if status in moves:
                assert moves[status] == stamp, (incident.title, status)
        if incident.acknowledged_at:
            assert incident.detected_at < incident.acknowledged_at
        if incident.resolved_at:
            assert incident.acknowledged_at < incident.resolved_at


def test_report_figures_agree_with_the_incident(seeded):
    reports = Report.objects.select_related("incident")
    assert reports.count() >= 10
    assert {r.status for r in reports} >= {"draft", "in_review", "changes_requested", "approved"}
    for report in reports:
        incident = report.incident
        assert report.created_at >= incident.resolved_at
        said = f"Resolved after {human_duration(incident.resolved_at - incident.detected_at)}."
        assert said in report.summary, (said, report.summary)
        acked = human_duration(incident.acknowledged_at - incident.detected_at)
        assert f"acknowledged it after {acked}" in report.summary
        assert f"Time spent detected, until acknowledged: {acked}" in report.impact
        if report.status == "approved":
            assert incident.status == Status.REVIEWED and report.approved_by != report.submitted_by


def test_insights_show_compliance_and_weekly_trends(seeded):
    figures = insights.insights(period=insights.Period.last_days(30))
    assert 0 < figures["sla_compliance"] < 1
    weeks_with_incidents = [w for w in figures["weekly"] if sum(w["incidents"].values())]
    assert len(weeks_with_incidents) >= 4
    assert figures["action_items"]["overdue"] >= 1
    assert insights.insights(period=insights.Period.last_days(90))["total"] > figures["total"]
