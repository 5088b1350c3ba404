"""Chunked bodies (no Content-Length) are read in full and held to the same cap."""

import pytest
import requests
from django.conf import settings

from incidents.integrations import integration_create
from incidents.models import AlertPayload, Incident
from tests.app_server import AppServer
from tests.incidents.intake import payloads


def _chunks(data: bytes, size: int = 4096):
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.fixture
def small_cap_server(transactional_db, tmp_path):
    import os

    db_name = settings.DATABASES["default"]["NAME"]
    base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    env = {"DATABASE_URL": f"{base}/{db_name}", "INTAKE_MAX_BODY_BYTES": "65536"}
    with AppServer(env, tmp_path / "gunicorn.log") as server:
        yield server


def _post(server, token, body: bytes):
    return requests.post(
        f"{server.url}/api/v1/integrations/alertmanager/",
        data=_chunks(body),  # a generator: requests sends Transfer-Encoding: chunked
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=30,
    )


def test_a_chunked_body_under_the_cap_is_applied(small_cap_server):
    _, token = integration_create(name="am", kind="alertmanager")
    response = _post(small_cap_server, token, payloads.dumps(payloads.storm(20)))
    assert response.status_code == 200, response.text
    assert Incident.objects.get().alerts.count() == 20


def test_a_chunked_body_over_the_cap_is_413(small_cap_server):
    _, token = integration_create(name="am", kind="alertmanager")
    body = payloads.dumps(payloads.storm(200))
    assert len(body) > 65536
    response = _post(small_cap_server, token, body)
    assert response.status_code == 413, response.text
    assert "max_alerts" in response.json()["detail"]
    assert AlertPayload.objects.count() == 0
