"""The files in examples/ work as the README says: the targets file syncs, the Alertmanager bodies are accepted."""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from diagnostics.models import Target
from incidents.integrations import integration_create
from incidents.models import Incident, Service

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

pytestmark = pytest.mark.django_db


def test_the_example_targets_file_syncs_three_targets():
    out = StringIO()
    call_command("sync_services", str(EXAMPLES / "targets.yaml"), stdout=out)
    service = Service.objects.get(slug="my-app")
    targets = {t.kind: t.config for t in Target.objects.filter(service=service)}
    assert set(targets) == {"kubernetes", "postgres", "prometheus"}
    assert targets["postgres"]["dsn_env"] == "ORION_TARGET_APP_DB_DSN"
    assert targets["prometheus"]["url"] == "http://127.0.0.1:9090"


def test_the_example_alertmanager_bodies_open_and_resolve_an_incident():
    call_command("sync_services", str(EXAMPLES / "targets.yaml"), stdout=StringIO())
    _, token = integration_create(name="example", kind="alertmanager")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    firing = json.loads((EXAMPLES / "alertmanager-firing.json").read_text())
    response = api.post("/api/v1/integrations/alertmanager/", firing, format="json")
    assert response.status_code == 200, response.content
    incident = Incident.objects.get(pk=response.json()["outcomes"][0]["incident"])
    assert incident.severity == "P1" and [s.slug for s in incident.services.all()] == ["my-app"]
    assert incident.title == "HighErrorRate: 8% of requests to my-app return 5xx"

    resolved = json.loads((EXAMPLES / "alertmanager-resolved.json").read_text())
    assert api.post("/api/v1/integrations/alertmanager/", resolved, format="json").status_code == 200
    incident.refresh_from_db()
    assert incident.status == "resolved" and incident.resolution == "auto_resolved"
