"""No stored or served payload holds an integration key in clear."""

import importlib
import json

import pytest
from django.apps import apps
from django.utils import timezone
from rest_framework.test import APIClient

from incidents.integrations import integration_create
from incidents.models import AlertPayload, PayloadStatus
from tests.incidents.intake import payloads

pytestmark = pytest.mark.django_db

EVENTS_URL = "/api/v1/integrations/events/"


def _event(token, **extra):
    return {
        "routing_key": token,
        "event_action": "trigger",
        "dedup_key": "disk-full",
        "payload": {"summary": f"Disk full (sent with {token})", "source": "db-0", "severity": "error"},
        **extra,
    }


def _every_copy(client) -> str:
    """Everything a reader could see of the payloads: rows, API list and detail, admin pages."""
    copies = [json.dumps(list(AlertPayload.objects.values("body", "error", "rejected")))]
    copies.append(client["api"].get("/api/v1/alert-payloads/").content.decode())
    for payload in AlertPayload.objects.all():
        copies.append(client["api"].get(f"/api/v1/alert-payloads/{payload.pk}/").content.decode())
        copies.append(client["admin"].get(f"/admin/incidents/alertpayload/{payload.pk}/change/").content.decode())
    copies.append(client["admin"].get("/admin/incidents/alertpayload/").content.decode())
    return "\n".join(copies)


@pytest.fixture
def readers(manager, client, admin_user):
    from tests.conftest import client_for

    client.force_login(admin_user)
    return {"api": client_for(manager), "admin": client}


def test_events_routing_key_is_removed_before_storing(readers, events):
    response = APIClient().post(EVENTS_URL, _event(events.token), format="json")
    assert response.status_code == 202
    stored = AlertPayload.objects.get()
    body = json.loads(stored.body)
    assert body["routing_key"] == "[removed]"
    assert body["payload"]["summary"] == "Disk full (sent with [removed])"
    assert events.token not in _every_copy(readers)


def test_large_alertmanager_bodies_never_keep_the_bearer_token(readers, alertmanager, settings):
    settings.INTAKE_INLINE_MAX_ALERTS = 1
    settings.CELERY_TASK_ALWAYS_EAGER = False
    body = payloads.firing(summary=f"token was {alertmanager.token}")
    response = alertmanager.post("/api/v1/integrations/alertmanager/", body, format="json")
    assert response.status_code == 200
    assert alertmanager.token not in _every_copy(readers)


def test_migration_scrubs_keys_stored_before_it(readers):
    integration, token = integration_create(name="old events", kind="events")
    other, other_token = integration_create(name="other events", kind="events")
    AlertPayload.objects.create(
        integration=integration,
        received_at=timezone.now(),
        body=json.dumps(_event(token)),
        size=10,
        alert_count=1,
        status=PayloadStatus.PROCESSED,
    )
    AlertPayload.objects.create(
        integration=other,
        received_at=timezone.now(),
        body=json.dumps(_event(other_token, links=[{"href": f"https://x/?k={other_token}"}])),
        size=10,
        alert_count=1,
        status=PayloadStatus.PROCESSED,
    )
    assert token in _every_copy(readers)

    migration = importlib.import_module("incidents.migrations.0007_scrub_routing_keys")
    migration.scrub(apps, None)

    copies = _every_copy(readers)
    assert token not in copies and other_token not in copies
    bodies = [json.loads(b) for b in AlertPayload.objects.values_list("body", flat=True)]
    assert all(b["routing_key"] == "[removed]" for b in bodies)
    # Scrubbed bodies still replay: the routing key is not needed once stored.
    assert all(b["payload"]["source"] == "db-0" for b in bodies)
