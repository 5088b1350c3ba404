"""Large bodies with bad alerts, applied by a real worker: the good ones land, the bad ones are recorded."""

import json

import pytest
import requests

from incidents.integrations import integration_create
from incidents.models import AlertPayload, Incident, PayloadStatus
from tests.conftest import wait_for
from tests.factories import ServiceFactory
from tests.incidents.intake import payloads


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_large_body_with_bad_alerts_is_applied_except_them(live_server, celery_worker_process):
    ServiceFactory(slug="task-service")
    _, token = integration_create(name="storm", kind="alertmanager")
    body = payloads.storm(150)
    body["alerts"][10]["labels"]["pod"] = "bad\x00pod"  # cleaned, kept
    body["alerts"][20]["annotations"]["summary"] = "\ud800"  # cleaned, kept
    body["alerts"][30]["startsAt"] = "0001-01-01T00:00:00+05:00"  # refused
    body["alerts"][40]["startsAt"] = "9999-12-31T23:59:59-01:00"  # refused
    response = requests.post(
        f"{live_server.url}/api/v1/integrations/alertmanager/",
        data=json.dumps(body, ensure_ascii=True),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 202, response.text
    answer = response.json()
    assert [r["alert"] for r in answer["rejected"]] == [30, 40]

    wait_for(
        lambda: AlertPayload.objects.get(pk=answer["payload"]).status != PayloadStatus.PENDING,
        timeout=60,
        message="the worker to apply the body",
    )
    payload = AlertPayload.objects.get(pk=answer["payload"])
    assert payload.status == PayloadStatus.PROCESSED
    assert [r["alert"] for r in payload.rejected] == [30, 40]
    assert "alerts[30].startsAt" in payload.error and "alerts[40].startsAt" in payload.error
    assert Incident.objects.get().alerts.count() == 148
