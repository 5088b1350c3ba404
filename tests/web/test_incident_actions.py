"""Acting on the incident page: moves that ask for words, severity, command, notes — plain posts and fetch."""

import pytest

from incidents import lifecycle
from incidents.actors import Actor
from incidents.models import Incident, Status, TimelineEntry
from tests.factories import IncidentFactory, UserFactory

JSON = {"HTTP_ACCEPT": "application/json"}


def post(client, incident, path, data, **extra):
    return client.post(f"/incidents/{incident.pk}/{path}/", data, **extra)


@pytest.mark.django_db
def test_acknowledge_is_one_click_and_redirects_back(engineer_client, incident):
    response = post(engineer_client, incident, "transition", {"to": "acknowledged", "expected_status": "detected"})
    assert response.status_code == 302 and response["Location"] == f"/incidents/{incident.pk}/"
    assert Incident.objects.get(pk=incident.pk).status == Status.ACKNOWLEDGED


@pytest.mark.django_db
def test_acknowledge_from_dashboard_returns_to_dashboard_with_filters(engineer_client, incident):
    response = post(
        engineer_client,
        incident,
        "transition",
        {"to": "acknowledged", "expected_status": "detected", "next": "/?severity=P1"},
    )
    assert response["Location"] == "/?severity=P1"


@pytest.mark.django_db
def test_next_cannot_leave_the_site(engineer_client, incident):
    response = post(
        engineer_client, incident, "transition", {"to": "acknowledged", "next": "https://evil.example/phish"}
    )
    assert response["Location"] == f"/incidents/{incident.pk}/"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("to", "message"), [("mitigated", "Say what mitigated it."), ("resolved", "Say how it was resolved.")]
)
def test_mitigate_and_resolve_ask_for_a_note(engineer_client, incident, to, message):
    response = post(engineer_client, incident, "transition", {"to": to, "expected_status": "detected"})
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert f'<details class="move move-{to}" open>' in html
    assert Incident.objects.get(pk=incident.pk).status == Status.DETECTED


@pytest.mark.django_db
def test_resolve_records_resolution_and_note(engineer_client, incident):
    response = post(
        engineer_client,
        incident,
        "transition",
        {
            "to": "resolved",
            "expected_status": "detected",
            "resolution": "false_alarm",
            "note": "synthetic check flapped",
        },
    )
    assert response.status_code == 302
    stored = Incident.objects.get(pk=incident.pk)
    assert stored.status == Status.RESOLVED and stored.resolution == "false_alarm"
    assert TimelineEntry.objects.get(incident=incident, kind="status_changed").data["note"] == "synthetic check flapped"


@pytest.mark.django_db
def test_duplicate_needs_the_original_and_keeps_the_note(engineer_client, incident):
    response = post(
        engineer_client,
        incident,
        "transition",
        {"to": "resolved", "resolution": "duplicate", "note": "same as the gateway one"},
        **JSON,
    )
    assert response.status_code == 400
    actions = response.json()["fragments"]["actions"]
    assert "Name the incident this one duplicates." in actions
    assert "same as the gateway one</textarea>" in actions


@pytest.mark.django_db
def test_duplicate_of_accepts_a_reference(engineer_client, incident):
    original = IncidentFactory()
    post(
        engineer_client,
        incident,
        "transition",
        {"to": "resolved", "resolution": "duplicate", "duplicate_of": f"INC-{original.pk}", "note": "dup"},
    )
    stored = Incident.objects.get(pk=incident.pk)
    assert stored.resolution == "duplicate" and stored.duplicate_of_id == original.pk


@pytest.mark.django_db
def test_duplicate_of_a_missing_incident_is_a_field_error(engineer_client, incident):
    response = post(
        engineer_client,
        incident,
        "transition",
        {"to": "resolved", "resolution": "duplicate", "duplicate_of": "999999", "note": "dup"},
    )
    assert response.status_code == 400
    assert "Incident 999999 does not exist." in response.content.decode()


@pytest.mark.django_db
def test_reopen_is_offered_for_resolved_incidents(engineer_client, incident, engineer):
    lifecycle.transition(incident, Status.RESOLVED, actor=Actor.for_user(engineer), note="fixed")
    html = engineer_client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "Reopen…" in html
    response = post(
        engineer_client, incident, "transition", {"to": "acknowledged", "expected_status": "resolved"}, **JSON
    )
    assert response.status_code == 200 and response.json()["message"] == f"INC-{incident.pk} reopened."


@pytest.mark.django_db
def test_json_answer_carries_fresh_fragments(engineer_client, incident):
    response = post(
        engineer_client, incident, "transition", {"to": "acknowledged", "expected_status": "detected"}, **JSON
    )
    body = response.json()
    assert response.status_code == 200 and body["ok"] is True and body["status"] == "acknowledged"
    assert body["message"] == f"INC-{incident.pk} acknowledged."
    assert "status-acknowledged" in body["fragments"]["header"]
    assert "Start diagnosing" in body["fragments"]["actions"]


@pytest.mark.django_db
def test_severity_change_moves_the_deadline(engineer_client, incident):
    before = Incident.objects.get(pk=incident.pk).ack_due_at
    response = post(engineer_client, incident, "severity", {"severity": "P0"}, **JSON)
    assert response.status_code == 200
    assert response.json()["message"].startswith(f"INC-{incident.pk} is P0 now. Acknowledge within 5 min")
    stored = Incident.objects.get(pk=incident.pk)
    assert stored.severity == "P0" and stored.ack_due_at < before


@pytest.mark.django_db
def test_bad_severity_is_a_field_error(engineer_client, incident):
    response = post(engineer_client, incident, "severity", {"severity": "P9"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


@pytest.mark.django_db
def test_take_command(engineer_client, engineer, incident):
    response = post(engineer_client, incident, "commander", {"take": "on"}, **JSON)
    assert response.json()["message"] == f"You command INC-{incident.pk}."
    assert Incident.objects.get(pk=incident.pk).commander == engineer
    assert "Take command" not in response.json()["fragments"]["actions"]


@pytest.mark.django_db
def test_assign_and_clear_commander(engineer_client, incident):
    alice = UserFactory(username="alice", role="engineer")
    post(engineer_client, incident, "commander", {"commander": alice.pk})
    assert Incident.objects.get(pk=incident.pk).commander == alice
    post(engineer_client, incident, "commander", {"commander": ""})
    assert Incident.objects.get(pk=incident.pk).commander is None


@pytest.mark.django_db
def test_viewer_cannot_be_assigned(engineer_client, incident, viewer):
    response = post(engineer_client, incident, "commander", {"commander": viewer.pk})
    assert response.status_code == 400
    assert Incident.objects.get(pk=incident.pk).commander is None


@pytest.mark.django_db
def test_note_is_added_and_empty_note_refused(engineer_client, incident):
    assert post(engineer_client, incident, "notes", {"text": "  "}, **JSON).status_code == 400
    response = post(engineer_client, incident, "notes", {"text": "pool 96/100 in use"}, **JSON)
    assert response.status_code == 200
    assert TimelineEntry.objects.filter(incident=incident, kind="note", text="pool 96/100 in use").count() == 1
    assert "</textarea>" in response.json()["fragments"]["note_form"]
    assert "pool 96/100" not in response.json()["fragments"]["note_form"]  # cleared for the next note


@pytest.mark.django_db
def test_reviewed_incident_is_closed_to_edits(engineer_client, incident, engineer):
    lifecycle.transition(incident, Status.RESOLVED, actor=Actor.for_user(engineer), note="x")
    lifecycle.transition(incident, Status.REVIEWED, actor=Actor.for_user(engineer), via_report_approval=True)
    html = engineer_client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "record is closed" in html and "/notes/" not in html
    response = post(engineer_client, incident, "severity", {"severity": "P0"})
    assert response.status_code == 409
    assert "is reviewed; its record is closed" in response.content.decode()
    assert post(engineer_client, incident, "notes", {"text": "late"}).status_code == 409
