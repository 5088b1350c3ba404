"""A page showing an old state tries a move: 409, "someone else already …", and the current state."""

import pytest

from incidents import lifecycle
from incidents.actors import Actor
from incidents.models import Incident, Status, TimelineEntry
from tests.factories import IncidentFactory, UserFactory

STALE_ACK = {"to": "acknowledged", "expected_status": "detected"}


@pytest.fixture
def acknowledged_by_alice(db):
    incident = IncidentFactory(severity="P1")
    lifecycle.transition(
        incident, Status.ACKNOWLEDGED, actor=Actor.for_user(UserFactory(username="alice", role="engineer"))
    )
    return incident


@pytest.mark.django_db
def test_stale_acknowledge_page_gets_409_with_current_state(engineer_client, acknowledged_by_alice):
    incident = acknowledged_by_alice
    response = engineer_client.post(f"/incidents/{incident.pk}/transition/", STALE_ACK)
    assert response.status_code == 409
    html = response.content.decode()
    assert "Someone else (alice) already acknowledged this" in html
    assert 'class="status status-acknowledged"' in html  # the page shows the current state
    assert 'value="diagnosing"' in html  # and the moves allowed from it
    assert TimelineEntry.objects.filter(incident=incident, kind="status_changed").count() == 1


@pytest.mark.django_db
def test_stale_acknowledge_fetch_gets_409_json_with_fresh_fragments(engineer_client, acknowledged_by_alice):
    incident = acknowledged_by_alice
    response = engineer_client.post(f"/incidents/{incident.pk}/transition/", STALE_ACK, HTTP_ACCEPT="application/json")
    assert response.status_code == 409
    body = response.json()
    assert body["ok"] is False and body["status"] == "acknowledged" and body["level"] == "error"
    assert body["message"].startswith("Someone else (alice) already acknowledged this")
    assert "status-acknowledged" in body["fragments"]["header"]
    assert ">Acknowledge<" not in body["fragments"]["actions"]


@pytest.mark.django_db
def test_stale_move_after_resolution_names_the_state(engineer_client):
    incident = IncidentFactory()
    lifecycle.transition(
        incident, Status.RESOLVED, actor=Actor.for_user(UserFactory(username="alice", role="engineer")), note="x"
    )
    response = engineer_client.post(
        f"/incidents/{incident.pk}/transition/", {"to": "mitigated", "expected_status": "detected", "note": "scaled up"}
    )
    assert response.status_code == 409
    assert "Someone else (alice) already resolved this" in response.content.decode()
    assert Incident.objects.get(pk=incident.pk).status == Status.RESOLVED


@pytest.mark.django_db
def test_illegal_move_from_the_state_shown_is_409_with_the_reason(engineer_client):
    incident = IncidentFactory()
    response = engineer_client.post(
        f"/incidents/{incident.pk}/transition/", {"to": "reviewed", "expected_status": "detected"}
    )
    assert response.status_code == 409
    assert f"INC-{incident.pk} cannot move from detected to reviewed" in response.content.decode()
