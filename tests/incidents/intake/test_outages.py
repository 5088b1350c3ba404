"""Transient trouble is a 503 with Retry-After (Alertmanager retries 5xx only), and nothing 2xx'd is lost."""

import os

import pytest
import requests
from django.conf import settings

from incidents import intake
from incidents.integrations import integration_create
from incidents.models import AlertPayload, Incident
from tests.app_server import AppServer
from tests.incidents.intake import payloads
from tests.tcp_proxy import TcpProxy

AM = "/api/v1/integrations/alertmanager/"
EV = "/api/v1/integrations/events/"


def _db_url_via(port: int) -> str:
    name = settings.DATABASES["default"]["NAME"]
    return f"postgres://postgres@127.0.0.1:{port}/{name}"


def _post_am(server, token, body):
    return requests.post(server.url + AM, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60)


@pytest.mark.django_db(transaction=True)
def test_database_outage_is_503_then_recovers(tmp_path):
    _, am_token = integration_create(name="am", kind="alertmanager")
    _, ev_token = integration_create(name="ev", kind="events")
    proxy = TcpProxy("127.0.0.1", 5432)
    proxy.start()
    env = {"DATABASE_URL": _db_url_via(proxy.port), "DATABASE_POOL_TIMEOUT": "2"}
    with AppServer(env, tmp_path / "gunicorn.log") as server:
        assert _post_am(server, am_token, payloads.firing()).status_code == 200

        proxy.cut()
        response = _post_am(server, am_token, payloads.firing(starts_at="2026-11-27T15:00:00Z"))
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"] == "5"
        assert "unavailable" in response.json()["detail"]
        # Checking a token needs the database: that is a 503 too, never a 401.
        bad = requests.post(server.url + AM, json={}, headers={"Authorization": "Bearer oi_whatever"}, timeout=60)
        assert bad.status_code == 503
        event = {"routing_key": ev_token, "event_action": "trigger",
                 "payload": {"summary": "disk full", "source": "db-1", "severity": "error"}}  # fmt: skip
        assert requests.post(server.url + EV, json=event, timeout=60).status_code == 503

        proxy.start()
        codes = []
        for _ in range(20):  # the pool notices dead connections and reconnects
            codes.append(_post_am(server, am_token, payloads.firing(starts_at="2026-11-27T15:00:00Z")).status_code)
            if codes[-1] == 200:
                break
        assert codes[-1] == 200, codes
        assert requests.post(server.url + EV, json=event, timeout=60).status_code == 202
    proxy.cut()
    # The firing refused during the outage arrived on the retry: nothing was lost.
    incident = Incident.objects.get(source="alertmanager")
    assert incident.occurrences == 2 and incident.alerts.count() == 2
    assert Incident.objects.filter(source="events").count() == 1
    # An event is stored in the transaction that applies it: the 503 left no row for the sweep to apply again.
    assert not AlertPayload.objects.filter(status="pending").exists()
    assert Incident.objects.get(source="events").occurrences == 1


@pytest.mark.django_db(transaction=True)
def test_broker_outage_for_a_large_body_is_503_and_the_body_is_kept(tmp_path):
    _, token = integration_create(name="am", kind="alertmanager")
    name = settings.DATABASES["default"]["NAME"]
    env = {
        "DATABASE_URL": os.environ["DATABASE_URL"].rsplit("/", 1)[0] + f"/{name}",
        "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",  # nothing listens there
        "INTAKE_INLINE_MAX_ALERTS": "10",
    }
    with AppServer(env, tmp_path / "gunicorn.log") as server:
        response = _post_am(server, token, payloads.storm(50))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    payload = AlertPayload.objects.get()
    assert payload.status == "pending" and payload.alert_count == 50
    # The sweeper applies what was stored once a worker can run it.
    intake.payload_process(payload.pk)
    assert Incident.objects.get().alerts.count() == 50
    assert AlertPayload.objects.get().status == "processed"


@pytest.mark.django_db
def test_sweeper_processes_only_old_pending_payloads():
    from datetime import timedelta

    from django.utils import timezone

    integration, _ = integration_create(name="am", kind="alertmanager")
    old = intake.payload_store(integration=integration, body=payloads.dumps(payloads.firing()), alert_count=1)
    fresh = intake.payload_store(integration=integration, body=payloads.dumps(payloads.firing()), alert_count=1)
    AlertPayload.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(minutes=5))
    from incidents.tasks import process_pending_payloads

    assert process_pending_payloads() == 1
    assert AlertPayload.objects.get(pk=old.pk).status == "processed"
    assert AlertPayload.objects.get(pk=fresh.pk).status == "pending"
    assert Incident.objects.count() == 1


@pytest.mark.django_db
def test_retention_purges_old_processed_payloads_only():
    from datetime import timedelta

    from django.utils import timezone

    integration, _ = integration_create(name="am", kind="alertmanager")
    kept = intake.payload_store(integration=integration, body=b"{}", alert_count=0)
    old = intake.payload_store(integration=integration, body=b"{}", alert_count=0)
    stuck = intake.payload_store(integration=integration, body=b"{}", alert_count=0)
    AlertPayload.objects.filter(pk__in=[old.pk, stuck.pk]).update(received_at=timezone.now() - timedelta(days=90))
    AlertPayload.objects.filter(pk=old.pk).update(status="processed")
    assert intake.payloads_purge(retention_days=30) == 1
    assert set(AlertPayload.objects.values_list("pk", flat=True)) == {kept.pk, stuck.pk}
