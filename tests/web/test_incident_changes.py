"""GET /incidents/{id}/changes/: the incident page's one live channel.

It answers with the timeline entries the page lacks and every fragment (header, actions, each registered
panel) whose version differs from the one the page holds; when nothing changed, it costs the same few
queries however much the incident holds.
"""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from diagnostics import services as diagnostics_services
from diagnostics.models import DiagnosticRun, Target
from incidents import lifecycle, panels, reports
from incidents.action_items import action_item_create, action_item_update
from incidents.actors import Actor
from incidents.models import Incident, IncidentAlert
from incidents.services import note_add
from incidents.web import live

HEADER, ACTIONS = "incident-header", "incident-actions"


@pytest.fixture(autouse=True)
def _no_overlap(monkeypatch):
    # Entries written within the overlap are sent again by design; these tests look at one answer at a time.
    monkeypatch.setattr(live, "CURSOR_OVERLAP", timedelta(0))


@pytest.fixture
def registry(monkeypatch):
    """Panels registered by a test are gone after it."""
    monkeypatch.setattr(panels, "_panels", dict(panels._panels))
    return panels


class Page:
    """What a page holds between polls: the cursor, its newest entry, and the versions of its fragments."""

    def __init__(self, client, incident):
        self.client, self.incident = client, incident
        self.cursor, _ = live.cursor_now()
        self.after = incident.timeline.order_by("-id").values_list("id", flat=True).first() or 0
        self.versions: dict[str, str] = {}

    def poll(self) -> dict:
        params = {"since": self.cursor, "after": self.after}
        if self.versions:
            params["known"] = ",".join(f"{key}:{value}" for key, value in self.versions.items())
        response = self.client.get(f"/incidents/{self.incident.pk}/changes/", params)
        assert response.status_code == 200, response.content
        body = response.json()
        self.cursor, self.versions = body["cursor"], body["versions"]
        self.after = max([self.after, *entry_ids(body["timeline_html"])])
        return body

    def synced(self) -> "Page":
        self.poll()
        return self


def entry_ids(html):
    return [int(pk) for pk in re.findall(r'<li class="entry [^"]*" id="entry-(\d+)"', html)]


def fragment_ids() -> set[str]:
    return {HEADER, ACTIONS} | {f"panel-{panel.key}-body" for panel in panels.registered()}


@pytest.fixture
def target(incident):
    return Target.objects.create(
        service=incident.services.get(), kind="postgres", name="task-db", config={"dsn_env": "ORION_TARGET_X"}
    )


def new_run(incident, target) -> DiagnosticRun:
    return DiagnosticRun.objects.create(
        incident=incident, target=target, collector="postgres", target_name="task-db", trigger="on_demand"
    )


@pytest.mark.django_db
def test_a_page_without_versions_gets_every_fragment(viewer_client, incident):
    body = Page(viewer_client, incident).poll()
    assert set(body["fragments"]) == set(body["versions"]) == fragment_ids()
    assert "Checkout returns 502" in body["fragments"][HEADER]
    assert "No alerts attached" in body["fragments"]["panel-alerts-body"]


@pytest.mark.django_db
def test_every_fragment_has_its_place_on_the_page(viewer_client, incident):
    html = viewer_client.get(f"/incidents/{incident.pk}/").content.decode()
    places = set(re.findall(r'id="([^"]+)" data-live-fragment', html))
    assert places == set(Page(viewer_client, incident).poll()["versions"]) == fragment_ids()


@pytest.mark.django_db
def test_quiet_incident_sends_nothing(viewer_client, incident):
    page = Page(viewer_client, incident).synced()
    versions = dict(page.versions)
    body = page.poll()
    assert body["fragments"] == {} and body["timeline_html"] == "" and body["status"] == "detected"
    assert body["versions"] == versions


@pytest.mark.django_db
def test_note_from_someone_else_comes_as_a_timeline_entry_only(viewer_client, incident, engineer):
    page = Page(viewer_client, incident).synced()
    note = note_add(incident=incident, actor=Actor.for_user(engineer), text="looking at pgbouncer")
    body = page.poll()
    assert entry_ids(body["timeline_html"]) == [note.pk]
    assert "looking at pgbouncer" in body["timeline_html"] and "erin" in body["timeline_html"]
    assert body["fragments"] == {}


@pytest.mark.django_db
def test_status_change_sends_header_actions_and_the_panels_that_depend_on_it(engineer_client, incident, engineer):
    page = Page(engineer_client, incident).synced()
    lifecycle.transition(incident, "acknowledged", actor=Actor.for_user(engineer))
    body = page.poll()
    assert body["status"] == "acknowledged"
    assert "status-acknowledged" in body["fragments"][HEADER]
    actions = body["fragments"][ACTIONS]
    assert "Start diagnosing" in actions and ">Acknowledge<" not in actions
    assert "Acknowledged (was detected)" in body["timeline_html"]
    # Panels show controls by status (run again, draft a report): each is sent again with the incident.
    assert set(body["fragments"]) == fragment_ids()


@pytest.mark.django_db
def test_viewer_gets_read_only_actions(viewer_client, incident, engineer):
    page = Page(viewer_client, incident).synced()
    lifecycle.transition(incident, "acknowledged", actor=Actor.for_user(engineer))
    actions = page.poll()["fragments"][ACTIONS]
    assert "Read-only" in actions and "<form" not in actions


@pytest.mark.django_db
def test_diagnostic_run_progress_and_end_send_the_diagnostics_panel_alone(viewer_client, incident, target):
    run = new_run(incident, target)
    page = Page(viewer_client, incident).synced()

    assert diagnostics_services.run_claim(run_id=run.pk) is not None
    body = page.poll()
    assert set(body["fragments"]) == {"panel-diagnostics-body"}
    assert "Running" in body["fragments"]["panel-diagnostics-body"]

    # Progress is written without any timestamp: still a new version.
    diagnostics_services.run_progress(run_id=run.pk, done=2, total=5)
    body = page.poll()
    assert set(body["fragments"]) == {"panel-diagnostics-body"}
    assert "2 of 5 checks done" in body["fragments"]["panel-diagnostics-body"]

    diagnostics_services.run_finish(run_id=run.pk, status="succeeded", findings=[])
    body = page.poll()
    assert set(body["fragments"]) == {"panel-diagnostics-body"}
    assert "Succeeded" in body["fragments"]["panel-diagnostics-body"]
    assert "entry-diagnostic" in body["timeline_html"]
    assert page.poll()["fragments"] == {}


@pytest.mark.django_db
def test_report_edit_without_timeline_entry_or_incident_change_sends_the_report_panel(
    engineer_client, incident, engineer
):
    lifecycle.transition(incident, "resolved", actor=Actor.for_user(engineer), note="pool resized")
    report = reports.report_draft_create(incident_id=incident.pk, force=True)
    page = Page(engineer_client, incident).synced()
    reports.report_update(report=report, actor=Actor.for_user(engineer), version=1, changes={"summary": "Pool"})
    body = page.poll()
    assert set(body["fragments"]) == {"panel-report-body"} and body["timeline_html"] == ""
    assert "version 2" in body["fragments"]["panel-report-body"]


@pytest.mark.django_db
def test_report_drafted_after_the_page_loaded_replaces_no_report(engineer_client, incident, engineer):
    lifecycle.transition(incident, "resolved", actor=Actor.for_user(engineer), note="rolled back")
    page = Page(engineer_client, incident).synced()
    reports.report_draft_create(incident_id=incident.pk)
    body = page.poll()
    assert set(body["fragments"]) == {"panel-report-body"}
    assert "Open the report" in body["fragments"]["panel-report-body"]
    assert "entry-report" in body["timeline_html"]


@pytest.mark.django_db
def test_action_item_changes_send_the_action_items_panel(engineer_client, incident, engineer):
    item = action_item_create(incident=incident, actor=Actor.for_user(engineer), title="Alert on pool usage")
    page = Page(engineer_client, incident).synced()
    action_item_update(item=item, actor=Actor.for_user(engineer), status="done")
    body = page.poll()
    assert "panel-action-items-body" in body["fragments"] and HEADER not in body["fragments"]
    assert "item-done" in body["fragments"]["panel-action-items-body"]


@pytest.mark.django_db
def test_alert_seen_again_sends_the_alerts_panel(viewer_client, incident):
    now = timezone.now()
    alert = IncidentAlert.objects.create(
        incident=incident, fingerprint="f1", starts_at=now, first_seen_at=now, last_seen_at=now, labels={}
    )
    Incident.objects.filter(pk=incident.pk).update(occurrences=1)
    page = Page(viewer_client, incident).synced()
    # Intake counts repeats with conditional updates that leave updated_at alone.
    Incident.objects.filter(pk=incident.pk).update(occurrences=2, last_seen_at=now + timedelta(seconds=3))
    IncidentAlert.objects.filter(pk=alert.pk).update(last_seen_at=now + timedelta(seconds=3))
    body = page.poll()
    assert set(body["fragments"]) == {"panel-alerts-body"}
    assert "2 firings received" in body["fragments"]["panel-alerts-body"]


@pytest.mark.django_db
def test_nothing_changed_costs_the_same_queries_however_much_the_incident_holds(
    engineer_client, incident, engineer, target, django_assert_num_queries
):
    page = Page(engineer_client, incident).synced()
    # Session, user and role, then one query for every fragment's version and one for new entries.
    with django_assert_num_queries(5):
        assert page.poll()["fragments"] == {}

    actor = Actor.for_user(engineer)
    now = timezone.now()
    for n in range(20):
        note_add(incident=incident, actor=actor, text=f"note {n}")
        action_item_create(incident=incident, actor=actor, title=f"item {n}")
        IncidentAlert.objects.create(
            incident=incident, fingerprint=f"f{n}", starts_at=now, first_seen_at=now, last_seen_at=now, labels={}
        )
        run = new_run(incident, target)
        diagnostics_services.run_finish(run_id=run.pk, status="failed", error="refused")
    page.synced()
    with django_assert_num_queries(5):
        body = page.poll()
    assert body["fragments"] == {} and body["timeline_html"] == ""


@pytest.mark.django_db
def test_every_registered_panel_declares_its_version():
    # A panel without one is rendered on every poll of every open page: declare what it shows.
    assert [panel.key for panel in panels.registered() if panel.version is None] == []


@pytest.mark.django_db
def test_panel_without_version_is_sent_when_its_html_changes(viewer_client, incident, registry):
    shown = {"severity": "P2"}
    registry.register(
        key="probe", title="Probe", template="incidents/_severity_badge.html", context=lambda request, i: dict(shown)
    )
    page = Page(viewer_client, incident).synced()
    assert page.poll()["fragments"] == {}
    shown["severity"] = "P0"
    body = page.poll()
    assert set(body["fragments"]) == {"panel-probe-body"} and "P0" in body["fragments"]["panel-probe-body"]


@pytest.mark.django_db
def test_panel_versioned_by_the_incident_alone_follows_the_incident(engineer_client, incident, engineer, registry):
    registry.register(
        key="probe",
        title="Probe",
        template="incidents/_status_badge.html",
        context=lambda request, i: {"status": i.status},
        version=lambda incident: [],
    )
    page = Page(engineer_client, incident).synced()
    note_add(incident=incident, actor=Actor.for_user(engineer), text="not for the probe")
    assert page.poll()["fragments"] == {}
    lifecycle.transition(incident, "acknowledged", actor=Actor.for_user(engineer))
    assert "status-acknowledged" in page.poll()["fragments"]["panel-probe-body"]


@pytest.mark.django_db
def test_failing_panel_says_so_and_the_rest_is_sent(viewer_client, incident, registry, caplog):
    def broken(request, incident):
        raise RuntimeError("panel bug")

    registry.register(key="broken", title="Broken", template="incidents/_alerts_panel.html", context=broken)
    body = Page(viewer_client, incident).poll()
    assert "This panel could not be shown" in body["fragments"]["panel-broken-body"]
    assert "Checkout returns 502" in body["fragments"][HEADER]
    assert "incident panel 'broken' failed" in caplog.text


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        "",
        "?since=soon",
        "?since=0&after=-1",
        "?since=0&after=abc",
        "?since=0&known=header",
        "?since=0&known=incident-header:XYZ",
        "?since=0&known=" + "a:1," * 2000,
    ],
)
def test_bad_parameters_are_400(viewer_client, incident, query):
    response = viewer_client.get(f"/incidents/{incident.pk}/changes/{query}")
    assert response.status_code == 400 and response.json()["detail"]


@pytest.mark.django_db
def test_unknown_incident_is_404(viewer_client):
    assert viewer_client.get("/incidents/999999/changes/?since=0").status_code == 404
