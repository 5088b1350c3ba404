"""GET|POST /api/v1/incidents/{id}/diagnostics/: shapes, reuse, errors and permissions."""

import os

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from diagnostics.models import DiagnosticRun, Target
from incidents.models import Incident
from tests.conftest import client_for
from tests.diagnostics.test_runs import FINDINGS
from tests.factories import IncidentFactory, ServiceFactory, UserFactory

pytestmark = pytest.mark.django_db

RUN_KEYS = {
    "id", "incident", "collector", "target", "status", "trigger", "created_at", "started_at", "finished_at",
    "error", "checks_total", "checks_done", "attempts", "attached_at", "shared_from", "findings",
}  # fmt: skip
FINDING_KEYS = {"check", "status", "summary", "subject", "evidence", "remediation", "runbook"}


@pytest.fixture
def incident(db):
    service = ServiceFactory(slug="task-service")
    Target.objects.create(
        service=service, kind="postgres", name="task-db", config={"dsn_env": "ORION_TARGET_TEST_PG_DSN"}
    )
    return IncidentFactory(services=[service])


def url(incident) -> str:
    return f"/api/v1/incidents/{incident.pk}/diagnostics/"


def test_post_starts_a_run_and_a_repeat_reuses_it(engineer_api, incident):
    first = engineer_api.post(url(incident), {}, format="json")
    assert first.status_code == 202
    (run,) = first.json()["runs"]
    assert set(run) == RUN_KEYS
    assert run["status"] == "queued" and run["trigger"] == "on_demand" and run["collector"] == "postgres"
    assert run["target"] == {"kind": "postgres", "name": "task-db"}
    again = engineer_api.post(url(incident), {"collectors": ["postgres"]}, format="json")
    assert again.status_code == 202 and [r["id"] for r in again.json()["runs"]] == [run["id"]]
    assert DiagnosticRun.objects.get(pk=run["id"]).requested_by.username == "erin"


def test_get_lists_runs_with_findings_in_the_contract_shape(viewer_api, incident, django_assert_num_queries):
    now = timezone.now()
    for _ in range(3):
        DiagnosticRun.objects.create(
            incident=incident, target=incident.services.get().diagnostic_targets.get(), collector="postgres",
            target_name="task-db", trigger="incident_created", status="succeeded", findings=FINDINGS,
            started_at=now, finished_at=now, checks_total=2, checks_done=2,
        )  # fmt: skip
    with django_assert_num_queries(5):  # token, user, role, incident, runs
        response = viewer_api.get(url(incident))
    assert response.status_code == 200
    runs = response.json()["runs"]
    assert len(runs) == 3 and runs[0]["id"] > runs[1]["id"]
    run = runs[0]
    assert run["finished_at"].endswith("Z") and run["checks_done"] == 2
    assert [set(f) for f in run["findings"]] == [FINDING_KEYS, FINDING_KEYS]
    assert run["findings"][0]["check"] == "postgres.connection_saturation"
    assert {"query", "observed", "threshold", "unit"} <= set(run["findings"][0]["evidence"])
    assert os.environ["ORION_TARGET_TEST_PG_DSN"] not in response.content.decode()


def test_incident_without_targets_gets_400(engineer_api):
    bare = IncidentFactory(services=[ServiceFactory(slug="no-targets")])
    response = engineer_api.post(url(bare), {}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "detail": f"The services of {bare.reference} have no http or kubernetes or postgres or prometheus or tracing "
        "target; add one with sync_services."
    }


def test_unknown_collector_is_a_field_error(engineer_api, incident):
    response = engineer_api.post(url(incident), {"collectors": ["elasticsearch"]}, format="json")
    assert response.status_code == 400
    assert "collectors" in response.json()
    assert not DiagnosticRun.objects.exists()


def test_reviewed_incident_gets_409(engineer_api, incident):
    Incident.objects.filter(pk=incident.pk).update(status="reviewed")
    response = engineer_api.post(url(incident), {}, format="json")
    assert response.status_code == 409
    assert response.json()["status"] == "reviewed"


def test_unknown_incident_is_a_json_404(engineer_api):
    response = engineer_api.get("/api/v1/incidents/999999/diagnostics/")
    assert response.status_code == 404 and "detail" in response.json()


@pytest.mark.parametrize(
    ("role", "get_status", "post_status"),
    [(None, 401, 401), ("outsider", 403, 403), ("viewer", 200, 403), ("engineer", 200, 202), ("manager", 200, 202)],
)
def test_permissions(role, get_status, post_status, incident):
    client = (
        APIClient()
        if role is None
        else client_for(UserFactory(username=f"who-{role}", role=None if role == "outsider" else role))
    )
    assert client.get(url(incident)).status_code == get_status
    assert client.post(url(incident), {}, format="json").status_code == post_status
    assert DiagnosticRun.objects.exists() == (post_status == 202)


def test_browser_session_needs_csrf(engineer, incident):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(engineer)
    refused = client.post(url(incident), {}, format="json")
    assert refused.status_code == 403
    secret = "k" * 32  # what the page's {% csrf_token %} and the csrftoken cookie carry
    client.cookies["csrftoken"] = secret
    accepted = client.post(url(incident), {}, format="json", HTTP_X_CSRFTOKEN=secret)
    assert accepted.status_code == 202
