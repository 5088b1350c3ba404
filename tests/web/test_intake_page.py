"""The intake page: integrations, payloads not applied, refused alerts; managers apply again."""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents import intake
from incidents.integrations import integration_create
from incidents.models import AlertPayload, Incident, PayloadStatus
from tests.incidents.intake import payloads

pytestmark = pytest.mark.django_db


@pytest.fixture
def failed_payload():
    integration, _ = integration_create(name="prod-am", kind="alertmanager")
    integration.severity_map = ["broken"]
    integration.save()
    payload = intake.payload_store(integration=integration, body=payloads.dumps(payloads.firing()), alert_count=1)
    AlertPayload.objects.filter(pk=payload.pk).update(
        status=PayloadStatus.FAILED, attempts=5, error="AttributeError: 'list' object has no attribute 'get'"
    )
    return payload


def test_engineer_sees_unapplied_payloads_with_their_reason(engineer_client, failed_payload):
    stuck = intake.payload_store(
        integration=failed_payload.integration, body=payloads.dumps(payloads.firing()), alert_count=1
    )
    AlertPayload.objects.filter(pk=stuck.pk).update(received_at=timezone.now() - timedelta(minutes=10))
    page = engineer_client.get("/intake/").content.decode()
    assert "prod-am" in page
    assert f'id="payload-{failed_payload.pk}"' in page and f'id="payload-{stuck.pk}"' in page
    assert "AttributeError" in page
    assert "Apply again" not in page  # engineers read; managers apply again
    assert 'href="/intake/"' in engineer_client.get("/").content.decode()


def test_refused_alerts_are_listed(engineer_client):
    from rest_framework.test import APIClient

    _, token = integration_create(name="am", kind="alertmanager")
    alertmanager = APIClient()
    alertmanager.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    body = payloads.webhook([payloads.alert(fingerprint="0000000000000001")])
    body["alerts"].append({**payloads.alert(fingerprint="0000000000000002"), "startsAt": "yesterday"})
    assert alertmanager.post("/api/v1/integrations/alertmanager/", body, format="json").status_code == 200
    page = engineer_client.get("/intake/").content.decode()
    assert "1 refused" in page and "alerts[1].startsAt" in page


def test_viewer_may_not_open_it(viewer_client):
    assert viewer_client.get("/intake/").status_code == 403
    assert 'href="/intake/"' not in viewer_client.get("/").content.decode()


def test_manager_applies_a_payload_again_after_the_fix(manager_client, failed_payload):
    integration = failed_payload.integration
    integration.severity_map = {"critical": "P1"}
    integration.save()
    response = manager_client.post(f"/intake/payloads/{failed_payload.pk}/replay/", follow=True)
    assert response.status_code == 200
    failed_payload.refresh_from_db()
    assert failed_payload.status == PayloadStatus.PROCESSED
    assert Incident.objects.get().severity == "P1"
    assert f"Payload {failed_payload.pk} applied" in response.content.decode()


def test_engineer_may_not_apply_again(engineer_client, failed_payload):
    assert engineer_client.post(f"/intake/payloads/{failed_payload.pk}/replay/").status_code == 403
