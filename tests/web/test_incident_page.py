"""The incident page: header, SLA state, timeline order, registered panels, constant queries."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents import lifecycle, panels
from incidents.actors import Actor
from incidents.services import note_add
from incidents.web.views import incidents as incident_views
from tests.factories import IncidentFactory


@pytest.mark.django_db
def test_header_shows_what_matters(viewer_client, incident):
    html = viewer_client.get(f"/incidents/{incident.pk}/").content.decode()
    assert f"INC-{incident.pk}" in html and "Checkout returns 502" in html
    assert 'class="sev sev-p1"' in html and "High" in html
    assert 'class="status status-detected"' in html
    assert "task-service" in html and "nobody yet" in html
    assert 'data-ack-due="' in html and "Ack within" in html and "Acknowledge SLA (15 min)" in html


@pytest.mark.django_db
def test_sla_breach_is_said_in_words(viewer_client):
    from datetime import timedelta

    from django.utils import timezone

    incident = IncidentFactory(severity="P0", detected_at=timezone.now() - timedelta(minutes=9))
    html = viewer_client.get(f"/incidents/{incident.pk}/").content.decode()
    assert 'class="sla sla-breached"' in html and "SLA breached" in html


@pytest.mark.django_db
def test_acknowledged_in_time_says_so(viewer_client, incident, engineer):
    lifecycle.transition(incident, "acknowledged", actor=Actor.for_user(engineer))
    html = viewer_client.get(f"/incidents/{incident.pk}/").content.decode()
    assert 'class="sla sla-met"' in html and "Acked in" in html and "by erin" in html


@pytest.mark.django_db
def test_timeline_newest_first_by_default_and_oldest_first_on_request(viewer_client, incident, engineer):
    first = note_add(incident=incident, actor=Actor.for_user(engineer), text="first note")
    second = note_add(incident=incident, actor=Actor.for_user(engineer), text="second note")
    newest = viewer_client.get(f"/incidents/{incident.pk}/").content.decode()
    oldest = viewer_client.get(f"/incidents/{incident.pk}/?order=asc").content.decode()
    ids = [int(pk) for pk in re.findall(r'id="entry-(\d+)"', newest)]
    assert ids[:2] == [second.pk, first.pk]
    assert [int(pk) for pk in re.findall(r'id="entry-(\d+)"', oldest)][-2:] == [first.pk, second.pk]
    assert 'data-order="asc" aria-pressed="true"' in oldest
    assert "Note" in newest and "erin" in newest and "UTC" in newest  # kind, actor, absolute time


@pytest.mark.django_db
def test_long_timeline_shows_newest_and_offers_all(viewer_client, incident, engineer, monkeypatch):
    monkeypatch.setattr(incident_views, "TIMELINE_LIMIT", 3)
    for n in range(5):
        note_add(incident=incident, actor=Actor.for_user(engineer), text=f"note {n}")
    html = viewer_client.get(f"/incidents/{incident.pk}/").content.decode()
    assert html.count('<li class="entry ') == 3 and "note 4" in html and "note 0" not in html
    assert "Showing the newest 3 of 6 entries" in html
    everything = viewer_client.get(f"/incidents/{incident.pk}/?all=1").content.decode()
    assert everything.count('<li class="entry ') == 6


@pytest.fixture
def registered_panel(monkeypatch, tmp_path, settings):
    (tmp_path / "panel.html").write_text(
        "<p class=probe>{{ probe }} for {{ incident.reference }} act={{ can_act }}</p>"
    )
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [*settings.TEMPLATES[0]["DIRS"], tmp_path]}]
    monkeypatch.setattr(panels, "_panels", dict(panels._panels))
    return panels


@pytest.mark.django_db
def test_registered_panels_render_in_order_with_their_context(engineer_client, incident, registered_panel):
    registered_panel.register(key="runbook", title="Runbook", template="panel.html", order=30,
                              context=lambda request, incident: {"probe": "checklist"})  # fmt: skip
    registered_panel.register(key="diagnostics", title="Diagnostics", template="panel.html", order=20,
                              context=lambda request, incident: {"probe": "findings"})  # fmt: skip
    html = engineer_client.get(f"/incidents/{incident.pk}/").content.decode()
    assert html.index('id="panel-diagnostics"') < html.index('id="panel-runbook"')
    assert f"findings for INC-{incident.pk} act=True" in html and "checklist for" in html
    assert '<a href="#panel-diagnostics">Diagnostics</a>' in html


@pytest.mark.django_db
def test_a_failing_panel_does_not_take_the_page_down(viewer_client, incident, registered_panel):
    def broken(request, incident):
        raise RuntimeError("collector store down")

    registered_panel.register(key="broken", title="Broken", template="panel.html", context=broken)
    response = viewer_client.get(f"/incidents/{incident.pk}/")
    assert response.status_code == 200
    assert "This panel could not be shown" in response.content.decode()


@pytest.mark.django_db
def test_query_count_constant_as_timeline_grows(engineer_client, incident, engineer):
    def count():
        with CaptureQueriesContext(connection) as captured:
            assert engineer_client.get(f"/incidents/{incident.pk}/").status_code == 200
        return len(captured)

    for n in range(3):
        note_add(incident=incident, actor=Actor.for_user(engineer), text=f"n{n}")
    small = count()
    for n in range(150):
        note_add(incident=incident, actor=Actor.for_user(engineer), text=f"m{n}")
    assert count() == small


@pytest.mark.django_db
def test_missing_incident_is_a_proper_404_page(viewer_client):
    response = viewer_client.get("/incidents/999999/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Nothing here" in html and 'class="topbar"' in html and "Search incidents" in html
