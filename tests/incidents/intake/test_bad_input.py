import json

import pytest
from rest_framework.test import APIClient

from incidents.models import AlertPayload, Incident
from tests.incidents.intake import payloads
from tests.incidents.intake.conftest import post_alertmanager

pytestmark = pytest.mark.django_db
URL = "/api/v1/integrations/alertmanager/"


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer oi_not-a-token", "Basic dXNlcjpwYXNz"])
def test_missing_or_bad_token_is_401_before_parsing(alertmanager, header):
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    # The body is not even JSON: the answer is still about the token.
    response = client.post(URL, "{{{ not json", content_type="application/json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert AlertPayload.objects.count() == 0


def test_revoked_integration_is_401(alertmanager):
    from django.utils import timezone

    alertmanager.integration.revoked_at = timezone.now()
    alertmanager.integration.save()
    assert post_alertmanager(alertmanager, payloads.firing()).status_code == 401


def test_events_token_does_not_open_the_alertmanager_door(events):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {events.token}")
    assert client.post(URL, payloads.firing(), format="json").status_code == 401


def _mutate(path, value):
    body = payloads.firing()
    target = body
    for part in path[:-1]:
        target = target[part]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_mutate(["version"], "3"), "version"),
        (_mutate(["version"], KeyError), "version"),
        (_mutate(["alerts"], KeyError), "alerts"),
        (_mutate(["alerts"], "many"), "alerts"),
        (_mutate(["groupKey"], KeyError), "groupKey"),
        (_mutate(["status"], "burning"), "status"),
        (_mutate(["truncatedAlerts"], -1), "truncatedAlerts"),
        (_mutate(["alerts", 0, "startsAt"], "yesterday"), "alerts[0].startsAt"),
        (_mutate(["alerts", 0, "startsAt"], KeyError), "alerts[0].startsAt"),
        (_mutate(["alerts", 0, "startsAt"], "2026-11-27T14:00:00"), "alerts[0].startsAt"),
        (_mutate(["alerts", 0, "endsAt"], 12), "alerts[0].endsAt"),
        (_mutate(["alerts", 0, "status"], "ok"), "alerts[0].status"),
        (_mutate(["alerts", 0, "labels"], ["a"]), "alerts[0].labels"),
        (_mutate(["alerts", 0, "labels", "severity"], 5), "alerts[0].labels.severity"),
        (_mutate(["alerts", 0, "fingerprint"], "f" * 256), "alerts[0].fingerprint"),
        ([1, 2], "body"),
    ],
)
def test_invalid_bodies_name_the_field(alertmanager, body, field):
    response = post_alertmanager(alertmanager, body)
    assert response.status_code == 400
    assert any(error.startswith(field) for error in response.json()["errors"]), response.json()
    assert Incident.objects.count() == 0 and AlertPayload.objects.count() == 0


def test_malformed_json_is_400(alertmanager):
    response = alertmanager.post(URL, b'{"version": "4", ', content_type="application/json")
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["detail"]


def test_body_over_the_cap_is_413_json(alertmanager, settings):
    settings.INTAKE_MAX_BODY_BYTES = 4096
    body = payloads.storm(20)
    assert len(json.dumps(body)) > 4096
    response = post_alertmanager(alertmanager, body)
    assert response.status_code == 413
    assert "max_alerts" in response.json()["detail"]
    assert AlertPayload.objects.count() == 0


def test_large_valid_body_is_not_refused_by_django_upload_limits(alertmanager, settings, services):
    # Django's own limit would turn this into a plain 400; intake reads the body itself.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    settings.INTAKE_INLINE_MAX_ALERTS = 1000
    response = post_alertmanager(alertmanager, payloads.storm(30))
    assert response.status_code == 200, response.content
    assert Incident.objects.get().alerts.count() == 30
