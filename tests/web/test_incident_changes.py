"""GET /incidents/{id}/changes/: entries the page lacks (rendered by _timeline.html); header and actions on change."""

import re
import time
from datetime import timedelta

import pytest

from incidents import lifecycle
from incidents.actors import Actor
from incidents.services import note_add
from incidents.web import live


@pytest.fixture(autouse=True)
def _no_overlap(monkeypatch):
    monkeypatch.setattr(live, "CURSOR_OVERLAP", timedelta(0))


def changes(client, incident, cursor, after):
    response = client.get(f"/incidents/{incident.pk}/changes/", {"since": cursor, "after": after})
    assert response.status_code == 200
    return response.json()


def entry_ids(html):
    return [int(pk) for pk in re.findall(r'<li class="entry [^"]*" id="entry-(\d+)"', html)]


@pytest.mark.django_db
def test_quiet_incident_sends_nothing(viewer_client, incident):
    last = incident.timeline.get().pk
    cursor, _ = live.cursor_now()
    time.sleep(0.01)
    body = changes(viewer_client, incident, cursor, last)
    assert body["timeline_html"] == "" and "fragments" not in body and body["status"] == "detected"


@pytest.mark.django_db
def test_new_entries_after_the_last_one_only(viewer_client, incident, engineer):
    last = incident.timeline.get().pk
    cursor, _ = live.cursor_now()
    time.sleep(0.01)
    note = note_add(incident=incident, actor=Actor.for_user(engineer), text="looking at pgbouncer")
    body = changes(viewer_client, incident, cursor, last)
    assert entry_ids(body["timeline_html"]) == [note.pk]
    assert "looking at pgbouncer" in body["timeline_html"] and "erin" in body["timeline_html"]
    assert "fragments" in body  # a new entry may come with a breach or a move: header again


@pytest.mark.django_db
def test_status_change_sends_header_and_actions(engineer_client, incident, engineer):
    last = incident.timeline.get().pk
    cursor, _ = live.cursor_now()
    time.sleep(0.01)
    lifecycle.transition(incident, "acknowledged", actor=Actor.for_user(engineer))
    body = changes(engineer_client, incident, cursor, last)
    assert body["status"] == "acknowledged"
    assert "status-acknowledged" in body["fragments"]["header"]
    assert "Start diagnosing" in body["fragments"]["actions"] and ">Acknowledge<" not in body["fragments"]["actions"]
    assert "Acknowledged (was detected)" in body["timeline_html"]


@pytest.mark.django_db
def test_viewer_gets_read_only_actions(viewer_client, incident, engineer):
    cursor, _ = live.cursor_now()
    time.sleep(0.01)
    lifecycle.transition(incident, "acknowledged", actor=Actor.for_user(engineer))
    body = changes(viewer_client, incident, cursor, 0)
    assert "Read-only" in body["fragments"]["actions"] and "<form" not in body["fragments"]["actions"]


@pytest.mark.django_db
def test_unknown_incident_is_404(viewer_client):
    assert viewer_client.get("/incidents/999999/changes/?since=0").status_code == 404
