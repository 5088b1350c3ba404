"""Paging on /metrics: deliveries by channel and outcome, deliveries waiting, escalation steps fired."""

import pytest

from incidents.paging import outbox
from incidents.paging.models import Delivery, DeliveryStatus
from tests.factories import IncidentFactory
from tests.paging.helpers import person, policy
from tests.test_metrics_operations import sample, scrape

pytestmark = pytest.mark.django_db


def test_deliveries_and_escalation_steps_are_counted(receiver, signing, settings):
    settings.PAGING_MAX_ATTEMPTS = 1
    before = scrape()
    assert sample(before, "orion_notification_deliveries_total", channel="email", outcome="failed") == 0
    assert sample(before, "orion_notification_deliveries_total", channel="ntfy", outcome="delivered") == 0

    receiver.script = [(500, 0)]  # the first page fails for good (one attempt allowed), the second goes through
    alice = person("alice", ("webhook", receiver.url))
    policy("default", {"users": [alice]})
    first = IncidentFactory(severity="P1", title="Checkout down")
    second = IncidentFactory(severity="P1", title="Search down")
    text = scrape()
    assert sample(text, "orion_notification_deliveries_waiting", status="pending") == 2
    for d in Delivery.objects.filter(incident=first) | Delivery.objects.filter(incident=second):
        outbox.delivery_attempt(d.pk)
    assert set(Delivery.objects.values_list("status", flat=True)) <= {DeliveryStatus.DELIVERED, DeliveryStatus.FAILED}

    text = scrape()
    assert sample(text, "orion_notification_deliveries_total", channel="webhook", outcome="failed") == 1
    assert sample(text, "orion_notification_deliveries_total", channel="webhook", outcome="delivered") == 1
    assert sample(text, "orion_notification_deliveries_waiting", status="pending") == 0
    # Each incident fired the default policy's first step once.
    assert sample(text, "orion_escalation_steps_total", policy="default", step="1") == 2
