import threading

import pytest
import requests
from django.db import connection

from incidents.models import NOTE_MAX_LENGTH, Incident, TimelineEntry, TimelineKind
from incidents.tokens import api_token_create
from tests.factories import IncidentFactory, UserFactory


@pytest.mark.django_db
def test_acknowledge_sets_who_and_when(engineer_api, engineer):
    incident = IncidentFactory(severity="P1")
    response = engineer_api.post(f"/api/v1/incidents/{incident.pk}/acknowledge/", {"note": "looking"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "acknowledged"
    assert body["acknowledged_by"] == "erin" and body["commander"] == "erin"
    assert body["acknowledged_at"].endswith("Z")
    entry = TimelineEntry.objects.get(incident=incident, kind=TimelineKind.STATUS_CHANGED)
    assert entry.actor_user == engineer and entry.data["note"] == "looking"


@pytest.mark.django_db
def test_acknowledge_without_body(engineer_api):
    incident = IncidentFactory()
    response = engineer_api.post(f"/api/v1/incidents/{incident.pk}/acknowledge/")
    assert response.status_code == 200 and response.json()["status"] == "acknowledged"


@pytest.mark.django_db
def test_second_acknowledge_gets_409(engineer_api, manager_api):
    incident = IncidentFactory()
    assert engineer_api.post(f"/api/v1/incidents/{incident.pk}/acknowledge/").status_code == 200
    response = manager_api.post(f"/api/v1/incidents/{incident.pk}/acknowledge/")
    assert response.status_code == 409
    assert response.json()["status"] == "acknowledged"
    assert "already acknowledged" in response.json()["detail"]
    assert Incident.objects.get(pk=incident.pk).acknowledged_by.username == "erin"


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_acknowledges_one_wins(live_server):
    assert connection.vendor == "postgresql"
    incident = IncidentFactory(severity="P0")
    tokens = []
    for i in range(20):
        user = UserFactory(username=f"oncall{i}", role="engineer")
        tokens.append(api_token_create(user=user, name="race")[1])
    url = f"{live_server.url}/api/v1/incidents/{incident.pk}/acknowledge/"
    barrier = threading.Barrier(len(tokens))
    results = []

    def click(token):
        barrier.wait()
        response = requests.post(url, json={}, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        results.append((response.status_code, response.json()))

    threads = [threading.Thread(target=click, args=(t,)) for t in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    codes = sorted(code for code, _ in results)
    assert codes == [200] + [409] * 19
    assert all(body["status"] == "acknowledged" for code, body in results if code == 409)
    winner = next(body for code, body in results if code == 200)
    stored = Incident.objects.get(pk=incident.pk)
    assert stored.acknowledged_by.username == winner["acknowledged_by"]
    assert TimelineEntry.objects.filter(incident=incident, kind=TimelineKind.STATUS_CHANGED).count() == 1


@pytest.mark.django_db
def test_transition_endpoint(engineer_api):
    incident = IncidentFactory()
    url = f"/api/v1/incidents/{incident.pk}/transition/"
    assert engineer_api.post(url, {"to": "mitigated", "note": "scaled to 5"}, format="json").status_code == 200
    response = engineer_api.post(url, {"to": "diagnosing"}, format="json")
    assert response.status_code == 409 and response.json() == {
        "detail": f"INC-{incident.pk} cannot move from mitigated to diagnosing.",
        "status": "mitigated",
    }
    response = engineer_api.post(url, {"to": "resolved", "resolution": "false_alarm"}, format="json")
    assert response.status_code == 400 and response.json() == {"note": ["Say how it was resolved."]}
    response = engineer_api.post(
        url, {"to": "resolved", "resolution": "false_alarm", "note": "synthetic check"}, format="json"
    )
    assert response.status_code == 200 and response.json()["resolution"] == "false_alarm"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"to": "exploded"}, "to"),
        ({}, "to"),
        ({"to": "resolved", "resolution": "bored", "note": "x"}, "resolution"),
        ({"to": "resolved", "resolution": "auto_resolved", "note": "x"}, "resolution"),
        ({"to": "resolved", "resolution": "duplicate", "note": "x"}, "duplicate_of"),
        ({"to": "resolved", "resolution": "duplicate", "duplicate_of": 99999, "note": "x"}, "duplicate_of"),
        ({"to": "resolved"}, "note"),
        ({"to": "mitigated", "note": " "}, "note"),
        ({"to": "acknowledged", "resolution": "fixed"}, "resolution"),
        ({"to": "acknowledged", "note": "n" * (NOTE_MAX_LENGTH + 1)}, "note"),
    ],
)
def test_transition_bad_input(engineer_api, body, field):
    incident = IncidentFactory()
    response = engineer_api.post(f"/api/v1/incidents/{incident.pk}/transition/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert Incident.objects.get(pk=incident.pk).status == "detected"


@pytest.mark.django_db
def test_stale_page_gets_409(engineer_api, manager_api):
    incident = IncidentFactory()
    manager_api.post(f"/api/v1/incidents/{incident.pk}/acknowledge/")
    response = engineer_api.post(
        f"/api/v1/incidents/{incident.pk}/transition/",
        {"to": "diagnosing", "expected_status": "detected"},
        format="json",
    )
    assert response.status_code == 409
    assert response.json()["status"] == "acknowledged"


@pytest.mark.django_db
def test_reviewed_is_not_reachable_by_transition(engineer_api):
    incident = IncidentFactory()
    engineer_api.post(f"/api/v1/incidents/{incident.pk}/transition/", {"to": "resolved", "note": "x"}, format="json")
    response = engineer_api.post(f"/api/v1/incidents/{incident.pk}/transition/", {"to": "reviewed"}, format="json")
    assert response.status_code == 409
    assert "report" in response.json()["detail"]
