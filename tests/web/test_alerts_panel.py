"""The incident page lists the alerts that opened or joined an incident, with links to the raw bodies."""

import pytest

from incidents.integrations import integration_create
from tests.factories import UserFactory
from tests.incidents.intake import payloads

pytestmark = pytest.mark.django_db


def _alert_incident(client):
    from rest_framework.test import APIClient

    _, token = integration_create(name="prod alertmanager", kind="alertmanager")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    body = api.post("/api/v1/integrations/alertmanager/", payloads.firing(), format="json").json()
    return body["outcomes"][0]["incident"], body["payload"]


@pytest.mark.parametrize(("role", "sees_payload_link"), [("engineer", True), ("viewer", False)])
def test_alerts_panel(client, role, sees_payload_link):
    incident_id, payload_id = _alert_incident(client)
    client.force_login(UserFactory(username=f"p-{role}", role=role))
    html = client.get(f"/incidents/{incident_id}/").content.decode()
    assert "1 alert attached by prod alertmanager: " in html and ">1 firing</strong>" in html
    assert "<code>a1b2c3d4e5f60718</code>" in html
    assert (f'href="/api/v1/alert-payloads/{payload_id}/"' in html) is sees_payload_link


def test_incident_filed_by_a_person_says_so(client):
    from tests.factories import IncidentFactory

    incident = IncidentFactory()
    client.force_login(UserFactory(username="eng", role="engineer"))
    assert "No alerts attached" in client.get(f"/incidents/{incident.pk}/").content.decode()


def test_a_resolved_alert_is_not_called_firing(client):
    from rest_framework.test import APIClient

    _, token = integration_create(name="prod alertmanager", kind="alertmanager")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    incident_id = api.post("/api/v1/integrations/alertmanager/", payloads.firing(), format="json").json()["outcomes"][
        0
    ]["incident"]
    assert api.post("/api/v1/integrations/alertmanager/", payloads.resolved(), format="json").status_code == 200
    client.force_login(UserFactory(username="eng", role="engineer"))
    html = client.get(f"/incidents/{incident_id}/").content.decode()
    assert "1 alert attached by prod alertmanager: " in html
    assert ">1 resolved</span>" in html and " firing</strong>" not in html
    assert '<span class="alert-state alert-state-resolved">resolved</span>' in html
