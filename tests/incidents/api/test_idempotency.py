import threading
from datetime import timedelta

import pytest
import requests
from django.db import connection
from django.utils import timezone

from incidents.models import IdempotencyRecord, Incident
from incidents.tokens import api_token_create
from tests.factories import UserFactory

URL = "/api/v1/incidents/"
BODY = {"title": "Payments 5xx", "severity": "P1"}

pytestmark = pytest.mark.django_db


def test_same_key_same_body_replays(engineer_api):
    first = engineer_api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="alert-123")
    second = engineer_api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="alert-123")
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Incident.objects.count() == 1


def test_same_key_other_body_is_422(engineer_api):
    engineer_api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    response = engineer_api.post(URL, {**BODY, "severity": "P0"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert response.status_code == 422
    assert Incident.objects.count() == 1


def test_keys_are_scoped_per_client(engineer_api, manager_api):
    engineer_api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    response = manager_api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert Incident.objects.count() == 2


def test_errors_are_replayed_too(engineer_api):
    bad = {"title": "", "severity": "P1"}
    first = engineer_api.post(URL, bad, format="json", HTTP_IDEMPOTENCY_KEY="bad")
    second = engineer_api.post(URL, bad, format="json", HTTP_IDEMPOTENCY_KEY="bad")
    assert first.status_code == second.status_code == 400
    assert first.json() == second.json()


def test_in_flight_key_is_409(engineer_api):
    first = engineer_api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="busy")
    # Put the record back to the state it has while the first request runs.
    IdempotencyRecord.objects.filter(key="busy").update(completed=False, response_status=None, response_body=None)
    response = engineer_api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="busy")
    assert first.status_code == 201
    assert response.status_code == 409
    assert "in progress" in response.json()["detail"]
    assert Incident.objects.count() == 1


def test_expired_key_is_a_new_request(engineer_api, settings):
    engineer_api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="old")
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    response = engineer_api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="old")
    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert Incident.objects.count() == 2


def test_overlong_key_is_400(engineer_api):
    response = engineer_api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k" * 256)
    assert response.status_code == 400
    assert Incident.objects.count() == 0


def test_purge_task_removes_only_expired(engineer_api):
    from incidents.tasks import purge_idempotency_keys

    engineer_api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="fresh")
    engineer_api.post(URL, {**BODY, "title": "Other"}, format="json", HTTP_IDEMPOTENCY_KEY="stale")
    IdempotencyRecord.objects.filter(key="stale").update(created_at=timezone.now() - timedelta(days=2))
    assert purge_idempotency_keys() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["fresh"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_repeats_create_one_incident(live_server):
    assert connection.vendor == "postgresql"
    user = UserFactory(username="script", role="engineer")
    _, token = api_token_create(user=user, name="cron")
    barrier = threading.Barrier(10)
    codes = []

    def post():
        barrier.wait()
        response = requests.post(
            live_server.url + URL,
            json=BODY,
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "storm-1"},
            timeout=60,
        )
        codes.append(response.status_code)

    threads = [threading.Thread(target=post) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Incident.objects.count() == 1
    assert codes.count(201) >= 1
    assert set(codes) <= {201, 409}
