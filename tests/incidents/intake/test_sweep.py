"""The safety net: every pending payload is tried on its own; one that keeps failing ends as failed."""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents import intake
from incidents.integrations import integration_create
from incidents.metrics import render
from incidents.models import AlertPayload, Incident, PayloadStatus
from incidents.tasks import process_pending_payloads
from tests.incidents.intake import payloads

pytestmark = pytest.mark.django_db


def _pending(integration, body, *, minutes_ago=5):
    payload = intake.payload_store(integration=integration, body=payloads.dumps(body), alert_count=1)
    AlertPayload.objects.filter(pk=payload.pk).update(received_at=timezone.now() - timedelta(minutes=minutes_ago))
    return payload


@pytest.fixture
def broken_integration():
    # A real misconfiguration: the severity map edited into a list in the admin's JSON field.
    integration, _ = integration_create(name="broken rules", kind="alertmanager")
    integration.severity_map = ["critical", "P1"]
    integration.save()
    return integration


def test_one_failing_payload_does_not_block_the_queue(broken_integration):
    healthy, _ = integration_create(name="healthy", kind="alertmanager")
    bad = _pending(broken_integration, payloads.firing(), minutes_ago=10)
    first = _pending(healthy, payloads.webhook([payloads.alert(alertname="DiskFull")], group_key="disk"))
    second = _pending(healthy, payloads.webhook([payloads.alert(alertname="PodCrashLooping")], group_key="pods"))

    assert process_pending_payloads() == 3

    bad.refresh_from_db()
    assert bad.status == PayloadStatus.PENDING and bad.attempts == 1
    assert "AttributeError" in bad.error
    for payload in (first, second):
        payload.refresh_from_db()
        assert payload.status == PayloadStatus.PROCESSED
    assert Incident.objects.count() == 2


def test_a_payload_that_keeps_failing_is_marked_failed_and_shown(broken_integration, settings):
    settings.INTAKE_MAX_ATTEMPTS = 3
    bad = _pending(broken_integration, payloads.firing())
    for attempt in range(1, 4):
        process_pending_payloads()
        bad.refresh_from_db()
        assert bad.attempts == attempt
    assert bad.status == PayloadStatus.FAILED
    # Given up: the sweep no longer tries it.
    assert process_pending_payloads() == 0
    metrics = render().decode()
    assert 'orion_intake_payloads{status="failed"} 1.0' in metrics
    assert 'orion_intake_payloads{status="pending"} 0.0' in metrics


def test_a_body_that_cannot_be_parsed_fails_at_once():
    integration, _ = integration_create(name="am", kind="alertmanager")
    payload = intake.payload_store(integration=integration, body=b'{"version": "3"}', alert_count=0)
    AlertPayload.objects.filter(pk=payload.pk).update(received_at=timezone.now() - timedelta(minutes=5))
    process_pending_payloads()
    payload.refresh_from_db()
    assert payload.status == PayloadStatus.FAILED and "version" in payload.error


def test_the_sweep_reaches_the_end_of_a_long_queue():
    integration, _ = integration_create(name="am", kind="alertmanager", grouping="fingerprint")
    for i in range(230):
        _pending(integration, payloads.webhook([payloads.alert(fingerprint=f"{i:016x}")]))
    assert process_pending_payloads() == 230
    assert not AlertPayload.objects.filter(status=PayloadStatus.PENDING).exists()
    assert Incident.objects.count() == 230


def test_oldest_pending_age_is_exported():
    integration, _ = integration_create(name="am", kind="alertmanager")
    _pending(integration, payloads.firing(), minutes_ago=7)
    line = next(
        line for line in render().decode().splitlines() if line.startswith("orion_intake_oldest_pending_payload")
    )
    assert 400 < float(line.split()[-1]) < 500
