"""Every browser POST needs its CSRF token: without it nothing changes and a proper page explains."""

import pytest
from django.test import Client

from incidents.models import Incident, Status
from tests.factories import IncidentFactory


@pytest.fixture
def strict_client(engineer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(engineer)
    return client


def csrf_token(client, path="/"):
    client.get(path)
    return client.cookies["csrftoken"].value


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("transition", {"to": "acknowledged", "expected_status": "detected"}),
        ("severity", {"severity": "P0"}),
        ("commander", {"take": "on"}),
        ("notes", {"text": "checking"}),
    ],
)
def test_action_without_token_is_refused(strict_client, path, data):
    incident = IncidentFactory(severity="P2")
    response = strict_client.post(f"/incidents/{incident.pk}/{path}/", data)
    assert response.status_code == 403
    assert b"This form expired" in response.content
    stored = Incident.objects.get(pk=incident.pk)
    assert stored.status == Status.DETECTED and stored.severity == "P2" and stored.commander is None
    assert stored.timeline.count() == 1


@pytest.mark.django_db
def test_action_with_token_in_form_works(strict_client):
    incident = IncidentFactory()
    token = csrf_token(strict_client, f"/incidents/{incident.pk}/")
    response = strict_client.post(
        f"/incidents/{incident.pk}/transition/",
        {"to": "acknowledged", "expected_status": "detected", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    assert Incident.objects.get(pk=incident.pk).status == Status.ACKNOWLEDGED


@pytest.mark.django_db
def test_fetch_with_x_csrftoken_header_works(strict_client):
    incident = IncidentFactory()
    token = csrf_token(strict_client)
    response = strict_client.post(
        f"/incidents/{incident.pk}/notes/",
        {"text": "from a script"},
        HTTP_X_CSRFTOKEN=token,
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 200 and response.json()["ok"] is True
    assert incident.timeline.filter(kind="note", text="from a script").exists()


@pytest.mark.django_db
def test_new_incident_without_token_is_refused(strict_client):
    response = strict_client.post("/incidents/new/", {"title": "x", "severity": "P3"})
    assert response.status_code == 403
    assert not Incident.objects.exists()


@pytest.mark.django_db
def test_login_and_logout_need_token(engineer):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "erin", "password": "correct horse battery staple"})
    assert response.status_code == 403 and "_auth_user_id" not in client.session
    client.force_login(engineer)
    assert client.post("/accounts/logout/").status_code == 403
    assert "_auth_user_id" in client.session
