"""Alert storms: big bodies through a real worker, identical deliveries racing on PostgreSQL."""

import json
import threading

import pytest
import requests
from django.conf import settings
from django.db import connection

from incidents.integrations import integration_create
from incidents.models import AlertPayload, Incident, IncidentAlert, TimelineEntry
from tests.conftest import wait_for
from tests.factories import ServiceFactory
from tests.incidents.intake import payloads


def _post(base_url, token, body: bytes):
    return requests.post(
        f"{base_url}/api/v1/integrations/alertmanager/",
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=120,
    )


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_ten_thousand_alert_body_is_stored_then_fully_processed(live_server, celery_worker_process):
    ServiceFactory(slug="task-service")
    _, token = integration_create(name="storm", kind="alertmanager")
    body = payloads.dumps(payloads.storm(10_000))
    assert len(body) > 7_000_000

    response = _post(live_server.url, token, body)
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["alerts"] == 10_000
    # Stored before the 202: the raw body is in PostgreSQL, byte for byte.
    payload = AlertPayload.objects.get(pk=answer["payload"])
    assert payload.body.encode() == body and payload.size == len(body)

    wait_for(
        lambda: AlertPayload.objects.get(pk=payload.pk).status == "processed",
        timeout=180,
        interval=0.5,
        message="the worker to process the storm",
    )
    incident = Incident.objects.get()
    assert incident.occurrences == 10_000
    assert IncidentAlert.objects.filter(incident=incident).count() == 10_000
    assert incident.alerts.filter(payload=payload).count() == 10_000

    # The same storm again (repeat_interval) changes nothing but last-seen.
    entries = TimelineEntry.objects.filter(incident=incident).count()
    second = _post(live_server.url, token, body).json()
    wait_for(lambda: AlertPayload.objects.get(pk=second["payload"]).status == "processed", timeout=180, interval=0.5)
    assert Incident.objects.count() == 1
    assert IncidentAlert.objects.count() == 10_000
    assert TimelineEntry.objects.filter(incident=incident).count() == entries


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_per_alert_grouping_storm_opens_one_incident_per_alert(live_server, celery_worker_process):
    _, token = integration_create(name="per-alert", kind="alertmanager", grouping="fingerprint")
    body = payloads.dumps(payloads.storm(1_000))
    answer = _post(live_server.url, token, body).json()
    wait_for(
        lambda: AlertPayload.objects.get(pk=answer["payload"]).status == "processed",
        timeout=180,
        interval=0.5,
        message="the worker to process 1,000 keys",
    )
    assert Incident.objects.count() == 1_000
    assert Incident.objects.filter(unrouted=True).count() == 1_000  # task-service is not a known service here
    assert TimelineEntry.objects.filter(kind="created").count() == 1_000


def test_hundred_identical_concurrent_payloads_make_one_incident(app_server):
    assert connection.vendor == "postgresql"
    ServiceFactory(slug="task-service")
    _, token = integration_create(name="racer", kind="alertmanager")
    body = payloads.dumps(payloads.firing())
    barrier = threading.Barrier(100)
    codes = []

    def deliver():
        barrier.wait()
        codes.append(_post(app_server.url, token, body).status_code)

    threads = [threading.Thread(target=deliver) for _ in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes == [200] * 100
    assert Incident.objects.count() == 1
    assert IncidentAlert.objects.count() == 1
    assert AlertPayload.objects.filter(status="processed").count() == 100
    incident = Incident.objects.get()
    assert incident.occurrences == 1
    assert list(incident.timeline.values_list("kind", flat=True)) == ["created"]


def test_concurrent_new_alerts_in_one_group_are_all_counted(app_server):
    _, token = integration_create(name="growing", kind="alertmanager")
    bodies = [
        payloads.dumps(payloads.webhook([payloads.alert(fingerprint=f"fp-{i}", extra_labels={"pod": f"p{i}"})]))
        for i in range(20)
    ]
    barrier = threading.Barrier(len(bodies))
    codes = []

    def deliver(body):
        barrier.wait()
        codes.append(_post(app_server.url, token, body).status_code)

    threads = [threading.Thread(target=deliver, args=(b,)) for b in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes == [200] * 20
    incident = Incident.objects.get()
    assert incident.occurrences == 20 and incident.alerts.count() == 20
    assert json.loads(AlertPayload.objects.first().body)["version"] == "4"
    assert settings.INTAKE_INLINE_MAX_ALERTS >= 1
