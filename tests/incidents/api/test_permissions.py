"""Who may do what, over every role. A user in no group gets 403; no credentials get 401."""

import pytest

from incidents.models import Incident, Service
from tests.conftest import client_for
from tests.factories import IncidentFactory, UserFactory

pytestmark = pytest.mark.django_db

ROLES = [None, "outsider", "viewer", "engineer", "manager"]


def _client(role):
    from rest_framework.test import APIClient

    if role is None:
        return APIClient()
    user = UserFactory(username=f"who-{role}", role=None if role == "outsider" else role)
    return client_for(user)


def _expected(role, minimum):
    if role is None:
        return 401
    rank = {"outsider": 0, "viewer": 1, "engineer": 2, "manager": 3}
    need = {"viewer": 1, "engineer": 2, "manager": 3}[minimum]
    return None if rank[role] >= need else 403


def _request(client, method, url, body=None):
    return getattr(client, method)(url, body, format="json") if body is not None else getattr(client, method)(url)


@pytest.fixture
def incident(db):
    Service.objects.create(slug="task-service", name="Task service")
    return IncidentFactory(severity="P2")


ENDPOINTS = [
    # (method, url template, body, minimum role, success status)
    ("get", "/api/v1/incidents/", None, "viewer", 200),
    ("get", "/api/v1/incidents/{id}/", None, "viewer", 200),
    ("get", "/api/v1/incidents/{id}/timeline/", None, "viewer", 200),
    ("get", "/api/v1/services/", None, "viewer", 200),
    ("get", "/api/v1/services/task-service/", None, "viewer", 200),
    ("post", "/api/v1/incidents/", {"title": "Queue backlog", "severity": "P2"}, "engineer", 201),
    ("patch", "/api/v1/incidents/{id}/", {"severity": "P1"}, "engineer", 200),
    ("post", "/api/v1/incidents/{id}/acknowledge/", {}, "engineer", 200),
    ("post", "/api/v1/incidents/{id}/transition/", {"to": "diagnosing"}, "engineer", 200),
    ("post", "/api/v1/incidents/{id}/timeline/", {"text": "checking pg_stat_activity"}, "engineer", 201),
    ("post", "/api/v1/services/", {"slug": "billing", "name": "Billing"}, "manager", 201),
    ("patch", "/api/v1/services/task-service/", {"name": "Tasks"}, "manager", 200),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "url", "body", "minimum", "success"), ENDPOINTS)
def test_permission_matrix(role, method, url, body, minimum, success, incident):
    client = _client(role)
    before = (Incident.objects.count(), incident.timeline.count(), Service.objects.count())
    response = _request(client, method, url.format(id=incident.pk), body)
    expected = _expected(role, minimum)
    if expected is None:
        assert response.status_code == success, response.content
    else:
        assert response.status_code == expected, response.content
        assert "detail" in response.json()
        assert (Incident.objects.count(), incident.timeline.count(), Service.objects.count()) == before


def test_outsider_is_told_to_get_a_role():
    response = _client("outsider").get("/api/v1/incidents/")
    assert response.status_code == 403
    assert "no Orion Ops role" in response.json()["detail"]


def test_unauthenticated_gets_bearer_challenge():
    response = _client(None).get("/api/v1/incidents/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


def test_session_write_needs_csrf(engineer):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(engineer)
    assert client.get("/api/v1/incidents/").status_code == 200
    response = client.post("/api/v1/incidents/", {"title": "x", "severity": "P3"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert Incident.objects.count() == 0


def test_superuser_counts_as_manager():
    admin = UserFactory(username="root-admin", is_superuser=True)
    response = client_for(admin).post("/api/v1/services/", {"slug": "billing", "name": "Billing"}, format="json")
    assert response.status_code == 201


def test_service_with_incidents_cannot_be_deleted(incident, manager_api):
    incident.services.add(Service.objects.get(slug="task-service"))
    response = manager_api.delete("/api/v1/services/task-service/")
    assert response.status_code == 409
    assert Service.objects.filter(slug="task-service").exists()
